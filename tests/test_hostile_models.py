"""Model files that are not what `xlbridge train` or `fit` saved, or that were crafted: `generate`
and `interpret` refuse each with one line and exit 2, before building anything from it, and
write nothing. The valid model each case starts from works (the control case).
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hostile_corpus import CHAR_MODELS, COLLAB_MODELS, char_checkpoint, collab_checkpoint, snapshot, write_model
from test_hostile_titles import ooxml_decode
from xlbridge.cli import app

SEED_TEXT = "the cat sat"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def refused(result, fragment):
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:], result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlbridge: error: "), result.stderr[-2000:]
    assert fragment in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0][:400]


@pytest.fixture(scope="module")
def bases():
    return {"char": char_checkpoint(), "collab": collab_checkpoint()}


def test_the_valid_models_work(bases, tmp_path):
    char = write_model(tmp_path / "char.pt", lambda b: b, bases["char"])
    result = invoke("generate", char, SEED_TEXT, "--n", "20")
    assert result.exit_code == 0 and result.stdout.startswith(SEED_TEXT) and len(result.stdout.rstrip("\n")) == 31
    collab = write_model(tmp_path / "collab.pt", lambda b: b, bases["collab"])
    result = invoke("interpret", collab, "--min-ratings", "0", "--xlsx", tmp_path / "i.xlsx")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "i.xlsx").is_file()
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating\n" + "".join(f"{u},{m},3\n" for u in (1, 2, 3)
                                                                            for m in (10, 11, 12, 13)))
    result = invoke("build", "--model", collab, "--ratings", tmp_path / "ratings.csv", "--users", "3", "--movies", "4",
                    "--out", tmp_path / "out")
    assert result.exit_code == 0 and (tmp_path / "out" / "collab.xlsx").is_file(), (result.output, result.exception)


@pytest.mark.parametrize("name", CHAR_MODELS)
def test_generate_refuses(name, bases, tmp_path):
    make, fragment = CHAR_MODELS[name]
    model = write_model(tmp_path / "m.pt", make, bases["char"])
    before = snapshot(tmp_path)
    refused(invoke("generate", model, SEED_TEXT, "--n", "20"), fragment)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", COLLAB_MODELS)
def test_build_with_the_model_refuses(name, bases, tmp_path):
    make, fragment = COLLAB_MODELS[name]
    model = write_model(tmp_path / "m.pt", make, bases["collab"])
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating\n" + "".join(f"{u},{m},3\n" for u in (1, 2, 3)
                                                                            for m in (10, 11, 12, 13)))
    before = snapshot(tmp_path)
    refused(invoke("build", "--model", model, "--ratings", tmp_path / "ratings.csv", "--users", "3", "--movies", "4",
                   "--out", tmp_path / "out"), fragment)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", COLLAB_MODELS)
def test_interpret_refuses(name, bases, tmp_path):
    make, fragment = COLLAB_MODELS[name]
    model = write_model(tmp_path / "m.pt", make, bases["collab"])
    before = snapshot(tmp_path)
    refused(invoke("interpret", model, "--min-ratings", "0", "--xlsx", tmp_path / "i.xlsx", "--png", tmp_path / "i.png"),
            fragment)
    assert snapshot(tmp_path) == before


def test_a_folder_or_nothing_where_the_model_should_be(tmp_path):
    (tmp_path / "dir.pt").mkdir()
    refused(invoke("generate", tmp_path / "dir.pt", SEED_TEXT), "no such model file")
    refused(invoke("interpret", tmp_path / "none.pt"), "no such model file")


def test_interpret_writes_hostile_titles_exactly(tmp_path):
    """Titles a model carries from its ratings: in the workbook exactly, in the PNG as plain text
    (two '$' are not TeX there), nothing refused."""
    import openpyxl

    titles = ["A\x01B", "$\\frac{1}{$ and $x^$", "x\uffffy\r\nz", "=1+1 _x0041_"]
    model = write_model(tmp_path / "m.pt", lambda b: b, collab_checkpoint(["#na#", *titles]))
    result = invoke("interpret", model, "--min-ratings", "0", "--xlsx", tmp_path / "i.xlsx", "--png", tmp_path / "i.png")
    assert result.exit_code == 0, (result.output[-2000:], result.exception)
    assert (tmp_path / "i.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    column = openpyxl.load_workbook(tmp_path / "i.xlsx")["movie bias"]["A"]
    assert sorted(ooxml_decode(c.value) for c in column[2:6]) == sorted(titles)
