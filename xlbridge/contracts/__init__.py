"""Name contracts: every defined name a workbook carries, declared once, with its role.

Workbooks describe themselves (docs/architecture.md, principle 1): every parameter, data, output and loss
block, and every formula that only repeats data (an id above a column, a character), has a
defined name. A workbook's contract lists them, sheet kind by sheet kind; the builder writes
exactly these names (tests hold it to that), parity reads them, and coverage
(xlbridge/coverage.py) uses the roles to say which formula cells are proven:

    data, param, input   constants: from the data, changed by Solver or training, edited by a person
    output, loss         formulas parity compares with the model
    label                formulas that repeat data (ids, characters), checked against that data

A sheet says which kind it is with the hidden sheet-scoped name `xlbridge_sheet`; the workbook
says which contract it follows with `xlbridge_kind`.
"""

from __future__ import annotations

from dataclasses import dataclass

SHEET_KIND = "xlbridge_sheet"       # hidden sheet-scoped name: which SheetContract a sheet follows
KIND_NAME = "xlbridge_kind"         # hidden workbook-level name: which WorkbookContract (builder) wrote the file
FORMULA_ROLES = ("output", "loss", "label")


@dataclass(frozen=True)
class Name:
    name: str
    shape: str
    role: str          # data, param, input, output, loss or label (see the module docstring)
    doc: str
    optional: bool = False   # only some sheets of the kind carry it (a bias, a y_range)
    torch: str = ""          # for a param: the model's state_dict key it holds


@dataclass(frozen=True)
class SheetContract:
    """The names one kind of sheet carries (sheet-scoped)."""

    kind: str
    names: tuple[Name, ...]

    def __getitem__(self, name: str) -> Name:
        for n in self.names:
            if n.name == name:
                return n
        raise KeyError(name)

    def with_role(self, *roles: str) -> list[str]:
        return [n.name for n in self.names if n.role in roles]

    def torch_params(self) -> dict[str, str]:
        """Defined name -> the model's state_dict key, for every param that names one."""
        return {n.name: n.torch for n in self.names if n.torch}


@dataclass(frozen=True)
class WorkbookContract:
    """A workbook kind: its workbook-scoped names and the kinds of sheet it may hold."""

    kind: str
    names: tuple[Name, ...]             # workbook scope
    sheets: tuple[SheetContract, ...]

    def sheet(self, kind: str) -> SheetContract:
        for s in self.sheets:
            if s.kind == kind:
                return s
        raise KeyError(f"{self.kind} workbooks have no sheet kind {kind!r}")
