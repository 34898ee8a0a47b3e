"""The `xlbridge` command as a user runs it: exit codes, one-line errors, nothing lost."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import pytest
from conftest import shared_path
from typer.testing import CliRunner

from xlbridge.cli import app


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "xlbridge", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def invoke(*args):
    """The command in this process (typer's CliRunner): the same app, options and one-line errors
    without a Python (and torch) start of its own. The subprocess cases (`run`) prove what a
    user's process shows and exits with (main() ends every command alike)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlbridge: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.mark.parametrize("content, fragment", [
    ("userId,movieId\n1,2\n", "missing column(s) 'rating'"),
    ("userId,movieId,rating\n1,2,abc\n", "line 2: 'abc'"),
    ("userId,movieId,rating\n1,2,9.5\n", "must be in [0.5, 5.0]"),
    ("", "the file is empty"),
    ("userId,movieId,rating\n1,2,3\n", "needs 15 users and 15 movies; the data has 1 users and 1 movies"),
])
def test_bad_ratings_exit_2_and_write_nothing(tmp_path, content, fragment):
    f = tmp_path / "ratings.csv"
    f.write_text(content)
    out = tmp_path / "out"
    one_line_error(invoke("build", "--ratings", f, "--out", out), str(f), fragment)
    assert not out.exists() or list(out.iterdir()) == []


def test_usage_errors_exit_2(tmp_path):
    one_line_error(run("build", "--ratings", tmp_path / "nope.csv", "--out", tmp_path), "no such file")
    one_line_error(invoke("build", "--factors", "0", "--out", tmp_path), "n_factors must be an integer in [1, 50]; got 0")
    one_line_error(invoke("download", "ml-1m"), "unknown dataset 'ml-1m'")
    assert run("build", "--no-such-option").returncode == 2


def test_never_overwrites_a_user_workbook(tmp_path):
    mine = tmp_path / "collab_filter.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "my homework"
    wb.save(mine)
    before = mine.read_bytes()
    one_line_error(run("build", "--users", "10", "--out", tmp_path), "was not written by xlbridge", "--force")
    assert mine.read_bytes() == before
    assert invoke("build", "--users", "10", "--out", tmp_path, "--force").returncode == 0
    replaced = openpyxl.load_workbook(mine)
    assert replaced.defined_names["xlbridge_kind"].attr_text == '"collab"' and "my homework" not in str(replaced.active["A1"].value)


