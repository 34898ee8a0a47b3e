"""Solve a workbook's Solver models with scipy and write the solutions into a new workbook.

One model, start to finish:
    read the file safely (calc.reader) -> read the model (model) -> the start values and the
    objective by the workbook's own formulas (calc.evaluate) -> the formulas between the
    changing cells and the objective and constraints as one numpy program with exact
    gradients (calc.program); a model whose formulas are all linear, read off their
    structure, goes to HiGHS whatever engine its author picked -> run the method (engines)
    -> the objective again by the formulas at the solution, constraints checked.

Several models (one per sheet) are solved one after the other into the same copy; a model
that cannot be solved (bad input) is reported and the others still are. The solved copy
changes only the changing cells and the cached values of formula cells (calc.write).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from xlbridge.calc.evaluate import Evaluator
from xlbridge.calc.parse import Range, cell_name, walk, Ref, Name, resolve, parse
from xlbridge.calc.reader import WorkbookData, read_workbook
from xlbridge.calc.values import FormulaError, XlError, is_number
from xlbridge.errors import XlbridgeInputError
from xlbridge.solver.engines import Problem, branch_and_bound, run_evolutionary, run_grg, run_linear
from xlbridge.solver.model import SolverModel, read_models
from xlbridge.solver.result import SolveResult, outcome

CROSS_CHECK_TOL = 1e-9


def _close(a: float, b: float, tol=CROSS_CHECK_TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def default_output(path: Path) -> Path:
    """dotprod.xlsx -> dotprod.solved.xlsx (an .xlsm stays .xlsm, so its macros survive)."""
    return path.with_name(f"{path.stem}.solved{path.suffix.lower()}")


def list_models(path) -> list[SolverModel]:
    """Every sheet's Solver model (broken ones included, with `.problem` set)."""
    return read_models(read_workbook(Path(path)))


