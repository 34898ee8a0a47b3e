"""The Solver mirror: run a workbook's Excel Solver models with scipy, headless, and check them.

    res = solve("collab_filter.xlsx", sheet="dotprod")    # writes collab_filter.solved.xlsx
    res.success, res.outcome, res.fun_start, res.fun      # (True, 'local optimum', 2.806..., 0.3929...)
    res.x_by_name["user_factors"]                         # the solved block, by defined name

The formulas are read, evaluated and compiled by xlbridge.calc. Modules, in reading order:
model (the solver_* names), engines (HiGHS, local solvers, branch-and-bound, evolutionary),
result (SolveResult), solving (all of it together), command (`xlbridge solve`).
"""

from xlbridge.solver.model import Constraint, SolverModel, read_models
from xlbridge.solver.result import SolveResult
from xlbridge.solver.solving import default_output, list_models, solve, solve_many

__all__ = ["solve", "solve_many", "list_models", "read_models", "default_output",
           "SolveResult", "SolverModel", "Constraint"]
