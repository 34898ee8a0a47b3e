"""The methods that stand in for Excel Solver's engines.

    a linear model     -> HiGHS (simplex, or branch and cut), whatever engine the author picked:
                          the optimum is proven, integers and AllDifferent included
    GRG Nonlinear      -> L-BFGS-B (bounds only) or SLSQP (constraints), exact gradients;
                          integers by branch-and-bound over those local solves
    Evolutionary       -> differential_evolution (needs a bound on every changing cell, as Excel)

Each takes a `Problem` (objective to minimise, constraints as g(x) >= 0 and h(x) = 0,
bounds, integrality) and returns a plain dict of x, status, message, nit, nfev, method and
whether optimality is proven. Excel's stopping rules are honoured: solver_itr
(iterations), solver_tim (seconds, a callback raising StopIteration) and solver_cvg
(relative change of the objective over the last five iterations, Excel's own test).

Status codes (result.py words them as Excel does): 0 optimal, 1 iteration or time limit,
2 did not converge, 3 infeasible, 4 unbounded.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from xlbridge.errors import XlbridgeInputError

CONVERGENCE_WINDOW = 5          # Excel: "relative change ... over the last five iterations"
UNBOUNDED = 1e30                # an objective past this, still improving, is Excel's "do not converge"
BNB_NODES = 2000                # branch-and-bound nodes before giving the best integer point found


@dataclass
class Problem:
    """min f(x) subject to ineq(x) >= 0, eq(x) = 0, lb <= x <= ub, x[integrality] integer."""

    x0: np.ndarray
    fg: object                      # x -> (f, gradient), f already signed for minimisation
    lb: np.ndarray
    ub: np.ndarray
    integrality: np.ndarray
    ineq: object = None             # x -> (m,) ;  ineq_jac: x -> (m, n)
    ineq_jac: object = None
    eq: object = None
    eq_jac: object = None
    names: list = field(default_factory=list)   # cell names, for messages
    where: str = ""                  # 'file: sheet', for messages
    dif_rows: tuple | None = None    # (D, d): AllDifferent's assignment rows, D v = d

    @property
    def has_constraints(self):
        return self.ineq is not None or self.eq is not None

    def f(self, x):
        return self.fg(x)[0]


class _Stopper:
    """Callback applying Excel's stopping rules; remembers why it stopped the run."""

    def __init__(self, max_time, convergence, f_of=None):
        self.t0 = time.perf_counter()
        self.max_time, self.cvg = max_time, convergence
        self.history: list[float] = []
        self.reason = None
        self.f_of = f_of

    def __call__(self, intermediate_result):
        f = float(intermediate_result.fun) if "fun" in intermediate_result else self.f_of(intermediate_result.x)
        self.history.append(f)
        if f < -UNBOUNDED or not np.isfinite(f):
            self.reason = "unbounded"
            raise StopIteration
        if self.max_time is not None and time.perf_counter() - self.t0 > self.max_time:
            self.reason = "time"
            raise StopIteration
        h = self.history
        if self.cvg and len(h) > CONVERGENCE_WINDOW:
            old, new = h[-CONVERGENCE_WINDOW - 1], h[-1]
            if abs(old - new) <= self.cvg * max(abs(new), 1e-12):
                self.reason = "converged"
                raise StopIteration


def _finish(res, stopper, method, limit_hit=False, p=None, precision=1e-6):
    if stopper.reason == "unbounded" or (np.isfinite(res.fun) and res.fun < -UNBOUNDED) or not np.isfinite(res.fun):
        status, msg = 4, "The objective does not converge: it improves without bound."
    elif stopper.reason == "converged":
        status, msg = 0, f"Converged: relative change of the objective over {CONVERGENCE_WINDOW} iterations <= solver_cvg ({stopper.cvg:g})."
    elif stopper.reason == "time":
        status, msg = 1, f"Stopped at the time limit ({stopper.max_time:g} s) before converging."
    elif res.success:
        status, msg = 0, f"Converged ({res.message})."
    elif limit_hit or res.status == 1 or "ITERATIONS" in str(res.message).upper():
        status, msg = 1, f"Stopped at the iteration limit before converging ({res.message})."
    elif p is not None and first_order_optimal(p, np.asarray(res.x, float), precision):
        status, msg = 0, f"Converged: the first-order optimality conditions hold ({res.message})."
    else:
        status, msg = 2, f"Did not converge: {res.message}"
    return dict(x=np.asarray(res.x, float), status=status, message=msg, nit=int(res.get("nit", 0) or 0),
                nfev=int(res.get("nfev", 0) or 0), method=method, proven=False)


