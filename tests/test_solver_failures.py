"""Failure modes and hostile workbooks: each ends in Excel's words with the right exit status,
one line naming the file, the place and the problem, and nothing written or changed."""

from __future__ import annotations

import zipfile

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.solver_helpers import digest, solver_workbook
from xlbridge.errors import XlbridgeInputError
from xlbridge.solver import solve
from xlbridge.solver.command import solve_command


def _console():
    return Console(width=160, record=True, force_terminal=False)


# --- completed runs with a negative answer: exit 1 -------------------------------------------

def test_infeasible_is_reported_infeasible(tmp_path):
    cells = {"A1": 0, "A2": 0, "A3": "=A1+A2", "A4": "=A1-A2"}
    p = solver_workbook(tmp_path / "inf.xlsx", cells, opt="$A$3", adj="$A$1:$A$2", neg=1, eng=2,
                        constraints=[("$A$3", 1, 1), ("$A$4", 3, 5)])        # a - b >= 5 but a + b <= 1, a, b >= 0
    res = solve(p, write=False)
    assert res.outcome == "infeasible" and res.status == 3 and not res.success
    assert solve_command(p, check=False, console=_console()) == 1


@pytest.mark.parametrize("cells, opt, eng, typ", [
    pytest.param({"A1": 1, "A2": 1, "A3": "=3*A1+2*A2", "A4": "=A1-A2"}, "$A$3", 2, 1, id="linear-max"),
    pytest.param({"A1": 1, "A2": "=A1-A1*A1"}, "$A$2", 1, 2, id="nonlinear-min"),
    pytest.param({"A1": 1, "B1": 2, "C1": 3, "Z9": "=SUM(A1:X1048576)"}, "$Z$9", 1, 2, id="whole-sheet-sum"),
])
def test_unbounded_is_reported_unbounded(tmp_path, cells, opt, eng, typ):
    adj = "$A$1" if "A2" in cells and isinstance(cells["A2"], str) else "$A$1:$C$1" if "C1" in cells else "$A$1:$A$2"
    p = solver_workbook(tmp_path / "unb.xlsx", cells, opt=opt, adj=adj, neg=2, eng=eng, typ=typ)
    res = solve(p, write=False)
    assert res.outcome == "unbounded" and res.status == 4 and not res.success, res.message
    assert "does not converge" in res.message


# --- bad input: exit 2, one line, nothing written ------------------------------------------

def _error_at_start(tmp_path):
    return solver_workbook(tmp_path / "err.xlsx", {"A1": 1, "B1": 0, "A2": "=A1/B1", "A3": "=A2+A1^2"},
                           opt="$A$3", adj="$A$1")


def _unsupported_on_path(tmp_path):
    return solver_workbook(tmp_path / "fn.xlsx", {"A1": 1, "A2": "=GAMMALN(A1)+A1"}, opt="$A$2", adj="$A$1")


def _lookup_of_changing_cell(tmp_path):
    return solver_workbook(tmp_path / "vl.xlsx", {"A1": 1, "C1": 1, "D1": 5, "C2": 2, "D2": 7,
                                                 "A2": "=VLOOKUP(A1,C1:D2,2)+A1"}, opt="$A$2", adj="$A$1")


def _missing_sheet(tmp_path):
    return solver_workbook(tmp_path / "ms.xlsx", {"A1": 1, "A2": "=A1^2"}, opt="$A$2", adj="$A$1",
                           extra={"solver_adj": "nowhere!$A$1"})


def _corrupt_deflate(tmp_path):
    good = solver_workbook(tmp_path / "g.xlsx", {"A1": 1, "A2": "=(A1-2)^2"}, opt="$A$2", adj="$A$1")
    bad = tmp_path / "corrupt.xlsx"
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + min(info.compress_size, 60)):
        data[i] ^= 0x5A                                     # damage the deflate stream, not the directory
    bad.write_bytes(bytes(data))
    return bad


def _circular(tmp_path):
    return solver_workbook(tmp_path / "cycle.xlsx", {"A1": 1, "A2": "=A3+A1", "A3": "=A2*2", "A4": "=A2^2"},
                           opt="$A$4", adj="$A$1")


def _error_in_changing_cell(tmp_path):
    return solver_workbook(tmp_path / "xe.xlsx", {"A1": "=NA()", "A2": "=A1^2"}, opt="$A$2", adj="$A$1")


