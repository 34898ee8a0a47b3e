"""xlbridge.engine: LibreOffice recalculates for real, by defined name, without touching inputs;
one soffice per Python process over UNO, the convert-to fallback, and the guards every file
passes before an engine sees it (#12)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
import zipfile

import numpy as np
import openpyxl
import pytest

import xlbridge.engine as engine
from xlbridge.calc.reader import read_workbook
from xlbridge.engine import recalculate, recalculate_files, recalculate_many
from xlbridge.engine.office import office
from xlbridge.errors import XlbridgeInputError
from xlbridge.xlsx import add_name, range_ref, save_atomic, set_workbook_kind

pytestmark = pytest.mark.libreoffice

needs_uno = pytest.mark.skipif(not engine.uses_uno(), reason="LibreOffice's Python bridge (python3-uno) is not "
                                                             "importable here: only the convert-to fallback runs")


def _book(path, a=2.0, b=3.0):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "my sheet"
    ws["A1"], ws["B1"] = a, b
    ws["C1"] = "=A1*B1+SQRT(A1)"
    ws["A2"] = "text"
    ws["D1"] = "=SUMPRODUCT(A1:B1,A1:B1)"
    ws["A3"], ws["B3"], ws["C3"], ws["D3"] = "=1/0", "=NA()", "=SQRT(-1)", '=IF(A1>0,"","x")'
    add_name(wb, "inputs", range_ref(ws.title, 1, 1, 2, 2), sheet=ws)
    add_name(wb, "out", range_ref(ws.title, 1, 3, 1, 3))
    add_name(wb, "sumsq", range_ref(ws.title, 1, 4, 1, 4), sheet=ws)
    add_name(wb, "errors", range_ref(ws.title, 3, 1, 3, 4), sheet=ws)
    set_workbook_kind(wb, "demo")
    return save_atomic(wb, path)


def _with_stale_cache(src, dst, stale="999"):
    """Copy a LibreOffice-written file, replacing the cached value of every formula cell."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(rb"(</f>)<v>[^<]*</v>", rb"\1<v>" + stale.encode() + rb"</v>", data)
            zout.writestr(item, data)


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_values_by_name_scoped_and_global(tmp_path):
    src = _book(tmp_path / "a.xlsx")
    before = _digest(src)
    book = recalculate(src)
    assert book.value("out") == pytest.approx(2 * 3 + 2 ** 0.5, abs=1e-14)
    assert book.value("sumsq", "my sheet") == 13.0
    inputs = book.values("inputs", "my sheet")
    assert inputs.shape == (2, 2) and inputs[0].tolist() == [2.0, 3.0] and np.isnan(inputs[1]).all()
    assert book.raw("inputs", "my sheet")[1] == ["text", None]
    assert book.cell("my sheet", 1, 3) == book.value("out") and book.cell("my sheet", 99, 99) is None
    assert book.kind == "demo" and book.sheets_with("sumsq") == ["my sheet"] and book.engine == "LibreOffice"
    assert _digest(src) == before  # the input is never touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xlsx"]  # no lock file, no copy left beside it
    with pytest.raises(XlbridgeInputError, match="no defined name 'nope'"):
        book.values("nope")
    with pytest.raises(XlbridgeInputError, match="2x2 cells, expected one"):
        book.value("inputs", "my sheet")
    with pytest.raises(XlbridgeInputError, match="name 'xlbridge_kind' is not a single range"):
        book.values("xlbridge_kind")


def test_error_cells_read_as_excel_writes_them(tmp_path):
    book = recalculate(_book(tmp_path / "e.xlsx"))
    # what LibreOffice itself writes to .xlsx for these (Err:502 becomes #VALUE!); "" reads as empty
    assert book.raw("errors", "my sheet") == [["#DIV/0!", "#N/A", "#VALUE!", None]]
    assert np.isnan(book.values("errors", "my sheet")).all()


def test_stale_cached_values_are_recalculated(tmp_path):
    (recalculated,) = recalculate_files([_book(tmp_path / "a.xlsx", a=4.0, b=5.0)], tmp_path / "lo")
    assert read_workbook(recalculated).sheet("my sheet").cells[(1, 3)].value == pytest.approx(22.0, abs=1e-14)
    stale = tmp_path / "stale.xlsx"
    _with_stale_cache(recalculated, stale)
    assert openpyxl.load_workbook(stale, data_only=True)["my sheet"]["C1"].value == 999
    assert recalculate(stale).value("out") == pytest.approx(22.0, abs=1e-14)


def test_many_in_one_start_keeps_order(tmp_path):
    paths = [_book(tmp_path / f"{i}.xlsx", a=float(i)) for i in range(1, 4)]
    books = recalculate_many(paths)
    assert [b.value("sumsq", "my sheet") for b in books] == [i * i + 9.0 for i in range(1, 4)]


def test_not_a_workbook(tmp_path):
    bad = tmp_path / "notes.xlsx"
    bad.write_bytes(b"this is not a spreadsheet")
    with pytest.raises(XlbridgeInputError, match="notes.xlsx"):
        recalculate(bad)


@needs_uno
def test_one_process_serves_every_call(tmp_path):
    paths = [_book(tmp_path / f"{i}.xlsx", a=float(i)) for i in range(1, 3)]
    recalculate_many(paths[:1])
    pid = office().pid
    assert pid is not None
    assert recalculate_many(paths)[1].value("sumsq", "my sheet") == 13.0
    assert office().pid == pid  # the same soffice, not a fresh one per call


@needs_uno
def test_soffice_is_shut_down_at_interpreter_exit(tmp_path):
    src = _book(tmp_path / "a.xlsx")
    code = ("import sys; from xlbridge.engine import recalculate; from xlbridge.engine.office import office; "
            "print(recalculate(sys.argv[1]).value('out')); print(office().pid)")
    proc = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    value, pid = proc.stdout.split()
    assert float(value) == pytest.approx(6 + 2 ** 0.5)
    deadline = time.monotonic() + 5  # its last children may take a moment to be reaped
    while time.monotonic() < deadline:
        try:
            os.killpg(int(pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    with pytest.raises(ProcessLookupError):  # the group soffice started in is gone with it
        os.killpg(int(pid), 0)


def test_fallback_without_the_bridge_gives_the_same_values(tmp_path, monkeypatch):
    src = _book(tmp_path / "a.xlsx")
    via_uno = recalculate(src)
    monkeypatch.setattr(engine, "import_uno", lambda: None)
    assert not engine.uses_uno()
    fallback = recalculate(src)
    for name in ("inputs", "sumsq", "errors"):
        assert fallback.raw(name, "my sheet") == via_uno.raw(name, "my sheet"), name
    # the fallback reads LibreOffice's .xlsx, which keeps 15 significant digits; UNO gives all 17
    assert fallback.value("out") == pytest.approx(via_uno.value("out"), rel=1e-14)


@needs_uno
def test_time_limit_ends_the_process_and_the_next_call_gets_a_fresh_one(tmp_path):
    src = _book(tmp_path / "a.xlsx")
    with pytest.raises(XlbridgeInputError, match=r"a\.xlsx: LibreOffice did not finish recalculating within 0\.001 s"):
        recalculate(src, timeout=0.001)
    assert recalculate(src).value("sumsq", "my sheet") == 13.0
