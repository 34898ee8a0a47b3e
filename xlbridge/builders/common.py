"""Pieces every builder uses: named blocks of numbers, and a sheet's title lines."""

from __future__ import annotations

import numpy as np

from xlbridge.contracts import SHEET_KIND
from xlbridge.styles import LOSS_BORDER, TITLE_FONT, label, note, paint
from xlbridge.xlsx import a1, add_name, range_ref


def name_block(wb, ws, name: str, r0: int, c0: int, r1: int | None = None, c1: int | None = None) -> None:
    """A sheet-scoped defined name over rows r0..r1, columns c0..c1 (one cell when r1, c1 are left out)."""
    add_name(wb, name, range_ref(ws.title, r0, c0, r0 if r1 is None else r1, c0 if c1 is None else c1), sheet=ws)


def sheet_kind(wb, ws, kind: str) -> None:
    """Say which kind of sheet `ws` is (its SheetContract in xlbridge/contracts): a hidden
    sheet-scoped name, so parity and coverage find a sheet by what it is, not by its title."""
    add_name(wb, SHEET_KIND, f'"{kind}"', sheet=ws, hidden=True)


def write_block(ws, r0: int, c0: int, values, role: str = "param", number_format: str | None = None) -> tuple[int, int]:
    """Write a matrix of numbers from (r0, c0), colour it by role; returns its last (row, col)."""
    values = np.atleast_2d(values)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ws.cell(r0 + i, c0 + j, float(v))
    r1, c1 = r0 + values.shape[0] - 1, c0 + values.shape[1] - 1
    paint(ws, f"{a1(r0, c0)}:{a1(r1, c1)}", role, number_format)
    return r1, c1


def sheet_title(ws, title: str, subtitle: str) -> None:
    """The sheet's title in A1 and the equation or torch expression it shows in A2."""
    label(ws["A1"], title)
    ws["A1"].font = TITLE_FONT
    label(ws["A2"], subtitle, bold=False)


def loss_cell(wb, ws, r: int, c: int, formula: str, name: str, tip: str):
    """The cell a sheet is judged by: green, framed, explained in a note, and named."""
    cell = ws.cell(r, c, formula)
    paint(ws, cell.coordinate, "output", "0.0000")
    cell.border = LOSS_BORDER
    note(cell, tip)
    name_block(wb, ws, name, r, c)
    return cell
