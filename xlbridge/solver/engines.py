"""Excel Solver's three engines, each run by the scipy method that does the same job.

    GRG Nonlinear  -> L-BFGS-B (bounds only) or SLSQP (constraints), with exact gradients
    Simplex LP     -> linprog(method="highs"), integers via HiGHS's branch and bound
    Evolutionary   -> differential_evolution (needs a bound on every changing cell, as Excel)

Each takes a `Problem` (objective to minimise, constraints as g(x) >= 0 and h(x) = 0,
bounds, integrality) and returns a plain dict of x, status, message, nit, nfev, method.
Excel's stopping rules are honoured: solver_itr (iterations), solver_tim (seconds, a
callback raising StopIteration) and solver_cvg (relative change of the objective over the
last five iterations, Excel's own convergence test).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, NonlinearConstraint, differential_evolution, linprog, minimize

from xlbridge.errors import XlbridgeInputError

CONVERGENCE_WINDOW = 5          # Excel: "relative change ... over the last five iterations"


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
        if self.max_time is not None and time.perf_counter() - self.t0 > self.max_time:
            self.reason = "time"
            raise StopIteration
        h = self.history
        if self.cvg and len(h) > CONVERGENCE_WINDOW:
            old, new = h[-CONVERGENCE_WINDOW - 1], h[-1]
            if abs(old - new) <= self.cvg * max(abs(new), 1e-12):
                self.reason = "converged"
                raise StopIteration


def _finish(res, stopper, method, limit_hit=False):
    if stopper.reason == "converged":
        status, msg = 0, f"Converged: relative change of the objective over {CONVERGENCE_WINDOW} iterations <= solver_cvg ({stopper.cvg:g})."
    elif stopper.reason == "time":
        status, msg = 1, f"Stopped at the time limit ({stopper.max_time:g} s) before converging."
    elif res.success:
        status, msg = 0, f"Converged ({res.message})."
    elif limit_hit or res.status == 1 or "ITERATIONS" in str(res.message).upper():
        status, msg = 1, f"Stopped at the iteration limit before converging ({res.message})."
    else:
        status, msg = 2, f"Did not converge: {res.message}"
    return dict(x=np.asarray(res.x, float), status=status, message=msg, nit=int(res.get("nit", 0) or 0),
                nfev=int(res.get("nfev", 0) or 0), method=method)


def run_grg(p: Problem, max_iter=None, max_time=None, convergence=1e-4, precision=1e-6):
    """GRG Nonlinear: a quasi-Newton method with the exact gradient."""
    if p.integrality.any():
        warnings.warn(f"{p.where}: integer/binary constraints are not honoured by GRG Nonlinear here; "
                      "use Simplex LP or Evolutionary for them", RuntimeWarning, stacklevel=3)
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
    return _finish(res, stopper, method)


def _violation(p: Problem, x) -> float:
    v = [0.0]
    if p.ineq is not None:
        v.append(float(np.max(-np.minimum(p.ineq(x), 0), initial=0)))
    if p.eq is not None:
        v.append(float(np.max(np.abs(p.eq(x)), initial=0)))
    v.append(float(np.max(np.maximum(p.lb - x, 0), initial=0)))
    v.append(float(np.max(np.maximum(x - p.ub, 0), initial=0)))
    return max(v)


def linear_form(fun_jac, x0, lb, ub, where, what, rng):
    """Coefficients (A, b) with fun(x) = A x + b, checked at random points: Excel's
    "linearity conditions are not satisfied" when they do not hold."""
    f0, A = fun_jac(x0)
    f0, A = np.atleast_1d(f0), np.atleast_2d(A)
    b = f0 - A @ x0
    lo = np.where(np.isfinite(lb), lb, x0 - 1 - np.abs(x0))
    hi = np.where(np.isfinite(ub), ub, x0 + 1 + np.abs(x0))
    for _ in range(3):
        x = lo + (hi - lo) * rng.random(len(x0))
        fx, Ax = fun_jac(x)
        fx = np.atleast_1d(fx)
        if not np.allclose(fx, A @ x + b, rtol=1e-9, atol=1e-9) or not np.allclose(np.atleast_2d(Ax), A, rtol=1e-9, atol=1e-12):
            raise XlbridgeInputError(f"{where}: the Simplex LP engine needs a linear model, but {what} "
                                     "is not linear in the changing cells (choose GRG Nonlinear)")
    return A, b


def run_simplex(p: Problem, lin, max_iter=None, max_time=None):
    """Simplex LP: linprog/HiGHS on the coefficients read off the formulas.

    `lin` gives (c, A_ub, b_ub, A_eq, b_eq) already checked to be linear."""
    c, A_ub, b_ub, A_eq, b_eq = lin
    options = {}
    if max_time is not None:
        options["time_limit"] = float(max_time)
    if max_iter is not None:
        options["maxiter"] = int(max_iter)
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                  bounds=list(zip(np.where(np.isfinite(p.lb), p.lb, None), np.where(np.isfinite(p.ub), p.ub, None))),
                  integrality=p.integrality.astype(int) if p.integrality.any() else None,
                  method="highs", options=options)
    status = {0: 0, 1: 1, 2: 3, 3: 2, 4: 2}.get(res.status, 2)
    msg = {0: "Solver found an optimal solution (HiGHS).", 1: f"Stopped at the iteration or time limit ({res.message}).",
           3: "No feasible solution: the constraints cannot all hold (HiGHS).",
           2: f"Did not converge: {res.message}"}[status]
    x = res.x if res.x is not None else p.x0
    return dict(x=np.asarray(x, float), status=status, message=msg, nit=int(res.get("nit", 0) or 0), nfev=0,
                method="linprog(highs)")


def run_evolutionary(p: Problem, max_iter=None, max_time=None, convergence=1e-4, population=None, seed=None):
    """Evolutionary: differential evolution inside the bounds, polished by a local method."""
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
    return _finish(res, stopper, "differential_evolution")
