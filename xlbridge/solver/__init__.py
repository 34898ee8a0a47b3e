"""The Solver mirror: run a workbook's Excel Solver model with scipy, headless, and check it.

    res = solve("collab_filter.xlsx", sheet="dotprod")    # writes collab_filter.solved.xlsx
    res.success, res.fun_start, res.fun                   # (True, 2.806..., 0.3929...)
    res.x_by_name["user_factors"]                         # the solved block, by defined name

Modules, in reading order: xlsxsafe (reading untrusted files), formula (parse and
interpret formulas), compile (formulas -> torch, exact gradients), fastpath (collab sheets,
analytic gradient), model (the solver_* names), engines (scipy), result (SolveResult),
write (the solved copy), solving (all of it together), command (`xlbridge solve`).
"""

from xlbridge.solver.model import Constraint, SolverModel, read_models
from xlbridge.solver.result import SolveResult
from xlbridge.solver.solving import default_output, list_models, solve, solve_many

__all__ = ["solve", "solve_many", "list_models", "read_models", "default_output",
           "SolveResult", "SolverModel", "Constraint"]
