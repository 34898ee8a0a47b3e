"""The collaborative-filtering workbook's names (xlbridge/builders/collab.py, collab_nn.py).

Names are sheet-scoped, so every model sheet uses the model's own vocabulary (`user_factors`
on `dotprod` is DotProduct.user_factors; on `bias` it is DotProductBias's). Shapes use U users,
M movies, K factors, N rated cells (R on `collab nn`), Fu and Fm embedding sizes, H hidden units.
"""

from __future__ import annotations

from xlbridge.contracts import Name, SheetContract, WorkbookContract

Y_RANGE = (
    Name("y_range", "1 x 2", "input", "low and high end of the sigmoid range", optional=True),
    Name("y_low", "1 x 1", "input", "low end of the sigmoid range", optional=True),
    Name("y_high", "1 x 1", "input", "high end of the sigmoid range", optional=True),
)

CROSSTAB = SheetContract("crosstab", (
    Name("ratings", "U x M", "data", "ratings of the top users (rows) for the top movies (columns)"),
    Name("user_ids", "U x 1", "data", "the user id of each row"),
    Name("movie_ids", "1 x M", "data", "the movie id of each column"),
))

# dotprod (DotProduct), bias (DotProductBias), bias_sigmoid (DotProductBias(y_range)), a trained one
GRID = SheetContract("grid", (
    Name("ratings", "U x M", "data", "a copy of the crosstab's ratings; blank where the user did not rate the movie"),
    Name("user_ids", "U x 1", "data", "the user id of each ratings row"),
    Name("movie_ids", "1 x M", "data", "the movie id of each ratings column"),
    Name("user_factors", "U x K", "param", "one row of latent factors per user (nn.Embedding(U, K).weight)"),
    Name("movie_factors", "K x M", "param",
         "one column of latent factors per movie: nn.Embedding(M, K).weight transposed, so MMULT(user row, movie column) is the dot product"),
    Name("user_bias", "U x 1", "param", "one bias per user (bias sheets only)", optional=True),
    Name("movie_bias", "1 x M", "param", "one bias per movie (bias sheets only)", optional=True),
    *Y_RANGE,
    Name("prediction_user_ids", "U x 1", "label", "the user id of each predictions row, repeated from the ratings"),
    Name("prediction_movie_ids", "1 x M", "label", "the movie id above each predictions column, repeated from the ratings"),
    Name("predictions", "U x M", "output", "the model's prediction where there is a rating, 0 elsewhere"),
    Name("rmse", "1 x 1", "loss", "root mean squared error over the rated cells: Solver's objective"),
))

# embedding lookup: one row per rating, the parameters as lookup tables
LOOKUP = SheetContract("lookup", (
    Name("user_ids", "U x 1", "data", "the user id of each row of user_factors"),
    Name("movie_ids", "M x 1", "data", "the movie id of each row of movie_factors"),
    Name("user_factors", "U x K", "param", "nn.Embedding(U, K).weight"),
    Name("movie_factors", "M x K", "param", "nn.Embedding(M, K).weight"),
    Name("user_bias", "U x 1", "param", "nn.Embedding(U, 1).weight"),
    Name("movie_bias", "M x 1", "param", "nn.Embedding(M, 1).weight"),
    *Y_RANGE,
    Name("rating_user", "N x 1", "data", "user id of each rating"),
    Name("rating_movie", "N x 1", "data", "movie id of each rating"),
    Name("rating", "N x 1", "data", "the rating"),
    Name("looked_up_user_factors", "N x K", "output", "self.user_factors(u): the row of user_factors for each rating's user"),
    Name("looked_up_movie_factors", "N x K", "output", "self.movie_factors(m) for each rating's movie"),
    Name("looked_up_user_bias", "N x 1", "output", "self.user_bias(u)"),
    Name("looked_up_movie_bias", "N x 1", "output", "self.movie_bias(m)"),
    Name("predictions", "N x 1", "output", "dot product of the looked-up factors plus both biases"),
    Name("squared_errors", "N x 1", "output", "(prediction - rating)^2"),
    Name("mse", "1 x 1", "loss", "mean squared error: F.mse_loss, Solver's objective"),
    Name("rmse", "1 x 1", "output", "square root of mse"),
    Name("onehot_user", "1 x 1", "input", "the user id whose one-hot vector is shown"),
    Name("onehot_ids", "1 x U", "label", "the user ids the one-hot vector runs over, repeated from user_ids"),
    Name("onehot", "1 x U", "output", "one-hot vector of that user"),
    Name("onehot_product", "1 x K", "output", "onehot x user_factors: the embedding lookup as a matrix product"),
))

# collab nn: CollabNN's forward pass for the first R ratings (models/collab_nn.py)
NN = SheetContract("nn", (
    *Y_RANGE,
    Name("user_ids", "U x 1", "data", "the crosstab's user ids, one per row of user_factors"),
    Name("movie_ids", "M x 1", "data", "the crosstab's movie ids, one per row of movie_factors"),
    Name("user_factors", "U x Fu", "param", "rows of user_factors.weight"),
    Name("movie_factors", "M x Fm", "param", "rows of movie_factors.weight"),
    Name("hidden_weight", "H x (Fu + Fm)", "param", "layers[0].weight, torch's (out, in) layout"),
    Name("hidden_bias", "H x 1", "param", "layers[0].bias"),
    Name("out_weight", "1 x H", "param", "layers[2].weight"),
    Name("out_bias", "1 x 1", "param", "layers[2].bias"),
    Name("rating_user", "R x 1", "data", "user id of each rating"),
    Name("rating_movie", "R x 1", "data", "movie id of each rating"),
    Name("rating", "R x 1", "data", "the rating"),
    Name("embedded", "R x (Fu + Fm)", "output", "torch.cat((user_factors(u), movie_factors(m)), 1)"),
    Name("hidden", "R x H", "output", "relu(layers[0](x))"),
    Name("output", "R x 1", "output", "layers[2](hidden), before the sigmoid range"),
    Name("predictions", "R x 1", "output", "sigmoid_range(output, *y_range)"),
    Name("squared_errors", "R x 1", "output", "(prediction - rating)^2"),
    Name("mse", "1 x 1", "loss", "mean squared error of these rows"),
    Name("rmse", "1 x 1", "output", "square root of mse"),
))

COLLAB = WorkbookContract("collab", (), (CROSSTAB, GRID, LOOKUP, NN))
