"""The formula engine: read a workbook safely, evaluate its formulas, write values back.

A lower layer shared by the Solver mirror and the workbook builders. Modules, in reading
order: values (Excel's value rules), parse (formula text -> trees keyed by their R1C1 form),
functions/ (the one function registry: interpreter and decision path side by side),
reader (safe, streaming .xlsx reading), evaluate (every formula cell, one closure per
distinct tree), program (a block of formulas as vectorised numpy with exact gradients),
write (values into a copy of the file).

    from xlbridge.calc import workbook_values, write_cached_values
    values = workbook_values("workbooks/graddesc.xlsx")      # {(sheet, row, col): value}
    write_cached_values("built.xlsx", "built.xlsx")          # every formula cell gets its <v>
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from xlbridge.calc.reader import WorkbookData, read_workbook

__all__ = ["workbook_values", "write_cached_values", "read_workbook", "WorkbookData", "Evaluation"]


class Evaluation(Mapping):
    """{(sheet, row, col): value} of every formula cell, with `problems`: {cell: why it
    could not be computed} (a function xlbridge does not have, a circular reference).
    A view of the evaluator's values, not a copy: two million cells are worth not copying."""

    def __init__(self, ev):
        self._formulas, self._values = ev.formulas, ev.vals
        self.problems = dict(ev.problems)

    def __getitem__(self, key):
        if key not in self._formulas:
            raise KeyError(key)
        return self._values[key]

    def __iter__(self):
        return iter(self._formulas)

    def __len__(self):
        return len(self._formulas)


def workbook_values(path, workbook: WorkbookData | None = None) -> Evaluation:
    """The computed value of every formula cell of a workbook, by Excel's rules.

    Values are float, str, bool or XlError (a str such as '#DIV/0!'). Cells in `problems`
    hold #NAME? (or #REF! for a circular reference). Raises XlbridgeInputError for a file
    that is not a sound workbook."""
    from xlbridge.calc.evaluate import Evaluator
    ev = Evaluator(workbook or read_workbook(Path(path)))
    ev.evaluate()
    return Evaluation(ev)


def write_cached_values(src, dst, values: dict | None = None) -> Path:
    """Copy the workbook `src` to `dst` (atomically; `dst` may be `src`) with every formula
    cell's cached value set to `values` (default: `workbook_values(src)`), formulas, styles,
    names and every other part kept byte for byte. Cells whose value could not be computed
    keep what they had, and the copy then asks for recalculation on opening. Deterministic:
    the same input gives the same bytes."""
    from xlbridge.calc.write import write_values
    problems = {}
    if values is None:
        values = workbook_values(src)
        problems = values.problems
    updates = {k: v for k, v in values.items() if k not in problems}
    return write_values(Path(src), Path(dst), updates, recalc_on_load=bool(problems))
