"""`xlbridge solve` as a function: what it prints and the exit codes it returns."""

from __future__ import annotations

import pytest
from rich.console import Console

from tests.solver_helpers import digest, solver_workbook
from xlbridge.errors import XlbridgeInputError
from xlbridge.solver import solve
from xlbridge.solver.command import solve_command


def _console():
    return Console(width=120, record=True, force_terminal=False)


def _quadratic(tmp_path, **kw):
    return solver_workbook(tmp_path / "q.xlsx", {"B1": 0.5, "B2": 0.5, "B4": "=(B1-3)^2+(B2+1)^2+2"},
                           opt="$B$4", adj="$B$1:$B$2", **kw)


def test_solved_prints_and_exits_0(tmp_path):
    p = _quadratic(tmp_path)
    con = _console()
    assert solve_command(p, console=con, check=False) == 0
    text = con.export_text()
    assert "q.xlsx -> q.solved.xlsx" in text
    assert "GRG Nonlinear engine, solved by L-BFGS-B" in text
    assert "│  10.5 │   2 │" in text and "solved" in text     # (0.5-3)^2 + 1.5^2 + 2 -> 2
    assert (tmp_path / "q.solved.xlsx").is_file()


def test_list_only_writes_nothing(tmp_path):
    p = _quadratic(tmp_path)
    con = _console()
    assert solve_command(p, list_only=True, console=con) == 0
    assert "model: minimise 'model'!B4 by changing 'model'!B1:B2 (2 cells)" in con.export_text()
    assert not (tmp_path / "q.solved.xlsx").exists()


def test_not_converged_exits_1(tmp_path):
    p = solver_workbook(tmp_path / "r.xlsx", {"A1": -1.2, "A2": 1, "A3": "=100*(A2-A1^2)^2+(1-A1)^2"},
                        opt="$A$3", adj="$A$1:$A$2", extra={"solver_itr": "2", "solver_cvg": "1E-12"})
    con = _console()
    assert solve_command(p, console=con, check=False) == 1
    assert "NOT solved" in con.export_text()


def test_time_limit_is_honoured(tmp_path):
    # a slow-to-converge valley with a tiny time limit: stops with status 1, promptly
    p = solver_workbook(tmp_path / "r.xlsx", {"A1": -1.2, "A2": 1, "A3": "=100*(A2-A1^2)^2+(1-A1)^2"},
                        opt="$A$3", adj="$A$1:$A$2", extra={"solver_cvg": "1E-15"})
    res = solve(p, max_time=1e-9)
    assert res.status == 1 and not res.success and "time limit" in res.message
    assert res.nit <= 2


@pytest.mark.parametrize("kwargs, problem", [
    pytest.param(dict(sheet="nope"), "has no Solver model", id="unknown-sheet"),
    pytest.param(dict(max_time=-1), "--max-time", id="bad-max-time"),
])
def test_bad_options(tmp_path, kwargs, problem):
    p = _quadratic(tmp_path)
    with pytest.raises(XlbridgeInputError, match=problem):
        solve_command(p, check=False, **kwargs)


def test_refuses_to_overwrite_without_force(tmp_path):
    p = _quadratic(tmp_path)
    out = tmp_path / "mine.xlsx"
    out.write_bytes(b"precious")
    with pytest.raises(XlbridgeInputError, match="already exists; use --force"):
        solve_command(p, out=out, check=False)
    assert out.read_bytes() == b"precious"
    assert solve_command(p, out=out, force=True, check=False, console=_console()) == 0
    assert out.read_bytes() != b"precious"


def test_in_place_only_when_asked(tmp_path):
    p = _quadratic(tmp_path)
    before = digest(p)
    assert solve_command(p, in_place=True, check=False, console=_console()) == 0
    assert digest(p) != before
    assert not (tmp_path / "q.solved.xlsx").exists()


def test_broken_model_beside_a_good_one_is_skipped(tmp_path, capsys):
    import openpyxl
    from xlbridge.xlsx import add_name
    p = _quadratic(tmp_path)
    wb = openpyxl.load_workbook(p)
    ws = wb.create_sheet("old")
    ws["A1"] = 1
    for k, v in {"solver_opt": "old!#REF!", "solver_adj": "old!$A$1", "solver_typ": "2"}.items():
        add_name(wb, k, v, sheet=ws, hidden=True)
    wb.save(p)
    # the good model is solved and written; the broken one is listed with its reason; exit 1
    assert solve_command(p, check=False, console=_console()) == 1
    err = capsys.readouterr().err
    assert "not solved:" in err and "sheet 'old'" in err and "#REF!" in err
    assert (tmp_path / "q.solved.xlsx").is_file()
    with pytest.raises(XlbridgeInputError, match="broken"):
        solve_command(p, sheet="old", check=False, force=True)


@pytest.mark.libreoffice
def test_libreoffice_check_runs(tmp_path):
    p = _quadratic(tmp_path)
    con = _console()
    assert solve_command(p, console=con) == 0
    assert "model: LibreOffice recalculation gives 2 (matches" in con.export_text()


def test_warnings_printed_once(tmp_path, capsys):
    p = solver_workbook(tmp_path / "w.xlsx", {"A1": 1, "A2": "=(A1-2)^2"}, opt="$A$2", adj="$A$1",
                        extra={"solver_msl": "1"})
    assert solve_command(p, check=False, console=_console()) == 0
    err = capsys.readouterr().err
    assert err.count("solver_msl=1 is not honoured") == 1


def test_result_is_a_dict_with_attributes_and_outcome_first(tmp_path):
    res = solve(_quadratic(tmp_path), write=False)
    assert res["fun"] == res.fun and "x_by_name" in res.keys()
    assert repr(res).lstrip().startswith("message:")
    assert repr(res).splitlines()[1].strip() == "success: True"
    assert res.path is None and not (tmp_path / "q.solved.xlsx").exists()