@pytest.mark.libreoffice
def test_build_from_real_ratings_and_check(tmp_path):
    ratings = shared_path("data", "ml-100k", "u.data")
    proc = run("build", "--ratings", ratings, "--out", tmp_path, "--users", "12", "--movies", "10", "--factors", "3", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS:" in proc.stdout and "MISMATCH" not in proc.stdout
    # rebuilding over our own workbook is allowed; check exits 1 on a tampered copy
    tampered = tmp_path / "tampered.xlsx"
    wb = openpyxl.load_workbook(tmp_path / "collab_filter.xlsx")
    ws = wb["dotprod"]
    coord = ws.defined_names["rmse"].attr_text.split("!")[1].replace("$", "")
    ws[coord] = ws[coord].value + "*1.01"
    wb.save(tampered)
    proc = invoke("check", tmp_path / "collab_filter.xlsx", tampered)
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout and "FAIL:" in proc.stdout


@pytest.mark.libreoffice
def test_check_refuses_foreign_workbooks(tmp_path):
    foreign = tmp_path / "foreign.xlsx"
    openpyxl.Workbook().save(foreign)
    one_line_error(run("check", foreign), "no parity check for workbook kind None")
    one_line_error(invoke("check", tmp_path / "missing.xlsx"), "no such workbook")


def test_train_then_generate(tmp_path):
    model = tmp_path / "m.pt"
    proc = run("train", "--kind", "rnn", "--epochs", "2", "--n-hidden", "16", "--n-fac", "4", "--threads", "1", "--out", model)
    assert proc.returncode == 0, proc.stderr
    assert "valid loss" in proc.stdout and model.is_file()
    a = run("generate", model, "the river and t", "--n", "40")
    b = invoke("generate", model, "the river and t", "--n", "40")
    assert a.returncode == 0 and a.stdout == b.stdout  # greedy generation is deterministic, in any process
    assert a.stdout.startswith("the river and t") and len(a.stdout.rstrip("\n")) == len("the river and t") + 40
    one_line_error(invoke("generate", model, "the river €€€€€€€€"), "'€' is not in the vocabulary")
    one_line_error(invoke("generate", tmp_path / "none.pt", "abc"), "no such model file")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    one_line_error(invoke("train", empty, "--out", tmp_path / "x.pt"), str(empty))
    assert not (tmp_path / "x.pt").exists()


def test_solve_command_lists_and_refuses_bad_files(tmp_path):
    from xlbridge.builders.collab import CollabConfig, build_collab
    from xlbridge.data import synthetic_ratings

    book = build_collab(synthetic_ratings(), tmp_path / "c.xlsx", CollabConfig(n_users=5, n_movies=5, n_factors=2))
    before = book.read_bytes()
    proc = run("solve", "--list", book)
    assert proc.returncode == 0, proc.stderr
    for sheet in ("dotprod", "bias", "bias_sigmoid", "embedding lookup"):
        assert sheet in proc.stdout
    assert book.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["c.xlsx"]
    fake = tmp_path / "fake.xlsx"
    fake.write_text("not a workbook")
    one_line_error(invoke("solve", fake), str(fake))
    assert fake.read_text() == "not a workbook"


@pytest.mark.libreoffice
def test_solve_command_writes_a_new_checked_workbook(tmp_path):
    from xlbridge.builders.collab import CollabConfig, build_collab
    from xlbridge.data import synthetic_ratings

    book = build_collab(synthetic_ratings(), tmp_path / "c.xlsx", CollabConfig(n_users=6, n_movies=6, n_factors=2))
    before = book.read_bytes()
    proc = run("solve", book, "--sheet", "dotprod")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matches" in proc.stdout and book.read_bytes() == before
    solved = tmp_path / "c.solved.xlsx"
    assert solved.is_file()
    again = invoke("check", solved)  # parity still holds on the solved copy
    assert again.returncode == 0 and "PASS:" in again.stdout
    one_line_error(invoke("solve", book, "--sheet", "dotprod"), "--force")  # no silent overwrite


@pytest.mark.parametrize("args, fragment", [
    (["--hparam", "adam.lr=-0.5"], "the 'lr' parameter of adam must be a number >= 0; got -0.5"),
    (["--hparam", "adam.beta1=1"], "the 'beta1' parameter of adam must be a number in [0, 1); got 1.0"),
    (["--hparam", "rmsprop.eps=0"], "the 'eps' parameter of rmsprop must be a number > 0; got 0.0"),
    (["--hparam", "adam.lr"], "expected OPTIMIZER.NAME=VALUE"),
    (["--hparam", "lamb.lr=0.1"], "unknown optimizer 'lamb'"),
    (["--epochs", "0"], "epochs must be an integer >= 1; got 0"),
])
def test_bad_hyperparameters_exit_2_and_write_nothing(tmp_path, args, fragment):
    out = tmp_path / "out"
    one_line_error(invoke("build", "--out", out, *args), fragment)
    assert not out.exists()


def test_rebuild_refuses_an_edited_workbook(tmp_path):
    # real ratings build the collab workbook alone (the whole offline default: test_never_overwrites...)
    args = ("build", "--ratings", shared_path("data", "ml-100k", "u.data"), "--users", "6", "--movies", "6",
            "--out", tmp_path)
    assert invoke(*args).returncode == 0
    book = tmp_path / "collab_filter.xlsx"
    assert invoke(*args).returncode == 0  # untouched: fine
    wb = openpyxl.load_workbook(book)
    wb["dotprod"]["B30"] = 0.5  # the student's own start value
    wb.save(book)
    before = book.read_bytes()
    one_line_error(run(*args), "was edited since xlbridge built it")
    assert book.read_bytes() == before


def test_more_usage_errors(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    one_line_error(run("build", "--out", a_file), "--out must be a folder")
    one_line_error(invoke("build", "--ratings", shared_path("data", "ml-100k"), "--epochs", "3", "--out", tmp_path),
                   "--epochs and --hparam set graddesc.xlsx")
    one_line_error(invoke("train", "--threads", "0"), "--threads must be an integer in [1, 1024]; got 0")
    one_line_error(invoke("train", "--out", tmp_path / "no" / "m.pt"), "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


# --- fit, interpret, build --model -----------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["--model", "Transformer"], "the 'model' parameter of fit must be one of 'DotProduct'"),
    (["--lr", "0"], "the 'lr' parameter of fit must be a number > 0; got 0.0"),
    (["--lr", "-1e-3"], "the 'lr' parameter of fit must be a number > 0"),
    (["--valid-pct", "1.5"], "the 'valid_pct' parameter of fit must be a number in (0, 1); got 1.5"),
    (["--valid-pct", "0"], "valid_pct"),
    (["--preset", "turbo"], "the 'preset' parameter of fit must be one of 'course', 'fast', 'best'"),
])
def test_fit_refuses_bad_settings(args, fragment, tmp_path):
    out = tmp_path / "m.pt"
    one_line_error(invoke("fit", shared_path("data", "ml-100k"), "--out", out, *args), fragment)
    assert not out.exists()


def test_fit_refuses_files_without_ratings_and_foreign_models(tmp_path):
    empty = tmp_path / "ratings.csv"
    empty.write_text("userId,movieId,rating,timestamp\n")
    one_line_error(invoke("fit", empty, "--out", tmp_path / "m.pt"), "no ratings (the file has no data rows)")
    one_line_error(invoke("fit", "--out", tmp_path / "m.pt"), "give a ratings file or folder")
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"PK\x03\x04 certainly not a model")
    one_line_error(invoke("interpret", foreign), "not a saved xlbridge model")
    one_line_error(invoke("build", "--model", foreign, "--out", tmp_path), "not a saved xlbridge model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.pt", "ratings.csv"]