class _Session:
    """One workbook being solved: its data, and the changing-cell values found so far."""

    def __init__(self, wb: WorkbookData):
        self.wb = wb
        self.overrides: dict = {}
        self.solved: list = []                 # (program, x cells, x) of each model solved

    def evaluator(self, extra=None) -> Evaluator:
        ov = dict(self.overrides)
        ov.update(extra or {})
        return Evaluator(self.wb, ov)

    # -- one model ---------------------------------------------------------------------------
    def solve_model(self, m: SolverModel, max_time=None) -> SolveResult:
        where = f"{self.wb.path}: sheet '{m.sheet}'"
        if m.problem:
            raise XlbridgeInputError(f"{where}: the Solver model is broken: {m.problem}")
        ev = self.evaluator()
        x_cells, x0 = self._start(m, ev, where)
        ev = self.evaluator(dict(zip(x_cells, x0)))
        objective = (m.objective.sheet, m.objective.r1, m.objective.c1)
        f_start = self._objective_value(ev, objective, where, "at the start")
        lb, ub, integrality, general, dif = self._limits(m, ev, x_cells, where)
        outputs = [objective] + [c for lhs, _, rhs in general for c in lhs + (rhs if _is_cells(rhs) else [])]
        program = self._program(ev, x_cells, outputs, where)
        got = float(program.values_at(x0)[0])
        if not _close(got, f_start):
            raise XlbridgeInputError(f"{where}: the compiled formulas give {got!r} but the workbook's formulas "
                                     f"give {f_start!r} for the objective; cannot trust the compiled program")
        linear = program.affine
        sign = -1.0 if m.goal == "max" else 1.0

        def fg(x):
            if m.goal == "value":                # "value of" is a constraint with no objective, as in Excel
                return 0.0, np.zeros(len(x))
            f, g = program.value_and_grad(x)
            return sign * f, sign * g

        ineq_rows, eq_rows = _constraint_rows(general)
        if m.goal == "value" and not linear:
            eq_rows.append(([0], None, np.array([m.target]), 1.0))
        ineq, ineq_jac = _residuals(ineq_rows, program)
        eq, eq_jac = _residuals(eq_rows, program)
        n0 = len(x_cells)
        if dif:                                   # AllDifferent: assignment binaries, linear in x
            x0, lb, ub, integrality, ineq, ineq_jac, eq, eq_jac, fg, extra = _all_different(
                dif, x0, lb, ub, integrality, ineq, ineq_jac, eq, eq_jac, fg, program)
        problem = Problem(x0=x0, fg=fg, lb=lb, ub=ub, integrality=integrality, ineq=ineq, ineq_jac=ineq_jac,
                          eq=eq, eq_jac=eq_jac, names=[cell_name(c) for c in x_cells] + [""] * (len(x0) - n0),
                          where=where, dif_rows=extra if dif else None)
        limit = max_time if max_time is not None else m.max_time
        t0 = time.perf_counter()
        if linear:
            run = self._linear(m, problem, program, ineq_rows, eq_rows, sign, limit, dif)
        elif m.engine == "Simplex LP":
            raise XlbridgeInputError(f"{where}: the Simplex LP engine needs a linear model, but the formulas are not "
                                     "linear in the changing cells (Excel: 'the linearity conditions are not "
                                     "satisfied'; choose GRG Nonlinear)")
        else:
            run = self._nonlinear(m, problem, limit)
        elapsed = time.perf_counter() - t0
        x = run["x"][:n0]
        status, message = run["status"], run["message"]
        if status in (3, 4):                     # infeasible or unbounded: the cells keep their start
            fun, maxcv = f_start, 0.0
            x = x0[:n0]
        else:
            ev_end = self.evaluator(dict(zip(x_cells, map(float, x))))
            fun = self._objective_value(ev_end, objective, where, "at the solution")
            maxcv = _violation(x, lb[:n0], ub[:n0], integrality[:n0], ineq and (lambda v: problem.ineq(
                np.concatenate([v, run["x"][n0:]]))), eq and (lambda v: problem.eq(np.concatenate([v, run["x"][n0:]]))))
            if m.goal == "value" and status == 0 and abs(fun - m.target) > max(m.precision, 1e-9) * max(1.0, abs(m.target)):
                status, message = 3, f"Could not make the objective equal to {m.target:g} (closest {fun:.10g})."
            if status == 0 and maxcv > 10 * m.precision:
                status, message = 3, f"The constraints are violated by {maxcv:.3g} at the end (solver_pre {m.precision:g})."
            if not _close(float(program.values_at(x)[0]), fun, 1e-8):
                raise XlbridgeInputError(f"{where}: the compiled formulas and the workbook's formulas disagree at the "
                                         "solution; cannot trust the compiled program")
            self.overrides.update(zip(x_cells, map(float, x)))
            self.solved.append((program, x_cells, np.asarray(x, float)))
        proven = bool(run.get("proven")) and status == 0
        return SolveResult(
            message=message, success=status == 0, status=status, outcome=outcome(status, proven), proven=proven,
            fun=fun, fun_start=f_start, sheet=m.sheet, engine=m.engine, method=run["method"], linear=linear,
            nit=run["nit"], nfev=run["nfev"], time=elapsed, path=None, maxcv=maxcv,
            x=np.asarray(x, float), x_by_name=self._by_name(m, x_cells, x), objective=str(m.objective),
        )

    def _start(self, m, ev, where):
        """The changing cells (in solver_adj order) and their stored values (empty is 0)."""
        x_cells = list(dict.fromkeys(c for r in m.changing for c in r.cells()))
        x0 = np.empty(len(x_cells))
        for i, c in enumerate(x_cells):
            if c in ev.formulas and c not in self.overrides:
                raise XlbridgeInputError(f"{where}: changing cell {cell_name(c)} holds a formula; "
                                         "Solver can only change constants")
            v = ev.value(c)
            if isinstance(v, XlError):
                raise XlbridgeInputError(f"{where}: changing cell {cell_name(c)} holds the error value {v}")
            if v is not None and not (is_number(v) or isinstance(v, bool)):
                raise XlbridgeInputError(f"{where}: changing cell {cell_name(c)} holds {v!r}, not a number")
            x0[i] = 0.0 if v is None else float(v)
        return x_cells, x0

    def _objective_value(self, ev, key, where, when) -> float:
        """The objective cell by the workbook's formulas; an error value is traced to the cell
        it starts in."""
        try:
            v = ev.value(key)
        except FormulaError as e:
            raise XlbridgeInputError(f"{where}: cannot evaluate the objective's formulas: {e}") from None
        if isinstance(v, XlError):
            origin = _error_origin(ev, key)
            if origin in ev.problems:
                raise XlbridgeInputError(f"{where}: {cell_name(origin)}: {ev.problems[origin]}")
            tail = f" (it starts in {cell_name(origin)}: ={ev.formulas[origin].formula})" if origin and origin != key else ""
            raise XlbridgeInputError(f"{where}: the objective cell {cell_name(key)} gives the error value {v} "
                                     f"{when}{tail}")
        if isinstance(v, bool):
            return float(v)
        if not is_number(v):
            raise XlbridgeInputError(f"{where}: the objective cell {cell_name(key)} gives {v!r}, not a number")
        return float(v)

    def _program(self, ev, x_cells, outputs, where):
        from xlbridge.calc.program import compile_program
        try:
            return compile_program(ev, x_cells, outputs)
        except FormulaError as e:
            raise XlbridgeInputError(f"{where}: on the decision path, {e}") from None
        except XlbridgeInputError:
            raise
        except RecursionError:
            raise XlbridgeInputError(f"{where}: the formulas are nested too deeply to compile") from None

    def _limits(self, m, ev, x_cells, where):
        """Bounds, integrality, the general constraints and the AllDifferent groups.

        A constraint on changing cells against a constant is a bound (as Excel treats it);
        anything else is general: (lhs cells, rel, rhs) with rhs a float, a list of floats
        or a list of cells. "Non-negative" applies to cells with no lower bound of their own."""
        xpos = {c: i for i, c in enumerate(x_cells)}
        n = len(x_cells)
        lb, ub = np.full(n, -np.inf), np.full(n, np.inf)
        integrality, has_lower = np.zeros(n, bool), np.zeros(n, bool)
        general, dif = [], []
        for con in m.constraints:
            lhs = list(con.lhs.cells())
            if con.rel in ("int", "bin", "dif"):
                if any(c not in xpos for c in lhs):
                    raise XlbridgeInputError(f"{where}: {con.rel} constraint on {con.lhs}, which are not changing cells")
                idx = [xpos[c] for c in lhs]
                integrality[idx] = True
                if con.rel == "bin":
                    lb[idx], ub[idx], has_lower[idx] = np.maximum(lb[idx], 0), np.minimum(ub[idx], 1), True
                if con.rel == "dif":
                    lb[idx], ub[idx], has_lower[idx] = np.maximum(lb[idx], 1), np.minimum(ub[idx], len(idx)), True
                    dif.append(idx)
                continue
            rhs = self._rhs(con, ev, x_cells, len(lhs), where)
            if all(c in xpos for c in lhs) and not _is_cells(rhs):
                for c, v in zip(lhs, rhs if isinstance(rhs, list) else [rhs] * len(lhs)):
                    i = xpos[c]
                    if con.rel in ("<=", "="):
                        ub[i] = min(ub[i], v)
                    if con.rel in (">=", "="):
                        lb[i], has_lower[i] = max(lb[i], v), True
                continue
            general.append((lhs, con.rel, rhs))
        if m.nonnegative:                    # Excel: "make unconstrained variables non-negative"
            lb = np.where(has_lower, lb, np.maximum(lb, 0.0))
        return lb, ub, integrality, general, dif

    def _rhs(self, con, ev, x_cells, n_lhs, where):
        """A right side as a float, a list of floats, or a list of cells that move with x."""
        rhs = con.rhs
        if isinstance(rhs, float):
            return rhs
        if isinstance(rhs, Range):
            cells = list(rhs.cells())
            if len(cells) not in (1, n_lhs):
                raise XlbridgeInputError(f"{where}: constraint {con}: the right side has {len(cells)} cells, "
                                         f"the left {n_lhs}")
            values = [ev.value(c) for c in cells]
            if all(is_number(v) or v is None for v in values) and not self._moves(ev, cells, x_cells):
                out = [0.0 if v is None else float(v) for v in values]
                return out if len(out) > 1 else out[0]
            bad = next((c for c, v in zip(cells, values) if isinstance(v, XlError | str)), None)
            if bad is not None and not self._moves(ev, [bad], x_cells):
                raise XlbridgeInputError(f"{where}: constraint {con}: its right side {cell_name(bad)} holds "
                                         f"{ev.value(bad)!r}, not a number")
            return cells if len(cells) > 1 else cells * n_lhs
        # a formula such as 2*B8 or a defined name that is not a range: a constant for the solve
        refs = [n for n in walk(rhs) if isinstance(n, Ref)]
        cells = [c for r in refs for c in resolve(r, con.lhs.sheet, 1, 1).cells()] if refs else []
        if cells and self._moves(ev, cells, x_cells):
            raise XlbridgeInputError(f"{where}: constraint {con}: a right-side formula that moves with the changing "
                                     "cells is not supported; put it in a cell and refer to that cell")
        v = ev.scalar_at(rhs, con.lhs.sheet, 1, 1)
        if isinstance(v, bool) or not is_number(v):
            raise XlbridgeInputError(f"{where}: constraint {con}: its right side gives {v!r}, not a number")
        return float(v)

    def _moves(self, ev, cells, x_cells) -> bool:
        """Whether any of `cells` depends on the changing cells (by the references formulas name)."""
        from xlbridge.calc.program import compile_program
        if any(c in set(x_cells) for c in cells):
            return True
        formula_cells = [c for c in cells if c in ev.formulas]
        if not formula_cells:
            return False
        try:
            return bool(compile_program(ev, x_cells, formula_cells).dynamic_cells)
        except FormulaError:
            return True

    # -- methods -------------------------------------------------------------------------------
    def _linear(self, m, p, program, ineq_rows, eq_rows, sign, limit, dif):
        """A linear model's exact (c, A_ub, b_ub, A_eq, b_eq), from the program's structure."""
        A, b = program.linear_form()
        n = len(program.x_cells)
        extra = len(p.x0) - n
        pad = (lambda M: np.hstack([M, np.zeros((M.shape[0], extra))])) if extra else (lambda M: M)
        c = pad(A[:1])[0]
        A_ub = b_ub = A_eq = b_eq = None
        rows_ub, rhs_ub, rows_eq, rhs_eq = [], [], [], []
        for rows, R, r in ((ineq_rows, rows_ub, rhs_ub), (eq_rows, rows_eq, rhs_eq)):
            for li, ri, rc, s in rows:
                # s * (lhs - rhs) >= 0  (or = 0): as  -s*(A_l - A_r) x <= s*(b_l - b_r) for <=-form rows
                Al = A[li]
                bl = b[li]
                Ar = A[ri] if ri else 0.0
                br = b[ri] if ri else rc
                R.append(-s * (Al - Ar) if rows is ineq_rows else (Al - Ar))
                r.append(s * (bl - br) if rows is ineq_rows else -(bl - br))
        if rows_ub:
            A_ub, b_ub = pad(np.vstack(rows_ub)), np.concatenate(rhs_ub)
        if rows_eq:
            A_eq, b_eq = pad(np.vstack(rows_eq)), np.concatenate(rhs_eq)
        if dif:
            A_eq, b_eq = _stack(A_eq, b_eq, *p.dif_rows)
        if m.goal == "value":                      # Excel: "value of" is a constraint, no objective
            A_eq, b_eq = _stack(A_eq, b_eq, c[None, :], np.array([m.target - b[0]]))
            c = np.zeros_like(c)
        if not np.any(c) and _violation(p.x0, p.lb, p.ub, p.integrality, p.ineq, p.eq) <= m.precision:
            # a constant objective at a feasible start: already optimal, keep the start as Excel does
            return dict(x=p.x0, status=0, message="The objective does not depend on the changing cells, and the "
                        "start satisfies every constraint: it is optimal as it stands.", nit=0, nfev=0,
                        method="none needed (constant objective)", proven=True)
        return run_linear(p, (sign * c if m.goal != "value" else c, A_ub, b_ub, A_eq, b_eq), max_iter=m.max_iter,
                          max_time=limit)

    def _nonlinear(self, m, p, limit):
        if m.engine == "Evolutionary":
            return run_evolutionary(p, max_iter=m.max_iter, max_time=limit, convergence=m.convergence,
                                    population=m.population, seed=m.seed)

        def relax(q):
            return run_grg(q, max_iter=m.max_iter, max_time=limit, convergence=m.convergence, precision=m.precision)
        if p.integrality.any():
            return branch_and_bound(p, relax, max_time=limit, precision=m.precision)
        return relax(p)

    def _by_name(self, m, x_cells, x) -> dict:
        """Solution blocks keyed by range text and by any defined name lying in the changing cells."""
        val = dict(zip(x_cells, x))
        out = {}

        def block(rng):
            r, c = rng.shape
            return np.array([val[k] for k in rng.cells()]).reshape(r, c)
        for rng in m.changing:
            out[str(rng)] = block(rng)
        idx = next((i for i, s in enumerate(self.wb.sheets) if s.title == m.sheet), None)
        for dn in self.wb.names:
            if dn.name.lower().startswith("solver_") or dn.name.startswith("_xl"):
                continue
            if dn.sheet is not None and dn.sheet != idx:
                continue
            try:
                node = parse(dn.text, (1, 1))
                if isinstance(node, Ref):
                    rng = resolve(node, m.sheet, 1, 1)
                    if all(k in val for k in rng.cells()):
                        out.setdefault(dn.name, block(rng))
            except (FormulaError, Exception):
                continue
        return out

    # -- writing -----------------------------------------------------------------------------
    def updates(self) -> tuple[dict, int]:
        """{cell: value} for the changing cells and every formula cell whose cached value
        changes, and how many formula cells could not be evaluated (the copy then asks for
        recalculation on opening). Only the formula cells that depend on the changing cells
        are recomputed, in bulk (calc.sweep.refresh); the others keep their stored values."""
        from xlbridge.calc.sweep import refresh
        values, problems = refresh(self.wb, self.overrides)
        out = dict(self.overrides)
        stored = {s.title: s.cells for s in self.wb.sheets}
        for key, v in values.items():
            if key in problems:
                continue
            cell = stored[key[0]].get((key[1], key[2]))
            if cell is None or not _same(v, cell.value):
                out[key] = v
        return out, len(problems)


