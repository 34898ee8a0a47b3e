"""The `xlbridge` command as a user runs it: exit codes, one-line errors, nothing lost."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import pytest
from conftest import shared_path


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "xlbridge", *map(str, args)], capture_output=True, text=True, cwd=cwd)


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
    one_line_error(run("build", "--ratings", f, "--out", out), str(f), fragment)
    assert not out.exists() or list(out.iterdir()) == []


def test_usage_errors_exit_2(tmp_path):
    one_line_error(run("build", "--ratings", tmp_path / "nope.csv", "--out", tmp_path), "no such file")
    one_line_error(run("build", "--factors", "0", "--out", tmp_path), "n_factors must be an integer in [1, 50]; got 0")
    one_line_error(run("download", "ml-1m"), "unknown dataset 'ml-1m'")
    assert run("build", "--no-such-option").returncode == 2


def test_never_overwrites_a_user_workbook(tmp_path):
    mine = tmp_path / "collab_filter.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "my homework"
    wb.save(mine)
    before = mine.read_bytes()
    one_line_error(run("build", "--users", "10", "--out", tmp_path), "was not written by xlbridge", "--force")
    assert mine.read_bytes() == before
    assert run("build", "--users", "10", "--out", tmp_path, "--force").returncode == 0
    assert openpyxl.load_workbook(mine)["crosstab"] is not None


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
    proc = run("check", tmp_path / "collab_filter.xlsx", tampered)
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout and "FAIL:" in proc.stdout


@pytest.mark.libreoffice
def test_check_refuses_foreign_workbooks(tmp_path):
    foreign = tmp_path / "foreign.xlsx"
    openpyxl.Workbook().save(foreign)
    one_line_error(run("check", foreign), "no parity check for workbook kind None")
    one_line_error(run("check", tmp_path / "missing.xlsx"), "no such workbook")


def test_train_then_generate(tmp_path):
    model = tmp_path / "m.pt"
    proc = run("train", "--kind", "rnn", "--epochs", "2", "--n-hidden", "16", "--n-fac", "4", "--threads", "1", "--out", model)
    assert proc.returncode == 0, proc.stderr
    assert "valid loss" in proc.stdout and model.is_file()
    a = run("generate", model, "the river and t", "--n", "40")
    b = run("generate", model, "the river and t", "--n", "40")
    assert a.returncode == 0 and a.stdout == b.stdout  # greedy generation is deterministic
    assert a.stdout.startswith("the river and t") and len(a.stdout.rstrip("\n")) == len("the river and t") + 40
    one_line_error(run("generate", model, "the river €€€€€€€€"), "'€' is not in the vocabulary")
    one_line_error(run("generate", tmp_path / "none.pt", "abc"), "no such model file")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    one_line_error(run("train", empty, "--out", tmp_path / "x.pt"), str(empty))
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
    one_line_error(run("solve", fake), str(fake))
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
    again = run("check", solved)  # parity still holds on the solved copy
    assert again.returncode == 0 and "PASS:" in again.stdout
    one_line_error(run("solve", book, "--sheet", "dotprod"), "--force")  # no silent overwrite


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
    one_line_error(run("build", "--out", out, *args), fragment)
    assert not out.exists()


def test_rebuild_refuses_an_edited_workbook(tmp_path):
    assert run("build", "--users", "6", "--movies", "6", "--out", tmp_path).returncode == 0
    book = tmp_path / "collab_filter.xlsx"
    assert run("build", "--users", "6", "--movies", "6", "--out", tmp_path).returncode == 0  # untouched: fine
    wb = openpyxl.load_workbook(book)
    wb["dotprod"]["B30"] = 0.5  # the student's own start value
    wb.save(book)
    before = book.read_bytes()
    one_line_error(run("build", "--users", "6", "--movies", "6", "--out", tmp_path), "was edited since xlbridge built it")
    assert book.read_bytes() == before


def test_more_usage_errors(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    one_line_error(run("build", "--out", a_file), "--out must be a folder")
    one_line_error(run("build", "--ratings", shared_path("data", "ml-100k"), "--epochs", "3", "--out", tmp_path),
                   "--epochs and --hparam set graddesc.xlsx")
    one_line_error(run("train", "--threads", "0"), "--threads must be an integer in [1, 1024]; got 0")
    one_line_error(run("train", "--out", tmp_path / "no" / "m.pt"), "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
