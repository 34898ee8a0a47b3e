"""UDF calls that would eat the machine or return NaN: every cap is an error that names the cap,
every non-finite result is Excel's #NUM! error, never a silent NaN or infinity.

Called as plain functions and, for a few, as Excel calls them through xlwings Server
(tests/test_udfs.py's driver), where the text "#NUM!" becomes a cell error of type Num.
Expected numbers are worked out here in NumPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from hostile_corpus import char_checkpoint, write_model
from test_udfs import _SERVER_DRIVER, adam_update, excel, np_line_steps
from conftest import REPO
from xlbridge import udfs
from xlbridge.errors import XlbridgeInputError

NUM = "#NUM!"


def block(rows, cols, value=0.5):
    return np.full((rows, cols), value).tolist()


CAPPED = {
    "two 1000x1000 blocks": (lambda: udfs.XLB_PREDICT(block(1000, 1000), block(1000, 1000)),
                             r"^XLB_PREDICT's U x M x K \(1000 x 1000 x 1000\) must be at most 10,000,000 products; "
                             r"got 1000000000$"),
    "an outer product of 10^10 cells": (lambda: udfs.XLB_PREDICT(block(100_000, 1), block(1, 100_000)),
                                        r"^XLB_PREDICT's output \(U x M = 100000 x 100000\) must be at most 1,000,000 "
                                        r"cells; got 10000000000$"),
    "a grid of 4 million": (lambda: udfs.XLB_PREDICT(block(2000, 1), block(1, 2000)), "at most 1,000,000 cells"),
    "a block over a million cells": (lambda: udfs.XLB_PREDICT(block(1001, 1000), block(1000, 2)),
                                     r"^user_factors \(1001x1000\) must be at most 1,000,000 cells; got 1001000$"),
    "fit on a million ratings": (lambda: udfs.XLB_FIT(block(1000, 1000, 3.0), 5),
                                 r"XLB_FIT's rated cells x n_factors x epochs \(1000000 x 5 x 200\) must be at most "
                                 r"10,000,000 products"),
    "fit for 20,000 epochs": (lambda: udfs.XLB_FIT(block(3, 3, 3.0), 2, 20_000), r"epochs must be an integer in \[1, 5000\]"),
    "a million points": (lambda: udfs.XLB_ADAM_STEPS(np.arange(1e6).tolist(), np.arange(1e6).tolist(), 1, 1),
                         r"^adam's epochs x points \(1 x 1000000\) must be at most 50,000 steps; got 1000000$"),
    "epochs x points": (lambda: udfs.XLB_OPTIM_STEPS([1.0, 2.0], [3.0, 4.0], "sgd", 1, 1, 30_000),
                        r"sgd's epochs x points \(30000 x 2\) must be at most 50,000 steps"),
    "lr infinite": (lambda: udfs.XLB_FIT(block(3, 3, 3.0), 2, 10, float("inf")), r"^lr must be a number > 0; got inf$"),
    "lr infinite (Adam steps)": (lambda: udfs.XLB_ADAM_STEPS([1.0], [2.0], 1, 1, float("inf")),
                                 r"the 'lr' parameter of adam must be a number >= 0; got inf"),
    "a NaN in a block": (lambda: udfs.XLB_PREDICT([[1.0, float("nan")]], [[1.0], [2.0]]),
                         r"user_factors: row 1, column 2: expected a finite number, got nan"),
    "an integer past float64": (lambda: udfs.XLB_PREDICT([[10**400]], [[1.0]]),
                                r"user_factors: row 1, column 1: expected a finite number, got 1000000"),
    "a number as text": (lambda: udfs.XLB_RMSE([["1.5"]], [[1.0]]), r"ratings: row 1, column 1: expected a number, got '1.5'"),
    "a 5 MB text in a block": (lambda: udfs.XLB_RMSE([["x" * 5_000_000]], [[1.0]]), r"got 'xxxxxxxxxx.*\.\.\.$"),
    "a block of lists": (lambda: udfs.XLB_RMSE([[1.0, 2.0], [3.0]], [[1.0]]), r"expected a number, got \[1.0, 2.0\]"),
    "a 5,000-character model path": (lambda: udfs.XLB_NEXT_CHARS("/m" * 2_500, "abcd"), r"no such model file$"),
}


@pytest.mark.parametrize("name", CAPPED)
def test_caps_and_bad_input_are_one_short_error(name):
    call, message = CAPPED[name]
    with pytest.raises(XlbridgeInputError, match=message) as e:
        call()
    assert len(str(e.value)) < 200 and "\n" not in str(e.value)


def _num_where_not_finite(got, want):
    """`got` is NUM where `want` is NaN or infinite, and equal to it everywhere else."""
    got, want = np.asarray(got, dtype=object), np.asarray(want, dtype=float)
    assert got.shape == want.shape
    bad = ~np.isfinite(want)
    assert bad.any() and (~bad).any(), "the case must mix finite and non-finite results"
    assert all(v == NUM for v in got[bad])
    np.testing.assert_allclose(got[~bad].astype(float), want[~bad], rtol=1e-12, atol=0)


def test_huge_factors_give_num_where_the_product_overflows():
    uf, mf = np.array([[1e200, 1.0], [1.0, 1.0]]), np.array([[1e200, 1.0], [1.0, 2.0]])
    with np.errstate(over="ignore"):
        want = uf @ mf
    _num_where_not_finite(udfs.XLB_PREDICT(uf.tolist(), mf.tolist()), want)
    assert udfs.XLB_RMSE([[1.0, 2.0]], [[1e200, 2.0]]) == NUM
    assert isinstance(udfs.XLB_RMSE([[1.0, 2.0]], [[1.5, 2.0]]), float)


def test_an_enormous_learning_rate_gives_num_from_the_step_that_overflows():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.5])
    with np.errstate(over="ignore", invalid="ignore"):
        want = np_line_steps(x, y, 1.0, 1.0, 200, lambda t, g: 1e300 * g)   # plain SGD, lr 1e300
    got = udfs.XLB_OPTIM_STEPS(x.tolist(), y.tolist(), "sgd", 1, 1, 200, [["lr"]], [[1e300]])
    _num_where_not_finite(got, want)
    got = udfs.XLB_ADAM_STEPS(x.tolist(), y.tolist(), 1, 1, 1e300, 0.9, 0.999, 1e-8, 3)
    with np.errstate(over="ignore", invalid="ignore"):
        want = np_line_steps(x, y, 1.0, 1.0, 3, adam_update(1e300, 0.9, 0.999, 1e-8))
    assert np.asarray(got).shape == want.shape
    assert all((g == NUM) == (not np.isfinite(w)) for g, w in zip(np.ravel(got), np.ravel(want)))


def test_fit_that_diverges_gives_num_not_nan():
    got = udfs.XLB_FIT([[1.0, 5.0], [4.0, None]], 2, 30, 1e300)
    assert isinstance(got, np.ndarray) and all(v == NUM or np.isfinite(v) for v in np.ravel(got))
    assert any(v == NUM for v in np.ravel(got))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A model too big to answer a cell in time, and one whose output overflows float32."""
    from xlbridge.models.char_rnn import CharModelConfig, build_model

    tmp = tmp_path_factory.mktemp("udf_models")
    base = char_checkpoint()
    big = build_model(CharModelConfig("seq", 29, 4, 1024, 1024))
    slow = {**base, "config": {**base["config"], "n_hidden": 1024},
            "state_dict": {k: v.detach() for k, v in big.state_dict().items()}, "meta": {**base["meta"], "context": 1024}}
    overflow = {**base, "state_dict": {**base["state_dict"], "l_out.weight": torch.full_like(base["state_dict"]["l_out.weight"], 3e38)}}
    return {name: write_model(tmp / f"{name}.pt", lambda b: b, ckpt) for name, ckpt in
            (("slow", slow), ("overflow", overflow), ("good", base))}