def _error_origin(ev, key):
    """The first cell, following the formulas back from `key`, whose formula makes the error
    (its inputs hold none)."""
    seen, cur = set(), key
    while cur not in seen:
        seen.add(cur)
        nxt = next((d for d in ev.precedents(cur) if isinstance(ev.value(d), XlError)), None)
        if nxt is None:
            return cur
        cur = nxt
    return cur


def _stack(A, b, A2, b2):
    return (A2, b2) if A is None else (np.vstack([A, A2]), np.concatenate([b, b2]))


def _all_different(groups, x0, lb, ub, integrality, ineq, ineq_jac, eq, eq_jac, fg, program):
    """AllDifferent on k cells: they take the values 1..k once each. Modelled with k*k binary
    assignment variables z (x_i = sum_v v z_iv, each row and column of z sums to 1), which
    keeps a linear model linear."""
    n = len(x0)
    rows_A, rows_b = [], []
    extra = 0
    for idx in groups:
        k = len(idx)
        base = n + extra
        for a, i in enumerate(idx):
            row = np.zeros(n + extra + k * k)
            row[i] = 1.0
            for v in range(k):
                row[base + a * k + v] = -(v + 1)
            rows_A.append(row)
            rows_b.append(0.0)
        for a in range(k):
            row = np.zeros(n + extra + k * k)
            row[base + a * k: base + (a + 1) * k] = 1
            rows_A.append(row)
            rows_b.append(1.0)
        for v in range(k):
            row = np.zeros(n + extra + k * k)
            row[[base + a * k + v for a in range(k)]] = 1
            rows_A.append(row)
            rows_b.append(1.0)
        extra += k * k
    total = n + extra
    D = np.array([np.pad(r, (0, total - len(r))) for r in rows_A])
    d = np.array(rows_b)
    z0 = np.zeros(extra)
    x0 = np.concatenate([x0, z0])
    lb = np.concatenate([lb, np.zeros(extra)])
    ub = np.concatenate([ub, np.ones(extra)])
    integrality = np.concatenate([integrality, np.ones(extra, bool)])

    def wrap(f):
        return None if f is None else (lambda v: f(v[:n]))

    def wrap_jac(J):
        return None if J is None else (lambda v: np.hstack([J(v[:n]), np.zeros((len(J(v[:n])), extra))]))
    eq2 = (lambda v: np.concatenate([eq(v[:n]) if eq else np.zeros(0), D @ v - d]))
    eq2_jac = (lambda v: np.vstack([wrap_jac(eq_jac)(v) if eq_jac else np.zeros((0, total)), D]))

    def fg2(v):
        f, g = fg(v[:n])
        return f, np.concatenate([g, np.zeros(extra)])
    out = (x0, lb, ub, integrality, wrap(ineq), wrap_jac(ineq_jac), eq2, eq2_jac, fg2, (D, d))
    return out


