"""Generated Solver models of each kind, solved and compared with answers worked out
independently (closed form, or scipy on a hand-written numpy objective)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from tests.solver_helpers import solver_workbook
from xlbridge.errors import XlbridgeInputError
from xlbridge.solver import solve
from xlbridge.calc.reader import read_workbook


@pytest.mark.parametrize("neg, want_x, want_f", [
    pytest.param(2, [3.0, -1.0], 2.0, id="unconstrained"),
    pytest.param(1, [3.0, 0.0], 3.0, id="non-negative"),     # y cannot reach -1: stops at 0
])
def test_min_quadratic(tmp_path, neg, want_x, want_f):
    p = solver_workbook(tmp_path / "q.xlsx", {"B1": 0.5, "B2": 0.5, "B4": "=(B1-3)^2+(B2+1)^2+2"},
                        opt="$B$4", adj="$B$1:$B$2", neg=neg)
    res = solve(p)
    assert res.success, res.message
    assert res.x == pytest.approx(want_x, abs=1e-5)
    assert res.fun == pytest.approx(want_f, abs=1e-8)
    assert res.fun_start == pytest.approx((0.5 - 3) ** 2 + 1.5 ** 2 + 2, abs=1e-12)
    assert res.engine == "GRG Nonlinear" and res.method == "L-BFGS-B"


def test_max_with_linear_constraint(tmp_path):
    # maximise x*y subject to x + 2y <= 10: closed form x = 5, y = 2.5, x*y = 12.5
    p = solver_workbook(tmp_path / "m.xlsx", {"A1": 1, "A2": 1, "A3": "=A1*A2", "A4": "=A1+2*A2"},
                        opt="$A$3", adj="$A$1:$A$2", typ=1, neg=1, constraints=[("$A$4", 1, 10)])
    res = solve(p)
    assert res.success, res.message
    assert res.method == "SLSQP"
    assert res.x == pytest.approx([5.0, 2.5], abs=1e-4)
    assert res.fun == pytest.approx(12.5, abs=1e-6)


def test_value_of(tmp_path):
    p = solver_workbook(tmp_path / "v.xlsx", {"C1": 1, "C2": "=C1^3+C1"}, opt="$C$2", adj="$C$1",
                        typ=3, val=10, neg=1)
    res = solve(p)
    assert res.success, res.message
    assert res.x[0] == pytest.approx(2.0, abs=1e-6)      # 2^3 + 2 = 10
    assert res.fun == pytest.approx(10.0, abs=1e-6)


def test_bounds_from_constraints(tmp_path):
    # min (x-5)^2 + y^2 with x <= 2 and y >= 1 (written as constraints on the changing cells)
    p = solver_workbook(tmp_path / "b.xlsx", {"B1": 0, "B2": 3, "D1": 2, "B3": "=(B1-5)^2+B2^2"},
                        opt="$B$3", adj="$B$1:$B$2", neg=2,
                        constraints=[("$B$1", 1, "$D$1"), ("$B$2", 3, 1)])
    res = solve(p)
    assert res.success, res.message
    assert res.method == "L-BFGS-B"                    # bounds, not general constraints
    assert res.x == pytest.approx([2.0, 1.0], abs=1e-6)
    assert res.fun == pytest.approx(10.0, abs=1e-8)


def test_least_squares_fit_matches_lstsq(tmp_path):
    """A line fitted with SUMPRODUCT-free cell formulas and SUMXMY2; the answer is numpy's lstsq."""
    xs = np.array([0.0, 1.0, 2.0, 3.0, 4.5, 6.0])
    ys = np.array([1.1, 2.9, 5.2, 7.1, 9.8, 13.2])
    cells = {"E1": 0.0, "E2": 0.0, "D1": "=SQRT(SUMXMY2(B1:B6,C1:C6)/COUNT(B1:B6))"}
    for i, (x, y) in enumerate(zip(xs, ys), start=1):
        cells[f"A{i}"], cells[f"B{i}"], cells[f"C{i}"] = x, y, f"=$E$1*A{i}+$E$2"
    p = solver_workbook(tmp_path / "fit.xlsx", cells, opt="$D$1", adj="$E$1:$E$2")
    res = solve(p)
    (a, b), *_ = np.linalg.lstsq(np.c_[xs, np.ones_like(xs)], ys, rcond=None)
    assert res.success, res.message
    assert res.x == pytest.approx([a, b], abs=1e-4)
    want = np.sqrt(np.mean((a * xs + b - ys) ** 2))
    assert res.fun == pytest.approx(want, abs=1e-8)


