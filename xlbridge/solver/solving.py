"""Solve a workbook's Solver models with scipy and write the solution into a new workbook.

One model, start to finish:
    read the file safely (xlsxsafe) -> read the model (model) -> the objective at the start
    by the workbook's formulas (formula.Evaluator) -> the fast path (fastpath) if the sheet
    has the collab shape and agrees, else the formulas compiled to torch (compile) -> run the
    engine (engines) -> check the fast path again at the solution -> re-evaluate every
    formula at the solution -> write a copy of the file with the new values (write).

Several models (one per sheet) are solved one after the other into the same copy.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from xlbridge.errors import XlbridgeInputError
from xlbridge.solver.engines import Problem, linear_form, run_grg, run_evolutionary, run_simplex
from xlbridge.solver.fastpath import NotRecognised, recognise
from xlbridge.solver.formula import CellError, Evaluator, FormulaError, Range, Ref, is_number, parse, resolve
from xlbridge.solver.model import SolverModel, read_models
from xlbridge.solver.result import SolveResult
from xlbridge.solver.xlsxsafe import WorkbookData, read_workbook

CROSS_CHECK_TOL = 1e-9


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= CROSS_CHECK_TOL * max(1.0, abs(a), abs(b))


def default_output(path: Path) -> Path:
    """dotprod.xlsx -> dotprod.solved.xlsx (an .xlsm stays .xlsm, so its macros survive)."""
    return path.with_name(f"{path.stem}.solved{path.suffix.lower()}")


def list_models(path) -> list[SolverModel]:
    """Every sheet's Solver model (broken ones included, with `.problem` set)."""
    wb = read_workbook(Path(path))
    return read_models(wb)


def _where(wb, model):
    return f"{wb.path}: sheet '{model.sheet}'"


def _cell_name(key):
    from openpyxl.utils import get_column_letter
    return f"'{key[0]}'!{get_column_letter(key[2])}{key[1]}"


