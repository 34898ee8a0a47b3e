"""The committed workbooks are what `xlbridge build` makes today, recorded as xlbridge's own, and
rebuilding protects edits."""

from __future__ import annotations

import openpyxl
import pytest
from conftest import REPO, workbook_content

from xlbridge.files import recorded_path, written_state
from xlbridge.workbooks import WORKBOOKS


@pytest.mark.parametrize("spec", WORKBOOKS, ids=lambda s: s.filename)
def test_committed_workbook_is_current(spec, tmp_path):
    committed = REPO / "workbooks" / spec.filename
    assert committed.is_file(), f"workbooks/{spec.filename} must be committed (run 'xlbridge build')"
    fresh = spec.build_default(tmp_path / spec.filename)
    assert workbook_content(committed) == workbook_content(fresh), "rebuild and commit: xlbridge build"
    assert committed.read_bytes() == fresh.read_bytes(), "rebuild and commit: xlbridge build --force"
    assert written_state(committed) == "ours", "commit workbooks/.xlbridge-written.json with the workbooks"


def test_an_edit_is_noticed(tmp_path):
    spec = next(s for s in WORKBOOKS if s.kind == "collab")
    path = tmp_path / spec.filename
    with recorded_path(path) as tmp:
        spec.build_default(tmp)
    assert written_state(path) == "ours"
    wb = openpyxl.load_workbook(path)
    wb["dotprod"]["B30"] = 0.5
    wb.save(path)
    assert written_state(path) == "changed"
    plain = tmp_path / "plain.xlsx"
    openpyxl.Workbook().save(plain)
    assert written_state(plain) == "foreign" and written_state(tmp_path / "none.xlsx") == "absent"


def test_same_inputs_same_bytes(tmp_path):
    spec = next(s for s in WORKBOOKS if s.kind == "collab")
    a = spec.build_default(tmp_path / "a.xlsx")
    b = spec.build_default(tmp_path / "b.xlsx")
    assert a.read_bytes() == b.read_bytes()
    assert openpyxl.load_workbook(a).properties.creator == "xlbridge"
