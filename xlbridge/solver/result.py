"""`SolveResult`: what a solve returns, modelled on scipy's `OptimizeResult`.

A dict with attribute access, so `res.fun` and `res["fun"]` both work and `keys()` shows
what was filled in. Not converging is a result (`success=False` with a reason), not an
exception: exceptions are kept for bad input.

Fields:
    sheet        the sheet whose Solver model was solved
    x            (n,) the changing cells' values at the solution, in solver_adj order
    x_by_name    {range text or defined name: 2-D array} the same values, by block
    fun          the objective at the solution (as the workbook computes it)
    fun_start    the objective at the stored starting values
    success      True when the method converged and the constraints hold (to solver_pre)
    status       0 solved, 1 iteration or time limit, 2 did not converge, 3 infeasible,
                 4 unbounded, 5 not solved: bad input (the message says why)
    outcome      the status as Excel words it: 'optimal', 'local optimum', 'iteration limit',
                 'not converged', 'infeasible', 'unbounded', 'not solved'
    proven       whether optimality is proven (HiGHS on a linear model), not only local
    message      a sentence saying which
    nit, nfev    iterations and objective evaluations
    method       the scipy method used, e.g. 'L-BFGS-B'
    engine       the Excel Solver engine it stands for, e.g. 'GRG Nonlinear'
    path         where the solved workbook was written (None if not written)
    time         seconds spent solving (not reading or writing)
    linear       whether the model is linear (read from its formulas' structure)
    maxcv        the largest constraint violation at the solution
"""

from __future__ import annotations

# Excel's own closing sentences, by status.
EXCEL_WORDS = {
    "optimal": "Solver found a solution. All Constraints and optimality conditions are satisfied.",
    "local optimum": "Solver has converged to the current solution. All Constraints are satisfied.",
    "iteration limit": "Solver stopped at the maximum iteration or time limit.",
    "not converged": "Solver cannot improve the current solution.",
    "infeasible": "Solver could not find a feasible solution.",
    "unbounded": "The Objective Cell values do not converge.",
    "not solved": "Solver did not run on this model.",
}


def outcome(status: int, proven: bool) -> str:
    return {0: "optimal" if proven else "local optimum", 1: "iteration limit", 2: "not converged",
            3: "infeasible", 4: "unbounded"}.get(status, "not solved")


class SolveResult(dict):
    """The outcome of solving one sheet's Solver model; see the module docstring."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __dir__(self):
        return list(self.keys())

    def __repr__(self):
        # The outcome first, as scipy does: message, success, status, fun, then the rest.
        first = ["message", "success", "status", "outcome", "fun", "fun_start", "sheet", "engine", "method",
                 "proven", "linear", "nit", "nfev", "time", "path"]
        keys = [k for k in first if k in self] + sorted(k for k in self if k not in first)
        width = max(map(len, keys)) + 1
        lines = []
        for k in keys:
            v = self[k]
            if k == "x_by_name":
                v = {name: getattr(a, "shape", a) for name, a in v.items()}
            elif k == "x":
                v = f"array of {len(v)} values" if hasattr(v, "__len__") else v
            lines.append(f"{k.rjust(width)}: {v!r}" if k != "message" else f"{k.rjust(width)}: {v}")
        return "\n".join(lines)
