"""The collaborative-filtering workbook: crosstab, DotProduct, DotProductBias (with and
without the sigmoid range) and the embedding lookup, as live formulas.

Mirrors models/collab.py: each formula writer below carries the torch expression it
implements. Every block gets a sheet-scoped defined name (xlbridge/contracts/collab.py) and every
optimisable sheet an Excel Solver model, so Excel's Solver dialog opens filled in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import numpy as np
from openpyxl import Workbook
from openpyxl.chart import Reference
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter as col_letter

from xlbridge.builders.charts import scatter_chart
from xlbridge.builders.common import loss_cell, name_block, sheet_kind, sheet_title, write_block
from xlbridge.contracts.collab import COLLAB, GRID
from xlbridge.data import CROSSTAB_SIZE, Crosstab, Ratings, crosstab
from xlbridge.errors import XlbridgeInputError
from xlbridge.params import ANY_NUMBER, NON_NEGATIVE, POSITIVE, SEED, Interval, validate
from xlbridge.styles import header, intro_sheet, label, note, paint, print_on_one_page, widths
from xlbridge.xlsx import a1, add_name, block, range_ref, save_atomic, set_text, set_workbook_kind

SHEETS = {"crosstab": "crosstab", "dotprod": "dotprod", "bias": "bias",
          "sigmoid": "bias_sigmoid", "lookup": "embedding lookup"}


@dataclass(frozen=True)
class CollabConfig:
    n_users: int = 15             # the lesson's 15x15 crosstab fits on one screen
    n_movies: int = 15
    n_factors: int = 5            # few enough that a factor block reads at a glance
    seed: int = 42                # seeded start values: the same build gives the same workbook
    init_high: float = 1.0        # factors start uniform in [0, init_high): the course's random start
    bias_scale: float = 0.5       # biases start uniform in [-bias_scale, bias_scale)
    y_low: float = 0.0            # DotProductBias(y_range=(0, 5.5)) as in the lesson
    y_high: float = 5.5
    nn_rows: int = 40             # ratings on the `collab nn` sheet: each row is a few hundred formulas

    RULES: ClassVar[dict] = {
        "n_users": CROSSTAB_SIZE, "n_movies": CROSSTAB_SIZE, "n_factors": Interval(int, 1, 50), "seed": SEED,
        "init_high": POSITIVE, "bias_scale": NON_NEGATIVE, "y_low": ANY_NUMBER, "y_high": ANY_NUMBER,
        "nn_rows": Interval(int, 1, 1000),
    }

    def validate(self) -> "CollabConfig":
        validate(self)
        if not self.y_high > self.y_low:
            raise XlbridgeInputError(f"y_range must have y_low < y_high; got ({self.y_low:g}, {self.y_high:g})")
        return self


@dataclass(frozen=True)
class StartValues:
    """Seeded start values for one sheet's parameter blocks (U x K, M x K, U, M)."""

    user_factors: np.ndarray
    movie_factors: np.ndarray
    user_bias: np.ndarray
    movie_bias: np.ndarray

    @classmethod
    def from_trained(cls, factors: dict, user_rows: np.ndarray, movie_rows: np.ndarray) -> "StartValues":
        """A trained model's parameters for the crosstab's users and movies (rows of its tables);
        a DotProduct has no biases (zeros are never written)."""
        zeros = lambda n: np.zeros(n)   # noqa: E731
        return cls(factors["user_factors"][user_rows], factors["movie_factors"][movie_rows],
                   factors["user_bias"][user_rows, 0] if "user_bias" in factors else zeros(len(user_rows)),
                   factors["movie_bias"][movie_rows, 0] if "movie_bias" in factors else zeros(len(movie_rows)))

    @classmethod
    def draw(cls, rng: np.random.Generator, n_users: int, n_movies: int, config: CollabConfig) -> "StartValues":
        k = config.n_factors
        return cls(rng.uniform(0, config.init_high, (n_users, k)),
                   rng.uniform(0, config.init_high, (n_movies, k)),
                   rng.uniform(-config.bias_scale, config.bias_scale, n_users),
                   rng.uniform(-config.bias_scale, config.bias_scale, n_movies))


# ---------------------------------------------------------------------------------------------
# Shared pieces