def test_rosenbrock_matches_scipy(tmp_path):
    p = solver_workbook(tmp_path / "r.xlsx", {"A1": -1.2, "A2": 1, "A3": "=100*(A2-A1^2)^2+(1-A1)^2"},
                        opt="$A$3", adj="$A$1:$A$2", extra={"solver_cvg": "1E-10"})
    res = solve(p)
    ref = minimize(lambda v: 100 * (v[1] - v[0] ** 2) ** 2 + (1 - v[0]) ** 2, [-1.2, 1], method="Nelder-Mead",
                   options=dict(xatol=1e-10, fatol=1e-14, maxiter=10_000))
    assert res.success, res.message
    assert res.x == pytest.approx(ref.x, abs=1e-4)
    assert res.x == pytest.approx([1.0, 1.0], abs=1e-4)


def test_simplex_lp_matches_linprog(tmp_path):
    # max 3x + 2y  s.t.  x + y <= 4,  x + 3y <= 6,  x, y >= 0
    cells = {"B1": 0, "B2": 0, "B4": "=3*B1+2*B2", "B5": "=B1+B2", "B6": "=B1+3*B2"}
    p = solver_workbook(tmp_path / "lp.xlsx", cells, opt="$B$4", adj="$B$1:$B$2", typ=1, neg=1, eng=2,
                        constraints=[("$B$5", 1, 4), ("$B$6", 1, 6)])
    res = solve(p)
    ref = linprog([-3, -2], A_ub=[[1, 1], [1, 3]], b_ub=[4, 6], bounds=[(0, None)] * 2, method="highs")
    assert res.success, res.message
    assert res.engine == "Simplex LP" and res.method == "HiGHS simplex"
    assert res.x == pytest.approx(ref.x, abs=1e-9)
    assert res.fun == pytest.approx(-ref.fun, abs=1e-9)


def test_simplex_integer(tmp_path):
    # max x + y  s.t.  2x + 2y <= 7, x, y integer >= 0: LP optimum 3.5, integer optimum 3
    cells = {"B1": 0, "B2": 0, "B4": "=B1+B2", "B5": "=2*B1+2*B2"}
    p = solver_workbook(tmp_path / "ip.xlsx", cells, opt="$B$4", adj="$B$1:$B$2", typ=1, neg=1, eng=2,
                        constraints=[("$B$5", 1, 7), ("$B$1:$B$2", 4, "integer")])
    res = solve(p)
    assert res.success, res.message
    assert res.fun == pytest.approx(3.0, abs=1e-9)
    assert np.allclose(res.x, np.round(res.x))


def test_simplex_refuses_nonlinear(tmp_path):
    p = solver_workbook(tmp_path / "nl.xlsx", {"B1": 1, "B2": "=B1^2"}, opt="$B$2", adj="$B$1", eng=2)
    with pytest.raises(XlbridgeInputError, match="not linear"):
        solve(p)


def test_evolutionary_with_bounds(tmp_path):
    # a bumpy function whose global minimum is at (1, -2) inside the box [-5, 5]^2
    cells = {"A1": 4, "A2": 4, "A3": "=(A1-1)^2+(A2+2)^2+0.5*(1-EXP(-((A1-1)^2)))"}
    p = solver_workbook(tmp_path / "evo.xlsx", cells, opt="$A$3", adj="$A$1:$A$2", eng=3,
                        constraints=[("$A$1:$A$2", 1, 5), ("$A$1:$A$2", 3, -5)], extra={"solver_rsd": "7"})
    res = solve(p)
    assert res.success, res.message
    assert res.method == "differential_evolution"
    assert res.x == pytest.approx([1.0, -2.0], abs=1e-4)
    assert res.fun == pytest.approx(0.0, abs=1e-8)


def test_evolutionary_needs_bounds(tmp_path):
    p = solver_workbook(tmp_path / "evo.xlsx", {"A1": 1, "A2": "=A1^2"}, opt="$A$2", adj="$A$1", eng=3)
    before = p.read_bytes()
    with pytest.raises(XlbridgeInputError, match="needs lower and upper bounds"):
        solve(p)
    assert p.read_bytes() == before