class _Session:
    """One workbook being solved: its data, and the changing-cell values found so far."""

    def __init__(self, wb: WorkbookData):
        self.wb = wb
        self.overrides: dict = {}

    def evaluator(self, extra=None) -> Evaluator:
        ov = dict(self.overrides)
        ov.update(extra or {})
        return Evaluator(self.wb, ov)

    # -- one model ---------------------------------------------------------------------------
    def solve_model(self, m: SolverModel, max_time=None, use_fast_path=True) -> SolveResult:
        """Solve one sheet's model; the solution is kept in self.overrides for writing."""
        where = _where(self.wb, m)
        if m.problem:
            raise XlbridgeInputError(f"{where}: the Solver model is broken: {m.problem}")
        x_cells, x0 = self._start(m, where)
        lb, ub, integrality, general = self._limits(m, x_cells, where)
        # Outputs of the formulas: the objective, then every cell the general constraints read.
        objective = (m.objective.sheet, m.objective.r1, m.objective.c1)
        outputs = [objective] + [c for lhs, _, rhs in general for c in lhs + (rhs if _is_cells(rhs) else [])]
        f_start = self._objective_at(objective, x_cells, x0, where)
        program = _LazyProgram(self, x_cells, x0, outputs, f_start, where)

        # The objective to minimise: the fast path when the sheet has the collab shape and
        # agrees with the formulas at the start; the compiled formulas otherwise.
        sign = -1.0 if m.goal == "max" else 1.0

        def formula_fg(x):
            f, g = program().value_and_grad(x)
            if m.goal == "value":            # "value of": drive (f - target)^2 to 0
                return (f - m.target) ** 2, 2 * (f - m.target) * g
            return sign * f, sign * g

        fg, path_used, note = formula_fg, "formula", ""
        if use_fast_path and not general and m.goal != "value":
            try:
                fast = recognise(self.evaluator(dict(zip(x_cells, x0))), objective, x_cells)
                if _close(fast.fg(x0)[0], f_start):
                    fg, path_used = (lambda x: tuple(sign * v for v in fast.fg(x))), "fast"
                else:
                    note = " Fast path disagreed with the formulas at the start; used the formula path."
            except (NotRecognised, CellError, FormulaError):
                pass
        if path_used == "formula":
            program()                        # compile now, so its errors come before any solving

        ineq_rows, eq_rows = _constraint_rows(general)
        ineq, ineq_jac = _residuals(ineq_rows, program)
        eq, eq_jac = _residuals(eq_rows, program)
        problem = Problem(x0=x0, fg=fg, lb=lb, ub=ub, integrality=integrality, ineq=ineq, ineq_jac=ineq_jac,
                          eq=eq, eq_jac=eq_jac, names=[_cell_name(c) for c in x_cells], where=where)

        limit = max_time if max_time is not None else m.max_time
        t0 = time.perf_counter()
        run = self._run(m, problem, program, ineq_rows, eq_rows, sign, limit, where)
        x = run["x"]
        if path_used == "fast" and not _close(sign * fg(x)[0], self._objective_at(objective, x_cells, x, where)):
            # The recognised structure and the formulas disagree here: trust the formulas.
            note = " Fast path disagreed with the formulas at the solution; re-solved on the formula path."
            path_used, problem.fg = "formula", formula_fg
            run = self._run(m, problem, program, ineq_rows, eq_rows, sign, limit, where)
            x = run["x"]
        elapsed = time.perf_counter() - t0

        fun = self._objective_at(objective, x_cells, x, where)     # what the workbook will show
        maxcv = _violation(x, lb, ub, integrality, ineq, eq)
        status, message = run["status"], run["message"]
        if m.goal == "value" and status == 0 and abs(fun - m.target) > max(m.precision, 1e-9) * max(1.0, abs(m.target)):
            status, message = 3, f"Could not make the objective equal to {m.target:g} (closest {fun:.10g})."
        if status == 0 and maxcv > 10 * m.precision:
            status, message = 3, f"The constraints are violated by {maxcv:.3g} at the end (solver_pre {m.precision:g})."

        self.overrides.update(zip(x_cells, map(float, x)))
        return SolveResult(
            message=message + note, success=status == 0, status=status, fun=fun, fun_start=f_start,
            sheet=m.sheet, engine=m.engine, method=run["method"], path_used=path_used,
            nit=run["nit"], nfev=run["nfev"], time=elapsed, path=None, maxcv=maxcv,
            x=np.asarray(x, float), x_by_name=self._by_name(m, x_cells, x), objective=str(m.objective),
        )

    def _start(self, m, where):
        """The changing cells (in solver_adj order) and their stored values (empty is 0)."""
        x_cells = list(dict.fromkeys(c for r in m.changing for c in r.cells()))
        ev = self.evaluator()
        x0 = np.empty(len(x_cells))
        for i, c in enumerate(x_cells):
            cell = ev.sheet_of(c[0]).cells.get((c[1], c[2]))
            if cell is not None and cell.formula is not None and c not in self.overrides:
                raise XlbridgeInputError(f"{where}: changing cell {_cell_name(c)} holds a formula; "
                                         "Solver can only change constants")
            v = ev.value(c)
            if v is not None and not is_number(v):
                raise XlbridgeInputError(f"{where}: changing cell {_cell_name(c)} holds {v!r}, not a number")
            x0[i] = 0.0 if v is None else float(v)
        return x_cells, x0

    def _limits(self, m, x_cells, where):
        """Bounds, integrality and the general constraints.

        A constraint on changing cells against a constant is a bound (as Excel treats it);
        anything else is general: (lhs cells, rel, rhs) with rhs a float, a list of floats
        or a list of cells. "Non-negative" applies to cells with no lower bound of their own."""
        ev = self.evaluator()
        xpos = {c: i for i, c in enumerate(x_cells)}
        n = len(x_cells)
        lb, ub = np.full(n, -np.inf), np.full(n, np.inf)
        integrality, has_lower = np.zeros(n, bool), np.zeros(n, bool)
        general = []
        for con in m.constraints:
            lhs = list(con.lhs.cells())
            if con.rel == "dif":
                raise XlbridgeInputError(f"{where}: AllDifferent (dif) constraints are not supported")
            if con.rel in ("int", "bin"):
                if any(c not in xpos for c in lhs):
                    raise XlbridgeInputError(f"{where}: {con.rel} constraint on {con.lhs}, which are not changing cells")
                for i in (xpos[c] for c in lhs):
                    integrality[i] = True
                    if con.rel == "bin":
                        lb[i], ub[i], has_lower[i] = max(lb[i], 0), min(ub[i], 1), True
                continue
            rhs = con.rhs
            if isinstance(rhs, Range):
                cells = list(rhs.cells())
                if len(cells) not in (1, len(lhs)):
                    raise XlbridgeInputError(f"{where}: constraint {con}: right side has {len(cells)} cells, left {len(lhs)}")
                values = [ev.value(c) for c in cells]
                if all(is_number(v) for v in values) and not any(self._moves(c, x_cells) for c in cells):
                    rhs = [float(v) for v in values] if len(values) > 1 else float(values[0])
                else:
                    rhs = cells if len(cells) > 1 else cells * len(lhs)
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
        return lb, ub, integrality, general

    def _run(self, m, problem, program, ineq_rows, eq_rows, sign, limit, where):
        if m.engine == "Simplex LP":
            lin = self._linear(problem, program(), m, ineq_rows, eq_rows, sign, where)
            return run_simplex(problem, lin, max_iter=m.max_iter, max_time=limit)
        if m.engine == "Evolutionary":
            return run_evolutionary(problem, max_iter=m.max_iter, max_time=limit, convergence=m.convergence,
                                    population=m.population, seed=m.seed)
        return run_grg(problem, max_iter=m.max_iter, max_time=limit, convergence=m.convergence,
                       precision=m.precision)

    def _objective_at(self, key, x_cells, x, where) -> float:
        """The objective cell with the changing cells set to x, by the workbook's formulas."""
        try:
            v = self.evaluator(dict(zip(x_cells, map(float, x)))).value(key)
        except FormulaError as e:
            raise XlbridgeInputError(f"{where}: cannot evaluate the objective's formulas: {e}") from None
        except RecursionError:
            raise XlbridgeInputError(f"{where}: the objective's formulas form a chain too deep to evaluate") from None
        if not is_number(v):
            raise XlbridgeInputError(f"{where}: the objective cell {_cell_name(key)} gives {v!r}, not a number")
        return float(v)

    def _moves(self, cell, x_cells) -> bool:
        ev = self.evaluator()
        ev.both_branches = True
        ev.value(cell)
        xs, seen, todo = set(x_cells), set(), [cell]
        while todo:
            k = todo.pop()
            if k in xs:
                return True
            if k in seen:
                continue
            seen.add(k)
            todo.extend(ev.reads.get(k, ()))
        return False

    def _linear(self, p: Problem, prog, m, ineq_rows, eq_rows, sign, where):
        """(c, A_ub, b_ub, A_eq, b_eq) for linprog, with linearity checked."""
        rng = np.random.default_rng(0)

        def obj(x):
            return prog.value_and_grad(x)
        c, d = linear_form(obj, p.x0, p.lb, p.ub, where, f"the objective {m.objective}", rng)
        c = c[0]
        A_ub = b_ub = A_eq = b_eq = None
        if ineq_rows:
            A, b = linear_form(lambda x: (p.ineq(x), p.ineq_jac(x)), p.x0, p.lb, p.ub, where, "a constraint", rng)
            A_ub, b_ub = -A, b                   # A x + b >= 0  <=>  -A x <= b
        if eq_rows:
            A, b = linear_form(lambda x: (p.eq(x), p.eq_jac(x)), p.x0, p.lb, p.ub, where, "a constraint", rng)
            A_eq, b_eq = A, -b
        if m.goal == "value":                    # Excel: "value of" is a constraint, no objective
            row, rhs = c[None, :], np.array([m.target - d[0]])
            A_eq = row if A_eq is None else np.vstack([A_eq, row])
            b_eq = rhs if b_eq is None else np.concatenate([b_eq, rhs])
            return np.zeros_like(c), A_ub, b_ub, A_eq, b_eq
        return sign * c, A_ub, b_ub, A_eq, b_eq

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
            except FormulaError:
                continue
            if isinstance(node, Ref):
                rng = resolve(node, m.sheet, 1, 1)
                if all(k in val for k in rng.cells()):
                    out.setdefault(dn.name, block(rng))
        return out

    # -- writing -----------------------------------------------------------------------------
    def updates(self) -> tuple[dict, int]:
        """{sheet part: {(row, col): value}} for the changing cells and every formula cell
        whose value differs from the one cached in the file; and how many formula cells we
        could not evaluate (the writer then asks for recalculation on load)."""
        ev = self.evaluator()
        parts, failed = {}, 0
        for s in self.wb.sheets:
            changed = {}
            for (r, c), cell in s.cells.items():
                key = (s.title, r, c)
                if key in self.overrides and cell.formula is None:
                    changed[(r, c)] = self.overrides[key]
                    continue
                if cell.formula is None:
                    continue
                try:
                    v = ev.value(key)
                except (FormulaError, RecursionError):
                    failed += 1
                    continue
                if not _same(v, cell.value):
                    changed[(r, c)] = v
            for key, v in self.overrides.items():
                if key[0] == s.title and (key[1], key[2]) not in s.cells:
                    changed[(key[1], key[2])] = v
            if changed:
                parts[s.part] = changed
        return parts, failed