def _solver_model(wb, ws, objective: str, changing: list[str], minimise: bool = True):
    """Store an Excel Solver model the way Excel does: hidden sheet-scoped solver_* names.
    GRG Nonlinear (engine 1), minimise the objective, changing cells unconstrained."""
    settings = {
        "solver_opt": objective, "solver_adj": ",".join(changing),
        "solver_typ": "2" if minimise else "1", "solver_val": "0", "solver_eng": "1",
        "solver_neg": "2", "solver_num": "0", "solver_ver": "3",
        # Excel's own defaults for the remaining options, so its dialog shows them unchanged
        "solver_cvg": "0.0001", "solver_drv": "2", "solver_est": "1", "solver_itr": "2147483647",
        "solver_mip": "2147483647", "solver_mni": "30", "solver_mrt": "0.075", "solver_msl": "2",
        "solver_nod": "2147483647", "solver_nwt": "1", "solver_pre": "0.000001", "solver_rbv": "2",
        "solver_rlx": "2", "solver_rsd": "0", "solver_scl": "2", "solver_sho": "2",
        "solver_ssz": "100", "solver_tim": "2147483647", "solver_tol": "0.01",
    }
    for key, value in settings.items():
        add_name(wb, key, value, sheet=ws, hidden=True)



# ---------------------------------------------------------------------------------------------
# crosstab: the data


def _crosstab_sheet(wb, ct: Crosstab):
    ws = wb.create_sheet(SHEETS["crosstab"])
    sheet_kind(wb, ws, "crosstab")
    tag = " (SYNTHETIC data)" if ct.synthetic else ""
    sheet_title(ws, f"Ratings crosstab: top {len(ct.user_ids)} users x top {len(ct.movie_ids)} movies{tag}",
           f"Source: {ct.source}. Empty cell = no rating. Each model sheet holds a copy of these ratings.")
    r0, c0 = 5, 2  # ratings start at B5; row 3 movie ids, row 4 titles, column A user ids
    label(ws.cell(3, 1), "movieId ->")
    label(ws.cell(4, 1), "title ->")
    for j, (mid, title) in enumerate(zip(ct.movie_ids, ct.titles)):
        ws.cell(3, c0 + j, int(mid))
        set_text(ws.cell(4, c0 + j), title)  # titles are data: never formulas
        ws.cell(4, c0 + j).alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[col_letter(c0 + j)].width = 11
    ws.row_dimensions[4].height = 60
    for i, uid in enumerate(ct.user_ids):
        ws.cell(r0 + i, 1, int(uid))
        for j in range(len(ct.movie_ids)):
            v = ct.matrix[i, j]
            if not np.isnan(v):
                ws.cell(r0 + i, c0 + j, float(v))
    r1, c1 = r0 + len(ct.user_ids) - 1, c0 + len(ct.movie_ids) - 1
    paint(ws, f"{a1(r0, c0)}:{a1(r1, c1)}", "data", "0.0")
    header(ws, f"{a1(3, c0)}:{a1(3, c1)}")
    header(ws, f"A{r0}:A{r1}")
    widths(ws, {"A": 12})
    ws.freeze_panes = ws.cell(r0, c0)
    name_block(wb, ws, "ratings", r0, c0, r1, c1)
    name_block(wb, ws, "user_ids", r0, 1, r1, 1)
    name_block(wb, ws, "movie_ids", 3, c0, 3, c1)
    return ws, (r0, c0)


def _y_range_cells(wb, ws, y_range, model: str) -> None:
    """The yellow y_range cells in B3:C3, named y_range, y_low, y_high."""
    label(ws.cell(3, 1), "y_range ->")
    ws.cell(3, 2, float(y_range[0]))
    ws.cell(3, 3, float(y_range[1]))
    paint(ws, "B3:C3", "input")
    note(ws.cell(3, 2), f"y_low and y_high of {model}(y_range=(y_low, y_high)). Change them and the predictions follow.")
    name_block(wb, ws, "y_range", 3, 2, 3, 3)
    name_block(wb, ws, "y_low", 3, 2, 3, 2)
    name_block(wb, ws, "y_high", 3, 3, 3, 3)


# ---------------------------------------------------------------------------------------------
# dotprod, bias, bias_sigmoid: the grid sheets