def test_next_chars_caps_the_work_and_refuses_an_overflowing_model(models):
    with pytest.raises(XlbridgeInputError, match=r"XLB_NEXT_CHARS' n x context x weights \(10 x 1024 x 1,[0-9,]+\) "
                                                 r"must be at most 10,000,000,000 multiply-adds"):
        udfs.XLB_NEXT_CHARS(str(models["slow"]), "the cat " * 128, 10)
    with pytest.raises(XlbridgeInputError, match="its output is NaN or infinite"):
        udfs.XLB_NEXT_CHARS(str(models["overflow"]), "the cat", 3)
    for t in (float("inf"), 1e-320, float("nan")):
        with pytest.raises(XlbridgeInputError, match=r"temperature must be 0 or a number in \[1e-06, 1e\+06\]"):
            udfs.XLB_NEXT_CHARS(str(models["good"]), "the cat", 3, t)
    assert len(udfs.XLB_NEXT_CHARS(str(models["good"]), "the cat", 3, 0.5)) == 3


def test_as_excel_calls_them(models):
    """Through xlwings Server: #NUM! arrives as a cell error of type Num, a cap as an error."""
    calls = [
        ("XLB_PREDICT", [excel([[1e200, 1.0]]), excel([[1e200], [1.0]])]),
        ("XLB_PREDICT", [excel([[1e200, 1.0], [1.0, 1.0]]), excel([[1e200, 1.0], [1.0, 2.0]])]),
        ("XLB_RMSE", [excel([[1.0, 2.0]]), excel([[1e200, 2.0]])]),
        ("XLB_OPTIM_STEPS", [excel([[1.0], [2.0]]), excel([[3.0], [4.0]]), excel("sgd"), excel(1), excel(1),
                             excel(30_000)]),
        ("XLB_NEXT_CHARS", [excel(str(models["good"])), excel("the cat"), excel(2), excel(float("inf"))]),
    ]
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _SERVER_DRIVER], input=json.dumps(calls), env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])["results"]
    num = {"type": "Error", "errorType": "Num"}
    assert results[0] == {"value": [[num]]}
    with np.errstate(over="ignore"):
        want = np.array([[1e200, 1.0], [1.0, 1.0]]) @ np.array([[1e200, 1.0], [1.0, 2.0]])   # [[inf, 1e200], [1e200, 3]]
    assert results[1]["value"][0][0] == num
    np.testing.assert_allclose(np.array(results[1]["value"], dtype=object)[[0, 1, 1], [1, 0, 1]].astype(float),
                               want[[0, 1, 1], [1, 0, 1]], rtol=1e-12)
    assert results[2] == {"value": [[num]]}
    assert "must be at most 50,000 steps" in results[3]["error"]
    assert "temperature must be 0 or a number" in results[4]["error"]
