"""A corpus of Excel Solver models in the forms real workbooks use, each with an independently
coded scipy/HiGHS model of the same problem (the expected answer never comes from xlbridge).

    python tests/solver_corpus.py OUT_DIR      # writes every workbook, to try by hand

Each entry builds a workbook (cells, formulas, hidden solver_* names, as Excel stores them)
and returns (path, reference): `reference` is the optimal objective worked out by scipy on
numpy arrays written here, from the same data.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp, minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.solver_helpers import solver_workbook  # noqa: E402

CORPUS = {}


def model(fn):
    CORPUS[fn.__name__] = fn
    return fn


def _grid(top, left, rows):
    """{'B2': v, ...} for a block of values starting at (top row, left column letter)."""
    from openpyxl.utils import get_column_letter, column_index_from_string
    c0 = column_index_from_string(left)
    return {f"{get_column_letter(c0 + j)}{top + i}": v for i, row in enumerate(rows) for j, v in enumerate(row)}


def _lp(c, A_ub=None, b_ub=None, A_eq=None, b_eq=None, bounds=(0, None), integrality=None, maximise=False):
    c = np.asarray(c, float) * (-1 if maximise else 1)
    if integrality is None:
        r = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    else:
        cons = []
        if A_ub is not None:
            cons.append(LinearConstraint(A_ub, -np.inf, b_ub))
        if A_eq is not None:
            cons.append(LinearConstraint(A_eq, b_eq, b_eq))
        lo, hi = bounds if isinstance(bounds, tuple) else (0, None)
        r = milp(c, constraints=cons, integrality=integrality, bounds=Bounds(lo, np.inf if hi is None else hi))
    assert r.status == 0, r.message
    return float(r.fun) * (-1 if maximise else 1)


COST = [[4, 6, 9], [5, 3, 8]]
SUPPLY, DEMAND = [50, 60], [30, 40, 35]


@model
def transport(tmp):
    """2 plants x 3 markets; cost by SUMPRODUCT; supply <= and demand >= with range right sides."""
    cells = {**_grid(2, "B", COST), **_grid(6, "B", [[0, 0, 0], [0, 0, 0]]), **_grid(6, "F", [[s] for s in SUPPLY]),
             **_grid(9, "B", [DEMAND]), "E6": "=SUM(B6:D6)", "E7": "=SUM(B7:D7)", "B8": "=SUM(B6:B7)",
             "C8": "=SUM(C6:C7)", "D8": "=SUM(D6:D7)", "H1": "=SUMPRODUCT(B2:D3,B6:D7)"}
    p = solver_workbook(tmp / "transport.xlsx", cells, opt="$H$1", adj="$B$6:$D$7", neg=1, eng=2,
                        constraints=[("$E$6:$E$7", 1, "$F$6:$F$7"), ("$B$8:$D$8", 3, "$B$9:$D$9")])
    A_ub = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [-1, 0, 0, -1, 0, 0], [0, -1, 0, 0, -1, 0],
                     [0, 0, -1, 0, 0, -1]])
    return p, _lp(np.ravel(COST), A_ub, SUPPLY + [-d for d in DEMAND])


@model
def assignment_binary(tmp):
    """3 workers x 3 jobs, binary choices, each row and column sums to 1 (under GRG: still exact)."""
    T = [[9, 2, 7], [6, 4, 3], [5, 8, 1]]
    cells = {**_grid(1, "A", T), **_grid(5, "A", [[0] * 3] * 3), "E5": "=SUM(A5:C5)", "E6": "=SUM(A6:C6)",
             "E7": "=SUM(A7:C7)", "A8": "=SUM(A5:A7)", "B8": "=SUM(B5:B7)", "C8": "=SUM(C5:C7)",
             "G1": "=SUMPRODUCT(A1:C3,A5:C7)"}
    p = solver_workbook(tmp / "assign.xlsx", cells, opt="$G$1", adj="$A$5:$C$7", neg=1, eng=1,
                        constraints=[("$A$5:$C$7", 5, "binary"), ("$E$5:$E$7", 2, 1), ("$A$8:$C$8", 2, 1)])
    best = min(sum(T[i][j] for i, j in enumerate(perm)) for perm in itertools.permutations(range(3)))
    return p, float(best)


@model
def diet(tmp):
    """Cheapest diet meeting nutrient minimums; nutrients by MMULT (an array of cells)."""
    N = [[2, 1, 0.5], [1, 3, 2]]          # nutrient x food
    price = [0.6, 0.35, 0.5]
    need = [8, 12]
    cells = {**_grid(1, "B", N), **_grid(4, "B", [price]), **_grid(6, "B", [[0, 0, 0]]),
             "F1": "=SUMPRODUCT(B1:D1,$B$6:$D$6)", "F2": "=SUMPRODUCT(B2:D2,$B$6:$D$6)", "G1": need[0],
             "G2": need[1], "H1": "=SUMPRODUCT(B4:D4,B6:D6)"}
    p = solver_workbook(tmp / "diet.xlsx", cells, opt="$H$1", adj="$B$6:$D$6", neg=1, eng=2,
                        constraints=[("$F$1:$F$2", 3, "$G$1:$G$2")])
    return p, _lp(price, -np.array(N), [-n for n in need])


@model
def blending_percent_and_formula_rhs(tmp):
    """Blend two ores: grade >= 30% (a percentage constant), total = 2*B8 (a formula right side)."""
    cells = {"A1": 0, "A2": 0, "B1": 0.2, "B2": 0.45, "C1": 40, "C2": 65, "B8": 50,
             "D1": "=SUMPRODUCT(A1:A2,B1:B2)/SUM(A1:A2)", "D2": "=SUM(A1:A2)", "D3": "=SUMPRODUCT(A1:A2,C1:C2)",
             "D4": "=A2-0.3*(A1+A2)+0.3*(A1+A2)"}
    # grade as a linear constraint: 0.2*a + 0.45*b >= 0.3*(a+b)  <=>  D5 >= 0
    cells["D5"] = "=SUMPRODUCT(A1:A2,B1:B2)-30%*SUM(A1:A2)"
    p = solver_workbook(tmp / "blend.xlsx", cells, opt="$D$3", adj="$A$1:$A$2", neg=1, eng=2,
                        constraints=[("$D$5", 3, "0"), ("$D$2", 2, "=2*B8"), ("$A$1", 1, "30%")])
    # by hand: a <= 0.3, a + b = 100, 0.2a + 0.45b >= 0.3(a+b)
    return p, _lp([40, 65], A_ub=[[0.1, -0.15]], b_ub=[0], A_eq=[[1, 1]], b_eq=[100], bounds=[(0, 0.3), (0, None)])


@model
def production_integer_lots(tmp):
    """Maximise profit of two products made in whole lots, machine hours limited."""
    cells = {"B1": 0, "B2": 0, "C1": 30, "C2": 45, "D1": 3, "D2": 5, "E1": 2, "E2": 1,
             "F1": "=SUMPRODUCT(B1:B2,C1:C2)", "F2": "=SUMPRODUCT(B1:B2,D1:D2)", "F3": "=SUMPRODUCT(B1:B2,E1:E2)",
             "G2": 37, "G3": 19}
    p = solver_workbook(tmp / "lots.xlsx", cells, opt="$F$1", adj="$B$1:$B$2", typ=1, neg=1, eng=2,
                        constraints=[("$F$2", 1, "$G$2"), ("$F$3", 1, "$G$3"), ("$B$1:$B$2", 4, "integer")])
    return p, _lp([30, 45], A_ub=[[3, 5], [2, 1]], b_ub=[37, 19], integrality=[1, 1], maximise=True)


RET = np.array([[0.02, 0.05, -0.01], [0.04, -0.02, 0.03], [-0.01, 0.03, 0.02], [0.03, 0.01, 0.01],
                [0.01, 0.04, 0.00], [0.05, -0.01, 0.02]])


@model
def portfolio_stdev(tmp):
    """Minimum-risk portfolio: STDEV.P of the weighted returns (a column of SUMPRODUCTs), mean
    return at least 1.5%, weights sum to 1."""
    cells = {**_grid(1, "A", RET.tolist()), **_grid(1, "F", [[1 / 3, 1 / 3, 1 / 3]])}
    for i in range(1, 7):
        cells[f"E{i}"] = f"=SUMPRODUCT(A{i}:C{i},$F$1:$H$1)"
    cells.update({"J1": "=_xlfn.STDEV.P(E1:E6)", "J2": "=AVERAGE(E1:E6)", "J3": "=SUM(F1:H1)"})
    p = solver_workbook(tmp / "portfolio.xlsx", cells, opt="$J$1", adj="$F$1:$H$1", neg=1,
                        constraints=[("$J$2", 3, 0.015), ("$J$3", 2, 1)])
    mu = RET.mean(0)
    r = minimize(lambda w: np.std(RET @ w), [1 / 3] * 3, method="SLSQP", bounds=[(0, None)] * 3,
                 constraints=[{"type": "ineq", "fun": lambda w: mu @ w - 0.015},
                              {"type": "eq", "fun": lambda w: w.sum() - 1}], options=dict(ftol=1e-14, maxiter=500))
    return p, float(r.fun)


@model
def staff_scheduling(tmp):
    """7-day cover with 5-day shifts (integer staff per start day), as the classic staffing model."""
    need = [17, 13, 15, 19, 14, 16, 11]
    cover = np.array([[1 if (d - s) % 7 < 5 else 0 for s in range(7)] for d in range(7)])
    cells = {**_grid(1, "A", cover.tolist()), **_grid(9, "A", [[0] * 7]), **_grid(1, "J", [[n] for n in need]),
             "L1": "=SUM(A9:G9)"}
    for d in range(1, 8):
        cells[f"I{d}"] = f"=SUMPRODUCT(A{d}:G{d},$A$9:$G$9)"
    p = solver_workbook(tmp / "staff.xlsx", cells, opt="$L$1", adj="$A$9:$G$9", neg=1, eng=1,
                        constraints=[("$I$1:$I$7", 3, "$J$1:$J$7"), ("$A$9:$G$9", 4, "integer")])
    return p, _lp(np.ones(7), -cover, [-n for n in need], integrality=np.ones(7))


@model
def lookup_cost_table(tmp):
    """Unit costs looked up with VLOOKUP/HLOOKUP/INDEX-MATCH from a price table (data only)."""
    cells = {"A1": "bolt", "B1": 0.5, "A2": "nut", "B2": 0.2, "A3": "gear", "B3": 3.0,
             "D1": "gear", "D2": "bolt", "E1": "=VLOOKUP(D1,$A$1:$B$3,2,FALSE)", "E2": "=INDEX(B1:B3,MATCH(D2,A1:A3,0))",
             "G1": "size", "H1": 1, "I1": 2, "G2": "mult", "H2": 1.0, "I2": 1.5, "E3": "=HLOOKUP(2,H1:I2,2,FALSE)",
             "F1": 0, "F2": 0, "F5": "=E1*F1*E3+E2*F2", "F6": "=F1+F2", "F7": "=F1-2*F2"}
    p = solver_workbook(tmp / "lookup.xlsx", cells, opt="$F$5", adj="$F$1:$F$2", neg=1, eng=1,
                        constraints=[("$F$6", 3, 10), ("$F$7", 3, 1)])
    return p, _lp([3.0 * 1.5, 0.5], A_ub=[[-1, -1], [-1, 2]], b_ub=[-10, -1])


XS = np.array([0.0, 1, 2, 3, 4, 5, 6])
YS = np.array([10.1, 6.2, 3.6, 2.3, 1.3, 0.9, 0.5])


@model
def curve_fit_exponential(tmp):
    """Fit y = a*EXP(-k*x) by minimising SUMXMY2 of data and fitted column."""
    cells = {"E1": 5.0, "E2": 0.1, "F1": "=SUMXMY2(B1:B7,C1:C7)"}
    for i, (x, y) in enumerate(zip(XS, YS), start=1):
        cells[f"A{i}"], cells[f"B{i}"], cells[f"C{i}"] = x, y, f"=$E$1*EXP(-$E$2*A{i})"
    p = solver_workbook(tmp / "fit.xlsx", cells, opt="$F$1", adj="$E$1:$E$2", neg=2)
    r = minimize(lambda v: np.sum((YS - v[0] * np.exp(-v[1] * XS)) ** 2), [5.0, 0.1], method="BFGS",
                 options=dict(gtol=1e-12))
    return p, float(r.fun)


R = np.array([[5, 3, np.nan, 1], [4, np.nan, np.nan, 1], [1, 1, np.nan, 5], [np.nan, 1, 5, 4]])


@model
def factorisation_course(tmp):
    """The course's dotprod sheet in small: IF(rating="",0,MMULT(user row, movie column)), RMSE."""
    rng = np.random.default_rng(3)
    U, M = rng.normal(0.5, 0.3, (4, 2)), rng.normal(0.5, 0.3, (2, 4))
    cells = {**_grid(1, "B", [[None if np.isnan(v) else v for v in row] for row in R]), **_grid(7, "B", M.tolist()),
             **_grid(10, "A", [[a, b] for a, b in U])}
    for i in range(4):
        for j in range(4):
            col = "BCDE"[j]
            cells[f"{'DEFG'[j]}{10 + i}"] = f'=IF({col}{1 + i}="",0,MMULT($A{10 + i}:$B{10 + i},{col}$7:{col}$8))'
    cells["I1"] = "=SQRT(SUMXMY2(B1:E4,D10:G13)/COUNT(B1:E4))"
    p = solver_workbook(tmp / "factor.xlsx", cells, opt="$I$1", adj="$A$10:$B$13,$B$7:$E$8", neg=2)
    mask = ~np.isnan(R)

    def rmse(v):
        u, m = v[:8].reshape(4, 2), v[8:].reshape(2, 4)
        d = (u @ m - np.nan_to_num(R))[mask]
        return np.sqrt(np.mean(d ** 2))
    r = minimize(rmse, np.concatenate([U.ravel(), M.ravel()]), method="BFGS", options=dict(gtol=1e-10))
    return p, float(r.fun)