@dataclass(frozen=True)
class GridLayout:
    """Where the blocks of a grid sheet sit, for U users, M movies, K factors.

    Ratings on top; below them movie_factors (K rows, one column per movie) and movie_bias;
    then one row per user: userId, user_factors, user_bias, and the predictions under each movie.
    """

    U: int
    M: int
    K: int
    c_uf: int = 2      # user_factors start in column B
    r_ids: int = 5     # movie ids above the ratings (titles in the row below)
    r_rat: int = 7     # first ratings row

    @property
    def c_ub(self): return self.c_uf + self.K         # user_bias column
    @property
    def c0(self): return self.c_ub + 2                # first movie column, after a spacer
    @property
    def c1(self): return self.c0 + self.M - 1         # last movie column
    @property
    def r_mf(self): return self.r_rat + self.U + 2    # first movie_factors row
    @property
    def r_mb(self): return self.r_mf + self.K         # movie_bias row
    @property
    def r_hdr(self): return self.r_mb + 2             # header of the user / prediction block
    @property
    def r_u(self): return self.r_hdr + 1              # first user row
    @property
    def r_loss(self): return self.r_u + self.U + 1    # the RMSE row


def _grid_sheet(wb, title, ct: Crosstab, start: StartValues, *, biases: bool, y_range=None):
    U, M, K = len(ct.user_ids), len(ct.movie_ids), start.user_factors.shape[1]
    L = GridLayout(U, M, K)
    ws = wb.create_sheet(title)
    sheet_kind(wb, ws, "grid")

    if y_range is None and not biases:
        sheet_title(ws, "DotProduct: prediction = user_factors . movie_factors",
               "torch: (self.user_factors(u) * self.movie_factors(m)).sum(1)   (models/collab.py, DotProduct)")
    elif y_range is None:
        sheet_title(ws, "DotProductBias: prediction = user_factors . movie_factors + user_bias + movie_bias",
               "torch: dot + self.user_bias(u).squeeze(1) + self.movie_bias(m).squeeze(1)   (DotProductBias)")
    else:
        what, res = ("DotProductBias", "dot + biases") if biases else ("DotProduct", "dot")
        sheet_title(ws, f"{what}(y_range): prediction = y_low + (y_high - y_low) * sigmoid({res})",
               "torch: sigmoid_range(res, *self.y_range) = torch.sigmoid(res) * (high - low) + low   (OPTION: y_range)")
        _y_range_cells(wb, ws, y_range, what)

    # Ratings: a copy of the crosstab, truly blank where there is no rating (SUMXMY2 below
    # skips blank pairs; a formula returning "" would be text, which it rejects).
    label(ws.cell(L.r_ids - 1, L.c0), "ratings (a copy of the crosstab sheet)")
    for j in range(M):
        ws.cell(L.r_ids, L.c0 + j, int(ct.movie_ids[j]))
        set_text(ws.cell(L.r_ids + 1, L.c0 + j), ct.titles[j])
        ws.cell(L.r_ids + 1, L.c0 + j).alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[col_letter(L.c0 + j)].width = 10
    ws.row_dimensions[L.r_ids + 1].height = 45
    label(ws.cell(L.r_ids, 1), "userId")
    for i in range(U):
        ws.cell(L.r_rat + i, 1, int(ct.user_ids[i]))
        for j in range(M):
            if not np.isnan(ct.matrix[i, j]):
                ws.cell(L.r_rat + i, L.c0 + j, float(ct.matrix[i, j]))
    paint(ws, f"{a1(L.r_rat, L.c0)}:{a1(L.r_rat + U - 1, L.c1)}", "data", "0.0")
    header(ws, f"{a1(L.r_ids, L.c0)}:{a1(L.r_ids, L.c1)}")
    name_block(wb, ws, "ratings", L.r_rat, L.c0, L.r_rat + U - 1, L.c1)
    name_block(wb, ws, "user_ids", L.r_rat, 1, L.r_rat + U - 1, 1)
    name_block(wb, ws, "movie_ids", L.r_ids, L.c0, L.r_ids, L.c1)

    # Parameters: movie_factors as K rows (one column per movie), user_factors as U rows.
    label(ws.cell(L.r_mf - 1, L.c0), "movie_factors (one column per movie)")
    for k in range(K):
        label(ws.cell(L.r_mf + k, L.c0 - 1), f"factor {k + 1}", bold=False)
    write_block(ws, L.r_mf, L.c0, start.movie_factors.T, "param")
    name_block(wb, ws, "movie_factors", L.r_mf, L.c0, L.r_mf + K - 1, L.c1)
    label(ws.cell(L.r_hdr, 1), "userId")
    for k in range(K):
        label(ws.cell(L.r_hdr, L.c_uf + k), f"factor {k + 1}")
    for i in range(U):
        ws.cell(L.r_u + i, 1, f"={a1(L.r_rat + i, 1)}")   # the user id, repeated beside the predictions
    name_block(wb, ws, "prediction_user_ids", L.r_u, 1, L.r_u + U - 1, 1)
    write_block(ws, L.r_u, L.c_uf, start.user_factors, "param")
    name_block(wb, ws, "user_factors", L.r_u, L.c_uf, L.r_u + U - 1, L.c_uf + K - 1)
    changing = [range_ref(title, L.r_u, L.c_uf, L.r_u + U - 1, L.c_uf + K - 1),
                range_ref(title, L.r_mf, L.c0, L.r_mf + K - 1, L.c1)]
    if biases:
        label(ws.cell(L.r_mb, L.c0 - 1), "movie_bias")
        write_block(ws, L.r_mb, L.c0, start.movie_bias[None, :], "param")
        name_block(wb, ws, "movie_bias", L.r_mb, L.c0, L.r_mb, L.c1)
        label(ws.cell(L.r_hdr, L.c_ub), "user_bias")
        write_block(ws, L.r_u, L.c_ub, start.user_bias[:, None], "param")
        name_block(wb, ws, "user_bias", L.r_u, L.c_ub, L.r_u + U - 1, L.c_ub)
        changing += [range_ref(title, L.r_u, L.c_ub, L.r_u + U - 1, L.c_ub),
                     range_ref(title, L.r_mb, L.c0, L.r_mb, L.c1)]

    # Predictions, one formula per crosstab cell, 0 where there is no rating (as in the course).
    label(ws.cell(L.r_hdr - 1, L.c0), "predictions")
    for j in range(M):
        ws.cell(L.r_hdr, L.c0 + j, f"={a1(L.r_ids, L.c0 + j)}")   # the movie id, repeated above its column
    name_block(wb, ws, "prediction_movie_ids", L.r_hdr, L.c0, L.r_hdr, L.c1)
    header(ws, f"{a1(L.r_hdr, 1)}:{a1(L.r_hdr, L.c1)}")
    for i in range(U):
        r = L.r_u + i
        for j in range(M):
            c = L.c0 + j
            rating = a1(L.r_rat + i, c)
            # torch: (user_factors(u) * movie_factors(m)).sum(1)
            dot = f"MMULT({a1(r, L.c_uf, absolute_col=True)}:{a1(r, L.c_uf + K - 1, absolute_col=True)}," \
                  f"{a1(L.r_mf, c, absolute_row=True)}:{a1(L.r_mf + K - 1, c, absolute_row=True)})"
            if biases:
                # torch: dot + user_bias(u).squeeze(1) + movie_bias(m).squeeze(1)
                dot = f"{dot}+{a1(r, L.c_ub, absolute_col=True)}+{a1(L.r_mb, c, absolute_row=True)}"
            if y_range is not None:
                # torch: torch.sigmoid(res) * (high - low) + low
                dot = f"y_low+(y_high-y_low)/(1+EXP(-({dot})))"
            ws.cell(r, c, f'=IF({rating}="",0,{dot})')
    paint(ws, f"{a1(L.r_u, L.c0)}:{a1(L.r_u + U - 1, L.c1)}", "output")
    name_block(wb, ws, "predictions", L.r_u, L.c0, L.r_u + U - 1, L.c1)
    note(ws.cell(L.r_u, L.c0),
         "Dot product of this user's factor row and this movie's factor column (MMULT)"
         + (" plus both biases" if biases else "") + (", squashed into y_range by a sigmoid" if y_range else "")
         + "; 0 where there is no rating.")

    # Loss: torch.sqrt(F.mse_loss(pred, r)) over the rated cells (SUMXMY2 skips blank ratings).
    rat = block(L.r_rat, L.c0, L.r_rat + U - 1, L.c1)
    pred = block(L.r_u, L.c0, L.r_u + U - 1, L.c1)
    label(ws.cell(L.r_loss, L.c1 - 1), "RMSE")
    loss_cell(wb, ws, L.r_loss, L.c1, f"=SQRT(SUMXMY2({rat},{pred})/COUNT({rat}))", "rmse",
              "Root mean squared error over the rated cells. Solver minimises this cell by changing the orange blocks.")
    _solver_model(wb, ws, range_ref(title, L.r_loss, L.c1, L.r_loss, L.c1), changing)

    widths(ws, {"A": 10, **{col_letter(L.c_uf + k): 8 for k in range(K + 2)}})
    ws.freeze_panes = ws.cell(L.r_rat, L.c0)
    return ws