class _LazyProgram:
    """The formulas compiled to torch, built on first call (the fast path needs none, and
    torch is imported only then), and checked against the interpreter at the start."""

    def __init__(self, session, x_cells, x0, outputs, f_start, where):
        self.args = (session, x_cells, x0, outputs, f_start, where)
        self.prog = None

    def __call__(self):
        if self.prog is None:
            from xlbridge.solver.compile import compile_program   # imports torch
            session, x_cells, x0, outputs, f_start, where = self.args
            try:
                prog = compile_program(session.evaluator(dict(zip(x_cells, x0))), x_cells, outputs)
            except FormulaError as e:
                raise XlbridgeInputError(f"{where}: cannot compile the objective's formulas: {e}") from None
            except CellError as e:
                raise XlbridgeInputError(f"{where}: the objective's formulas give {e.code}") from None
            got = float(prog.numpy(x0)[0])
            if not _close(got, f_start):
                raise XlbridgeInputError(f"{where}: compiled formulas give {got!r} but the workbook's "
                                         f"formulas give {f_start!r}; cannot trust the formula path")
            self.prog = prog
        return self.prog


def _is_cells(rhs) -> bool:
    """A constraint's right side that is a list of cells (it moves with x), not constants."""
    return isinstance(rhs, list) and bool(rhs) and isinstance(rhs[0], tuple)


