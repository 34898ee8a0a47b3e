"""Parity for the collaborative-filtering workbook: each model sheet against models/collab.py.

Sheets are found by their names, not their titles: a sheet with `predictions` and
`rating_user` is the embedding-lookup sheet; any other sheet with `predictions` is a grid
sheet (DotProduct, DotProductBias when it has `user_bias`, with y_range when it has `y_range`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from xlbridge.models.collab import from_arrays, predict_all
from xlbridge.models.collab_nn import CollabNN
from xlbridge.engine import Book
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity import Comparison, compare, compare_labels, sheet_kind


def _has(book: Book, sheet: str, name: str) -> bool:
    return (sheet, name) in book.names()


def _indices(ids: np.ndarray, table: np.ndarray, what: str, sheet: str, device="cpu") -> torch.Tensor:
    """Row index in `table` of each id, as MATCH(id, table, 0) finds it."""
    pos = {float(v): i for i, v in reversed(list(enumerate(table.ravel())))}  # first match wins
    try:
        return torch.tensor([pos[float(v)] for v in ids.ravel()], device=device)
    except KeyError as e:
        raise XlbridgeInputError(f"sheet '{sheet}': {what} {e.args[0]:g} is not in the {what} table") from None


def check_grid_sheet(book: Book, sheet: str, device="cpu") -> list[Comparison]:
    """dotprod / bias / bias_sigmoid: every prediction cell and the RMSE."""
    v = lambda name: book.values(name, sheet)  # noqa: E731
    ratings = v("ratings")
    y_range = tuple(v("y_range").ravel()) if _has(book, sheet, "y_range") else None
    biased = _has(book, sheet, "user_bias")
    model = from_arrays(v("user_factors"), v("movie_factors").T,   # sheet holds movies as columns
                        v("user_bias") if biased else None, v("movie_bias") if biased else None, y_range,
                        device=device)
    rated = ~np.isnan(ratings)
    pred = predict_all(model).cpu().numpy()                             # (U, M)
    want_pred = np.where(rated, pred, 0.0)                              # the sheet shows 0 elsewhere
    u, m = (torch.from_numpy(ix).to(device) for ix in np.nonzero(rated))
    r = torch.from_numpy(ratings[rated]).to(device)
    with torch.no_grad():
        want_rmse = torch.sqrt(F.mse_loss(model(u, m), r)).item()
    return [compare(sheet, "predictions", v("predictions"), want_pred),
            compare(sheet, "rmse", v("rmse"), [[want_rmse]]),
            compare_labels(sheet, "user ids beside the predictions", book.raw("prediction_user_ids", sheet),
                           book.raw("user_ids", sheet), ("prediction_user_ids",)),
            compare_labels(sheet, "movie ids above the predictions", book.raw("prediction_movie_ids", sheet),
                           book.raw("movie_ids", sheet), ("prediction_movie_ids",))]


def check_lookup_sheet(book: Book, sheet: str, device="cpu") -> list[Comparison]:
    """embedding lookup: per-row predictions and squared errors, the losses, the one-hot product."""
    v = lambda name: book.values(name, sheet)  # noqa: E731
    user_ids, movie_ids = v("user_ids"), v("movie_ids")
    y_range = tuple(v("y_range").ravel()) if _has(book, sheet, "y_range") else None
    model = from_arrays(v("user_factors"), v("movie_factors"), v("user_bias"), v("movie_bias"), y_range, device=device)
    u = _indices(v("rating_user"), user_ids, "user id", sheet, device)
    m = _indices(v("rating_movie"), movie_ids, "movie id", sheet, device)
    r = torch.from_numpy(v("rating").ravel()).to(device)
    with torch.no_grad():
        pred = model(u, m)                                              # (N,)
        sq = (pred - r) ** 2
        mse = F.mse_loss(pred, r)
        # the one-hot row times the factor matrix: an embedding lookup as a matrix product
        who = _indices(v("onehot_user"), user_ids, "user id", sheet, device)
        onehot = F.one_hot(who, num_classes=len(user_ids.ravel())).double()   # (1, U)
        product = onehot @ model.user_factors.weight                    # (1, K)
        looked_up = {"looked_up_user_factors": model.user_factors(u), "looked_up_movie_factors": model.movie_factors(m),
                     "looked_up_user_bias": model.user_bias(u), "looked_up_movie_bias": model.movie_bias(m)}
    return [*(compare(sheet, name, v(name), want) for name, want in looked_up.items()),
            compare(sheet, "predictions", v("predictions"), pred[:, None]),
            compare(sheet, "squared_errors", v("squared_errors"), sq[:, None]),
            compare(sheet, "mse", v("mse"), [[mse.item()]]),
            compare(sheet, "rmse", v("rmse"), [[mse.sqrt().item()]]),
            compare_labels(sheet, "user ids of the one-hot vector", book.raw("onehot_ids", sheet),
                           [row[0] for row in book.raw("user_ids", sheet)], ("onehot_ids",)),
            compare(sheet, "onehot", v("onehot"), onehot),
            compare(sheet, "onehot_product", v("onehot_product"), product)]


def check_nn_sheet(book: Book, sheet: str, device="cpu") -> list[Comparison]:
    """collab nn: every looked-up embedding, hidden unit, output, prediction and the loss, against
    CollabNN (models/collab_nn.py) loaded with the sheet's weights."""
    v = lambda name: book.values(name, sheet)  # noqa: E731
    uf, mf = v("user_factors"), v("movie_factors")
    w1 = v("hidden_weight")
    model = CollabNN(uf.shape[0], mf.shape[0], uf.shape[1], mf.shape[1], y_range=tuple(v("y_range").ravel()),
                     n_act=w1.shape[0]).double()
    state = {"user_factors.weight": uf, "movie_factors.weight": mf, "layers.0.weight": w1,
             "layers.0.bias": v("hidden_bias").ravel(), "layers.2.weight": v("out_weight"),
             "layers.2.bias": v("out_bias").ravel()}
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in state.items()})
    model.to(device)
    u = _indices(v("rating_user"), v("user_ids"), "user id", sheet, device)
    m = _indices(v("rating_movie"), v("movie_ids"), "movie id", sheet, device)
    r = torch.from_numpy(v("rating").ravel()).to(device)
    with torch.no_grad():
        x = torch.cat((model.user_factors(u), model.movie_factors(m)), dim=1)    # (N, Fu + Fm)
        hidden = torch.relu(model.layers[0](x))                                 # (N, H)
        out = model.layers[2](hidden)                                           # (N, 1)
        pred = model(u, m)                                                      # (N,)
        sq = (pred - r) ** 2
        mse = F.mse_loss(pred, r)
    return [compare(sheet, "embedded cat(user, movie)", v("embedded"), x, names=("embedded",)),
            compare(sheet, "hidden relu(layers[0](x))", v("hidden"), hidden, names=("hidden",)),
            compare(sheet, "output layers[2](h)", v("output"), out, names=("output",)),
            compare(sheet, "predictions", v("predictions"), pred[:, None]),
            compare(sheet, "squared_errors", v("squared_errors"), sq[:, None]),
            compare(sheet, "mse", v("mse"), [[mse.item()]]),
            compare(sheet, "rmse", v("rmse"), [[mse.sqrt().item()]])]


CHECKERS = {"grid": check_grid_sheet, "lookup": check_lookup_sheet, "nn": check_nn_sheet}


def check_collab(book: Book, device="cpu") -> list[Comparison]:
    """Every model sheet of a collab workbook, each by the checker of its kind."""
    results = []
    for sheet in book.sheets_with("predictions"):
        kind = sheet_kind(book, sheet)
        if kind not in CHECKERS:
            raise XlbridgeInputError(f"{book.source}: sheet '{sheet}' has predictions but is no model sheet ({kind!r})")
        results += CHECKERS[kind](book, sheet, device)
    if not results:
        raise XlbridgeInputError(f"{book.source}: no model sheet found (no sheet has a 'predictions' name)")
    return results