# ---------------------------------------------------------------------------------------------
# embedding lookup: one row per rating, parameters as lookup tables


def _lookup_sheet(wb, ct: Crosstab, start: StartValues, y_range=None):
    title = SHEETS["lookup"]
    ws = wb.create_sheet(title)
    sheet_kind(wb, ws, "lookup")
    U, M, K = len(ct.user_ids), len(ct.movie_ids), start.user_factors.shape[1]
    long = ct.long
    n = len(long)
    model = "DotProductBias" if y_range is None else "DotProductBias(y_range)"
    sheet_title(ws, f"Embedding lookup: {model} one rating per row, exactly as PyTorch runs it",
           "torch: self.user_factors(u) is a row lookup (INDEX/MATCH here); "
           "the one-hot block shows it is the same as onehot(u) @ user_factors.weight")
    if y_range is not None:
        _y_range_cells(wb, ws, y_range, "DotProductBias")

    # Parameter tables on the right: id, K factors, bias (nn.Embedding weights, one row per id).
    tc = 8 + 2 * K + 2           # first column of the tables
    tr_u = 5                     # user table header row
    tr_m = tr_u + U + 3          # movie table header row
    for (hr, ids, factors, bias, what) in ((tr_u, ct.user_ids, start.user_factors, start.user_bias, "user"),
                                           (tr_m, ct.movie_ids, start.movie_factors, start.movie_bias, "movie")):
        label(ws.cell(hr - 1, tc), f"{what} table: nn.Embedding weights, one row per {what}")
        label(ws.cell(hr, tc), f"{what}Id")
        for k in range(K):
            label(ws.cell(hr, tc + 1 + k), f"factor {k + 1}")
        label(ws.cell(hr, tc + 1 + K), f"{what}_bias")
        header(ws, f"{a1(hr, tc)}:{a1(hr, tc + K + 1)}")
        for i, v in enumerate(ids):
            ws.cell(hr + 1 + i, tc, int(v))
        r1 = hr + len(ids)
        paint(ws, f"{a1(hr + 1, tc)}:{a1(r1, tc)}", "data")
        write_block(ws, hr + 1, tc + 1, factors, "param")
        write_block(ws, hr + 1, tc + 1 + K, bias[:, None], "param")
        name_block(wb, ws, f"{what}_ids", hr + 1, tc, r1, tc)
        name_block(wb, ws, f"{what}_factors", hr + 1, tc + 1, r1, tc + K)
        name_block(wb, ws, f"{what}_bias", hr + 1, tc + 1 + K, r1, tc + 1 + K)
    ws.column_dimensions[col_letter(tc)].width = 10

    # The long list: userId, movieId, rating | looked-up factors | biases | prediction | error.
    hr, r0 = 4, 5
    c_uf, c_mf = 4, 4 + K            # looked-up user factors, then movie factors
    c_ub, c_mb = 4 + 2 * K, 5 + 2 * K
    c_pred, c_err = 6 + 2 * K, 7 + 2 * K
    heads = ["userId", "movieId", "rating"] + [f"u factor {k + 1}" for k in range(K)] \
        + [f"m factor {k + 1}" for k in range(K)] + ["user_bias", "movie_bias", "prediction", "squared error"]
    for j, h in enumerate(heads):
        label(ws.cell(hr, 1 + j), h)
    header(ws, f"{a1(hr, 1)}:{a1(hr, c_err)}")
    for i, row in enumerate(long.itertuples()):
        r = r0 + i
        ws.cell(r, 1, int(row.userId))
        ws.cell(r, 2, int(row.movieId))
        ws.cell(r, 3, float(row.rating))
        u_match = f"MATCH($A{r},user_ids,0)"
        m_match = f"MATCH($B{r},movie_ids,0)"
        for k in range(K):
            # torch: self.user_factors(u) -- the row of the table whose id matches
            ws.cell(r, c_uf + k, f"=INDEX(user_factors,{u_match},{k + 1})")
            ws.cell(r, c_mf + k, f"=INDEX(movie_factors,{m_match},{k + 1})")
        ws.cell(r, c_ub, f"=INDEX(user_bias,{u_match},1)")
        ws.cell(r, c_mb, f"=INDEX(movie_bias,{m_match},1)")
        # torch: (uf * mf).sum(1) + ub + mb
        uf = f"{a1(r, c_uf)}:{a1(r, c_uf + K - 1)}"
        mf = f"{a1(r, c_mf)}:{a1(r, c_mf + K - 1)}"
        res = f"SUMPRODUCT({uf},{mf})+{a1(r, c_ub)}+{a1(r, c_mb)}"
        # torch: sigmoid_range(res, *self.y_range), when the model has one
        ws.cell(r, c_pred, f"={res}" if y_range is None else f"=y_low+(y_high-y_low)/(1+EXP(-({res})))")
        ws.cell(r, c_err, f"=({a1(r, c_pred)}-{a1(r, 3)})^2")
    r1 = r0 + n - 1
    paint(ws, f"A{r0}:C{r1}", "data")
    paint(ws, f"{a1(r0, c_uf)}:{a1(r1, c_mb)}", "output")
    paint(ws, f"{a1(r0, c_pred)}:{a1(r1, c_err)}", "output")
    note(ws.cell(r0, c_uf), "INDEX(user_factors, MATCH(userId, user_ids, 0), k): the embedding lookup, non-volatile.")
    for nm, c0, c1 in (("looked_up_user_factors", c_uf, c_uf + K - 1), ("looked_up_movie_factors", c_mf, c_mf + K - 1),
                       ("looked_up_user_bias", c_ub, c_ub), ("looked_up_movie_bias", c_mb, c_mb)):
        name_block(wb, ws, nm, r0, c0, r1, c1)
    for nm, c in (("rating_user", 1), ("rating_movie", 2), ("rating", 3), ("predictions", c_pred), ("squared_errors", c_err)):
        name_block(wb, ws, nm, r0, c, r1, c)

    # Loss: F.mse_loss(pred, r) and its square root, above the list so they stay in view.
    label(ws.cell(2, c_pred), "MSE")
    label(ws.cell(3, c_pred), "RMSE")
    mse = ws.cell(2, c_err, f"=AVERAGE({block(r0, c_err, r1, c_err)})")
    ws.cell(3, c_err, f"=SQRT({a1(2, c_err)})")
    paint(ws, f"{a1(2, c_err)}:{a1(3, c_err)}", "output", "0.0000")
    note(mse, "Mean squared error over every rating: F.mse_loss. Solver minimises this cell.")
    name_block(wb, ws, "mse", 2, c_err, 2, c_err)
    name_block(wb, ws, "rmse", 3, c_err, 3, c_err)

    # One-hot: onehot(u) @ user_factors.weight is the looked-up row, as a matrix product.
    oh = tr_m + M + 3
    label(ws.cell(oh, tc), "one-hot lookup: onehot(user) x user_factors gives that user's row")
    label(ws.cell(oh + 1, tc), "userId")
    ws.cell(oh + 1, tc + 1, int(long.userId.iloc[0]))
    paint(ws, a1(oh + 1, tc + 1), "data")
    note(ws.cell(oh + 1, tc + 1), "Type any userId from the user table: the one-hot vector and the product follow.")
    name_block(wb, ws, "onehot_user", oh + 1, tc + 1, oh + 1, tc + 1)
    label(ws.cell(oh + 2, tc), "ids")
    label(ws.cell(oh + 3, tc), "one-hot")
    for j in range(U):
        ws.cell(oh + 2, tc + 1 + j, f"=INDEX(user_ids,{j + 1},1)")
        # torch: F.one_hot(u, num_classes=U)
        ws.cell(oh + 3, tc + 1 + j, f"=IF({a1(oh + 2, tc + 1 + j)}=onehot_user,1,0)")
    paint(ws, f"{a1(oh + 3, tc + 1)}:{a1(oh + 3, tc + U)}", "output", "0")
    name_block(wb, ws, "onehot_ids", oh + 2, tc + 1, oh + 2, tc + U)
    name_block(wb, ws, "onehot", oh + 3, tc + 1, oh + 3, tc + U)
    label(ws.cell(oh + 4, tc), "one-hot x factors")
    for k in range(K):
        # torch: F.one_hot(u, U).double() @ user_factors.weight[:, k]
        # (factor column k of the user table referred to directly: Gnumeric does not take INDEX(range, 0, k))
        ws.cell(oh + 4, tc + 1 + k, f"=MMULT({block(oh + 3, tc + 1, oh + 3, tc + U)},"
                                    f"{block(tr_u + 1, tc + 1 + k, tr_u + U, tc + 1 + k)})")
    paint(ws, f"{a1(oh + 4, tc + 1)}:{a1(oh + 4, tc + K)}", "output")
    name_block(wb, ws, "onehot_product", oh + 4, tc + 1, oh + 4, tc + K)
    note(ws.cell(oh + 4, tc + 1), "A one-hot row times the factor matrix picks out one row: an embedding lookup is a matrix product.")

    # Predicted against actual: after Solver the points gather round the diagonal.
    ws.add_chart(scatter_chart("predicted vs actual rating", "rating", "prediction",
                               Reference(ws, min_col=3, min_row=r0, max_row=r1),
                               Reference(ws, min_col=c_pred, min_row=r0, max_row=r1), "ratings"),
                 a1(oh + 6, tc))

    changing = [range_ref(title, tr_u + 1, tc + 1, tr_u + U, tc + K + 1),
                range_ref(title, tr_m + 1, tc + 1, tr_m + M, tc + K + 1)]
    _solver_model(wb, ws, range_ref(title, 2, c_err, 2, c_err), changing)
    widths(ws, {"A": 9, "B": 9, "C": 8, col_letter(c_pred): 11, col_letter(c_err): 13})
    ws.freeze_panes = ws.cell(r0, 1)
    return ws


