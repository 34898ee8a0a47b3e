"""Parity for the gradient-descent workbook: every optimizer sheet against torch.optim.

For each optimizer sheet the check reads, by defined name, what the sheet was run with (the
data `x`, `y`; the sheet's hyperparameters `lr`, `beta1`, ...; the start `a_init`, `b_init`),
runs the same optimizer with torch in float64 (models/linear.py) and compares every named
column step by step. Because the inputs are read back from the recalculated workbook, a user
who edits a hyperparameter cell and checks again is compared with torch on the edited value.
"""

from __future__ import annotations


import numpy as np

from models.linear import OPTIMIZERS, onecycle_warmup_end, train_torch
from xlbridge.builders.graddesc import SHEETS, columns
from xlbridge.engine import Book
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity import TOLERANCE, Comparison, compare, register

# A central difference of a quadratic is exact up to rounding, but that rounding is the loss's
# (cancellation of two nearly equal squares, divided by 2h), far above the other columns'.
FD_TOLERANCE = 1e-6


def _derived(optimizer: str, hp: dict, traj, steps: int) -> dict[str, np.ndarray]:
    """Columns a sheet shows that torch computes internally without keeping: recomputed
    here from the hyperparameters and torch's own trajectory, as torch's source states them."""
    t = np.arange(1, steps + 1, dtype=np.float64)
    out = {}
    if optimizer == "adagrad":
        out["clr"] = hp["lr"] / (1 + (t - 1) * hp["lr_decay"])
    if optimizer in ("adam", "adamw"):
        out["bias_correction1"] = 1 - hp["beta1"] ** t
    if optimizer in ("adam", "adamw", "adam_onecycle"):
        out["bias_correction2"] = 1 - hp["beta2"] ** t
    if optimizer == "adam_onecycle":
        out["bias_correction1"] = 1 - traj["beta1_t"] ** t
        warm = onecycle_warmup_end(hp["pct_start"], steps)
        s = t - 1
        out["pct_t"] = np.where(s <= warm, s / warm, (s - warm) / (steps - 1 - warm))
    if optimizer == "adamw":
        out["decayed_a"] = traj["a"] * (1 - hp["lr"] * hp["weight_decay"])
        out["decayed_b"] = traj["b"] * (1 - hp["lr"] * hp["weight_decay"])
    return out


def check_sheet(book: Book, title: str, optimizer: str, x: np.ndarray, y: np.ndarray) -> list[Comparison]:
    """Compare one optimizer sheet with torch, quantity by quantity."""
    where = f"{book.source}: sheet '{title}'"
    hp = {key: book.value(key, title) for key in OPTIMIZERS[optimizer]}
    a_init, b_init = book.value("a_init", title), book.value("b_init", title)
    steps = book.values("a", title).size
    if steps % x.size:
        raise XlbridgeInputError(f"{where}: {steps} steps is not a whole number of epochs of {x.size} points")
    try:
        traj = train_torch(x, y, optimizer, hp, epochs=steps // x.size, a_init=a_init, b_init=b_init)
    except XlbridgeInputError as e:  # a hyperparameter cell edited out of range
        raise XlbridgeInputError(f"{where}: {e}") from None
    want = {**traj, **_derived(optimizer, hp, traj, steps)}
    if optimizer == "sgd":  # the finite-difference estimates, against torch's gradient
        want["fd_grad_a"], want["fd_grad_b"] = traj["grad_a"], traj["grad_b"]

    named = book.names()
    shown = {c.name for c in columns(optimizer)}  # what the builder puts on this sheet
    out = []
    for name, model in want.items():
        if (title, name) not in named:
            if name in shown:  # a column the sheet should have lost its name: fail, don't skip
                out.append(Comparison(title, f"{name} (name missing)", 0, float("inf")))
            continue  # the model keeps more than this sheet shows
        got = book.values(name, title).ravel()
        tol = FD_TOLERANCE if name.startswith("fd_") else TOLERANCE
        out.append(compare(title, name, got, model, tol=tol, relative=True))
    return out


@register("graddesc")
def check_graddesc(book: Book) -> list[Comparison]:
    """Every optimizer sheet of a graddesc workbook against torch.optim, in float64."""
    x = book.values("x").ravel()
    y = book.values("y").ravel()
    if np.isnan(x).any() or np.isnan(y).any():
        raise XlbridgeInputError(f"{book.source}: sheet 'data': x and y must be numbers in every row")
    out = []
    for title in book.sheets_with("new_a"):
        if title in SHEETS:
            out += check_sheet(book, title, SHEETS[title], x, y)
    if not out:
        raise XlbridgeInputError(f"{book.source}: no optimizer sheet found (none has the name 'new_a')")
    return out
