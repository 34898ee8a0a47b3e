"""xlbridge/udfs.py: the spreadsheet functions, called from Python and as Excel calls them.

Every expected value is computed here in NumPy from the equations (the dot product, the
RMSE, Adam's update, an RNN step), never by the code under test. Three ways in:
plain Python calls; xlwings Server's own metadata and call path in a subprocess (the
environment must be set before xlwings is imported), with arguments shaped as Excel sends
them; and the blocks of a collab workbook recalculated by LibreOffice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from xlbridge.models import char_rnn
from xlbridge.models.collab import DotProductBias
from xlbridge import text as textlib
from xlbridge import udfs
from xlbridge.errors import XlbridgeInputError
from xlbridge.text_training import save_char_model

from conftest import REPO

TOL = 1e-9
UDF_NAMES = ["XLB_ADAM_STEPS", "XLB_FIT", "XLB_NEXT_CHARS", "XLB_OPTIM_STEPS", "XLB_PREDICT", "XLB_RMSE"]


# ---------------------------------------------------------------------------------------------
# The equations, in NumPy


def np_predict(uf, mf_sheet, ub=None, mb=None, y_range=None):
    """uf (U, K) . mf_sheet (K, M) + biases, squashed into y_range: (U, M)."""
    res = uf @ mf_sheet
    if ub is not None:
        res = res + np.ravel(ub)[:, None] + np.ravel(mb)[None, :]
    if y_range is not None:
        lo, hi = y_range
        res = lo + (hi - lo) / (1 + np.exp(-res))
    return res


def np_rmse(ratings, predictions):
    rated = ~np.isnan(ratings)
    return np.sqrt(np.mean((predictions[rated] - ratings[rated]) ** 2))


def np_fit(ratings, K, epochs, lr, seed, y_range=None):
    """Full-batch Adam on the MSE of DotProductBias, gradients worked out by hand.

    The start values are the model's own seeded nn.Embedding weights (the one thing taken
    from torch: a random draw cannot be rederived); everything after is NumPy.
    """
    U, M = ratings.shape
    torch.manual_seed(seed)
    start = DotProductBias(U, M, K).double()
    p = {n: w.detach().numpy().copy() for n, w in
         [("uf", start.user_factors.weight), ("mf", start.movie_factors.weight),
          ("ub", start.user_bias.weight[:, 0]), ("mb", start.movie_bias.weight[:, 0])]}
    u, m = np.nonzero(~np.isnan(ratings))
    r, N = ratings[u, m], len(u)
    m1 = {k: np.zeros_like(v) for k, v in p.items()}
    m2 = {k: np.zeros_like(v) for k, v in p.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    history = []
    for t in range(1, epochs + 1):
        res = (p["uf"][u] * p["mf"][m]).sum(1) + p["ub"][u] + p["mb"][m]
        if y_range is None:
            pred, dres = res, 1.0
        else:
            lo, hi = y_range
            s = 1 / (1 + np.exp(-res))
            pred, dres = lo + (hi - lo) * s, (hi - lo) * s * (1 - s)
        history.append(np.sqrt(np.mean((pred - r) ** 2)))
        g_res = 2 * (pred - r) / N * dres                       # d mean((pred - r)^2) / d res
        g = {k: np.zeros_like(v) for k, v in p.items()}
        np.add.at(g["uf"], u, g_res[:, None] * p["mf"][m])
        np.add.at(g["mf"], m, g_res[:, None] * p["uf"][u])
        np.add.at(g["ub"], u, g_res)
        np.add.at(g["mb"], m, g_res)
        for k in p:
            m1[k] = beta1 * m1[k] + (1 - beta1) * g[k]
            m2[k] = beta2 * m2[k] + (1 - beta2) * g[k] ** 2
            m_hat = m1[k] / (1 - beta1 ** t)
            v_hat = m2[k] / (1 - beta2 ** t)
            p[k] = p[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p, np.array(history)


def np_line_steps(x, y, a, b, epochs, update):
    """Fit y = a*x + b one point per step, in order; `update(t, g)` turns the gradient of
    (a*x + b - y)^2 into a step. Returns a and b after each step: (epochs * N, 2)."""
    out, t = [], 0
    for _ in range(epochs):
        for xi, yi in zip(x, y):
            t += 1
            err = a * xi + b - yi
            step = update(t, np.array([2 * err * xi, 2 * err]))
            a, b = a - step[0], b - step[1]
            out.append((a, b))
    return np.array(out)


def adam_update(lr, beta1, beta2, eps):
    m, v = np.zeros(2), np.zeros(2)

    def update(t, g):
        nonlocal m, v
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        return lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return update


def momentum_update(lr, momentum):
    buf = None

    def update(t, g):
        nonlocal buf
        buf = g.copy() if buf is None else momentum * buf + g   # torch: the first buffer is g itself
        return lr * buf
    return update


def np_next_chars(state, chars, text, n, context):
    """Greedy generation with nn.RNN written out: h = tanh(W_ih e + b_ih + W_hh h + b_hh)."""
    w = {k: v.numpy() for k, v in state.items()}
    stoi = {c: i for i, c in enumerate(chars)}
    out = text
    for _ in range(n):
        h = np.zeros(w["rnn.weight_hh_l0"].shape[0])                 # every call starts at zeros
        for c in out[-context:]:
            e = w["e.weight"][stoi[c]]
            h = np.tanh(w["rnn.weight_ih_l0"] @ e + w["rnn.bias_ih_l0"] + w["rnn.weight_hh_l0"] @ h + w["rnn.bias_hh_l0"])
        logits = w["l_out.weight"] @ h + w["l_out.bias"]
        logits[0] = -np.inf                                           # never the padding character
        out += chars[int(np.argmax(logits))]
    return out[len(text):]


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def blocks():
    """A collab sheet's blocks in the sheet's shapes, and ratings with empty cells (None)."""
    rng = np.random.default_rng(11)
    U, M, K = 6, 5, 3
    ratings = rng.integers(1, 11, (U, M)) / 2
    ratings = np.where(rng.uniform(size=(U, M)) < 0.75, ratings, np.nan)
    ratings[0, 0] = 4.0  # at least one rating
    return dict(uf=rng.normal(size=(U, K)), mf=rng.normal(size=(K, M)),
                ub=rng.normal(size=(U, 1)), mb=rng.normal(size=(1, M)), ratings=ratings,
                excel_ratings=[[None if np.isnan(v) else float(v) for v in row] for row in ratings])


@pytest.fixture(scope="module")
def line():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 20, 8).astype(float)
    return x, 2 * x + 5 + np.round(rng.normal(0, 1, 8), 2)


CHAR_TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog."
CHAR_CONTEXT = 4


@pytest.fixture(scope="module")
def char_model(tmp_path_factory):
    """A tiny saved sequence RNN (float64, seeded weights): (path, state_dict, chars)."""
    vocab = textlib.Vocab.from_text(CHAR_TEXT)
    torch.manual_seed(5)
    model = char_rnn.build_model(char_rnn.CharModelConfig("seq", len(vocab), 3, 6, CHAR_CONTEXT)).double()
    path = save_char_model(model, char_rnn.CharModelConfig("seq", len(vocab), 3, 6, CHAR_CONTEXT), vocab,
                           tmp_path_factory.mktemp("char") / "tiny.pt")
    return path, {k: v.detach().clone() for k, v in model.state_dict().items()}, vocab.chars


# ---------------------------------------------------------------------------------------------
# (a) Plain Python calls against NumPy


@pytest.mark.parametrize("variant", ["dotprod", "bias", "bias_sigmoid", "bias as a row and a column"])
def test_predict_equals_numpy(blocks, variant):
    b = blocks
    if variant == "dotprod":
        got, want = udfs.XLB_PREDICT(b["uf"], b["mf"]), np_predict(b["uf"], b["mf"])
    elif variant == "bias":
        got = udfs.XLB_PREDICT(b["uf"], b["mf"], b["ub"], b["mb"])
        want = np_predict(b["uf"], b["mf"], b["ub"], b["mb"])
    elif variant == "bias_sigmoid":
        got = udfs.XLB_PREDICT(b["uf"], b["mf"], b["ub"], b["mb"], [[0.0, 5.5]])
        want = np_predict(b["uf"], b["mf"], b["ub"], b["mb"], (0.0, 5.5))
    else:  # either orientation of a bias block is read the same way
        got = udfs.XLB_PREDICT(b["uf"].tolist(), b["mf"].tolist(), b["ub"].T.tolist(), b["mb"].T.tolist())
        want = np_predict(b["uf"], b["mf"], b["ub"], b["mb"])
    assert got.shape == b["ratings"].shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_rmse_equals_numpy(blocks):
    b = blocks
    pred = np_predict(b["uf"], b["mf"], b["ub"], b["mb"])
    want = np_rmse(b["ratings"], pred)
    assert udfs.XLB_RMSE(b["excel_ratings"], pred) == pytest.approx(want, rel=0, abs=TOL)
    # predictions may be empty (or 0, as the sheets show) where there is no rating
    blank = np.where(np.isnan(b["ratings"]), None, pred).tolist()
    assert udfs.XLB_RMSE(b["excel_ratings"], blank) == pytest.approx(want, rel=0, abs=TOL)


@pytest.mark.parametrize("y_range", [None, (0.0, 5.5)])
def test_fit_equals_numpy_adam(blocks, y_range):
    r, K, epochs, lr, seed = blocks["ratings"], 2, 25, 0.05, 3
    yr = None if y_range is None else [list(y_range)]
    want, history = np_fit(r, K, epochs, lr, seed, y_range)
    fit = lambda output: udfs.XLB_FIT(blocks["excel_ratings"], K, epochs, lr, seed, yr, output)  # noqa: E731
    np.testing.assert_allclose(fit("predictions"), np_predict(want["uf"], want["mf"].T, want["ub"], want["mb"], y_range),
                               rtol=0, atol=TOL)
    np.testing.assert_allclose(fit("user_factors"), want["uf"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit("movie_factors"), want["mf"].T, rtol=0, atol=TOL)  # K x M, as the sheet
    np.testing.assert_allclose(fit("user_bias"), want["ub"][:, None], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit("movie_bias"), want["mb"][None, :], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit("history"), history[:, None], rtol=0, atol=TOL)
    assert history[-1] < history[0]


def test_fit_is_repeatable_and_leaves_the_random_state_alone(blocks):
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = udfs.XLB_FIT(blocks["excel_ratings"], 2, 5)
    assert torch.equal(torch.rand(3), before)  # the caller's stream is where it was
    np.testing.assert_array_equal(udfs.XLB_FIT(blocks["excel_ratings"], 2.0, 5.0), first)  # 2.0: as Excel sends it


def test_adam_steps_equal_numpy(line):
    x, y = line
    got = udfs.XLB_ADAM_STEPS(x[:, None], y[:, None], 1.0, 1.0, 0.3, 0.8, 0.99, 1e-6, 3)
    want = np_line_steps(x, y, 1.0, 1.0, 3, adam_update(0.3, 0.8, 0.99, 1e-6))
    assert got.shape == (3 * len(x), 2)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@pytest.mark.parametrize("optimizer, names, values, update", [
    ("sgd", [["lr"]], [[1e-3]], lambda: (lambda t, g: 1e-3 * g)),
    ("momentum", [["lr", "momentum"]], [[1e-4, 0.5]], lambda: momentum_update(1e-4, 0.5)),
    ("adam", None, None, lambda: adam_update(0.5, 0.9, 0.999, 1e-8)),  # the lesson's defaults
])
def test_optim_steps_equal_numpy(line, optimizer, names, values, update):
    x, y = line
    got = udfs.XLB_OPTIM_STEPS(x.tolist(), y.tolist(), optimizer, 1.0, 1.0, 2, names, values)
    np.testing.assert_allclose(got, np_line_steps(x, y, 1.0, 1.0, 2, update()), rtol=0, atol=TOL)


def test_next_chars_equal_numpy_rnn(char_model):
    path, state, chars = char_model
    for seed_text in ("the c", "a dog sat", "og. "):
        assert udfs.XLB_NEXT_CHARS(str(path), seed_text, 12) == np_next_chars(state, chars, seed_text, 12, CHAR_CONTEXT)


def test_next_chars_sampling_is_seeded(char_model):
    path = str(char_model[0])
    a = udfs.XLB_NEXT_CHARS(path, "the c", 30, 1.0, 7)
    assert a == udfs.XLB_NEXT_CHARS(path, "the c", 30, 1.0, 7)
    assert len(a) == 30 and set(a) <= set(CHAR_TEXT)


def test_docstrings_fit_the_function_wizard():
    for name in UDF_NAMES:
        doc = getattr(udfs, name).__doc__
        assert len(doc) <= 255 and "\n" not in doc, name
        first = doc.split(". ")[0]
        assert len(first) > 30 and first[0].isupper(), name   # a first sentence that stands alone
    assert sorted(n for n in dir(udfs) if n.startswith("XLB_")) == UDF_NAMES


# ---------------------------------------------------------------------------------------------
# (c) Mismatched or bad input: one short message naming both sides


@pytest.mark.parametrize("call, message", [
    (lambda b: udfs.XLB_PREDICT(b["uf"], b["mf"][:2]),
     r"movie_factors is 2x5 \(K x M\) but user_factors is 6x3 \(U x K\)"),
    (lambda b: udfs.XLB_PREDICT(b["uf"], b["mf"], b["ub"][:4], b["mb"]),
     "user_bias has 4 cells; user_factors has 6 rows"),
    (lambda b: udfs.XLB_PREDICT(b["uf"], b["mf"], b["ub"], b["mb"][:, :3]),
     "movie_bias has 3 cells; movie_factors has 5 columns"),
    (lambda b: udfs.XLB_PREDICT(b["uf"], b["mf"], b["ub"]), "give both user_bias and movie_bias"),
    (lambda b: udfs.XLB_PREDICT(b["uf"], b["mf"], None, None, [[0, 5]]), "y_range needs user_bias and movie_bias"),
    (lambda b: udfs.XLB_PREDICT(b["uf"], b["mf"], b["ub"], b["mb"], [[5, 0]]), "low < high"),
    (lambda b: udfs.XLB_RMSE(b["excel_ratings"], b["uf"]), "ratings is 6x5 but predictions is 6x3"),
    (lambda b: udfs.XLB_RMSE([[None, None]], [[1.0, 2.0]]), "every cell is empty"),
    (lambda b: udfs.XLB_PREDICT([[1.0, "x"]], [[1.0], [2.0]]), "user_factors: row 1, column 2: expected a number, got 'x'"),
    (lambda b: udfs.XLB_PREDICT([[1.0, None]], [[1.0], [2.0]]), "user_factors: row 1, column 2 is empty"),
    (lambda b: udfs.XLB_FIT(b["excel_ratings"], 0), r"n_factors must be an integer in \[1, 1000\]; got 0"),
    (lambda b: udfs.XLB_FIT(b["excel_ratings"], 2.5), "n_factors must be an integer"),
    (lambda b: udfs.XLB_FIT(b["excel_ratings"], 2, 10, 0.05, 0, None, "bias"), "output must be one of 'predictions'"),
    (lambda b: udfs.XLB_ADAM_STEPS([[1, 2, 3]], [[1, 2]], 1, 1), "y has 2 cells; x has 3"),
    (lambda b: udfs.XLB_ADAM_STEPS([[1, 2], [3, 4]], [[1, 2, 3, 4]], 1, 1), "x is 2x2; expected one row or one column"),
    (lambda b: udfs.XLB_OPTIM_STEPS([1, 2], [3, 4], "lion", 1, 1), "optimizer must be one of 'sgd'"),
    (lambda b: udfs.XLB_OPTIM_STEPS([1, 2], [3, 4], "sgd", 1, 1, 1, [["lr", "momentum"]], [[0.1]]),
     "hparam_names has 2 cells; hparam_values has 1"),
    (lambda b: udfs.XLB_OPTIM_STEPS([1, 2], [3, 4], "sgd", 1, 1, 1, [["lr_"]], [[0.1]]), "sgd: unknown parameter 'lr_'"),
    (lambda b: udfs.XLB_NEXT_CHARS("/nonexistent/model.pt", "abcd"), "no such model file"),
])
def test_bad_input_names_the_problem(blocks, call, message):
    with pytest.raises(XlbridgeInputError, match=message):
        call(blocks)


# ---------------------------------------------------------------------------------------------
# (b) As Excel calls them: xlwings Server's metadata and call path, in a subprocess

_SERVER_DRIVER = r"""
import asyncio, json, sys
import xlwings as xw
from xlwings import server