# ---------------------------------------------------------------------------------------------
# The intro sheet and the whole workbook


def _intro(wb, ct: Crosstab, config: CollabConfig):
    data = ("SYNTHETIC data: a deterministic MovieLens-shaped sample generated from a planted low-rank "
            "model, for offline use. Rebuild from real MovieLens with 'xlbridge build --ratings PATH'."
            if ct.synthetic else f"MovieLens ratings from {ct.source}.")
    name_list = "; ".join(f"{n.name} ({n.shape}, {n.role})" for n in GRID.names)
    intro_sheet(wb, "Collaborative filtering: the lesson's models as live formulas", [
        ("Data", f"{data} The crosstab holds the {len(ct.user_ids)} most active users and the "
                 f"{len(ct.movie_ids)} most rated movies (ties: smaller id first); a duplicate (user, movie) "
                 "rating keeps the most recent one."),
        ("crosstab", "The ratings (blue). Empty cell = no rating. Each model sheet holds a copy, so a "
                     "sheet stays readable on its own; to try other ratings, edit the copy on that sheet."),
        ("dotprod", "DotProduct: each prediction is the dot product of a user's factor row and a movie's "
                    "factor column (MMULT). Orange = parameters, green = predictions and the RMSE."),
        ("bias", "DotProductBias: the dot product plus a bias per user and a bias per movie."),
        ("bias_sigmoid", "OPTION y_range: DotProductBias(y_range=(low, high)); the prediction is squashed into "
                         "the range by a scaled sigmoid. Change the yellow y_range cells to try another range."),
        ("embedding lookup", "The same DotProductBias with one row per rating: each row looks up its user's and "
                             "movie's factors (INDEX/MATCH), as nn.Embedding does. The one-hot block shows that a "
                             "lookup equals one-hot vector x factor matrix."),
        ("What to change", "The orange start values (type any numbers), the blue ratings on a model sheet, "
                           "y_range. Everything green recalculates."),
        ("Run Solver (Excel)", "Data > Solver. Each model sheet already holds its Solver model: Set Objective = "
                               "the RMSE (MSE on 'embedding lookup'), To: Min, By Changing = the orange blocks, "
                               "method GRG Nonlinear. Press Solve. Without Excel: 'xlbridge solve WORKBOOK'."),
        ("Python check", "'xlbridge check collab_filter.xlsx' recalculates this file in LibreOffice, loads each "
                         "sheet's orange blocks into models/collab.py (DotProduct, DotProductBias) in float64 and "
                         "compares every prediction and loss cell; tolerance 1e-9."),
        ("Defined names", "Formulas > Name Manager. Each model sheet has sheet-scoped names: " + name_list + "."),
        ("Settings", f"{config.n_users} users x {config.n_movies} movies, {config.n_factors} factors, start "
                     f"values seeded with {config.seed}."),
    ])


