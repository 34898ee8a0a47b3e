"""Parity: a workbook recalculated by LibreOffice against the PyTorch models, cell for cell.

Each workbook kind has a checker module here (`collab`, ...). A checker reads the parameter
blocks and inputs from the recalculated workbook by defined name, runs the model in float64
and returns one `Comparison` per sheet and quantity.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from xlbridge.engine import Book, recalculate
from xlbridge.errors import XlbridgeInputError

TOLERANCE = 1e-9  # float64 on both sides (DESIGN.md, principle 4)

# kind -> module holding its checker; imported on first use so `xlbridge check` on one kind
# does not load the others' models.
CHECKER_MODULES = {
    "collab": "xlbridge.parity.collab",
    "graddesc": "xlbridge.parity.graddesc",
    "char_rnn": "xlbridge.parity.char_rnn",
}

_CHECKERS: dict[str, Callable[[Book], list["Comparison"]]] = {}


@dataclass(frozen=True)
class Comparison:
    """One checked quantity: how many cells, and the largest difference found."""

    sheet: str
    quantity: str
    cells: int
    max_diff: float
    tol: float = TOLERANCE
    relative: bool = False  # max_diff is relative per cell (see compare)

    @property
    def passed(self) -> bool:
        return bool(self.cells > 0 and np.isfinite(self.max_diff) and self.max_diff <= self.tol)


def compare(sheet: str, quantity: str, got, want, *, tol: float = TOLERANCE, relative: bool = False,
            empty=None) -> Comparison:
    """Compare spreadsheet values `got` with model values `want` (same shape).

    A NaN (an empty, text or error cell) counts as an infinite difference, except in the cells
    `empty` (a boolean mask) marks as meant to be blank on both sides.

    relative=True divides each cell's difference by max(|model value|, 1e-3 * the largest
    |value| of the quantity): relative error cell by cell, except near a zero crossing (a
    gradient, a residual), where no per-cell relative error is meaningful and both sides carry
    the same absolute rounding; there it is judged against a thousandth of the quantity's scale.
    """
    got, want = (np.asarray(_host(a), dtype=float) for a in (got, want))
    if got.shape != want.shape:
        raise XlbridgeInputError(
            f"sheet '{sheet}': {quantity} has shape {got.shape} in the workbook, {want.shape} in the model"
        )
    both_empty = np.zeros(got.shape, bool) if empty is None else (np.asarray(empty, bool) & np.isnan(got) & np.isnan(want))
    diff = np.abs(got - want)
    if relative and want.size and not np.isnan(want).all():
        floor = 1e-3 * np.nanmax(np.abs(want))
        diff = diff / np.maximum(np.abs(want), floor if floor > 0 else 1.0)  # all zero: absolute
    diff = np.where(both_empty, 0.0, np.where(np.isnan(diff), np.inf, diff))
    cells = int(diff.size - both_empty.sum())
    return Comparison(sheet, quantity, cells, float(diff.max()) if diff.size else np.nan, tol, relative)


def _host(values):
    """A model's tensor (on any device) as a NumPy array; anything else as it is."""
    return values.detach().cpu().numpy() if hasattr(values, "detach") else values


def register(kind: str):
    """Decorator: `@register("collab")` makes a function the checker for that workbook kind."""

    def deco(fn):
        _CHECKERS[kind] = fn
        return fn

    return deco


def checker_for(kind: str | None, source="workbook"):
    if kind not in CHECKER_MODULES:
        known = ", ".join(sorted(CHECKER_MODULES))
        raise XlbridgeInputError(
            f"{source}: no parity check for workbook kind {kind!r} (known kinds: {known}); "
            "was it written by 'xlbridge build'?"
        )
    importlib.import_module(CHECKER_MODULES[kind])
    return _CHECKERS[kind]


def check_book(book: Book, device="cpu") -> list[Comparison]:
    """Run the checker for an already recalculated workbook, the models on `device`."""
    return checker_for(book.kind, book.source)(book, device=device)


def check(path, device="cpu") -> list[Comparison]:
    """Recalculate `path` in LibreOffice and compare every checked cell with the models."""
    path = Path(path)
    if not path.is_file():
        raise XlbridgeInputError(f"{path}: no such workbook")
    return check_book(recalculate(path), device)
