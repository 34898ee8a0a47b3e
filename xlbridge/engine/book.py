"""A recalculated workbook: the values a spreadsheet engine computed, read by defined name.

Whatever engine computed them (LibreOffice over UNO, LibreOffice's convert-to, Gnumeric), a
Book holds each sheet's values as rows from A1 and the defined names of the file it was given,
so parity, the solver tests and the UDF tests read every engine through one API.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import numpy as np

from xlbridge.calc.parse import Ref, parse, resolve
from xlbridge.calc.reader import WorkbookData
from xlbridge.contracts import KIND_NAME
from xlbridge.errors import XlbridgeInputError


class Book:
    """Values by defined name, as the engine computed them.

    `source` is the workbook that was recalculated (never modified); `data` is the source as
    the safety checks read it, whose defined names are used; `grids` maps each sheet title to
    its values as rows from A1 (floats, text, None for empty, XlError for errors), or is the
    Future of that map while the engine still works: the names and `kind` are known at once,
    and the first read of a value waits for the engine (and raises what it raised).
    """

    def __init__(self, source: Path, data: WorkbookData, grids: dict[str, list] | Future, engine: str):
        self.source = Path(source)
        self.engine = engine
        self._grids = grids
        self._titles = [s.title for s in data.sheets]
        self._names: dict[tuple[str | None, str], str] = {}  # (sheet title or None, name) -> text
        for dn in data.names:
            scope = self._titles[dn.sheet] if dn.sheet is not None and 0 <= dn.sheet < len(self._titles) else None
            self._names[(scope, dn.name)] = dn.text
        kind = self._names.get((None, KIND_NAME), "")
        self.kind = kind.strip('"') if kind.startswith('"') else None

    def names(self) -> dict[tuple[str | None, str], str]:
        """Every defined name: (sheet or None for workbook scope, name) -> reference text."""
        return dict(self._names)

    def sheets_with(self, name: str) -> list[str]:
        """Titles of the sheets that carry a sheet-scoped `name`, in workbook order."""
        return [t for t in self._titles if (t, name) in self._names]

    @property
    def sheets(self) -> list[str]:
        """Sheet titles in workbook order."""
        return list(self._titles)

    def rows(self, sheet: str) -> list:
        """A sheet's values as rows from A1 to its last used cell (read them, do not change them)."""
        return self._grid(sheet)

    def cell(self, sheet: str, row: int, col: int):
        """One cell's value (row and col from 1, as in Excel); None when empty."""
        rows = self._grid(sheet)
        if row <= len(rows) and col <= len(rows[row - 1]):
            return rows[row - 1][col - 1]
        return None

    def wait(self) -> "Book":
        """Wait until the engine has recalculated the workbook; raises what the engine raised."""
        if isinstance(self._grids, Future):
            self._grids = self._grids.result()
        return self

    def cancel(self) -> None:
        """Drop the recalculation if the engine has not started it yet."""
        if isinstance(self._grids, Future):
            self._grids.cancel()

    def _grid(self, sheet: str) -> list:
        self.wait()
        grid = self._grids.get(sheet)
        if grid is None:  # sheet names are case-insensitive in references
            grid = next((g for t, g in self._grids.items() if t.lower() == sheet.lower()), None)
        if grid is None:
            raise XlbridgeInputError(f"{self.source}: no sheet named '{sheet}'")
        return grid

    def _range(self, name: str, sheet: str | None):
        text = self._names.get((sheet, name)) or (self._names.get((None, name)) if sheet else None)
        if text is None:
            where = f" on sheet '{sheet}'" if sheet else ""
            raise XlbridgeInputError(f"{self.source}: no defined name '{name}'{where}")
        try:
            ref = parse(text)
            if not isinstance(ref, Ref) or ref.sheet is None:
                raise ValueError(text)
            return resolve(ref, ref.sheet, 1, 1)
        except Exception:  # a constant, a formula, a union, a #REF!: not one block of cells
            raise XlbridgeInputError(f"{self.source}: name '{name}' is not a single range ({text})") from None

    def raw(self, name: str, sheet: str | None = None) -> list[list]:
        """Raw cell values of a named range (text kept, empty cells None)."""
        rng = self._range(name, sheet)
        rows = self._grid(rng.sheet)
        out = []
        for r in range(rng.r1 - 1, rng.r2):
            row = rows[r] if r < len(rows) else ()
            got = list(row[rng.c1 - 1 : rng.c2])
            out.append(got + [None] * (rng.c2 - rng.c1 + 1 - len(got)))
        return out

    def values(self, name: str, sheet: str | None = None) -> np.ndarray:
        """A named range as a 2-D float64 array; empty, text and error cells become NaN."""
        rows = self.raw(name, sheet)
        return np.array([[v if type(v) is float or type(v) is int else np.nan for v in row] for row in rows],
                        dtype=float).reshape(len(rows), len(rows[0]))

    def value(self, name: str, sheet: str | None = None) -> float:
        """The number in a single-cell name."""
        v = self.values(name, sheet)
        if v.shape != (1, 1):
            raise XlbridgeInputError(f"{self.source}: name '{name}' is {v.shape[0]}x{v.shape[1]} cells, expected one")
        return float(v[0, 0])


def grids_from(data: WorkbookData) -> dict[str, list]:
    """Each sheet's cached values as rows from A1: how a file-writing engine's output is read."""
    out = {}
    for s in data.sheets:
        rows = [[None] * s.max_col for _ in range(s.max_row)]
        for (r, c), cell in s.cells.items():
            rows[r - 1][c - 1] = cell.value
        out[s.title] = rows
    return out