def first_order_optimal(p, x, precision=1e-6, tol=1e-6) -> bool:
    """Whether x is feasible and a local optimum by the KKT conditions: the gradient is a
    non-negative combination of the active constraints' gradients (a start that is already
    optimal is optimal, whatever the line search said)."""
    if _violation(p, x) > precision:
        return False
    f, g = p.fg(x)
    rows = []
    act = 1e-7 * (1 + np.abs(x))
    for i in np.flatnonzero(x - p.lb <= act):
        e = np.zeros_like(x)
        e[i] = 1.0
        rows.append(e)                              # x_i >= lb: gradient +e_i
    for i in np.flatnonzero(p.ub - x <= act):
        e = np.zeros_like(x)
        e[i] = -1.0
        rows.append(e)
    if p.ineq is not None:
        gi, J = p.ineq(x), p.ineq_jac(x)
        rows += [J[j] for j in np.flatnonzero(np.abs(gi) <= 1e-7 * (1 + np.abs(gi)))]
    eq_rows = list(p.eq_jac(x)) if p.eq is not None else []
    A = np.array(rows + eq_rows + [-r for r in eq_rows]).T if rows or eq_rows else np.zeros((len(x), 0))
    if A.shape[1] == 0:
        return float(np.linalg.norm(g)) <= tol * (1 + abs(f))
    from scipy.optimize import nnls
    _, resid = nnls(A, g)
    return resid <= tol * (1 + float(np.linalg.norm(g)) + abs(f))


def run_grg(p: Problem, max_iter=None, max_time=None, convergence=1e-4, precision=1e-6):
    """GRG Nonlinear: a quasi-Newton method with the exact gradient (continuous: integers are
    branch_and_bound's job)."""
    from scipy.optimize import Bounds, minimize
    bounds = Bounds(p.lb, p.ub) if np.isfinite(p.lb).any() or np.isfinite(p.ub).any() else None
    stopper = _Stopper(max_time, convergence)
    x0 = np.clip(p.x0, p.lb, p.ub)
    if not p.has_constraints:
        method = "L-BFGS-B"
        opts = dict(maxiter=max_iter or 100_000, maxfun=10 * (max_iter or 100_000), ftol=1e-15, gtol=1e-12)
        res = minimize(p.fg, x0, jac=True, method=method, bounds=bounds, callback=stopper, options=opts)
    else:
        method = "SLSQP"
        cons = []
        if p.ineq is not None:
            cons.append(dict(type="ineq", fun=p.ineq, jac=p.ineq_jac))
        if p.eq is not None:
            cons.append(dict(type="eq", fun=p.eq, jac=p.eq_jac))
        opts = dict(maxiter=max_iter or 10_000, ftol=1e-10)
        res = minimize(p.fg, x0, jac=True, method=method, bounds=bounds, constraints=cons,
                       callback=stopper, options=opts)
        if stopper.reason == "converged" and _violation(p, res.x) > precision:
            stopper.reason = None      # Excel's rule stops only at a feasible point: carry on
            res = minimize(p.fg, res.x, jac=True, method=method, bounds=bounds, constraints=cons, options=opts)
    return _finish(res, stopper, method, p=p, precision=precision)


def _violation(p: Problem, x) -> float:
    v = [0.0]
    if p.ineq is not None:
        v.append(float(np.max(-np.minimum(p.ineq(x), 0), initial=0)))
    if p.eq is not None:
        v.append(float(np.max(np.abs(p.eq(x)), initial=0)))
    v.append(float(np.max(np.maximum(p.lb - x, 0), initial=0)))
    v.append(float(np.max(np.maximum(x - p.ub, 0), initial=0)))
    return max(v)


