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
from xlbridge.engine import Book
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity import Comparison, compare, register


def _has(book: Book, sheet: str, name: str) -> bool:
    return (sheet, name) in book.names()


def _indices(ids: np.ndarray, table: np.ndarray, what: str, sheet: str) -> torch.Tensor:
    """Row index in `table` of each id, as MATCH(id, table, 0) finds it."""
    pos = {float(v): i for i, v in reversed(list(enumerate(table.ravel())))}  # first match wins
    try:
        return torch.tensor([pos[float(v)] for v in ids.ravel()])
    except KeyError as e:
        raise XlbridgeInputError(f"sheet '{sheet}': {what} {e.args[0]:g} is not in the {what} table") from None


def check_grid_sheet(book: Book, sheet: str) -> list[Comparison]:
    """dotprod / bias / bias_sigmoid: every prediction cell and the RMSE."""
    v = lambda name: book.values(name, sheet)  # noqa: E731
    ratings = v("ratings")
    y_range = tuple(v("y_range").ravel()) if _has(book, sheet, "y_range") else None
    biased = _has(book, sheet, "user_bias")
    model = from_arrays(v("user_factors"), v("movie_factors").T,   # sheet holds movies as columns
                        v("user_bias") if biased else None, v("movie_bias") if biased else None, y_range)
    rated = ~np.isnan(ratings)
    pred = predict_all(model).numpy()                                   # (U, M)
    want_pred = np.where(rated, pred, 0.0)                              # the sheet shows 0 elsewhere
    u, m = (torch.from_numpy(ix) for ix in np.nonzero(rated))
    r = torch.from_numpy(ratings[rated])
    with torch.no_grad():
        want_rmse = torch.sqrt(F.mse_loss(model(u, m), r)).item()
    return [compare(sheet, "predictions", v("predictions"), want_pred),
            compare(sheet, "rmse", v("rmse"), [[want_rmse]])]


def check_lookup_sheet(book: Book, sheet: str) -> list[Comparison]:
    """embedding lookup: per-row predictions and squared errors, the losses, the one-hot product."""
    v = lambda name: book.values(name, sheet)  # noqa: E731
    user_ids, movie_ids = v("user_ids"), v("movie_ids")
    model = from_arrays(v("user_factors"), v("movie_factors"), v("user_bias"), v("movie_bias"))
    u = _indices(v("rating_user"), user_ids, "user id", sheet)
    m = _indices(v("rating_movie"), movie_ids, "movie id", sheet)
    r = torch.from_numpy(v("rating").ravel())
    with torch.no_grad():
        pred = model(u, m)                                              # (N,)
        sq = (pred - r) ** 2
        mse = F.mse_loss(pred, r)
        # the one-hot row times the factor matrix: an embedding lookup as a matrix product
        who = _indices(v("onehot_user"), user_ids, "user id", sheet)
        onehot = F.one_hot(who, num_classes=len(user_ids.ravel())).double()   # (1, U)
        product = onehot @ model.user_factors.weight                    # (1, K)
    return [compare(sheet, "predictions", v("predictions"), pred.numpy()[:, None]),
            compare(sheet, "squared_errors", v("squared_errors"), sq.numpy()[:, None]),
            compare(sheet, "mse", v("mse"), [[mse.item()]]),
            compare(sheet, "rmse", v("rmse"), [[mse.sqrt().item()]]),
            compare(sheet, "onehot", v("onehot"), onehot.numpy()),
            compare(sheet, "onehot_product", v("onehot_product"), product.numpy())]


@register("collab")
def check_collab(book: Book) -> list[Comparison]:
    results = []
    for sheet in book.sheets_with("predictions"):
        if _has(book, sheet, "rating_user"):
            results += check_lookup_sheet(book, sheet)
        else:
            results += check_grid_sheet(book, sheet)
    if not results:
        raise XlbridgeInputError(f"{book.source}: no model sheet found (no sheet has a 'predictions' name)")
    return results