def build_collab(data: Ratings, path, config: CollabConfig = CollabConfig(), trained=None) -> Path:
    """Build the collaborative-filtering workbook from ratings into `path` (atomic write).

    With `trained` (a SavedModel from xlbridge.collab_training.load_collab_model) the model
    sheets hold that model's learned parameters for the crosstab's users and movies instead of
    seeded start values, so their predictions and RMSE are the trained model's."""
    config = config.validate()
    ct = crosstab(data, config.n_users, config.n_movies)
    rng = np.random.default_rng(config.seed)
    U, M = len(ct.user_ids), len(ct.movie_ids)
    if np.isnan(ct.matrix).all():
        raise XlbridgeInputError(f"{data.source}: the top users rated none of the top movies")

    wb = Workbook()
    wb.remove(wb.active)
    _crosstab_sheet(wb, ct)
    if trained is None:
        _grid_sheet(wb, SHEETS["dotprod"], ct, StartValues.draw(rng, U, M, config), biases=False)
        _grid_sheet(wb, SHEETS["bias"], ct, StartValues.draw(rng, U, M, config), biases=True)
        _grid_sheet(wb, SHEETS["sigmoid"], ct, StartValues.draw(rng, U, M, config), biases=True,
                    y_range=(config.y_low, config.y_high))
        _lookup_sheet(wb, ct, StartValues.draw(rng, U, M, config))
        _intro(wb, ct, config)
    else:
        _trained_sheets(wb, ct, trained, config)
    for ws in wb.worksheets:
        print_on_one_page(ws)
    wb.active = 0
    set_workbook_kind(wb, COLLAB.kind)
    return save_atomic(wb, path)