def test_fit_then_interpret_then_build_with_the_model(tmp_path):
    model = tmp_path / "dpb.pt"
    proc = run("fit", shared_path("data", "ml-100k"), "--epochs", "2", "--bs", "1024", "--lr", "0.01",
               "--out", model)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[2].split() == ["epoch", "train_loss", "valid_loss", "time"]
    assert [line.split()[0] for line in lines[3:5]] == ["0", "1"]                   # one row per epoch
    assert "valid MSE" in lines[-1] and "1 torch thread" in lines[-1] and model.is_file()
    proc = invoke("interpret", model, "--png", tmp_path / "pca.png", "--xlsx", tmp_path / "pca.xlsx")
    assert proc.returncode == 0, proc.stderr
    assert "lowest movie bias" in proc.stdout and "PCA reading: PCA fitted on the movie factors" in proc.stdout
    assert (tmp_path / "pca.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wb = openpyxl.load_workbook(tmp_path / "pca.xlsx")
    assert {"movie bias", "pca", "chart"} <= set(wb.sheetnames)
    highest = [c.value for c in wb["movie bias"]["E"][2:17]]                      # the 15 highest biases' titles
    assert "Star Wars (1977)" in highest or "Titanic (1997)" in highest
    proc = invoke("build", "--model", model, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "trained DotProductBias" in openpyxl.load_workbook(tmp_path / "dpb.xlsx").sheetnames
