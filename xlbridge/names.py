"""The defined names of the collaborative-filtering workbook: the contract between its
sheets and the Python side (parity, the Solver mirror, the UDFs). This registry documents
them (the intro sheet lists it) and the tests hold the workbook to it, name and shape.

Names are sheet-scoped, so every model sheet uses the model's own vocabulary
(`user_factors` on `dotprod` is DotProduct.user_factors; on `bias` it is DotProductBias's).
Shapes use U users, M movies, K factors, N rated cells.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Name:
    name: str
    shape: str
    role: str      # "data", "param" (Solver changes it), "input" (a setting to edit), "output", "loss"
    doc: str


# Grid sheets: dotprod (DotProduct), bias (DotProductBias), bias_sigmoid (DotProductBias(y_range)).
GRID = [
    Name("ratings", "U x M", "data", "a copy of the crosstab's ratings; blank where the user did not rate the movie"),
    Name("user_factors", "U x K", "param", "one row of latent factors per user (nn.Embedding(U, K).weight)"),
    Name("movie_factors", "K x M", "param",
         "one column of latent factors per movie: nn.Embedding(M, K).weight transposed, so MMULT(user row, movie column) is the dot product"),
    Name("user_bias", "U x 1", "param", "one bias per user (bias sheets only)"),
    Name("movie_bias", "1 x M", "param", "one bias per movie (bias sheets only)"),
    Name("y_range", "1 x 2", "input", "low and high end of the sigmoid range (bias_sigmoid only)"),
    Name("y_low", "1 x 1", "input", "low end of the sigmoid range (bias_sigmoid only)"),
    Name("y_high", "1 x 1", "input", "high end of the sigmoid range (bias_sigmoid only)"),
    Name("predictions", "U x M", "output", "the model's prediction where there is a rating, 0 elsewhere"),
    Name("rmse", "1 x 1", "loss", "root mean squared error over the rated cells: Solver's objective"),
]

# The long-format sheet: one row per rating, parameters as lookup tables.
LOOKUP = [
    Name("user_ids", "U x 1", "data", "the user id of each row of user_factors"),
    Name("movie_ids", "M x 1", "data", "the movie id of each row of movie_factors"),
    Name("user_factors", "U x K", "param", "nn.Embedding(U, K).weight"),
    Name("movie_factors", "M x K", "param", "nn.Embedding(M, K).weight"),
    Name("user_bias", "U x 1", "param", "nn.Embedding(U, 1).weight"),
    Name("movie_bias", "M x 1", "param", "nn.Embedding(M, 1).weight"),
    Name("rating_user", "N x 1", "data", "user id of each rating"),
    Name("rating_movie", "N x 1", "data", "movie id of each rating"),
    Name("rating", "N x 1", "data", "the rating"),
    Name("predictions", "N x 1", "output", "dot product of the looked-up factors plus both biases"),
    Name("squared_errors", "N x 1", "output", "(prediction - rating)^2"),
    Name("mse", "1 x 1", "loss", "mean squared error: F.mse_loss, Solver's objective"),
    Name("rmse", "1 x 1", "output", "square root of mse"),
    Name("onehot_user", "1 x 1", "input", "the user id whose one-hot vector is shown"),
    Name("onehot", "1 x U", "output", "one-hot vector of that user"),
    Name("onehot_product", "1 x K", "output", "onehot x user_factors: the embedding lookup as a matrix product"),
]

# The crosstab sheet (data only).
CROSSTAB = [
    Name("ratings", "U x M", "data", "ratings of the top users (rows) for the top movies (columns)"),
    Name("user_ids", "U x 1", "data", "the user id of each row"),
    Name("movie_ids", "1 x M", "data", "the movie id of each column"),
]
