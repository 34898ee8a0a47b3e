"""Build small workbooks carrying an Excel Solver model, the way Excel stores one:
hidden sheet-scoped solver_* names. Shared by the tests/test_solver_*.py files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import openpyxl

from xlbridge.xlsx import add_name


def solver_workbook(path: Path, cells: dict, *, opt: str, adj: str, typ: int = 2, val: float = 0,
                    neg: int = 2, eng: int = 1, constraints=(), sheet: str = "model", extra: dict | None = None) -> Path:
    """cells: {'B1': value or '=formula'}; constraints: [(lhs, rel, rhs)] with Excel's rel codes."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for ref, v in cells.items():
        ws[ref] = v
    q = f"'{sheet}'" if " " in sheet else sheet
    names = {"solver_opt": f"{q}!{opt}", "solver_adj": ",".join(f"{q}!{a}" for a in adj.split(",")),
             "solver_typ": str(typ), "solver_val": str(val), "solver_neg": str(neg), "solver_eng": str(eng),
             "solver_num": str(len(constraints)), "solver_cvg": "0.0001", "solver_pre": "0.000001",
             "solver_itr": "2147483647", "solver_tim": "2147483647", "solver_ver": "3"}
    for i, (lhs, rel, rhs) in enumerate(constraints, start=1):
        names[f"solver_lhs{i}"] = f"{q}!{lhs}"
        names[f"solver_rel{i}"] = str(rel)
        names[f"solver_rhs{i}"] = _rhs(rhs, q)
    names.update(extra or {})
    for k, v in names.items():
        add_name(wb, k, v, sheet=ws, hidden=True)
    wb.save(path)
    return path


def _rhs(rhs, q: str) -> str:
    """A right side as Excel stores it: numbers as they are, a cell or range on the model's
    sheet with its sheet name; a formula ('=2*B8'), a defined name or '30%' as written."""
    import re
    text = str(rhs)
    if isinstance(rhs, str) and re.fullmatch(r"\$?[A-Za-z]{1,3}\$?\d+(:\$?[A-Za-z]{1,3}\$?\d+)?", rhs):
        return f"{q}!{rhs}"
    return text


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
