"""Parity for the gradient-descent workbook: every optimizer sheet against torch.optim.

For each optimizer sheet the check reads, by defined name, what the sheet was run with (the
data `x`, `y`; the sheet's hyperparameters `lr`, `beta1`, ...; the start `a_init`, `b_init`),
runs the same optimizer with torch in float64 (models/linear.py) and compares every named
column step by step. Because the inputs are read back from the recalculated workbook, a user
who edits a hyperparameter cell and checks again is compared with torch on the edited value.
"""

from __future__ import annotations


import numpy as np

from xlbridge.models.linear import train_numpy, train_torch
from xlbridge.models.optimizers import OPTIMIZERS
from xlbridge.params import ANY_NUMBER, check, check_hparams
from xlbridge.builders.graddesc import SHEETS, columns
from xlbridge.engine import Book
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity import TOLERANCE, Comparison, compare, register

# A central difference of a quadratic is exact up to rounding, but that rounding is the loss's
# (cancellation of two nearly equal squares, divided by 2h), far above the other columns'.
FD_TOLERANCE = 1e-6


# Columns a sheet shows that torch computes internally without keeping: the same steps run
# through models/optimizers.py's pure functions give them (Adagrad's decayed lr, Adam's bias
# corrections, AdamW's decayed weights, OneCycleLR's phase share).
DERIVED = ("clr", "bias_correction1", "bias_correction2", "decayed_a", "decayed_b", "pct_t")


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
def check_graddesc(book: Book, device="cpu") -> list[Comparison]:
    """Every optimizer sheet of a graddesc workbook against torch.optim, in float64."""
    x = book.values("x").ravel()
    y = book.values("y").ravel()
    if np.isnan(x).any() or np.isnan(y).any():
        raise XlbridgeInputError(f"{book.source}: sheet 'data': x and y must be numbers in every row")
    out = []
    for title in book.sheets_with("new_a"):
        if title in SHEETS:
            out += check_sheet(book, title, SHEETS[title], x, y, device)
    if not out:
        raise XlbridgeInputError(f"{book.source}: no optimizer sheet found (none has the name 'new_a')")
    return out