# Record the category each function is registered with (xlwings Server keeps only what
# Office.js needs; the category is for the classic add-in's Function Wizard).
categories, server_func = {}, xw.func
def recording_func(f=None, **kwargs):
    def inner(g):
        categories[g.__name__] = kwargs.get("category")
        return server_func(**kwargs)(g)
    return inner if f is None else inner(f)
xw.func = recording_func

from xlbridge import udfs

request = json.load(sys.stdin)
out = {"meta": server.custom_functions_meta(udfs), "categories": categories, "results": [],
       "numbers": {name: [a["name"] for a in getattr(udfs, name).__xlfunc__["args"]
                          if a["options"].get("numbers") is int] for name in categories}}
for func_name, args in request:
    data = {"func_name": func_name, "args": args, "version": xw.__version__, "client": "Office.js",
            "runtime": "1.4", "culture_info_name": "en-US", "date_format": "M/d/yyyy",
            "caller_address": "Sheet1!A1"}
    try:
        out["results"].append({"value": asyncio.run(server.custom_functions_call(data, udfs))})
    except Exception as e:
        out["results"].append({"error": f"{type(e).__name__}: {e}"})
print("\n" + json.dumps(out))
"""


def excel(a) -> list[list]:
    """A value as Office.js sends it: always a 2-D list, numbers as floats, empty as None."""
    a = np.asarray(a, dtype=object)
    a = a.reshape(1, 1) if a.ndim == 0 else (a.reshape(1, -1) if a.ndim == 1 else a)
    return [[None if v is None or (isinstance(v, float) and np.isnan(v))
             else (float(v) if isinstance(v, (int, float, np.number)) else v) for v in row] for row in a]


@pytest.fixture(scope="module")
def server_calls(blocks, line, char_model):
    """(calls, output of the driver): each call is (function name, args as Excel sends them)."""
    b, (x, y) = blocks, line
    calls = [
        ("XLB_PREDICT", [excel(b["uf"]), excel(b["mf"])]),
        ("XLB_PREDICT", [excel(b["uf"]), excel(b["mf"]), excel(b["ub"]), excel(b["mb"]), excel([[0, 5.5]])]),
        ("XLB_RMSE", [excel(b["ratings"]), excel(np_predict(b["uf"], b["mf"], b["ub"], b["mb"]))]),
        ("XLB_FIT", [excel(b["ratings"]), excel(2), excel(20), excel(0.05), excel(3)]),
        # an empty cell for an optional argument in the middle: its default (no y_range)
        ("XLB_FIT", [excel(b["ratings"]), excel(2), excel(20), excel(0.05), excel(3), excel(None), excel("movie_factors")]),
        ("XLB_ADAM_STEPS", [excel(x[:, None]), excel(y[:, None]), excel(1), excel(1), excel(0.3)]),
        ("XLB_OPTIM_STEPS", [excel(x), excel(y), excel("momentum"), excel(1), excel(1), excel(2),
                             excel([["lr", "momentum"]]), excel([[1e-4, 0.5]])]),
        ("XLB_NEXT_CHARS", [excel(str(char_model[0])), excel("the c"), excel(6)]),
        ("XLB_PREDICT", [excel(b["uf"]), excel(b["mf"][:2])]),
    ]
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _SERVER_DRIVER], input=json.dumps(calls), env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return calls, out


def test_server_lists_every_function_with_its_docs(server_calls):
    _, out = server_calls
    meta = {f["id"]: f for f in out["meta"]["functions"]}
    assert sorted(meta) == UDF_NAMES
    assert out["categories"] == {name: "xlbridge" for name in UDF_NAMES}
    for name in UDF_NAMES:
        f = getattr(udfs, name)
        assert meta[name]["name"] == name and meta[name]["description"] == f.__doc__
        params = meta[name]["parameters"]
        n_args = f.__code__.co_argcount
        assert [p["name"] for p in params] == list(f.__code__.co_varnames[:n_args])
        n_optional = len(f.__defaults__ or ())
        assert [p.get("optional", False) for p in params] == [False] * (n_args - n_optional) + [True] * n_optional
        for p in params:
            assert p["description"] and not p["description"].startswith("Positional argument"), (name, p["name"])
            assert len(p["description"]) <= 255 and p["description"].startswith("Optional") == p.get("optional", False)
    # counts arrive as whole numbers, as Excel's floats are converted by numbers=int
    assert out["numbers"]["XLB_FIT"] == ["n_factors", "epochs", "seed"]
    assert out["numbers"]["XLB_NEXT_CHARS"] == ["n", "seed"]


def _value(result):
    assert "value" in result, result.get("error")
    return np.array(result["value"], dtype=object)


def test_server_calls_equal_numpy(server_calls, blocks, line, char_model):
    (_, out), b, (x, y) = server_calls, blocks, line
    res = out["results"]
    np.testing.assert_allclose(_value(res[0]).astype(float), np_predict(b["uf"], b["mf"]), rtol=0, atol=TOL)
    np.testing.assert_allclose(_value(res[1]).astype(float),
                               np_predict(b["uf"], b["mf"], b["ub"], b["mb"], (0, 5.5)), rtol=0, atol=TOL)
    rmse = _value(res[2])
    assert rmse.shape == (1, 1)
    assert rmse[0, 0] == pytest.approx(np_rmse(b["ratings"], np_predict(b["uf"], b["mf"], b["ub"], b["mb"])), abs=TOL)
    want, _ = np_fit(b["ratings"], 2, 20, 0.05, 3)
    np.testing.assert_allclose(_value(res[3]).astype(float), np_predict(want["uf"], want["mf"].T, want["ub"], want["mb"]),
                               rtol=0, atol=TOL)
    np.testing.assert_allclose(_value(res[4]).astype(float), want["mf"].T, rtol=0, atol=TOL)
    np.testing.assert_allclose(_value(res[5]).astype(float),
                               np_line_steps(x, y, 1.0, 1.0, 1, adam_update(0.3, 0.9, 0.999, 1e-8)), rtol=0, atol=TOL)
    np.testing.assert_allclose(_value(res[6]).astype(float),
                               np_line_steps(x, y, 1.0, 1.0, 2, momentum_update(1e-4, 0.5)), rtol=0, atol=TOL)
    path, state, chars = char_model
    assert _value(res[7]).tolist() == [[np_next_chars(state, chars, "the c", 6, CHAR_CONTEXT)]]


def test_server_call_with_mismatched_shapes_reports_both(server_calls):
    error = server_calls[1]["results"][8].get("error", "")
    assert "XlbridgeInputError" in error and "movie_factors is 2x5" in error and "user_factors is 6x3" in error


# ---------------------------------------------------------------------------------------------
# (d) On a workbook recalculated by LibreOffice


@pytest.mark.libreoffice
def test_predict_on_recalculated_workbook_equals_the_sheet(tmp_path, small_ratings):
    from xlbridge.builders.collab import CollabConfig, build_collab
    from xlbridge.engine import recalculate

    book = recalculate(build_collab(small_ratings, tmp_path / "collab.xlsx", CollabConfig(n_users=6, n_movies=5, n_factors=3)))
    for sheet in ("dotprod", "bias", "bias_sigmoid"):
        raw = lambda name: book.raw(name, sheet)  # noqa: E731 -- the cells as Excel would pass them
        args = [raw("user_factors"), raw("movie_factors")]
        if sheet != "dotprod":
            args += [raw("user_bias"), raw("movie_bias")]
        if sheet == "bias_sigmoid":
            args.append(raw("y_range"))
        got = udfs.XLB_PREDICT(*args)
        ratings = book.values("ratings", sheet)
        rated = ~np.isnan(ratings)
        assert rated.sum() > 10
        np.testing.assert_allclose(got[rated], book.values("predictions", sheet)[rated], rtol=0, atol=TOL, err_msg=sheet)
        assert udfs.XLB_RMSE(raw("ratings"), got) == pytest.approx(book.value("rmse", sheet), rel=0, abs=TOL)