def test_iteration_limit_is_a_result(tmp_path):
    p = solver_workbook(tmp_path / "it.xlsx", {"A1": -1.2, "A2": 1, "A3": "=100*(A2-A1^2)^2+(1-A1)^2"},
                        opt="$A$3", adj="$A$1:$A$2", extra={"solver_itr": "3", "solver_cvg": "1E-12"})
    res = solve(p)
    assert not res.success and res.status == 1
    assert res.nit <= 3
    assert "limit" in res.message


def test_unknown_option_warns(tmp_path):
    p = solver_workbook(tmp_path / "w.xlsx", {"A1": 1, "A2": "=(A1-2)^2"}, opt="$A$2", adj="$A$1",
                        extra={"solver_msl": "1", "solver_zzz": "3"})
    with pytest.warns(RuntimeWarning) as rec:
        res = solve(p)
    text = " ".join(str(w.message) for w in rec)
    assert "solver_msl" in text and "solver_zzz" in text
    assert res.x[0] == pytest.approx(2.0, abs=1e-6)


def test_solution_written_with_formulas_and_cached_values(tmp_path):
    p = solver_workbook(tmp_path / "q.xlsx", {"B1": 0.5, "B2": 0.5, "B4": "=(B1-3)^2+(B2+1)^2+2", "C1": "=B1*10"},
                        opt="$B$4", adj="$B$1:$B$2", neg=2)
    before = p.read_bytes()
    res = solve(p)
    assert p.read_bytes() == before                      # the input is never modified
    assert res.path == tmp_path / "q.solved.xlsx"
    out = read_workbook(res.path).sheet("model").cells
    assert out[(1, 2)].value == pytest.approx(res.x[0], abs=0) and out[(2, 2)].value == res.x[1]
    assert out[(4, 2)].formula == "(B1-3)^2+(B2+1)^2+2"   # formula kept ...
    assert out[(4, 2)].value == pytest.approx(res.fun, abs=1e-12)   # ... and its cached value refreshed
    assert out[(1, 3)].value == pytest.approx(10 * res.x[0], abs=1e-12)
    with pytest.raises(XlbridgeInputError, match="already exists"):
        solve(p)
    again = solve(p, force=True)
    assert again.path == res.path
    inplace = solve(p, in_place=True)
    assert inplace.path == p and read_workbook(p).sheet("model").cells[(1, 2)].value == pytest.approx(3.0, abs=1e-5)


def test_empty_changing_cell_starts_at_zero_and_is_written(tmp_path):
    # B1 is never written: Excel treats it as 0, and the solution must create the cell
    p = solver_workbook(tmp_path / "e.xlsx", {"B2": 1, "B3": "=(B1-4)^2+(B2-1)^2"}, opt="$B$3", adj="$B$1:$B$2")
    res = solve(p)
    assert res.fun_start == pytest.approx(16.0, abs=1e-12)
    out = read_workbook(res.path).sheet("model").cells
    assert out[(1, 2)].value == pytest.approx(4.0, abs=1e-6)
    assert out[(3, 2)].value == pytest.approx(res.fun, abs=1e-12)


def test_whole_column_and_defined_names(tmp_path):
    """SUM over a whole column and a workbook-scoped name in the objective (the formula path)."""
    import openpyxl
    from xlbridge.xlsx import add_name
    p = solver_workbook(tmp_path / "n.xlsx", {"A1": 1, "A2": 2, "B1": "=(A1-3)^2", "B2": "=(A2+1)^2",
                                              "C1": "=SUM(B:B)+SUMSQ(shift)"}, opt="$C$1", adj="$A$1:$A$2")
    wb = openpyxl.load_workbook(p)
    wb["model"]["D1"] = 0.5
    add_name(wb, "shift", "model!$D$1")
    wb.save(p)
    res = solve(p)
    assert not res.linear and res.method == "L-BFGS-B"
    assert res.x == pytest.approx([3.0, -1.0], abs=1e-5)
    assert res.fun == pytest.approx(0.25, abs=1e-9)
    assert openpyxl.load_workbook(res.path)["model"]["C1"].value == "=SUM(B:B)+SUMSQ(shift)"
