"""The interpreter's fast path (arith.py) gives what its closures give, to the bit, and gives
way to them on everything that is not plain numbers: empty cells, text, logicals, errors,
division by zero, a negative base to a fractional power."""

from __future__ import annotations

import math

import openpyxl
import pytest

import xlbridge.calc.evaluate as evaluate
from xlbridge.calc.reader import read_workbook

ROWS = 80                     # over FAST_PATH_CELLS, so every column below is compiled

# Column B..: formulas filled down (row r reads A r and A r-1); A holds the inputs. Each is
# wrapped as IF(A r = 12345, <its own cell a row up>, formula): never taken, but a chain down
# the column, so the cells go one by one (the fast path's case), not in bulk.
FORMULAS = {
    "B": "=A{r}*2.5-A{p}/3+1e-3",
    "C": "=(A{r}-A{p})^2+SQRT(ABS(A{r}))",
    "D": "=IF(A{r}>0,A{r}/A{p},-A{r})",              # A{p} is 0 on some rows: #DIV/0!
    "E": "=IF(A{r}=A{p},1)",                          # no else: FALSE
    "F": "=(A{r}>0)*10+(A{p}<=0)",                    # logicals in arithmetic are 1 and 0
    "G": "=(A{r}>0)=1",                               # a logical is never equal to a number
    "H": "=A{r}^0.5",                                 # negative base: #NUM!
    "I": "=EXP(A{r})+LN(ABS(A{r})+1)+ROUND(A{r},1)+MOD(A{r},3)",
    "J": "=B{r}+C{r}*10%",                            # reads other formula columns
    "K": "=-A{r}+PI()",
}


def _values(path, fast: bool, monkeypatch):
    if not fast:
        monkeypatch.setattr(evaluate, "compile_fast", lambda *a: None)
    ev = evaluate.Evaluator(read_workbook(path))
    values = ev.values()
    monkeypatch.undo()
    return values, ev


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = tmp_path_factory.mktemp("fast") / "fast.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    inputs = [0.0, 2.0, -3.5, None, "text", True, 1e-300, 7.25, 0.0, -0.5]
    for r in range(1, ROWS + 1):
        v = inputs[r % len(inputs)]
        if v is not None:
            ws[f"A{r}"] = v
        if r > 1:
            for col, f in FORMULAS.items():
                ws[f"{col}{r}"] = f"=IF(A{r}=12345,{col}{r - 1},{f.format(r=r, p=r - 1)[1:]})"
    wb.save(path)
    return path


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def test_fast_path_equals_the_closures(book, monkeypatch):
    fast, ev = _values(book, True, monkeypatch)
    slow, _ = _values(book, False, monkeypatch)
    assert len(fast) == (ROWS - 1) * len(FORMULAS)
    bad = [(k, fast[k], slow[k]) for k in fast if not _same(fast[k], slow[k])]
    assert not bad, bad[:5]
    compiled = [f for f in ev._fast.values() if f.__qualname__.startswith("compile_fast")]
    assert len(compiled) == len(FORMULAS) - 1                # every column was compiled but G's
    # (comparing a logical with a number is left to the closures: Excel ranks them apart)...
    kinds = {type(v).__name__ for v in fast.values()}
    assert {"float", "bool", "XlError"} <= kinds              # ...and gave way where it had to


def test_fast_path_gives_excel_values(book, monkeypatch):
    values, _ = _values(book, True, monkeypatch)
    m = "Sheet"
    a = {r: [0.0, 2.0, -3.5, None, "text", True, 1e-300, 7.25, 0.0, -0.5][r % 10] for r in range(1, ROWS + 1)}
    r = 12                                                    # A12 = -3.5, A11 = 2.0
    assert values[(m, r, 2)] == a[r] * 2.5 - a[r - 1] / 3 + 1e-3
    assert values[(m, r, 4)] == 3.5                           # IF(A12>0, ..., -A12)
    assert values[(m, r, 5)] is False                         # IF without else
    assert values[(m, r, 6)] == 0 * 10 + 0.0                  # (-3.5>0)*10 + (2<=0)
    assert values[(m, r, 7)] is False                         # FALSE = 1 is FALSE in Excel
    assert values[(m, r, 8)] == "#NUM!"                       # (-3.5)^0.5
    assert values[(m, 11, 4)] == "#DIV/0!"                    # A11 = 2 > 0, A10 = 0
    assert values[(m, 14, 2)] == "#VALUE!"                    # A14 is text
    assert values[(m, 13, 2)] == 0 * 2.5 - (-3.5) / 3 + 1e-3  # A13 empty: 0
