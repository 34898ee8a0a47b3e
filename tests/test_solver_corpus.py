"""Every model of the corpus (tests/solver_corpus.py) solved to the optimum of an independently
coded scipy/HiGHS model of the same problem; linear ones proven optimal by HiGHS."""

from __future__ import annotations

import pytest

from tests.solver_corpus import CORPUS
from tests.solver_helpers import digest
from xlbridge.solver import solve

LINEAR = {"transport", "assignment_binary", "diet", "blending_percent_and_formula_rhs", "production_integer_lots",
          "staff_scheduling", "lookup_cost_table", "capital_budgeting_table", "sports_draft",
          "knapsack_defined_name_rhs", "shortest_path_flow", "all_different_order", "minimax_abs",
          "offset_choose_static_positions", "constant_objective"}


NONCONVEX = {"factorisation_course"}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_model_reaches_the_reference_optimum(name, tmp_path):
    path, want = CORPUS[name](tmp_path)
    before = digest(path)
    res = solve(path)
    assert digest(path) == before                         # the input is never modified
    assert res.success, res.message
    assert res.outcome in ("optimal", "local optimum")
    if name in NONCONVEX:                                   # a local optimum at least as good as scipy's
        assert res.fun <= want + 1e-6, res.message
    else:
        assert res.fun == pytest.approx(want, rel=1e-6, abs=1e-6), res.message
    assert res.linear == (name in LINEAR)
    if name in LINEAR:
        assert res.proven and res.outcome == "optimal"
    assert res.path.is_file()


def test_corpus_has_at_least_twenty_models():
    assert len(CORPUS) >= 20
