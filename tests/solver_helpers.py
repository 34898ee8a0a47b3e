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
        names[f"solver_rhs{i}"] = str(rhs) if not isinstance(rhs, str) or rhs[0].isdigit() or rhs[0] == "-" else f"{q}!{rhs}"
    names.update(extra or {})
    for k, v in names.items():
        add_name(wb, k, v, sheet=ws, hidden=True)
    wb.save(path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
