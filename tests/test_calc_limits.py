"""Hostile workbooks at the reader's real limits (no limit lowered): each is refused with one
line naming the file and the problem, before memory follows it (issue #12), and nothing is
written. The sizes between, up to 200 MB of sheet XML, are measured by
benchmarks/solver_memory.py (a solve or a refusal, within 1 GB)."""

from __future__ import annotations

import zipfile

import pytest

import xlbridge.calc.reader as reader
from xlbridge.errors import XlbridgeInputError
from xlbridge.solver.command import solve_command

HEAD = '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def _workbook(path, sheet_xml: bytes, compress=zipfile.ZIP_DEFLATED):
    """A one-sheet workbook with a Solver model on it, around the given sheet XML."""
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                               '<Default Extension="xml" ContentType="application/xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                       '<Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
                       'officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                           'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
                           '<sheet name="m" sheetId="1" r:id="rId1"/></sheets><definedNames>'
                           '<definedName name="solver_opt" localSheetId="0" hidden="1">m!$B$1</definedName>'
                           '<definedName name="solver_adj" localSheetId="0" hidden="1">m!$A$1</definedName>'
                           '</definedNames></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
                                      '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                                      'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                                      '</Relationships>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml, compress_type=compress)
    return path


def _rows(cells: str) -> bytes:
    return (HEAD + '<sheetData><row r="1"><c r="A1"><v>1</v></c><c r="B1"><f>(A1-2)^2</f></c></row>'
            + cells + "</sheetData></worksheet>").encode()


def _refused(path, problem):
    with pytest.raises(XlbridgeInputError) as e:
        solve_command(path, check=False)
    assert e.value.exit_code == 2 and "\n" not in str(e.value) and str(path) in str(e.value)
    assert problem in str(e.value), str(e.value)
    assert not list(path.parent.glob("*.solved.*"))


def test_sheet_xml_over_the_limit_is_refused_unread(tmp_path):
    # stored, not deflated: the zip's directory is honest and the ratio harmless
    pad = b"<!--" + b"x" * (reader.MAX_SHEET_BYTES + 1024) + b"-->"
    _refused(_workbook(tmp_path / "big.xlsx", _rows("")[:-len(b"</sheetData></worksheet>")] + pad +
                       b"</sheetData></worksheet>", zipfile.ZIP_STORED), "MB of XML, more than the 100 MB")


def test_zip_bomb_ratio_is_refused_unread(tmp_path):
    pad = b"<!--" + b"0" * (64 * 2**20) + b"-->"              # 64 MB of zeros deflate some 1000 times
    _refused(_workbook(tmp_path / "bomb.xlsx", _rows("")[:-24] + pad + b"</sheetData></worksheet>"),
             "more than the 200x allowed")


def test_declared_dimension_past_the_cell_limit_is_refused_before_the_rows(tmp_path):
    xml = _rows("").replace(HEAD.encode(), (HEAD + '<dimension ref="A1:XFD1048576"/>').encode())
    _refused(_workbook(tmp_path / "dim.xlsx", xml), f"more than the {reader.MAX_CELLS:,} this tool reads")


def test_formula_longer_than_excel_allows_is_refused(tmp_path):
    long = "+".join(["A1"] * (reader.MAX_FORMULA_LENGTH // 3 + 10))
    _refused(_workbook(tmp_path / "long.xlsx", _rows(f'<row r="2"><c r="C2"><f>{long}</f></c></row>')),
             f"longer than the {reader.MAX_FORMULA_LENGTH:,} Excel allows")


def test_more_distinct_formulas_than_the_budget_is_refused(tmp_path):
    n = reader.MAX_FORMULAS + 1                                  # each a constant of its own: no two alike
    rows = "".join(f'<row r="{r}"><c r="C{r}"><f>A1*{r}</f></c></row>' for r in range(2, n + 2))
    _refused(_workbook(tmp_path / "distinct.xlsx", _rows(rows)), f"more than {reader.MAX_FORMULAS:,} distinct formulas")


def test_text_past_the_limit_is_refused(tmp_path):
    text = "y" * (reader.MAX_TEXT + 1)
    xml = _rows(f'<row r="2"><c r="C2" t="inlineStr"><is><t>{text}</t></is></c></row>')
    _refused(_workbook(tmp_path / "text.xlsx", xml, zipfile.ZIP_STORED),
             f"more than {reader.MAX_TEXT:,} characters of formulas and text")