def _constraint_rows(general):
    """General constraints as rows over the compiled outputs (output 0 is the objective):
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
        y = program().numpy(x)
        return np.concatenate([s * (y[li] - (y[ri] if ri else rc)) for li, ri, rc, s in rows])

    def jac(x):
        J = program().jacobian(x, slice(None))
        return np.vstack([s * (J[li] - (J[ri] if ri else 0)) for li, ri, rc, s in rows])
    return fun, jac


def _violation(x, lb, ub, integrality, ineq, eq) -> float:
    """The largest amount by which x misses a bound, a constraint or integrality."""
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
               use_fast_path=True, write=True) -> list[SolveResult]:
    """Solve the Solver model of each sheet in `sheets` (default: every sheet that has one)
    one after the other, and write all solutions into one new workbook.

    Raises XlbridgeInputError for bad input (unreadable file, broken model asked for,
    an output that exists without `force`); a model that does not converge is a result
    with success=False."""
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
        chosen = [m for m in models if not m.problem]
        if not chosen:
            raise XlbridgeInputError(f"{path}: every Solver model is broken: "
                                     + "; ".join(m.describe() for m in models))
    for m in chosen:
        if m.problem:
            raise XlbridgeInputError(f"{_where(wb, m)}: the Solver model is broken: {m.problem}")
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
    results = [session.solve_model(m, max_time=max_time, use_fast_path=use_fast_path) for m in chosen]
    if write:
        from xlbridge.solver.write import write_solution
        parts, failed = session.updates()
        if failed:
            warnings.warn(f"{path}: {failed} formula cell(s) use functions evaluated only by a spreadsheet; "
                          "their cached values are left, and the workbook asks for recalculation on open",
                          RuntimeWarning, stacklevel=2)
        write_solution(path, target, parts, wb.workbook_part, recalc_on_load=bool(failed))
        for r in results:
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
    return solve_many(path, [sheet] if sheet else None, **kwargs)[0]


__all__ = ["solve", "solve_many", "list_models", "default_output"]