def _is_cells(rhs) -> bool:
    """A constraint's right side that is a list of cells (it moves with x), not constants."""
    return isinstance(rhs, list) and bool(rhs) and isinstance(rhs[0], tuple)


def _constraint_rows(general):
    """General constraints as rows over the program's outputs (output 0 is the objective):
    (lhs output positions, rhs output positions or None, rhs constants or None, sign), so
    that sign * (lhs - rhs) >= 0 (or = 0). Returns (inequality rows, equality rows)."""
    ineq_rows, eq_rows, pos = [], [], 1
    for lhs, rel, rhs in general:
        li = list(range(pos, pos + len(lhs)))
        pos += len(lhs)
        if _is_cells(rhs):
            ri, rc = list(range(pos, pos + len(rhs))), None
            pos += len(rhs)
        else:
            ri, rc = None, np.asarray(rhs if isinstance(rhs, list) else [rhs] * len(lhs), float)
        (eq_rows if rel == "=" else ineq_rows).append((li, ri, rc, -1.0 if rel == "<=" else 1.0))
    return ineq_rows, eq_rows


def _residuals(rows, program):
    """(g(x), its Jacobian) for constraint rows, or (None, None) when there are none."""
    if not rows:
        return None, None

    def fun(x):
        y = program.values_at(x)
        return np.concatenate([s * (y[li] - (y[ri] if ri else rc)) for li, ri, rc, s in rows])

    def jac(x):
        _, J = program.jacobian(x)
        return np.vstack([s * (J[li] - (J[ri] if ri else 0)) for li, ri, rc, s in rows])
    return fun, jac


