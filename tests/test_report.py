"""The parity report a person reads: one line per sheet in 80 columns, every quantity with
--verbose, one JSON document with --json; exit codes 0 / 1 / 2 as before."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tampered_copy
from typer.testing import CliRunner

from xlbridge.cli import app
from xlbridge.parity import Comparison
from xlbridge.report import WIDTH, Checked, json_document, text_lines

REPO = Path(__file__).resolve().parents[1]
BOOKS = [REPO / "workbooks" / n for n in ("graddesc.xlsx", "collab_filter.xlsx", "char_rnn.xlsx")]


def _results(bad: bool = False):
    ok = [Comparison("basic SGD", "a", 300, 1e-15, relative=True), Comparison("basic SGD", "fd_grad_a", 300, 2e-8, 1e-6, True),
          Comparison("a sheet with a very long title indeed", "loss", 1, 0.0)]
    other = [Comparison("dotprod", "predictions", 225, 4e-16),
             Comparison("dotprod", "rmse", 1, 2e-6 if bad else 1e-16),
             Comparison("dotprod", "user ids", 5, float("inf") if bad else 0.0, 0.0, False, ("user_ids",), True),
             Comparison("bias", "predictions", 225, float("inf") if bad else 3e-16)]
    return [Checked(Path("graddesc.xlsx"), "graddesc", ok),
            Checked(Path("some/folder/a_collab_workbook_with_a_long_name.xlsx"), "collab", other)]


def test_one_line_per_sheet_in_80_columns():
    lines = text_lines(_results(), "LibreOffice")
    assert all(len(line) <= WIDTH for line in lines), max(lines, key=len)
    rows = [line.split() for line in lines[2:6]]
    assert rows[0] == ["graddesc.xlsx", "basic", "SGD", "2", "600", "2.00e-08", "ok"]
    assert lines[3].startswith("graddesc.xlsx      a sheet with a ve… ")           # cut, and says so
    assert rows[2][-5:] == ["dotprod", "3", "231", "4.00e-16", "ok"] and rows[2][0].endswith("…")
    assert lines[-1] == "PASS: 7 quantities, 1057 cells checked, max |diff| 2.00e-08"
    assert lines[-3:-1] == ["Tolerances: 1e-09, 1e-06, labels exact.", "--verbose lists every quantity with its tolerance."]


def test_text_a_model_decides_is_named_exact_not_a_zero_tolerance():
    """A predicted character is compared exactly (tolerance 0): the summary says so in words."""
    predicted = Comparison("nn.RNN", "predicted characters as shown", 24, 0.0, 0.0, False, ("prediction_glyphs",))
    checked = [Checked(Path("char_rnn.xlsx"), "char_rnn", [Comparison("nn.RNN", "probs", 24, 1e-16), predicted])]
    lines = text_lines(checked, "LibreOffice")
    assert lines[-3] == "Tolerances: 1e-09, text outputs exact."
    assert text_lines(_results(), "LibreOffice")[-3] == "Tolerances: 1e-09, 1e-06, labels exact."
    lines = text_lines([*checked, *_results()], "LibreOffice")
    assert lines[-3] == "Tolerances: 1e-09, 1e-06, text outputs and labels exact."


def test_a_failing_sheet_names_its_failing_quantities():
    lines = text_lines(_results(bad=True), "Gnumeric")
    assert lines[0] == "Parity: Gnumeric recalculation vs PyTorch (float64)"
    dotprod = next(i for i, line in enumerate(lines) if " dotprod " in line)
    assert lines[dotprod].endswith("MISMATCH") and lines[dotprod + 1] == "  - rmse: 1 cells, max |diff| 2.00e-06 > tol 1e-09"
    assert lines[dotprod + 2] == "  - user ids: 5 cells, not equal to the data they repeat"
    assert lines[dotprod + 3].split()[-2:] == ["inf", "MISMATCH"] and lines[dotprod + 4].startswith("  - predictions: 225")
    assert lines[-1].startswith("FAIL: 7 quantities") and lines[-1].endswith("max |diff| inf")
    assert all(len(line) <= WIDTH for line in lines)


def test_verbose_lists_every_quantity():
    lines = text_lines(_results(), "LibreOffice", verbose=True)
    assert "graddesc.xlsx, sheet 'basic SGD'" in lines
    fd = next(line for line in lines if "fd_grad_a" in line)
    assert fd.split() == ["fd_grad_a", "300", "2.00e-08", "rel", "1e-06", "ok"]
    assert next(line for line in lines if "user ids" in line).split()[-2:] == ["exact", "ok"]
    assert sum(1 for line in lines if line.startswith("  ") and not line.strip().startswith("quantity")) == 7
    assert lines[-1].startswith("PASS:") and all(len(line) <= WIDTH for line in lines)


def test_json_has_every_comparison_and_no_infinity():
    doc = json.loads(json_document(_results(bad=True), "LibreOffice", seconds=1.23456))
    assert doc["engine"] == "LibreOffice" and doc["passed"] is False and doc["seconds"] == 1.235
    assert [w["passed"] for w in doc["workbooks"]] == [True, False]
    comps = doc["workbooks"][1]["comparisons"]
    assert len(comps) == 4 and comps[2]["label"] and comps[2]["names"] == ["user_ids"] and comps[3] == {"sheet": "bias", "quantity": "predictions", "cells": 225, "max_diff": None,
                                            "tol": 1e-9, "relative": False, "passed": False,
                                            "names": [], "label": False}
    assert doc["workbooks"][0]["comparisons"][1]["max_diff"] == 2e-8 and doc["summary"].startswith("FAIL:")


@pytest.mark.libreoffice
def test_check_prints_the_short_report_and_keeps_its_exit_codes(tmp_path):
    """The text report in this process (typer's CliRunner); the JSON of the same books and a
    failing one from a user's process, where stdout must be the JSON document alone, exit 1."""
    invoke = lambda *a: CliRunner().invoke(app, ["check", *map(str, a)])  # noqa: E731
    result = invoke(*BOOKS)
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= WIDTH for line in lines), max(lines, key=len)
    tampered = tampered_copy(BOOKS[1], tmp_path / "tampered.xlsx", "dotprod")
    proc = subprocess.run([sys.executable, "-m", "xlbridge", "check", *map(str, BOOKS), str(tampered), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)  # stdout is the JSON document and nothing else
    *books, book = doc["workbooks"]
    assert [Path(w["path"]) for w in books] == BOOKS and all(w["passed"] for w in books)
    sheets = [line for line in lines if line.endswith(" ok")]
    want = {(Path(w["path"]).name, c["sheet"]) for w in books for c in w["comparisons"]}
    assert len(sheets) == len(want) > 10 and lines[1].split()[:3] == ["workbook", "sheet", "quantities"]
    comparisons = [c for w in books for c in w["comparisons"]]
    assert lines[-2].startswith(f"PASS: {len(comparisons)} quantities, {sum(c['cells'] for c in comparisons)} cells")
    assert book["path"] == str(tampered) and book["kind"] == "collab" and not book["passed"]
    bad = [(c["sheet"], c["quantity"]) for c in book["comparisons"] if not c["passed"]]
    assert bad == [("dotprod", "rmse")] and len(book["comparisons"]) > 12
    assert not doc["passed"] and doc["summary"].startswith("FAIL:")
    result = invoke(tmp_path / "missing.xlsx", "--json")
    assert result.exit_code == 2 and result.stdout == "" and "no such workbook" in result.stderr


@pytest.mark.libreoffice
def test_verbose_and_json_agree_with_the_parity_results(capsys):
    from xlbridge.cli import run_checks
    from xlbridge.engine import recalculate
    from xlbridge.parity import check_book

    want = check_book(recalculate(BOOKS[2]))
    assert run_checks([BOOKS[2]], verbose=True)
    text = capsys.readouterr().out
    for c in want:
        assert c.quantity[:36] in text
    assert run_checks([BOOKS[2]], as_json=True)
    doc = json.loads(capsys.readouterr().out)
    got = doc["workbooks"][0]["comparisons"]
    assert [(c["sheet"], c["quantity"], c["cells"]) for c in got] == [(c.sheet, c.quantity, c.cells) for c in want]
    assert all(math.isclose(g["max_diff"], c.max_diff, rel_tol=0, abs_tol=1e-15) for g, c in zip(got, want))
