"""Array (CSE) formulas over several cells: each cell gets its element of the array, as
LibreOffice computes it, and a Solver model whose objective reads an MMULT array block is
solved through it (the compiled program follows the array's cells)."""

from __future__ import annotations

import numpy as np
import openpyxl
import pytest
from openpyxl.worksheet.formula import ArrayFormula
from rich.console import Console

from tests.solver_helpers import solver_workbook
from xlbridge.calc import read_workbook, workbook_values
from xlbridge.solver import solve
from xlbridge.solver.command import solve_command

A = np.array([[2.0, 3.0], [3.0, 4.0]])
D = np.array([[2.0, 3.0], [3.0, 5.0]])


def _arrays(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "m"
    for i in range(2):
        for j in range(2):
            ws.cell(1 + i, 1 + j, A[i, j])
            ws.cell(1 + i, 4 + j, D[i, j])
    ws["G1"] = ArrayFormula("G1:H2", "=MMULT(A1:B2,D1:E2)")        # 2x2 product
    ws["J1"] = ArrayFormula("J1:J3", "=TRANSPOSE(A1:C1)*2")        # a row turned into a column; C1 empty
    ws["L1"] = ArrayFormula("L1:M2", "=A1:B1+10")                   # one row fills both rows
    ws["O1"] = ArrayFormula("O1:O3", "=D1:D2")                      # longer than the array: #N/A
    ws["Q1"] = "=SUM(G1:H2)"
    wb.save(path)
    return path


def test_each_cell_gets_its_element(tmp_path):
    values = workbook_values(_arrays(tmp_path / "a.xlsx"))
    AD = A @ D
    want = {(1, 7): AD[0, 0], (1, 8): AD[0, 1], (2, 7): AD[1, 0], (2, 8): AD[1, 1],
            (1, 10): 4.0, (2, 10): 6.0, (3, 10): 0.0,
            (1, 12): 12.0, (1, 13): 13.0, (2, 12): 12.0, (2, 13): 13.0,
            (1, 15): 2.0, (2, 15): 3.0, (3, 15): "#N/A", (1, 17): AD.sum()}
    assert {rc: values[("m",) + rc] for rc in want} == want
    assert not values.problems


@pytest.mark.libreoffice
def test_array_cells_equal_libreoffice(tmp_path):
    from xlbridge.engine import recalculate_files
    path = _arrays(tmp_path / "a.xlsx")
    ours = workbook_values(path)
    (lo_path,) = recalculate_files([path], tmp_path / "lo")
    lo = read_workbook(lo_path).sheet("m").cells
    assert len(ours) == 15
    for (_, r, c), v in ours.items():
        got = lo[(r, c)].value
        assert (got == pytest.approx(v, abs=1e-12)) if isinstance(v, float) else got == v, (r, c, v, got)


def _fit(path):
    """Minimise 2.5 + the squared distance of MMULT(B1:C2, E1:F2) (an array block in H1:I2)
    to a target block, by changing B1:C2: the answer is T D^-1, exactly."""
    T = np.array([[1.0, 2.0], [-1.0, 0.5]])
    cells = {"K1": "=SUMXMY2(H1:I2,K4:L5)+2.5"}
    for i in range(2):
        for j in range(2):
            cells[f"{'BC'[j]}{i + 1}"] = 0.5
            cells[f"{'EF'[j]}{i + 1}"] = D[i, j]
            cells[f"{'KL'[j]}{i + 4}"] = T[i, j]
    solver_workbook(path, cells, opt="$K$1", adj="$B$1:$C$2", neg=2)
    wb = openpyxl.load_workbook(path)
    wb["model"]["H1"] = ArrayFormula("H1:I2", "=MMULT(B1:C2,E1:F2)")
    wb.save(path)
    return path, T @ np.linalg.inv(D)


def test_solver_model_through_an_array_block(tmp_path):
    path, want = _fit(tmp_path / "fit.xlsx")
    res = solve(path)
    assert res.success and res.fun == pytest.approx(2.5, abs=1e-12)
    assert res.x_by_name["'model'!B1:C2"] == pytest.approx(want, abs=1e-6)
    solved = workbook_values(res.path)
    assert solved[("model", 2, 9)] == pytest.approx((want @ D)[1, 1], abs=1e-6)   # an array cell, refreshed


def test_program_gradient_through_an_array_block(tmp_path):
    """The decision path's exact gradient through the array cells, against central differences."""
    from xlbridge.calc.evaluate import Evaluator
    from xlbridge.calc.program import compile_program
    path, _ = _fit(tmp_path / "fit.xlsx")
    x_cells = [("model", r, c) for r in (1, 2) for c in (2, 3)]
    x = np.array([0.3, -1.2, 2.0, 0.7])
    ev = Evaluator(read_workbook(path), dict(zip(x_cells, x)))
    program = compile_program(ev, x_cells, [("model", 1, 11)])
    f, g = program.value_and_grad(x)
    assert f == pytest.approx(ev.value(("model", 1, 11)), rel=1e-12)
    h = 1e-6
    fd = [(program.values_at(x + h * e)[0] - program.values_at(x - h * e)[0]) / (2 * h) for e in np.eye(4)]
    assert g == pytest.approx(np.array(fd), rel=1e-6, abs=1e-6)


@pytest.mark.libreoffice
def test_solved_array_model_checks_in_libreoffice(tmp_path):
    path, _ = _fit(tmp_path / "fit.xlsx")
    con = Console(width=200, record=True)
    assert solve_command(path, console=con) == 0
    text = con.export_text()
    assert "model: LibreOffice recalculation gives 2.5 (matches" in text


def test_matrix_products_are_correctly_rounded_on_every_machine():
    """MMULT's sums are exact sums of the products rounded once (what Fraction computes here),
    not BLAS's, whose order of summation changes with the CPU: cached values are the same
    bytes wherever a workbook is built. Cancelling terms make the order show."""
    from fractions import Fraction

    from xlbridge.calc.functions.math import matrix_product

    rng = np.random.default_rng(11)
    a = rng.normal(size=(40, 3, 10)) * 10.0 ** rng.integers(-8, 9, size=(40, 3, 10))
    b = rng.normal(size=(40, 10, 2))
    out = matrix_product(a, b)
    assert out.shape == (40, 3, 2)
    exact = np.array([[[float(sum(Fraction(float(a[n, i, k] * b[n, k, j])) for k in range(10)))
                        for j in range(2)] for i in range(3)] for n in range(40)])
    assert np.array_equal(out, exact)
    assert not np.array_equal(out, np.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2))   # the order shows
    assert np.isnan(matrix_product(np.array([[1e308, 1e308]]), np.array([[10.0], [-10.0]])))[0, 0]