@model
def capital_budgeting_table(tmp):
    """Choose projects (binaries) maximising NPV read through a table's structured reference,
    spending at most the budget, a defined name."""
    from openpyxl import load_workbook
    from openpyxl.worksheet.table import Table
    from xlbridge.xlsx import add_name
    npv, cost = [20, 14, 11, 8, 6], [12, 9, 7, 5, 3]
    cells = {"A1": "Project", "B1": "NPV", "C1": "Cost", "E1": 25}
    for i in range(5):
        cells[f"A{i + 2}"], cells[f"B{i + 2}"], cells[f"C{i + 2}"], cells[f"D{i + 2}"] = f"P{i}", npv[i], cost[i], 0
    cells["G1"] = "=SUMPRODUCT(Projects[NPV],D2:D6)"
    cells["G2"] = "=SUMPRODUCT(Projects[Cost],D2:D6)"
    cells["G3"] = '=SUMIFS(Projects[NPV],Projects[Cost],">5")'        # data only: a constant for the solve
    p = solver_workbook(tmp / "capital.xlsx", cells, opt="$G$1", adj="$D$2:$D$6", typ=1, neg=1, eng=1,
                        constraints=[("$G$2", 1, "budget"), ("$D$2:$D$6", 5, "binary")])
    wb = load_workbook(p)
    wb["model"].add_table(Table(displayName="Projects", ref="A1:C6"))
    add_name(wb, "budget", "model!$E$1")
    wb.save(p)
    return p, _lp(npv, A_ub=[cost], b_ub=[25], bounds=(0, 1), integrality=np.ones(5), maximise=True)