def _violation(x, lb, ub, integrality, ineq, eq) -> float:
    """The largest amount by which x misses a bound, a constraint or integrality."""
    x = np.asarray(x, float)
    parts = [np.maximum(lb - x, 0), np.maximum(x - ub, 0)]
    if ineq is not None:
        parts.append(-np.minimum(ineq(x), 0))
    if eq is not None:
        parts.append(np.abs(eq(x)))
    if integrality.any():
        parts.append(np.abs(x[integrality] - np.round(x[integrality])))
    return float(max(np.max(p, initial=0.0) for p in parts))


def _same(a, b) -> bool:
    if is_number(a) and is_number(b):
        # Excel's last digit can differ from ours (summation order); that is no change.
        return abs(float(a) - float(b)) <= 1e-14 * max(1.0, abs(float(a)))
    if a is None and b == "":
        return True
    return type(a) is type(b) and a == b


def solve_many(path, sheets=None, *, out=None, in_place=False, force=False, max_time=None,
               write=True) -> list[SolveResult]:
    """Solve the Solver model of each sheet in `sheets` (default: every sheet that has one)
    one after the other, and write all solutions into one new workbook.

    A model that cannot be solved (bad input, or broken names) is returned as a result with
    status 5 and the reason, and the others are still solved and written. Raises
    XlbridgeInputError when nothing can be solved (unreadable file, every model bad, a
    sheet asked for that has no model) or the output cannot be written; then nothing is."""
    path = Path(path)
    wb = read_workbook(path)
    models = read_models(wb)
    if not models:
        raise XlbridgeInputError(f"{path}: no Solver model (no solver_opt/solver_adj names) in any sheet")
    if sheets:
        chosen = []
        for name in sheets:
            found = [m for m in models if m.sheet.lower() == name.lower()]
            if not found:
                have = ", ".join(f"'{m.sheet}'" for m in models)
                raise XlbridgeInputError(f"{path}: sheet '{name}' has no Solver model (models on: {have})")
            chosen += found
    else:
        chosen = models
    target = None
    if write:
        target = path if in_place else Path(out) if out is not None else default_output(path)
        if not in_place and target.resolve() == path.resolve():
            raise XlbridgeInputError(f"{target}: output would overwrite the input; use --in-place to do that")
        if target.exists() and not (force or in_place):
            raise XlbridgeInputError(f"{target}: already exists; use --force to overwrite it")
        if not target.parent.is_dir():
            raise XlbridgeInputError(f"{target}: folder {target.parent} does not exist")
    session = _Session(wb)
    results, failures = [], []
    for m in chosen:
        try:
            results.append(session.solve_model(m, max_time=max_time))
        except XlbridgeInputError as e:
            if len(chosen) == 1:
                raise
            failures.append(str(e))
            results.append(SolveResult(message=str(e), success=False, status=5, outcome="not solved", proven=False,
                                       sheet=m.sheet, engine=m.engine, method="", fun=float("nan"),
                                       fun_start=float("nan"), nit=0, nfev=0, time=0.0, path=None, linear=False,
                                       x=np.zeros(0), x_by_name={}, objective=str(m.objective), maxcv=0.0))
    if failures and len(failures) == len(chosen):
        raise XlbridgeInputError(f"{path}: no Solver model could be solved: " + "; ".join(
            f.replace(f"{path}: ", "") for f in failures))
    if write:
        from xlbridge.calc.write import write_values
        updates, failed = session.updates()
        if failed:
            warnings.warn(f"{path}: {failed} formula cell(s) use functions xlbridge does not compute; their cached "
                          "values are left, and the workbook asks for recalculation on opening",
                          RuntimeWarning, stacklevel=2)
        write_values(path, target, updates, recalc_on_load=bool(failed))
        for r in results:
            if r.status != 5:
                r.path = target
    return results


def solve(path, sheet: str | None = None, **kwargs) -> SolveResult:
    """Solve one sheet's Solver model (the only one, or the one on `sheet`) and write the
    solution into a new workbook (`<stem>.solved.xlsx` unless `out=`/`in_place=True`).

    Keyword arguments as `solve_many`. Returns a SolveResult (see result.py)."""
    if sheet is None:
        with warnings.catch_warnings():       # solve_many reads the models again, and warns then
            warnings.simplefilter("ignore", RuntimeWarning)
            models = [m for m in list_models(path) if not m.problem]
        if len(models) > 1:
            have = ", ".join(f"'{m.sheet}'" for m in models)
            raise XlbridgeInputError(f"{path}: several Solver models ({have}); choose one with sheet=")
        if models:
            sheet = models[0].sheet
    return solve_many(path, [sheet] if sheet else None, **kwargs)[0]


__all__ = ["solve", "solve_many", "list_models", "default_output"]
