"""xlbridge/params.py: one validator, one wording, for every parameter a person hands over."""

from __future__ import annotations

import math

import pytest

from xlbridge.builders.collab import CollabConfig
from xlbridge.builders.graddesc import GraddescConfig, check_config
from xlbridge.errors import XlbridgeInputError
from xlbridge.params import Interval, OneOf, check, check_all, check_hparams


@pytest.mark.parametrize("rule, value, want", [
    (Interval(int, 1, 50), 7, 7),
    (Interval(int, 1, 50), 7.0, 7),          # Excel sends every number as a float
    (Interval(float, 0, None, "neither"), 3, 3.0),
    (Interval(float, 0, 1, "left"), 0.0, 0.0),
    (OneOf(("sgd", "adam")), "ADAM", "adam"),
])
def test_values_that_hold_come_back_converted(rule, value, want):
    got = check(value, rule, "x")
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("rule, value, message", [
    (Interval(int, 1, 50), 0, "n must be an integer in [1, 50]; got 0"),
    (Interval(int, 1, 50), 7.5, "n must be an integer in [1, 50]; got 7.5"),
    (Interval(int, 1, 50), True, "n must be an integer in [1, 50]; got True"),
    (Interval(int, 1), "3", "n must be an integer >= 1; got '3'"),
    (Interval(float, 0, None, "neither"), 0, "n must be a number > 0; got 0"),
    (Interval(float, 0, 1, "left"), 1.0, "n must be a number in [0, 1); got 1.0"),
    (Interval(float), math.inf, "n must be a number; got inf"),
    (Interval(float), math.nan, "n must be a number; got nan"),
    (Interval(float), None, "n must be a number; got None"),
    (OneOf(("sgd", "adam")), "nadam", "n must be one of 'sgd', 'adam'; got 'nadam'"),
])
def test_one_wording_for_every_broken_rule(rule, value, message):
    with pytest.raises(XlbridgeInputError) as e:
        check(value, rule, "n")
    assert str(e.value) == message


def test_owner_long_values_and_unknown_names():
    with pytest.raises(XlbridgeInputError, match=r"^the 'lr' parameter of fit must be a number > 0; got -1$"):
        check(-1, Interval(float, 0, None, "neither"), "lr", "fit")
    with pytest.raises(XlbridgeInputError) as e:
        check("x" * 5000, Interval(float), "lr")
    assert len(str(e.value)) < 120 and "..." in str(e.value)       # a bad field is quoted, not echoed
    with pytest.raises(XlbridgeInputError, match="unknown parameter 'betas' \\(known: lr, eps\\)"):
        check_all({"betas": 0.9}, {"lr": Interval(float), "eps": Interval(float)}, "adam")


@pytest.mark.parametrize("optimizer, hp, fragment", [
    ("sgd", {"lr": -0.1}, "the 'lr' parameter of sgd must be a number >= 0; got -0.1"),
    ("adam", {"beta1": 1.0}, "the 'beta1' parameter of adam must be a number in [0, 1); got 1.0"),
    ("adamw", {"eps": 0.0}, "the 'eps' parameter of adamw must be a number > 0; got 0.0"),
    ("momentum", {"momentum": 1.0}, "the 'momentum' parameter of momentum must be a number in [0, 1)"),
    ("adam", {"lr": "fast"}, "the 'lr' parameter of adam must be a number >= 0; got 'fast'"),
    ("adam", {"lr": float("nan")}, "got nan"),
    ("adam", {"betas": 0.9}, "adam: unknown parameter 'betas'"),
    ("adam_onecycle", {"pct_start": 1.0}, "the 'pct_start' parameter of adam_onecycle must be a number in (0, 1)"),
    ("nadam", {}, "optimizer must be one of 'sgd', 'momentum'"),
])
def test_bad_hyperparameters(optimizer, hp, fragment):
    with pytest.raises(XlbridgeInputError) as e:
        check_hparams(optimizer, hp)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_onecycle_needs_a_warm_up_step():
    # pct_start * total_steps - 1 must land strictly inside the run: 0.05 * 12 - 1 < 0
    with pytest.raises(XlbridgeInputError, match="end of warm-up"):
        check_hparams("adam_onecycle", {"pct_start": 0.05}, total_steps=12)
    assert check_hparams("adam_onecycle", {"pct_start": 0.05}, total_steps=300)["pct_start"] == 0.05


@pytest.mark.parametrize("kwargs, fragment", [
    ({"n_points": 1}, "n_points must be an integer in [2, 1000]; got 1"),
    ({"noise": -1.0}, "noise must be a number >= 0; got -1.0"),
    ({"x_max": 0}, "x_max must be an integer in [1, 1e+09]; got 0"),
    ({"seed": -3}, "seed must be an integer in [0, "),
    ({"epochs": 0}, "epochs must be an integer >= 1; got 0"),
    ({"epochs": 1000}, "epochs must be an integer in [1, 666]; got 1000"),
    ({"a_init": float("inf")}, "a_init must be a number; got inf"),
])
def test_graddesc_config_rules(kwargs, fragment):
    with pytest.raises(XlbridgeInputError) as e:
        check_config(GraddescConfig(**kwargs))
    assert fragment in str(e.value)


def test_collab_config_rules():
    with pytest.raises(XlbridgeInputError, match=r"n_factors must be an integer in \[1, 50\]; got 0"):
        CollabConfig(n_factors=0).validate()
    with pytest.raises(XlbridgeInputError, match="y_low < y_high"):
        CollabConfig(y_low=3, y_high=1).validate()