@model
def sports_draft(tmp):
    """Pick 4 of 7 players (binaries) maximising points within a salary cap, at least one guard:
    the drafting model that GRG must still solve in integers."""
    pts, sal = [22.5, 20.1, 18.7, 15.2, 14.8, 12.3, 9.6], [9, 8, 7, 6, 5, 4, 2]
    guard = [1, 0, 0, 1, 0, 1, 0]
    cells = {}
    for i in range(7):
        cells[f"A{i + 1}"], cells[f"B{i + 1}"], cells[f"C{i + 1}"] = pts[i], sal[i], "G" if guard[i] else "F"
        cells[f"D{i + 1}"] = 0
    cells.update({"F1": "=SUMPRODUCT(A1:A7,D1:D7)", "F2": "=SUMPRODUCT(B1:B7,D1:D7)", "F3": "=SUM(D1:D7)",
                  "F4": '=SUMIF(C1:C7,"G",D1:D7)', "G2": 25})
    p = solver_workbook(tmp / "draft.xlsx", cells, opt="$F$1", adj="$D$1:$D$7", typ=1, neg=1, eng=1,
                        constraints=[("$F$2", 1, "$G$2"), ("$F$3", 2, 4), ("$F$4", 3, 1), ("$D$1:$D$7", 5, "binary")])
    return p, _lp(pts, A_ub=[sal, [-g for g in guard]], b_ub=[25, -1], A_eq=[[1] * 7], b_eq=[4], bounds=(0, 1),
                  integrality=np.ones(7), maximise=True)


