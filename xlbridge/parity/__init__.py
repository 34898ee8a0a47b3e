"""Parity: a workbook recalculated by LibreOffice against the PyTorch models, cell for cell.

Each workbook kind has a checker module here (`collab`, `graddesc`, `char_rnn`), found through
the workbook registry (xlbridge/workbooks.py). A checker reads the parameter blocks and inputs
from the recalculated workbook by defined name, runs the model in float64 and returns one
`Comparison` per sheet and quantity, each naming the defined names it proves. Then the contract
decides what had to be proven: every output, loss and label name a sheet carries
(xlbridge/contracts) must be in some comparison, or the check fails on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlbridge.contracts import FORMULA_ROLES, SHEET_KIND
from xlbridge.engine import Book, recalculate
from xlbridge.errors import XlbridgeInputError

TOLERANCE = 1e-9  # float64 on both sides (docs/architecture.md, principle 4)


@dataclass(frozen=True)
class Comparison:
    """One checked quantity: how many cells, and the largest difference found."""

    sheet: str
    quantity: str
    cells: int
    max_diff: float
    tol: float = TOLERANCE
    relative: bool = False  # max_diff is relative per cell (see compare)
    names: tuple[str, ...] = ()   # the sheet's defined names whose cells this proves
    label: bool = False           # a label (repeated data) checked, rather than a model output compared

    @property
    def passed(self) -> bool:
        return bool(self.cells > 0 and np.isfinite(self.max_diff) and self.max_diff <= self.tol)


def compare(sheet: str, quantity: str, got, want, *, tol: float = TOLERANCE, relative: bool = False,
            empty=None, names: tuple[str, ...] | None = None, label: bool = False) -> Comparison:
    """Compare spreadsheet values `got` with model values `want` (same shape).

    A NaN (an empty, text or error cell) counts as an infinite difference, except in the cells
    `empty` (a boolean mask) marks as meant to be blank on both sides. `names` are the defined
    names whose cells `got` holds (default: the quantity itself, when it is a name).

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
    if names is None:
        names = (quantity,) if re.fullmatch(r"\w+", quantity) else ()
    return Comparison(sheet, quantity, cells, float(diff.max()) if diff.size else np.nan, tol, relative,
                      tuple(names), label)


def compare_labels(sheet: str, quantity: str, got, want, names: tuple[str, ...], label: bool = True) -> Comparison:
    """Cells that repeat data (an id, a character) against the data, or any text a model
    decides (label=False): equal, exactly."""
    got, want = np.asarray(got, dtype=object).ravel(), np.asarray(want, dtype=object).ravel()
    if got.shape != want.shape:
        raise XlbridgeInputError(f"sheet '{sheet}': {quantity} has {got.size} cells, the data {want.size}")
    same = [_same(a, b) for a, b in zip(got, want)]
    return Comparison(sheet, quantity, len(same), 0.0 if all(same) else float("inf"), 0.0, False, tuple(names), label)


def _same(a, b) -> bool:
    """Equal as a spreadsheet shows them: 3 and 3.0 alike, text exactly."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _host(values):
    """A model's tensor (on any device) as a NumPy array; anything else as it is."""
    return values.detach().cpu().numpy() if hasattr(values, "detach") else values


def results_frame(results: list[Comparison]):
    """The comparisons as a pandas DataFrame, one row each, `passed` included: for notebooks."""
    import pandas as pd

    return pd.DataFrame([{"sheet": c.sheet, "quantity": c.quantity, "cells": c.cells, "max_diff": c.max_diff,
                          "tol": c.tol, "relative": c.relative, "label": c.label, "passed": c.passed}
                         for c in results])


def sheet_kind(book: Book, sheet: str) -> str | None:
    """The kind of sheet `sheet` says it is (its hidden `xlbridge_sheet` name), or None."""
    text = book.names().get((sheet, SHEET_KIND))
    return text.strip('"') if text else None


def sheets_of_kind(book: Book, *kinds: str) -> list[str]:
    """The titles of the sheets of these kinds, in workbook order."""
    return [s for s in book.sheets_with(SHEET_KIND) if sheet_kind(book, s) in kinds]


def unproven(book: Book, results: list[Comparison]) -> list[Comparison]:
    """A failing comparison for every output, loss and label name a sheet carries that no
    comparison proved: a formula block the checker forgot fails instead of passing unseen."""
    from xlbridge.workbooks import registry_entry

    contract = registry_entry(book.kind, book.source).contract
    proven = {(c.sheet, n) for c in results for n in c.names}
    missing = []
    for sheet in book.sheets_with(SHEET_KIND):
        kind = sheet_kind(book, sheet)
        try:
            names = contract.sheet(kind).with_role(*FORMULA_ROLES)
        except KeyError:
            raise XlbridgeInputError(f"{book.source}: sheet '{sheet}' says it is a {kind!r} sheet, which "
                                     f"{book.kind} workbooks do not have") from None
        for name in names:
            if (sheet, name) in book.names() and (sheet, name) not in proven:
                missing.append(Comparison(sheet, f"{name} (not compared)", 0, float("inf"), names=(name,)))
    return missing


def check_book(book: Book, device="cpu") -> list[Comparison]:
    """Run the checker for an already recalculated workbook, the models on `device`; then
    fail every formula name its contract says must be proven and no comparison proved."""
    from xlbridge.workbooks import registry_entry

    results = registry_entry(book.kind, book.source).checker()(book, device=device)
    return results + unproven(book, results)


def check(path, device="cpu") -> list[Comparison]:
    """Recalculate `path` in LibreOffice and compare every checked cell with the models."""
    path = Path(path)
    if not path.is_file():
        raise XlbridgeInputError(f"{path}: no such workbook")
    return check_book(recalculate(path), device)
