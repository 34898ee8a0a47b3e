"""Untrusted files: every bad input gives one XlbridgeInputError line naming the file,
and the input is left exactly as it was."""

from __future__ import annotations

import zipfile

import pytest

from tests.solver_helpers import digest, solver_workbook
from xlbridge.errors import XlbridgeInputError
from xlbridge.solver import list_models
from xlbridge.solver.command import solve_command
from xlbridge.calc.evaluate import Evaluator
from xlbridge.calc.reader import read_workbook


def _good(tmp_path):
    return solver_workbook(tmp_path / "good.xlsx", {"A1": 1, "A2": "=(A1-2)^2"}, opt="$A$2", adj="$A$1")


def _rezip(src, dst, replace: dict[str, bytes], add: dict[str, bytes] | None = None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename, zin.read(info.filename)))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&lol3;</workbook>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE workbook [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&xxe;</workbook>"""


def _not_a_zip(tmp_path):
    p = tmp_path / "notes.xlsx"
    p.write_text("user,movie,rating\n1,2,3\n")
    return p


def _docx_like(tmp_path):
    p = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/document.xml", "<document/>")
    return p


def _zip_bomb(tmp_path):
    # 300 MiB of zeros deflates to about 300 KiB: a ratio of ~1000
    src = _good(tmp_path)
    dst = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        with zout.open("xl/media/padding.bin", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(300):
                f.write(chunk)
    return dst


def _entities(doc):
    def make(tmp_path):
        return _rezip(_good(tmp_path), tmp_path / "evil.xlsx", {"xl/workbook.xml": doc})
    return make


def _broken_names(tmp_path):
    return solver_workbook(tmp_path / "broken.xlsx", {"A1": 1, "A2": "=(A1-2)^2"}, opt="#REF!", adj="$A$1")


def _circular(tmp_path):
    return solver_workbook(tmp_path / "cycle.xlsx", {"A1": 1, "A2": "=A3+A1", "A3": "=A2*2", "A4": "=A2^2"},
                           opt="$A$4", adj="$A$1")


def _unsupported(tmp_path):
    return solver_workbook(tmp_path / "f.xlsx", {"A1": 1, "A2": "=GAMMALN(A1)"}, opt="$A$2", adj="$A$1")


@pytest.mark.parametrize("make, problem", [
    pytest.param(_not_a_zip, "not a workbook", id="not-a-zip"),
    pytest.param(_docx_like, "not a workbook", id="word-document"),
    pytest.param(_zip_bomb, "zip bomb", id="zip-bomb"),
    pytest.param(_entities(BILLION_LAUGHS), "refused as unsafe", id="billion-laughs"),
    pytest.param(_entities(EXTERNAL_ENTITY), "refused as unsafe", id="external-entity"),
    pytest.param(_broken_names, "#REF!", id="broken-ref-name"),
    pytest.param(_circular, "circular reference", id="circular-reference"),
    pytest.param(_unsupported, "function GAMMALN is not supported", id="unsupported-function"),
])
def test_bad_input_is_one_line_and_leaves_the_file(tmp_path, make, problem):
    p = make(tmp_path)
    before = digest(p)
    with pytest.raises(XlbridgeInputError) as e:
        solve_command(p, check=False)
    msg = str(e.value)
    assert e.value.exit_code == 2
    assert "\n" not in msg and str(p) in msg and problem in msg
    assert digest(p) == before
    assert not list(tmp_path.glob("*.solved.*"))


def test_broken_model_is_listed(tmp_path, capsys):
    p = _broken_names(tmp_path)
    assert solve_command(p, list_only=True) == 0
    out = capsys.readouterr().out
    assert "BROKEN" in out and "#REF!" in out


def test_list_reads_every_model(tmp_path):
    p = _good(tmp_path)
    (m,) = list_models(p)
    assert m.sheet == "model" and m.goal == "min" and m.engine == "GRG Nonlinear" and not m.nonnegative
    assert m.n_changing == 1


def test_interpreter_agrees_with_excel_cached_values():
    """Every formula cell of the course workbook, evaluated here, equals what Excel stored
    (MMULT, SUMXMY2, OFFSET/MATCH lookups, SUMPRODUCT, AVERAGE, shared formulas)."""
    from tests.conftest import shared_path
    wb = read_workbook(shared_path("reference", "course-workbooks", "collab_filter.xlsx"))
    ev = Evaluator(wb)
    n = 0
    for s in wb.sheets:
        for (r, c), cell in s.cells.items():
            if cell.formula and isinstance(cell.value, float):
                got = ev.value((s.title, r, c))
                assert got == pytest.approx(cell.value, rel=1e-12, abs=1e-12), (s.title, r, c, cell.formula)
                n += 1
    assert n > 3000