@model
def knapsack_defined_name_rhs(tmp):
    """Integer knapsack; the capacity is a workbook-scoped defined name pointing at a cell."""
    from openpyxl import load_workbook
    from xlbridge.xlsx import add_name
    w, v = [3, 4, 5, 9], [4, 5, 7, 12]
    cells = {**_grid(1, "A", [[x] for x in w]), **_grid(1, "B", [[x] for x in v]), **_grid(1, "C", [[0]] * 4),
             "E1": "=SUMPRODUCT(A1:A4,C1:C4)", "E2": "=SUMPRODUCT(B1:B4,C1:C4)", "H1": 16}
    p = solver_workbook(tmp / "knap.xlsx", cells, opt="$E$2", adj="$C$1:$C$4", typ=1, neg=1, eng=2,
                        constraints=[("$E$1", 1, "capacity"), ("$C$1:$C$4", 4, "integer"), ("$C$1:$C$4", 1, 2)])
    wb = load_workbook(p)
    add_name(wb, "capacity", "model!$H$1")
    wb.save(p)
    return p, _lp(v, A_ub=[w], b_ub=[16], bounds=(0, 2), integrality=np.ones(4), maximise=True)


@model
def shortest_path_flow(tmp):
    """Shortest path as a network flow: net flow at each node by SUMIF over the arc table."""
    arcs = [("s", "a", 4), ("s", "b", 2), ("b", "a", 1), ("a", "t", 5), ("b", "t", 8)]
    cells = {}
    for i, (u, w, c) in enumerate(arcs, start=1):
        cells[f"A{i}"], cells[f"B{i}"], cells[f"C{i}"], cells[f"D{i}"] = u, w, c, 0
    for j, (node, net) in enumerate([("s", 1), ("a", 0), ("b", 0), ("t", -1)], start=1):
        cells[f"F{j}"], cells[f"H{j}"] = node, net
        cells[f"G{j}"] = f"=SUMIF($A$1:$A$5,F{j},$D$1:$D$5)-SUMIF($B$1:$B$5,F{j},$D$1:$D$5)"
    cells["J1"] = "=SUMPRODUCT(C1:C5,D1:D5)"
    p = solver_workbook(tmp / "path.xlsx", cells, opt="$J$1", adj="$D$1:$D$5", neg=1, eng=2,
                        constraints=[("$G$1:$G$4", 2, "$H$1:$H$4")])
    A = np.zeros((4, 5))
    for i, (u, w, _) in enumerate(arcs):
        A["sabt".index(u), i] += 1
        A["sabt".index(w), i] -= 1
    return p, _lp([c for *_, c in arcs], A_eq=A, b_eq=[1, 0, 0, -1])


