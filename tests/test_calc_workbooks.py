"""workbook_values and write_cached_values on the committed workbooks: every formula cell equal
to LibreOffice's recalculation (1e-9), and the cached copy deterministic and otherwise intact."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from xlbridge.calc import workbook_values, write_cached_values
from xlbridge.calc.reader import read_workbook

REPO = Path(__file__).resolve().parents[1]
BOOKS = ["graddesc.xlsx", "collab_filter.xlsx", "char_rnn.xlsx"]


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return a == b or (a == "" and b is None)


@pytest.mark.libreoffice
def test_every_formula_cell_equals_libreoffice(tmp_path):
    from xlbridge.engine import recalculate_files
    paths = [REPO / "workbooks" / b for b in BOOKS]
    for path, recalculated in zip(paths, recalculate_files(paths, tmp_path)):
        ours = workbook_values(path)
        assert not ours.problems
        lo = read_workbook(recalculated)
        bad = [(k, v, lo.sheet(k[0]).cells[(k[1], k[2])].value) for k, v in ours.items()
               if not _same(v, lo.sheet(k[0]).cells[(k[1], k[2])].value)]
        assert len(ours) > 3000 and not bad, (path.name, bad[:5])


@pytest.mark.parametrize("name", BOOKS)
def test_cached_copy_is_deterministic_and_keeps_everything_else(name, tmp_path):
    src = REPO / "workbooks" / name
    values = workbook_values(src)
    # one copy evaluates the workbook itself, the other is given the values evaluated above:
    # equal bytes mean the evaluation and the writing both repeat
    a, b = write_cached_values(src, tmp_path / "a.xlsx"), write_cached_values(src, tmp_path / "b.xlsx", values)
    assert a.read_bytes() == b.read_bytes()
    before, out = read_workbook(src), read_workbook(a)
    for (sheet, r, c), v in values.items():
        cell = out.sheet(sheet).cells[(r, c)]
        assert cell.formula == before.sheet(sheet).cells[(r, c)].formula     # the formula is kept
        assert _same(cell.value, v)
    with zipfile.ZipFile(src) as zs, zipfile.ZipFile(a) as za:
        assert zs.namelist() == za.namelist()
        for member in zs.namelist():
            if "worksheets/sheet" not in member:
                assert zs.read(member) == za.read(member), member


def test_course_workbook_equals_excels_cached_values():
    """The course workbook as Excel saved it: every cached number recomputed equal (1e-12)."""
    from tests.conftest import shared_path
    path = shared_path("reference", "course-workbooks", "collab_filter.xlsx")
    wb = read_workbook(path)
    ours = workbook_values(path, wb)
    n = 0
    for s in wb.sheets:
        for (r, c), cell in s.cells.items():
            if cell.formula and isinstance(cell.value, float):
                assert ours[(s.title, r, c)] == pytest.approx(cell.value, rel=1e-12, abs=1e-12)
                n += 1
    assert n > 3000


@pytest.mark.parametrize("name", BOOKS)
def test_bulk_and_fast_paths_equal_the_interpreter_to_the_bit(name, monkeypatch):
    """Group evaluation (vector.py) and the fast path (arith.py) give exactly the closures'
    values, so cached values do not depend on which path computed them."""
    import xlbridge.calc.evaluate as evaluate
    import xlbridge.calc.sweep as sweep
    wb = read_workbook(REPO / "workbooks" / name)
    fast = evaluate.Evaluator(wb)
    ours = fast.values()
    assert fast.stats["bulk"] > 0
    monkeypatch.setattr(sweep, "MIN_BULK", float("inf"))
    monkeypatch.setattr(evaluate, "compile_fast", lambda *a: None)
    plain = evaluate.Evaluator(read_workbook(REPO / "workbooks" / name))
    theirs = plain.values()
    assert plain.stats["bulk"] == 0
    bad = [k for k in ours if not (ours[k] == theirs[k] and type(ours[k]) is type(theirs[k]))]
    assert not bad, [(k, ours[k], theirs[k]) for k in bad[:5]]
