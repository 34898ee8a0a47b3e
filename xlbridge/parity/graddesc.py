"""Parity for the gradient-descent workbook: every optimizer sheet against torch.optim.

For each optimizer sheet the check reads, by defined name, what the sheet was run with (the
data `x`, `y`; the sheet's hyperparameters `lr`, `beta1`, ...; the start `a_init`, `b_init`),
runs the same optimizer with torch.optim in float64 (models/linear.py) and compares every named
column step by step. Because the inputs are read back from the recalculated workbook, a user
who edits a hyperparameter cell and checks again is compared with torch on the edited value.
"""

from __future__ import annotations

import numpy as np

from xlbridge.contracts.graddesc import OPTIMIZER_SHEET
from xlbridge.engine import Book
from xlbridge.errors import XlbridgeInputError
from xlbridge.models.linear import train_numpy, train_torch
from xlbridge.models.optimizers import OPTIMIZERS
from xlbridge.models.schedule import onecycle_warmup_end
from xlbridge.params import ANY_NUMBER, OneOf, POSITIVE, check, check_hparams
from xlbridge.parity import Comparison, compare, compare_labels, sheets_of_kind


# Columns a sheet shows that torch computes internally without keeping: the same steps run
# through models/optimizers.py's pure functions give them (Adagrad's decayed lr, Adam's bias
# corrections, AdamW's decayed weights, OneCycleLR's phase share).
DERIVED = ("clr", "bias_correction1", "bias_correction2", "decayed_a", "decayed_b", "pct_t")


def _central_difference(traj, x, y, h: float, steps: int) -> dict[str, np.ndarray]:
    """The basic SGD sheet's finite-difference columns, worked out from the trajectory: the
    sheet's own formula, so its rounding (a difference of two nearly equal squares over 2h) is
    the same on both sides and the comparison can be as tight as every other column's."""
    i = np.arange(steps) % x.size
    a, b, xs, ys = traj["a"], traj["b"], x[i], y[i]
    return {"fd_grad_a": (((a + h) * xs + b - ys) ** 2 - ((a - h) * xs + b - ys) ** 2) / (2 * h),
            "fd_grad_b": ((a * xs + (b + h) - ys) ** 2 - (a * xs + (b - h) - ys) ** 2) / (2 * h)}


def _schedule_cells(hp: dict, steps: int) -> dict[str, float]:
    """The adam onecycle sheet's derived cells, as OneCycleLR derives them."""
    initial_lr = hp["max_lr"] / hp["div_factor"]
    return {"initial_lr": initial_lr, "min_lr": initial_lr / hp["final_div_factor"], "total_steps": float(steps),
            "warmup_end": onecycle_warmup_end(hp["pct_start"], steps)}


def check_sheet(book: Book, title: str, optimizer: str, x: np.ndarray, y: np.ndarray, device="cpu") -> list[Comparison]:
    """Compare one optimizer sheet with torch, quantity by quantity."""
    where = f"{book.source}: sheet '{title}'"
    hp = {key: book.value(key, title) for key in OPTIMIZERS[optimizer]}
    a_init, b_init = (check(book.value(k, title), ANY_NUMBER, k, f"sheet '{title}'") for k in ("a_init", "b_init"))
    steps = book.values("a", title).size
    if steps % x.size:
        raise XlbridgeInputError(f"{where}: {steps} steps is not a whole number of epochs of {x.size} points")
    epochs = steps // x.size
    try:  # a hyperparameter cell edited out of range is bad input, not a mismatch
        hp = check_hparams(optimizer, hp, total_steps=steps)
    except XlbridgeInputError as e:
        raise XlbridgeInputError(f"{where}: {e}") from None
    traj = train_torch(x, y, optimizer, hp, epochs=epochs, a_init=a_init, b_init=b_init, device=device)
    by_hand = train_numpy(x, y, optimizer, hp, epochs=epochs, a_init=a_init, b_init=b_init)
    want = {**traj, **{k: by_hand[k] for k in DERIVED if k in by_hand}}
    if optimizer == "sgd":
        h = check(book.value("fd_step", title), POSITIVE, "fd_step", f"sheet '{title}'")
        want.update(_central_difference(traj, x, y, h, steps))

    named = book.names()
    out = []
    for name, model in want.items():
        if (title, name) not in named:  # every quantity of the trajectory is a column: fail, don't skip
            out.append(Comparison(title, f"{name} (name missing)", 0, float("inf")))
            continue
        out.append(compare(title, name, book.values(name, title).ravel(), model, relative=True))
    if optimizer == "adam_onecycle":
        for name, value in _schedule_cells(hp, steps).items():
            out.append(compare(title, name, [[book.value(name, title)]], [[value]], relative=True))
    # step 0: the parameters start at a_init, b_init; torch's state at zeros (Adagrad's sum at
    # initial_accumulator_value)
    start = {"new_a": a_init, "new_b": b_init, "sum_a": hp.get("initial_accumulator_value", 0.0),
             "sum_b": hp.get("initial_accumulator_value", 0.0)}
    for name in OPTIMIZER_SHEET.with_role("output"):
        if name.endswith("_start") and (title, name) in named:
            out.append(compare(title, name, [[book.value(name, title)]], [[start.get(name[:-6], 0.0)]]))
    i = np.arange(steps) % x.size          # data in order, epoch after epoch
    out.append(compare_labels(title, "x of each step", book.raw("step_x", title), x[i], ("step_x",)))
    out.append(compare_labels(title, "y of each step", book.raw("step_y", title), y[i], ("step_y",)))
    return out


def check_graddesc(book: Book, device="cpu") -> list[Comparison]:
    """Every optimizer sheet of a graddesc workbook against torch.optim, in float64; and the data
    sheet's y against true_a * x + true_b + noise."""
    x = book.values("x").ravel()
    y = book.values("y").ravel()
    if np.isnan(x).any() or np.isnan(y).any():
        raise XlbridgeInputError(f"{book.source}: sheet 'data': x and y must be numbers in every row")
    true_a, true_b = (check(book.value(k), ANY_NUMBER, k, "sheet 'data'") for k in ("true_a", "true_b"))
    # y = a * x + b + noise  (models/line.py LineData.y)
    out = [compare("data", "y", y, true_a * x + true_b + book.values("noise").ravel(), relative=True)]
    for title in sheets_of_kind(book, "optimizer"):
        optimizer = check(book.raw("optimizer", title)[0][0], OneOf(tuple(OPTIMIZERS)), "optimizer", f"sheet '{title}'")
        out += check_sheet(book, title, optimizer, x, y, device)
    if len(out) == 1:
        raise XlbridgeInputError(f"{book.source}: no optimizer sheet found")
    return out