@model
def nonlinear_integer(tmp):
    """A convex quadratic in two integer cells: branch-and-bound over the continuous solver."""
    cells = {"A1": 0, "A2": 0, "A3": "=(A1-2.6)^2+(A2-1.4)^2+0.5*A1*A2", "A4": "=A1+A2"}
    p = solver_workbook(tmp / "nlint.xlsx", cells, opt="$A$3", adj="$A$1:$A$2", neg=1,
                        constraints=[("$A$1:$A$2", 4, "integer"), ("$A$4", 3, 2)])
    best = min((a - 2.6) ** 2 + (b - 1.4) ** 2 + 0.5 * a * b for a in range(6) for b in range(6) if a + b >= 2)
    return p, float(best)


@model
def all_different_order(tmp):
    """Order 4 jobs (AllDifferent positions 1..4) minimising weighted completion: linear in the
    position cells through a cost table read with INDEX on data only."""
    wts = [3, 1, 4, 2]
    cells = {**_grid(1, "A", [[w] for w in wts]), **_grid(1, "B", [[1], [2], [3], [4]]),
             "D1": "=SUMPRODUCT(A1:A4,B1:B4)"}
    p = solver_workbook(tmp / "order.xlsx", cells, opt="$D$1", adj="$B$1:$B$4", neg=1, eng=2,
                        constraints=[("$B$1:$B$4", 6, "AllDifferent")])
    best = min(sum(w * pos for w, pos in zip(wts, perm)) for perm in itertools.permutations(range(1, 5)))
    return p, float(best)