def run_linear(p: Problem, lin, max_iter=None, max_time=None):
    """A linear model on HiGHS (the solver behind scipy's milp/linprog, called through its own
    small binding: importing scipy.optimize alone costs more than a small model's whole solve).
    `lin` = (c, A_ub, b_ub, A_eq, b_eq) read exactly off the formulas. With integers, HiGHS's
    branch and cut, optimality proven to a relative gap of 1e-9."""
    import highspy

    c, A_ub, b_ub, A_eq, b_eq = lin
    A, lo, hi = _rows(len(c), A_ub, b_ub, A_eq, b_eq)
    mip = bool(p.integrality.any())
    h = _quiet_highs()
    if max_time is not None:
        h.setOptionValue("time_limit", float(max_time))
    if max_iter is not None:
        h.setOptionValue("simplex_iteration_limit", int(max_iter))
    if mip:
        h.setOptionValue("mip_rel_gap", 1e-9)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(c), len(lo)
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, p.lb, p.ub
    lp.row_lower_, lp.row_upper_ = lo, hi
    rows, cols = np.nonzero(A)                      # row by row, as HiGHS's row-wise format wants
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.r_[0, np.cumsum(np.bincount(rows, minlength=len(lo)))].astype(np.int32)
    lp.a_matrix_.index_ = cols.astype(np.int32)
    lp.a_matrix_.value_ = A[rows, cols]
    if mip:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in p.integrality]
    h.passModel(lp)
    h.run()
    model_status = h.getModelStatus()
    S = highspy.HighsModelStatus
    if model_status == S.kUnboundedOrInfeasible:    # presolve could not tell: ask again without it
        h.setOptionValue("presolve", "off")
        h.run()
        model_status = h.getModelStatus()
        if model_status == S.kUnboundedOrInfeasible:   # a model with a feasible point is unbounded
            h.changeColsCost(len(c), np.arange(len(c), dtype=np.int32), np.zeros(len(c)))
            h.run()
            model_status = S.kUnbounded if h.getModelStatus() == S.kOptimal else S.kInfeasible
    status = {S.kOptimal: 0, S.kTimeLimit: 1, S.kIterationLimit: 1, S.kSolutionLimit: 1, S.kInterrupt: 1,
              S.kInfeasible: 3, S.kUnbounded: 4}.get(model_status, 2)
    info = h.getInfo()
    found = info.primal_solution_status == highspy.kSolutionStatusFeasible
    msg = {0: "Solver found an optimal solution (HiGHS proved it).",
           1: f"Stopped at the iteration or time limit ({h.modelStatusToString(model_status)}).",
           3: "Solver could not find a feasible solution: the constraints cannot all hold (HiGHS).",
           4: "The objective does not converge: the model is unbounded (HiGHS).",
           2: f"Did not converge: {h.modelStatusToString(model_status)} (HiGHS)."}[status]
    x = np.array(h.getSolution().col_value, float) if found and status in (0, 1) else p.x0
    method = "HiGHS branch and cut" if mip else "HiGHS simplex"
    return dict(x=x, status=status, message=msg, nit=int(max(info.simplex_iteration_count, 0)), nfev=0,
                method=method, proven=status == 0)


def _rows(n, A_ub, b_ub, A_eq, b_eq):
    """The constraints as one matrix with row bounds: lo <= A x <= hi."""
    parts = [(np.zeros((0, n)), np.zeros(0), np.zeros(0))]
    if A_ub is not None:
        parts.append((A_ub, np.full(len(b_ub), -np.inf), b_ub))
    if A_eq is not None:
        parts.append((A_eq, b_eq, b_eq))
    A, lo, hi = zip(*parts)
    return np.vstack(A).astype(float), np.concatenate(lo).astype(float), np.concatenate(hi).astype(float)