@pytest.mark.parametrize("make, problem", [
    pytest.param(_error_at_start, "gives the error value #DIV/0! at the start (it starts in model!A2", id="error-at-start"),
    pytest.param(_unsupported_on_path, "model!A2", id="unsupported-function"),
    pytest.param(_lookup_of_changing_cell, "VLOOKUP of changing cells is not supported", id="lookup-on-path"),
    pytest.param(_missing_sheet, "sheet 'nowhere', which does not exist", id="missing-sheet"),
    pytest.param(_corrupt_deflate, "is corrupt", id="corrupt-deflate"),
    pytest.param(_circular, "circular reference", id="circular"),
    pytest.param(_error_in_changing_cell, "holds a formula", id="formula-in-changing-cell"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, make, problem):
    p = make(tmp_path)
    before = digest(p)
    with pytest.raises(XlbridgeInputError) as e:
        solve_command(p, check=False, console=_console())
    msg = str(e.value)
    assert e.value.exit_code == 2
    assert "\n" not in msg and str(p) in msg and problem in msg, msg
    assert digest(p) == before
    assert not list(tmp_path.glob("*.solved.*"))


def test_unsupported_function_names_cell_and_function(tmp_path):
    with pytest.raises(XlbridgeInputError, match=r"model!A2: .*GAMMALN"):
        solve(_unsupported_on_path(tmp_path))


def test_cli_gives_one_line_and_no_traceback(tmp_path):
    from xlbridge.cli import app
    p = _corrupt_deflate(tmp_path)
    r = CliRunner().invoke(app, ["solve", str(p), "--no-check"])
    assert r.exit_code == 2
    out = (r.stdout or "") + (r.stderr if hasattr(r, "stderr") and r.stderr else "")
    assert "Traceback" not in out and r.exception is None or isinstance(r.exception, SystemExit)


def test_one_bad_sheet_among_good_ones(tmp_path, capsys):
    import openpyxl
    from xlbridge.xlsx import add_name
    p = solver_workbook(tmp_path / "multi.xlsx", {"B1": 0.5, "B2": "=(B1-3)^2"}, opt="$B$2", adj="$B$1", neg=2)
    wb = openpyxl.load_workbook(p)
    ws = wb.create_sheet("bad")
    ws["A1"], ws["A2"] = 1, "=GAMMALN(A1)"
    for k, v in {"solver_opt": "bad!$A$2", "solver_adj": "bad!$A$1", "solver_typ": "2"}.items():
        add_name(wb, k, v, sheet=ws, hidden=True)
    wb.save(p)
    assert solve_command(p, check=False, console=_console()) == 1
    err = capsys.readouterr().err
    assert "not solved:" in err and "sheet 'bad'" in err and "GAMMALN" in err
    solved = tmp_path / "multi.solved.xlsx"
    from xlbridge.calc.reader import read_workbook
    assert read_workbook(solved).sheet("model").cells[(1, 2)].value == pytest.approx(3.0, abs=1e-5)


def test_cross_sheet_solver_names_are_supported(tmp_path):
    import openpyxl
    from xlbridge.xlsx import add_name
    p = solver_workbook(tmp_path / "x.xlsx", {"A1": 0}, opt="$A$1", adj="$A$1")
    wb = openpyxl.load_workbook(p)
    data = wb.create_sheet("data")
    data["B1"], data["B2"] = 0.0, "=(B1-4)^2+1"
    ws = wb["model"]
    for k, v in {"solver_opt": "data!$B$2", "solver_adj": "data!$B$1"}.items():
        add_name(wb, k, v, sheet=ws, hidden=True)
    wb.save(p)
    res = solve(p)
    assert res.success and res.x[0] == pytest.approx(4.0, abs=1e-5) and res.fun == pytest.approx(1.0, abs=1e-9)


def test_huge_sheet_xml_is_refused_before_parsing(tmp_path, monkeypatch):
    import xlbridge.calc.reader as reader
    monkeypatch.setattr(reader, "MAX_SHEET_BYTES", 200_000)
    cells = {f"A{i}": float(i) for i in range(1, 20_000)}
    p = solver_workbook(tmp_path / "big.xlsx", {**cells, "B1": "=A1^2"}, opt="$B$1", adj="$A$1")
    with pytest.raises(XlbridgeInputError, match=r"MB of XML, more than the 0 MB this tool reads") as e:
        solve_command(p, check=False)
    assert "\n" not in str(e.value)


def test_too_many_cells_is_refused_while_streaming(tmp_path, monkeypatch):
    import xlbridge.calc.reader as reader
    monkeypatch.setattr(reader, "MAX_CELLS", 5_000)
    cells = {f"A{i}": float(i) for i in range(1, 6_000)}
    p = solver_workbook(tmp_path / "many.xlsx", {**cells, "B1": "=A1^2"}, opt="$B$1", adj="$A$1")
    with pytest.raises(XlbridgeInputError, match="more than 5,000 cells"):
        solve_command(p, check=False)
