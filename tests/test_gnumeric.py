"""Gnumeric as a second engine: the committed workbooks recalculate in `ssconvert --recalc` to
the PyTorch values too, and to what LibreOffice computes, cell for cell.

Skipped with a reason where ssconvert is missing, except under XLBRIDGE_REQUIRE_GNUMERIC=1
(CI, where .ci/run installs gnumeric), where a missing engine fails."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from conftest import tampered_copy

from xlbridge.engine import recalculate, recalculate_many
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity import check_book

REPO = Path(__file__).resolve().parents[1]
BOOKS = [REPO / "workbooks" / n for n in ("graddesc.xlsx", "collab_filter.xlsx", "char_rnn.xlsx")]

if not shutil.which("ssconvert") and os.environ.get("XLBRIDGE_REQUIRE_GNUMERIC") != "1":
    pytest.skip("Gnumeric (ssconvert) not found: install gnumeric", allow_module_level=True)


@pytest.fixture(scope="module")
def gnumeric():
    return recalculate_many(BOOKS, engine="gnumeric")


@pytest.mark.parametrize("i", range(len(BOOKS)), ids=[b.name for b in BOOKS])
def test_committed_workbooks_match_pytorch_in_gnumeric(gnumeric, i):
    book = gnumeric[i]
    assert book.engine == "Gnumeric" and book.kind in ("graddesc", "collab", "char_rnn")
    results = check_book(book)
    bad = [c for c in results if not c.passed]
    assert results and not bad, bad[:5]
    assert sum(c.cells for c in results) > 1000


@pytest.mark.libreoffice
def test_gnumeric_and_libreoffice_agree_on_every_cell(gnumeric):
    """Not only the checked names: every number any sheet shows is the same in both engines."""
    libreoffice = recalculate_many(BOOKS)
    compared = 0
    for g, lo in zip(gnumeric, libreoffice):
        for title in lo.sheets:
            for r, row in enumerate(lo.rows(title), start=1):
                for c, want in enumerate(row, start=1):
                    got = g.cell(title, r, c)
                    if isinstance(want, float):
                        # 1e-9, parity's tolerance: 300 optimizer steps carry the engines' last-digit differences
                        assert isinstance(got, float) and abs(got - want) <= 1e-9 * max(1.0, abs(want)), \
                            (g.source.name, title, r, c, got, want)
                        compared += 1
                    else:
                        assert got == want or (got, want) in ((None, ""), ("", None)), (g.source.name, title, r, c, got, want)
    assert compared > 30_000


def test_index_with_a_zero_column_is_what_gnumeric_cannot_compute(tmp_path):
    """Why the builders refer to weight rows directly: the old form gives an error in Gnumeric."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "w"
    for c, v in zip("ABC", (1.0, 2.0, 3.0)):
        ws[f"{c}1"], ws[f"{c}2"] = v, 10 * v
    ws["E1"] = "=SUMPRODUCT(INDEX(A1:C2, 2, 0), A1:C1)"   # the old form: row 2 as INDEX(range, 2, 0)
    ws["E2"] = "=SUMPRODUCT($A$2:$C$2, A1:C1)"           # the new form: row 2 referred to directly
    ws["E3"] = "=MAX(A1:C1) + LN(SUMPRODUCT(EXP(1)^(A1:C1 - MAX(A1:C1))))"   # logsumexp as the builders write it
    path = tmp_path / "forms.xlsx"
    wb.save(path)
    book = recalculate(path, engine="gnumeric")
    assert book.cell("w", 1, 5) == "#REF!"
    assert book.cell("w", 2, 5) == 140.0
    assert book.cell("w", 3, 5) == pytest.approx(math.log(math.exp(1) + math.exp(2) + math.exp(3)), rel=1e-14)


def test_files_are_checked_before_gnumeric_sees_them(tmp_path, monkeypatch):
    import xlbridge.engine.gnumeric as gn

    bomb = tmp_path / "bomb.xlsx"
    shutil.copyfile(BOOKS[1], bomb)
    import zipfile

    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/media/image1.bin", b"\0" * (64 << 20))
    monkeypatch.setattr(gn, "recalculate", lambda *a: pytest.fail("Gnumeric was handed the file"))
    with pytest.raises(XlbridgeInputError, match=r"bomb\.xlsx: member 'xl/media/image1\.bin' expands"):
        recalculate(bomb, engine="gnumeric")


def test_time_limit(tmp_path):
    with pytest.raises(XlbridgeInputError, match=r"graddesc\.xlsx: Gnumeric did not finish recalculating within 0\.01 s"):
        recalculate(BOOKS[0], engine="gnumeric", timeout=0.01)


def test_check_command_with_gnumeric(tmp_path):
    tampered = tampered_copy(BOOKS[1], tmp_path / "tampered.xlsx", "bias")
    run = lambda *a: subprocess.run([sys.executable, "-m", "xlbridge", "check", "--engine", "gnumeric", *map(str, a)],  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    ok = run(BOOKS[1])
    assert ok.returncode == 0 and "Parity: Gnumeric recalculation" in ok.stdout and "PASS:" in ok.stdout, ok.stdout + ok.stderr
    bad = run(tampered)
    assert bad.returncode == 1 and "FAIL:" in bad.stdout and "  - rmse:" in bad.stdout, bad.stdout + bad.stderr


def test_stale_cached_values_are_recalculated(tmp_path):
    """The workbooks carry cached values: Gnumeric must compute, not show them."""
    from xlbridge.calc import write_cached_values

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "s"
    ws["A1"], ws["A2"] = 3.0, "=A1*A1+1"
    src = tmp_path / "src.xlsx"
    wb.save(src)
    stale = write_cached_values(src, tmp_path / "stale.xlsx", {("s", 2, 1): 999.0})
    assert openpyxl.load_workbook(stale, data_only=True)["s"]["A2"].value == 999
    assert recalculate(stale, engine="gnumeric").cell("s", 2, 1) == 10.0