def _quiet_highs():
    """A silent HiGHS. highspy.Highs() prints HiGHS's banner to file descriptor 1 while it is
    made, before any option can turn logging off (HiGHS issue #2749): our stdout is a report a
    script may read, so the banner goes to /dev/null."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


def branch_and_bound(p: Problem, relax, max_time=None, precision=1e-6):
    """Integer changing cells in a nonlinear model: depth-first branch-and-bound, each node a
    continuous local solve (`relax(problem)` -> result dict) with tightened bounds. The best
    integer point is exact for convex models; for others it is the best local one found."""
    t0 = time.perf_counter()
    ints = np.flatnonzero(p.integrality)
    best, best_f, nodes, nit = None, np.inf, 0, 0
    stack = [(p.lb.copy(), p.ub.copy())]
    limit_hit = False
    while stack:
        lb, ub = stack.pop()
        nodes += 1
        if nodes > BNB_NODES or (max_time is not None and time.perf_counter() - t0 > max_time):
            limit_hit = True
            break
        sub = Problem(x0=np.clip(np.where(p.integrality, np.round(p.x0), p.x0), lb, ub), fg=p.fg, lb=lb, ub=ub,
                      integrality=np.zeros_like(p.integrality), ineq=p.ineq, ineq_jac=p.ineq_jac, eq=p.eq,
                      eq_jac=p.eq_jac, names=p.names, where=p.where)
        r = relax(sub)
        nit += r["nit"]
        if r["status"] == 4:
            return dict(r, method=f"branch-and-bound over {r['method']}", proven=False)
        x = r["x"]
        if r["status"] not in (0, 1) or _violation(sub, x) > precision:
            continue                                  # this branch has no feasible point
        f = p.f(x)
        if f >= best_f - 1e-12 * max(1.0, abs(best_f)):
            continue                                  # cannot beat the best integer point
        frac = np.abs(x[ints] - np.round(x[ints]))
        if frac.max(initial=0.0) <= 1e-6:
            xi = x.copy()
            xi[ints] = np.round(x[ints])
            if _violation(p, xi) <= precision:
                best, best_f = xi, p.f(xi)
            continue
        j = ints[int(np.argmax(frac))]                # branch on the most fractional cell
        lo_ub, hi_lb = ub.copy(), lb.copy()
        lo_ub[j], hi_lb[j] = np.floor(x[j]), np.ceil(x[j])
        near_up = x[j] - np.floor(x[j]) > 0.5         # explore the nearer side first
        stack += [(lb, lo_ub), (hi_lb, ub)] if near_up else [(hi_lb, ub), (lb, lo_ub)]
    method = f"branch-and-bound over local solves ({nodes} nodes)"
    if best is None:
        status = 1 if limit_hit else 3
        msg = ("Stopped at the branch-and-bound limit before finding an integer solution." if limit_hit else
               "Solver could not find a feasible integer solution.")
        return dict(x=p.x0, status=status, message=msg, nit=nit, nfev=0, method=method, proven=False)
    msg = ("Solver found an integer solution" + (" (the branch-and-bound limit was reached first)" if limit_hit
                                                 else "") + "; optimal among local solutions, not proven global.")
    return dict(x=best, status=0, message=msg, nit=nit, nfev=0, method=method, proven=False)


def run_evolutionary(p: Problem, max_iter=None, max_time=None, convergence=1e-4, population=None, seed=None):
    """Evolutionary: differential evolution inside the bounds, polished by a local method."""
    from scipy.optimize import Bounds, NonlinearConstraint, differential_evolution
    bad = [p.names[i] for i in np.flatnonzero(~(np.isfinite(p.lb) & np.isfinite(p.ub)))]
    if bad:
        shown = ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise XlbridgeInputError(f"{p.where}: the Evolutionary engine needs lower and upper bounds on every "
                                 f"changing cell (add constraints); {len(bad)} have none: {shown}")
    n = len(p.x0)
    cons = []
    if p.ineq is not None:
        cons.append(NonlinearConstraint(p.ineq, 0, np.inf, jac=p.ineq_jac))
    if p.eq is not None:
        cons.append(NonlinearConstraint(p.eq, 0, 0, jac=p.eq_jac))
    popsize = max(5, int(np.ceil(population / n))) if population else 15
    stopper = _Stopper(max_time, None)
    res = differential_evolution(
        p.f, Bounds(p.lb, p.ub), constraints=cons or (), integrality=p.integrality if p.integrality.any() else None,
        maxiter=max_iter or 1000, popsize=popsize, tol=convergence, seed=0 if seed is None else seed,
        x0=np.clip(p.x0, p.lb, p.ub), callback=stopper, polish=not p.integrality.any())
    return _finish(res, stopper, "differential_evolution", p=None)