@model
def value_of_target(tmp):
    """'Value of': price that makes revenue (with a MOD-free demand curve) equal a target."""
    cells = {"A1": 1.0, "A2": "=A1*(100-4*A1)", "A3": 400}
    p = solver_workbook(tmp / "value.xlsx", cells, opt="$A$2", adj="$A$1", typ=3, val=400, neg=1,
                        constraints=[("$A$1", 1, 12.5)])
    return p, 400.0


@model
def minimax_abs(tmp):
    """A least-absolute-deviation line, linearised by hand as workbooks do: deviations d >= |y - fit|."""
    xs, ys = [0, 1, 2, 3], [1.0, 2.2, 2.9, 4.1]
    cells = {"F1": 0, "F2": 0, "H1": "=SUM(E1:E4)"}
    cons = []
    for i, (x, y) in enumerate(zip(xs, ys), start=1):
        cells[f"A{i}"], cells[f"B{i}"], cells[f"E{i}"] = x, y, 0
        cells[f"C{i}"] = f"=E{i}-(B{i}-($F$1*A{i}+$F$2))"
        cells[f"D{i}"] = f"=E{i}+(B{i}-($F$1*A{i}+$F$2))"
    cons = [("$C$1:$C$4", 3, 0), ("$D$1:$D$4", 3, 0)]
    p = solver_workbook(tmp / "lad.xlsx", cells, opt="$H$1", adj="$F$1:$F$2,$E$1:$E$4", neg=2, eng=2, constraints=cons)
    # variables a, b, e1..e4: min sum e; e_i >= y_i - a x_i - b; e_i >= -(y_i - a x_i - b)
    A, b = [], []
    for i, (x, y) in enumerate(zip(xs, ys)):
        e = [0] * 4
        e[i] = -1
        A.append([-x, -1] + e)
        b.append(-y)
        A.append([x, 1] + e)
        b.append(y)
    return p, _lp([0, 0, 1, 1, 1, 1], A_ub=A, b_ub=b, bounds=[(None, None)] * 6)


@model
def offset_choose_static_positions(tmp):
    """Quantities read through OFFSET/CHOOSE/INDEX whose positions are data; a linear objective."""
    cells = {"A1": 0, "A2": 0, "A3": 0, "C1": 2, "C2": 3, "D1": "=OFFSET($A$1,C1-1,0)", "D2": "=CHOOSE(C2,A1,A2,A3)",
             "D3": "=INDEX(A1:A3,1)", "E1": "=5*D1+4*D2+3*D3", "E2": "=A1+A2+A3"}
    p = solver_workbook(tmp / "offset.xlsx", cells, opt="$E$1", adj="$A$1:$A$3", typ=1, neg=1, eng=2,
                        constraints=[("$E$2", 1, 10), ("$A$1:$A$3", 1, 6)])
    return p, _lp([3, 5, 4], A_ub=[[1, 1, 1]], b_ub=[10], bounds=(0, 6), maximise=True)


@model
def already_optimal_start(tmp):
    """The stored start is the optimum already: Excel says optimal, and so must we."""
    cells = {"A1": 3.0, "A2": -1.0, "A3": "=(A1-3)^2+(A2+1)^2+7"}
    return solver_workbook(tmp / "start.xlsx", cells, opt="$A$3", adj="$A$1:$A$2", neg=2), 7.0


@model
def constant_objective(tmp):
    """An objective that reads no changing cell: the feasible start is optimal, no traceback."""
    cells = {"A1": 1.0, "A2": 2.0, "B1": 5.0, "A3": "=B1*2", "A4": "=A1+A2"}
    return solver_workbook(tmp / "const.xlsx", cells, opt="$A$3", adj="$A$1:$A$2", neg=1, eng=2,
                           constraints=[("$A$4", 1, 10)]), 10.0


def build_all(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    return {name: fn(folder) for name, fn in CORPUS.items()}


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "solver-corpus")
    for name, (path, ref) in build_all(out).items():
        print(f"{name:36s} {path}  reference objective {ref:.10g}")
