"""The `collab nn` sheet: CollabNN's forward pass, one rating per row, as live formulas.

Mirrors models/collab_nn.py CollabNN, whose forward pass is

    x = torch.cat((self.user_factors(u), self.movie_factors(m)), dim=1)   # (N, Fu + Fm)
    sigmoid_range(self.layers(x), *self.y_range)                          # Linear, ReLU, Linear

A row looks up its user's and its movie's embedding rows (INDEX/MATCH, as nn.Embedding does),
lays them side by side (the concatenation), computes every hidden unit as MAX(0, weights . x +
bias), then the output unit and its sigmoid range. The weights keep torch's (out, in) layout,
one row per unit, so hidden unit j reads row j of `hidden_weight` directly. The parity check
(xlbridge/parity/collab.py) loads these blocks into CollabNN in float64 and compares every cell.
"""

from __future__ import annotations

import numpy as np
from openpyxl.utils import get_column_letter as col_letter

from xlbridge.builders.common import loss_cell, name_block, sheet_kind, sheet_title, write_block
from xlbridge.data import Crosstab
from xlbridge.styles import header, label, note, paint, widths
from xlbridge.xlsx import a1, block

TITLE = "collab nn"


def collab_nn_sheet(wb, ct: Crosstab, w: dict, user_rows: np.ndarray, movie_rows: np.ndarray,
                    y_range: tuple[float, float], n_rows: int):
    """Write the sheet for the first `n_rows` ratings of the crosstab; `w` holds CollabNN's
    state_dict as float64 arrays, `user_rows`/`movie_rows` the crosstab's rows in its tables."""
    ws = wb.create_sheet(TITLE)
    sheet_kind(wb, ws, "nn")
    uf, mf = w["user_factors.weight"][user_rows], w["movie_factors.weight"][movie_rows]   # (U, Fu), (M, Fm)
    w1, b1 = w["layers.0.weight"], w["layers.0.bias"]                                    # (H, Fu + Fm), (H,)
    w2, b2 = w["layers.2.weight"], w["layers.2.bias"]                                    # (1, H), (1,)
    Fu, Fm, H = uf.shape[1], mf.shape[1], w1.shape[0]
    rows = ct.long.head(n_rows)
    n = len(rows)
    sheet_title(ws, "CollabNN: embeddings side by side, a hidden layer of ReLUs, then a sigmoid range",
                "torch: x = torch.cat((self.user_factors(u), self.movie_factors(m)), 1); "
                "sigmoid_range(self.layers(x), *self.y_range)   (models/collab_nn.py, CollabNN)")
    label(ws.cell(3, 1), "y_range ->")
    ws.cell(3, 2, float(y_range[0]))
    ws.cell(3, 3, float(y_range[1]))
    paint(ws, "B3:C3", "input")
    name_block(wb, ws, "y_range", 3, 2, 3, 3)
    name_block(wb, ws, "y_low", 3, 2, 3, 2)
    name_block(wb, ws, "y_high", 3, 3, 3, 3)

    # The rows: userId, movieId, rating | x = cat(user, movie) | hidden | output | prediction | error
    hr, r0 = 5, 6
    c_x, c_h = 4, 4 + Fu + Fm + 1
    c_out = c_h + H + 1
    c_pred, c_err = c_out + 1, c_out + 2
    r1 = r0 + n - 1
    # parameter blocks below the rows: the crosstab's users, its movies, then the two layers
    p_u = r1 + 4
    p_m = p_u + len(user_rows) + 3
    p_h = p_m + len(movie_rows) + 3
    p_o = p_h + H + 3
    label(ws.cell(hr - 1, c_x), "x = torch.cat((user_factors(u), movie_factors(m)), 1)")
    label(ws.cell(hr - 1, c_h), "hidden = relu(layers[0](x)): MAX(0, weights . x + bias) per unit")
    for j, text in enumerate(["userId", "movieId", "rating"]):
        label(ws.cell(hr, 1 + j), text)
    for k in range(Fu):
        label(ws.cell(hr, c_x + k), f"u{k + 1}", bold=False)
    for k in range(Fm):
        label(ws.cell(hr, c_x + Fu + k), f"m{k + 1}", bold=False)
    for j in range(H):
        label(ws.cell(hr, c_h + j), f"h{j + 1}", bold=False)
    for c, text in ((c_out, "output"), (c_pred, "prediction"), (c_err, "squared error")):
        label(ws.cell(hr, c), text)
    header(ws, f"{a1(hr, 1)}:{a1(hr, c_err)}")

    x_row = lambda r: f"${col_letter(c_x)}{r}:${col_letter(c_x + Fu + Fm - 1)}{r}"          # noqa: E731
    h_row = lambda r: f"${col_letter(c_h)}{r}:${col_letter(c_h + H - 1)}{r}"                # noqa: E731
    w1_row = lambda j: block(p_h + 1 + j, 2, p_h + 1 + j, 1 + Fu + Fm)                      # noqa: E731
    for i, row in enumerate(rows.itertuples()):
        r = r0 + i
        ws.cell(r, 1, int(row.userId))
        ws.cell(r, 2, int(row.movieId))
        ws.cell(r, 3, float(row.rating))
        for k in range(Fu):
            # torch: self.user_factors(u)[k] -- the row of the user table whose id matches
            ws.cell(r, c_x + k, f"=INDEX(user_factors,MATCH($A{r},user_ids,0),{k + 1})")
        for k in range(Fm):
            # torch: self.movie_factors(m)[k], placed after the user's: the concatenation
            ws.cell(r, c_x + Fu + k, f"=INDEX(movie_factors,MATCH($B{r},movie_ids,0),{k + 1})")
        for j in range(H):
            # torch: F.relu(self.layers[0](x))[j] = max(0, layers[0].weight[j] . x + layers[0].bias[j])
            ws.cell(r, c_h + j, f"=MAX(0,SUMPRODUCT({x_row(r)},{w1_row(j)})+{a1(p_h + 1 + j, 2 + Fu + Fm, True, True)})")
        # torch: self.layers[2](h) = layers[2].weight . h + layers[2].bias
        ws.cell(r, c_out, f"=SUMPRODUCT({h_row(r)},{block(p_o + 1, 2, p_o + 1, 1 + H)})+{a1(p_o + 1, 2 + H, True, True)}")
        # torch: sigmoid_range(out, *self.y_range)
        ws.cell(r, c_pred, f"=y_low+(y_high-y_low)/(1+EXP(-{a1(r, c_out)}))")
        ws.cell(r, c_err, f"=({a1(r, c_pred)}-{a1(r, 3)})^2")
    paint(ws, f"A{r0}:C{r1}", "data")
    paint(ws, f"{a1(r0, c_x)}:{a1(r1, c_x + Fu + Fm - 1)}", "output")
    paint(ws, f"{a1(r0, c_h)}:{a1(r1, c_h + H - 1)}", "output")
    paint(ws, f"{a1(r0, c_out)}:{a1(r1, c_err)}", "output")
    note(ws.cell(r0, c_x), "INDEX(user_factors, MATCH(userId, user_ids, 0), k): the embedding lookup; the movie's "
                           "factors follow the user's in the same row, which is torch.cat.")
    note(ws.cell(r0, c_h), "One hidden unit: MAX(0, its row of hidden_weight . x + its hidden_bias), a ReLU.")
    for name, c0, c1 in (("rating_user", 1, 1), ("rating_movie", 2, 2), ("rating", 3, 3),
                         ("embedded", c_x, c_x + Fu + Fm - 1), ("hidden", c_h, c_h + H - 1), ("output", c_out, c_out),
                         ("predictions", c_pred, c_pred), ("squared_errors", c_err, c_err)):
        name_block(wb, ws, name, r0, c0, r1, c1)
    label(ws.cell(2, c_pred), "MSE")
    label(ws.cell(3, c_pred), "RMSE")
    loss_cell(wb, ws, 2, c_err, f"=AVERAGE({block(r0, c_err, r1, c_err)})", "mse",
              "Mean squared error over these rows: F.mse_loss.")
    ws.cell(3, c_err, f"=SQRT({a1(2, c_err)})")
    paint(ws, a1(3, c_err), "output", "0.0000")
    name_block(wb, ws, "rmse", 3, c_err)

    # Parameters (orange): the embedding rows of the crosstab's users and movies, then the layers.
    for top, ids, factors, what in ((p_u, ct.user_ids, uf, "user"), (p_m, ct.movie_ids, mf, "movie")):
        label(ws.cell(top - 1, 1), f"{what}_factors: nn.Embedding rows of the crosstab's {what}s")
        label(ws.cell(top, 1), f"{what}Id")
        for i, v in enumerate(ids):
            ws.cell(top + 1 + i, 1, int(v))
        paint(ws, f"A{top + 1}:A{top + len(ids)}", "data")
        write_block(ws, top + 1, 2, factors, "param")
        name_block(wb, ws, f"{what}_ids", top + 1, 1, top + len(ids), 1)
        name_block(wb, ws, f"{what}_factors", top + 1, 2, top + len(ids), 1 + factors.shape[1])
    label(ws.cell(p_h - 1, 1), "layers[0]: weight (one row per hidden unit, torch's (out, in) layout) and bias")
    for j in range(H):
        label(ws.cell(p_h + 1 + j, 1), f"h{j + 1}", bold=False)
    write_block(ws, p_h + 1, 2, w1, "param")
    write_block(ws, p_h + 1, 2 + Fu + Fm, b1[:, None], "param")
    name_block(wb, ws, "hidden_weight", p_h + 1, 2, p_h + H, 1 + Fu + Fm)
    name_block(wb, ws, "hidden_bias", p_h + 1, 2 + Fu + Fm, p_h + H, 2 + Fu + Fm)
    label(ws.cell(p_o - 1, 1), "layers[2]: weight (one row) and bias")
    write_block(ws, p_o + 1, 2, w2, "param")
    write_block(ws, p_o + 1, 2 + H, b2[:, None], "param")
    name_block(wb, ws, "out_weight", p_o + 1, 2, p_o + 1, 1 + H)
    name_block(wb, ws, "out_bias", p_o + 1, 2 + H, p_o + 1, 2 + H)
    widths(ws, {"A": 9, "B": 9, "C": 7})
    ws.freeze_panes = ws.cell(r0, 4)
    return ws
