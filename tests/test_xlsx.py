"""xlbridge.xlsx helpers: atomic saves, text that stays text, references."""

from __future__ import annotations

import os

import openpyxl
import pytest

from xlbridge.xlsx import cell_ref, range_ref, save_atomic, set_text


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "book.xlsx"
    target.write_bytes(b"old")
    wb = openpyxl.Workbook()

    def broken_save(path):
        open(path, "wb").write(b"half a workbook")
        raise OSError("disk full")

    monkeypatch.setattr(wb, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_atomic(wb, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["book.xlsx"]


@pytest.mark.parametrize("text", ["=1+1", "+44", "-x", "@home", "=HYPERLINK(\"a\")", "plain"])
def test_text_never_becomes_a_formula(tmp_path, text):
    wb = openpyxl.Workbook()
    set_text(wb.active["A1"], text)
    path = save_atomic(wb, tmp_path / "t.xlsx")
    cell = openpyxl.load_workbook(path).active["A1"]
    assert cell.data_type == "s" and cell.value == text


def test_references_quote_sheet_names():
    assert cell_ref("basic SGD", 4, 2) == "'basic SGD'!$B$4"
    assert range_ref("dotprod", 5, 2, 19, 6) == "dotprod!$B$5:$F$19"
    assert range_ref("dotprod", 5, 2, 5, 2) == "dotprod!$B$5"
    assert cell_ref("it's", 1, 1) == "'it''s'!$A$1" and cell_ref("A1", 1, 1) == "'A1'!$A$1"


def test_openpyxl_writes_the_same_bytes_with_lxml_installed(tmp_path):
    """A user whose environment has lxml (pandas users often do) must build the committed bytes:
    with a stand-in lxml on the path, openpyxl takes it unless xlbridge was imported first."""
    import subprocess
    import sys

    fake = tmp_path / "lxml"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "etree.py").write_text("LXML_VERSION = (9, 9, 9, 0)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("OPENPYXL_LXML", None)
    probe = lambda first: subprocess.run(  # noqa: E731
        [sys.executable, "-c", f"{first}import openpyxl; print(openpyxl.LXML)"], env=env, capture_output=True, text=True)
    alone = probe("")
    assert alone.returncode != 0 and "lxml.etree" in alone.stderr   # openpyxl alone reaches for the stand-in...
    with_us = probe("import xlbridge; ")
    assert with_us.returncode == 0 and with_us.stdout.strip() == "False"   # ...but not once xlbridge is imported
