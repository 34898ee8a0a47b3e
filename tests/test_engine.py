"""xlbridge.engine: LibreOffice recalculates for real, by defined name, without touching inputs."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import openpyxl
import pytest

from xlbridge.engine import recalculate, recalculate_many
from xlbridge.errors import XlbridgeInputError
from xlbridge.xlsx import add_name, range_ref, save_atomic, set_workbook_kind

pytestmark = pytest.mark.libreoffice


def _book(path, a=2.0, b=3.0):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "my sheet"
    ws["A1"], ws["B1"] = a, b
    ws["C1"] = "=A1*B1+SQRT(A1)"
    ws["A2"] = "text"
    ws["D1"] = "=SUMPRODUCT(A1:B1,A1:B1)"
    add_name(wb, "inputs", range_ref(ws.title, 1, 1, 2, 2), sheet=ws)
    add_name(wb, "out", range_ref(ws.title, 1, 3, 1, 3))
    add_name(wb, "sumsq", range_ref(ws.title, 1, 4, 1, 4), sheet=ws)
    set_workbook_kind(wb, "demo")
    return save_atomic(wb, path)


def _with_stale_cache(src, dst, stale="999"):
    """Copy a LibreOffice-written file, replacing the cached value of every formula cell."""
    import re

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(rb"(</f>)<v>[^<]*</v>", rb"\1<v>" + stale.encode() + rb"</v>", data)
            zout.writestr(item, data)


def test_values_by_name_scoped_and_global(tmp_path):
    src = _book(tmp_path / "a.xlsx")
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    book = recalculate(src)
    assert book.value("out") == pytest.approx(2 * 3 + 2 ** 0.5, abs=1e-14)
    assert book.value("sumsq", "my sheet") == 13.0
    inputs = book.values("inputs", "my sheet")
    assert inputs.shape == (2, 2) and inputs[0].tolist() == [2.0, 3.0] and np.isnan(inputs[1]).all()
    assert book.raw("inputs", "my sheet")[1][0] == "text"
    assert book.kind == "demo" and book.sheets_with("sumsq") == ["my sheet"]
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before  # the input is never touched
    with pytest.raises(XlbridgeInputError, match="no defined name 'nope'"):
        book.values("nope")
    with pytest.raises(XlbridgeInputError, match="2x2 cells, expected one"):
        book.value("inputs", "my sheet")


def test_stale_cached_values_are_recalculated(tmp_path):
    first = recalculate(_book(tmp_path / "a.xlsx", a=4.0, b=5.0))
    stale = tmp_path / "stale.xlsx"
    _with_stale_cache(first.path, stale)
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