def _rows_of(ct: Crosstab, trained, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Where the crosstab's users and movies sit in the trained model's tables."""
    def find(keys, table, what):
        index = {k: i for i, k in enumerate(table)}
        missing = [k for k in keys if k not in index]
        if missing:
            raise XlbridgeInputError(f"{source}: {what} {missing[0]!r} of the crosstab is not in the model "
                                     f"({len(missing)} missing): was it trained on other ratings?")
        return np.array([index[k] for k in keys])
    movie_keys = list(ct.titles) if trained.meta.get("item") == "title" else list(ct.movie_ids)
    return find(list(ct.user_ids), trained.users, "user"), find(movie_keys, trained.movies, "movie")


def _trained_sheets(wb, ct: Crosstab, trained, config: CollabConfig) -> None:
    """The sheets of a trained model: its equation with its learned parameters."""
    from xlbridge.builders.collab_nn import collab_nn_sheet

    model = trained.model
    name = type(model).__name__
    source = trained.meta.get("source", "the model")
    users, movies = _rows_of(ct, trained, source)
    w = {k: v.detach().cpu().double().numpy() for k, v in model.state_dict().items()}
    y_range = getattr(model, "y_range", None)
    if name in ("DotProduct", "DotProductBias"):
        start = StartValues.from_trained({k.removesuffix(".weight"): v for k, v in w.items()}, users, movies)
        _grid_sheet(wb, f"trained {name}", ct, start, biases=name == "DotProductBias", y_range=y_range)
        if name == "DotProductBias":
            _lookup_sheet(wb, ct, start, y_range=y_range)
    elif name == "CollabNN":
        collab_nn_sheet(wb, ct, w, users, movies, y_range, config.nn_rows)
    else:
        raise XlbridgeInputError(f"{name} has no sheet: a trained DotProduct, DotProductBias or CollabNN can be "
                                 "written into a workbook")
    history = trained.meta.get("history") or [{}]
    settings = trained.meta.get("settings", {})
    intro_sheet(wb, f"Collaborative filtering: a trained {name} as live formulas", [
        ("Model", f"{name} trained by 'xlbridge fit' on {source} ({settings.get('epochs')} epochs, lr "
                  f"{settings.get('lr')}, wd {settings.get('wd')}, split seed {settings.get('seed')}); validation "
                  f"MSE {history[-1].get('valid_loss', float('nan')):.4f}. Its learned parameters for the crosstab's "
                  "users and movies fill the orange cells."),
        ("Data", f"The crosstab holds the {len(ct.user_ids)} most active users and the {len(ct.movie_ids)} most rated "
                 f"movies of {ct.source}."),
        ("Sheets", "Each model sheet computes the trained model's equation from its orange cells, so its predictions "
                   "and loss are the PyTorch model's on these ratings. 'xlbridge check' proves it in LibreOffice."),
    ])


def build_default(path) -> Path:
    """The main command's collab_filter.xlsx: the labelled synthetic sample, seeded start values."""
    from xlbridge.data import synthetic_ratings

    return build_collab(synthetic_ratings(), path, CollabConfig())
