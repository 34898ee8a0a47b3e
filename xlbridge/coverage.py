"""Which formula cells of a workbook parity proves: `xlbridge check --coverage`.

Every formula cell must be either compared with a value computed independently (a model
output or loss) or be a label (repeated data) whose value is checked. Parity's comparisons say
which defined names they prove (xlbridge/parity); this module turns those names into cells and
counts, sheet by sheet, the formula cells compared, the labels checked, and the rest:
unchecked, which is 0 for every workbook xlbridge writes (tests/test_coverage.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xlbridge.calc.parse import Ref, parse, resolve
from xlbridge.calc.reader import read_workbook


@dataclass
class SheetCoverage:
    sheet: str
    formulas: int            # formula cells on the sheet
    compared: int            # of them, inside a name some comparison proved
    labels: int              # of them, inside a label name some label check proved
    unchecked: list = field(default_factory=list)   # the remaining cells, as (row, col)

    @property
    def n_unchecked(self) -> int:
        return len(self.unchecked)


def _name_cells(wb) -> dict[tuple[int | None, str], set]:
    """(sheet index or None, name) -> the cells (sheet, row, col) its reference covers."""
    out = {}
    for dn in wb.names:
        try:
            node = parse(dn.text, (1, 1))
        except Exception:               # constants, formulas: no cells to cover
            continue
        if isinstance(node, Ref):
            sheet = wb.sheets[dn.sheet].title if dn.sheet is not None else wb.sheets[0].title
            out[(dn.sheet, dn.name)] = set(resolve(node, sheet, 1, 1).cells())
    return out


def coverage(path, results) -> list[SheetCoverage]:
    """Per sheet of the workbook at `path`, how many formula cells `results` (parity's
    comparisons of that workbook) prove."""
    wb = read_workbook(Path(path))
    titles = {s.title: i for i, s in enumerate(wb.sheets)}
    cells = _name_cells(wb)
    compared, labels = set(), set()
    for c in results:
        for name in c.names:
            covered = cells.get((titles.get(c.sheet), name)) or cells.get((None, name)) or set()
            (labels if c.label else compared).update(covered)
    out = []
    for s in wb.sheets:
        formulas = [(s.title, r, col) for (r, col), cell in s.cells.items() if cell.formula is not None]
        if not formulas:
            continue
        seen = [f for f in formulas if f in compared]
        checked = [f for f in formulas if f not in compared and f in labels]
        rest = sorted((r, col) for (_, r, col) in formulas if (s.title, r, col) not in compared | labels)
        out.append(SheetCoverage(s.title, len(formulas), len(seen), len(checked), rest))
    return out
