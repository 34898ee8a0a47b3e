"""xlbridge.engine: LibreOffice recalculates for real, by defined name, without touching inputs;
one soffice per Python process over UNO, the convert-to fallback, and the guards every file
passes before an engine sees it (#12)."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

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


def _group_ends(pgid: int, within: float = 5.0) -> bool:
    """True once no process is left in the group soffice started (the last may take a moment to
    be reaped)."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


@needs_uno
def test_shutdown_ends_libreoffice_now_and_a_later_call_starts_a_fresh_one(tmp_path):
    from xlbridge.engine import shutdown

    path = _book(tmp_path / "a.xlsx", a=2.0)
    assert recalculate(path).value("sumsq", "my sheet") == 13.0
    pid = office().pid
    profiles = engine.soffice.profile("uno").parent
    shutdown()
    assert office().pid is None and _group_ends(pid) and not profiles.exists()
    assert recalculate(path).value("sumsq", "my sheet") == 13.0      # a fresh process and worker
    assert office().pid not in (None, pid)


@needs_uno
def test_the_bridge_leaves_pythons_import_alone(tmp_path):
    """uno.py hooks every import; left in place, a failed `from m import x` raises ImportError
    instead of ModuleNotFoundError, and tqdm's `except ModuleNotFoundError` breaks."""
    recalculate(_book(tmp_path / "a.xlsx"))
    with pytest.raises(ModuleNotFoundError):
        exec("from xlbridge_no_such_module import anything")


@needs_uno
def test_soffice_never_outlives_the_python_that_started_it(tmp_path):
    """Three processes at once, each recalculating a workbook: one ends normally (atexit shuts
    LibreOffice down), one is killed with SIGKILL and one with a SIGTERM nothing handles (a
    notebook kernel ended on restart), which run no cleanup. In each case soffice's whole
    process group ends and its profile is removed."""
    src = _book(tmp_path / "a.xlsx")
    code = ("import sys; from xlbridge.engine import recalculate, soffice; from xlbridge.engine.office import office; "
            "print(recalculate(sys.argv[1]).value('out'), office().pid, soffice.profile('uno').parent, flush=True); "
            "sys.stdin.read()")
    procs = {how: subprocess.Popen([sys.executable, "-c", code, str(src)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True) for how in ("exit", "SIGKILL", "SIGTERM")}
    try:
        started = {how: proc.stdout.readline().split() for how, proc in procs.items()}
        for how, proc in procs.items():
            value, pid, profiles = started[how]
            assert float(value) == pytest.approx(6 + 2 ** 0.5), how
            assert not _group_ends(int(pid), within=0.2), how      # it runs while its Python does
            if how == "exit":
                proc.stdin.close()
            else:
                proc.send_signal(getattr(signal, how))
            proc.wait(timeout=60)
        assert procs["exit"].returncode == 0
        for how, (value, pid, profiles) in started.items():
            assert _group_ends(int(pid)), f"{how}: soffice outlived the process that started it"
            deadline = time.monotonic() + 5
            while Path(profiles).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not Path(profiles).exists(), f"{how}: its profile stayed"
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()


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


# --- guards (#12): every file passes solve's safety checks before an engine sees it --------------

@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A small collab workbook as `xlbridge build` writes it: the file every broken one starts from."""
    from xlbridge.builders.collab import CollabConfig, build_collab
    from xlbridge.data import synthetic_ratings

    return build_collab(synthetic_ratings(), tmp_path_factory.mktemp("good") / "good.xlsx",
                        CollabConfig(n_users=5, n_movies=5, n_factors=2))


def _rezip(src, dst, edit, extra=()):
    """Copy a workbook part by part; edit(name, bytes) gives the new bytes, or None to leave it out."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = edit(item.filename, zin.read(item.filename))
            if data is not None:
                zout.writestr(item.filename, data)
        for name, data in extra:
            zout.writestr(name, data)
    return dst


def _sheet_part(path, title="dotprod"):
    wb = read_workbook(path)
    return wb.sheet(title).part


def _zip_bomb(good, tmp):
    # 64 MiB of zeros inflating from 64 KiB: a ratio of 1000 (a real bomb of 1 GB takes 9 s to make)
    return _rezip(good, tmp / "bomb.xlsx", lambda n, d: d, [("xl/media/image1.bin", b"\0" * (64 << 20))])


def _corrupt_member(good, tmp):
    bad = tmp / "corrupt.xlsx"
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo(_sheet_part(good))
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + min(info.compress_size, 60)):
        data[i] ^= 0x5A  # the deflate stream, not the directory
    bad.write_bytes(bytes(data))
    return bad


def _missing_sheet_part(good, tmp):
    part = _sheet_part(good)
    return _rezip(good, tmp / "nosheet.xlsx", lambda n, d: None if n == part else d)


def _entities(good, tmp):
    part = _sheet_part(good)
    laughs = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    return _rezip(good, tmp / "laughs.xlsx", lambda n, d: laughs + d if n == part else d)


def _malformed_xml(good, tmp):
    part = _sheet_part(good)
    return _rezip(good, tmp / "cut.xlsx", lambda n, d: d[: len(d) // 2] if n == part else d)


def _bad_cell_value(good, tmp):
    part = _sheet_part(good)
    return _rezip(good, tmp / "badvalue.xlsx", lambda n, d: re.sub(rb"<v>[0-9.]+</v>", b"<v>1.5.2</v>", d, count=1)
                  if n == part else d)


def _truncated(good, tmp):
    bad = tmp / "truncated.xlsx"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return bad


def _word_document(good, tmp):
    rels = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            b'officeDocument" Target="word/document.xml"/></Relationships>')
    bad = tmp / "letter.xlsx"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", b'<?xml version="1.0"?><w:document xmlns:w="urn:w"/>')
    return bad


@pytest.mark.parametrize("make, problem", [
    pytest.param(_zip_bomb, "expands 1", id="zip-bomb"),
    pytest.param(_corrupt_member, "is corrupt", id="corrupt-member"),
    pytest.param(_missing_sheet_part, "points at a missing part", id="missing-sheet-part"),
    pytest.param(_entities, "refused as unsafe", id="xml-entities"),
    pytest.param(_malformed_xml, "not well-formed XML", id="malformed-xml"),
    pytest.param(_bad_cell_value, "number expected, got '1.5.2'", id="bad-cell-value"),
    pytest.param(_truncated, "not a workbook", id="truncated-file"),
    pytest.param(_word_document, "not a workbook", id="word-document"),
])
def test_broken_files_are_bad_input_before_any_engine_sees_them(good, tmp_path, monkeypatch, make, problem):
    from xlbridge.cli import run_checks
    from xlbridge.engine.office import Office

    bad = make(good, tmp_path)
    seen = []
    monkeypatch.setattr(Office, "recalculate", lambda self, path, *a: seen.append(path))
    before = sorted(tmp_path.iterdir())
    with pytest.raises(XlbridgeInputError) as e:
        run_checks([good, bad])
    msg = str(e.value)
    assert msg.startswith(f"{bad}: ") and problem in msg and "\n" not in msg, msg
    assert bad not in seen  # LibreOffice never got it
    assert sorted(tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize("limit, value, problem", [
    ("MAX_SHEET_BYTES", 2_000, "MB of XML, more than the 0 MB this tool reads"),
    ("MAX_CELLS", 50, "more than 50 cells"),
])
def test_a_sheet_past_the_limits_is_refused_unread(good, monkeypatch, limit, value, problem):
    import xlbridge.calc.reader as reader

    monkeypatch.setattr(reader, limit, value)  # the course workbook stands in for a 200 MB sheet
    with pytest.raises(XlbridgeInputError, match=re.escape(problem)):
        recalculate(good)


def test_a_circular_reference_is_bad_input_naming_the_cell(good, tmp_path):
    wb = openpyxl.load_workbook(good)
    ws = wb["dotprod"]
    rmse = ws.defined_names["rmse"].attr_text.split("!")[1]
    first = ws.defined_names["predictions"].attr_text.split("!")[1].split(":")[0].replace("$", "")
    ws[first] = f"={rmse}+1"  # the RMSE reads this prediction: a loop
    cyclic = tmp_path / "cycle.xlsx"
    wb.save(cyclic)
    with pytest.raises(XlbridgeInputError, match=rf"^{re.escape(str(cyclic))}: sheet 'dotprod' cell [A-Z]+\d+: "
                                                  r"a circular reference \(LibreOffice Err:522\)$"):
        recalculate(cyclic)
    assert recalculate(good).value("rmse", "dotprod") > 0  # and the engine carries on


@needs_uno
def test_check_exits_2_with_one_line_for_a_broken_file_and_for_a_slow_one(good, tmp_path):
    bad = _corrupt_member(good, tmp_path)
    for args, fragment in (([bad], "is corrupt"), ([good, "--timeout", "0.001"], "did not finish recalculating within")):
        proc = subprocess.run([sys.executable, "-m", "xlbridge", "check", *map(str, args)], capture_output=True,
                              text=True, timeout=300)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and fragment in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr and "PASS" not in proc.stdout and "FAIL" not in proc.stdout


def test_bad_input_while_a_workbook_is_loading_still_exits_2(good, tmp_path):
    """The foreign file fails while LibreOffice loads the good one: the engine is ended and its
    thread returns before Python finalises (a thread inside the bridge then would abort, 134)."""
    foreign = tmp_path / "foreign.xlsx"
    openpyxl.Workbook().save(foreign)
    proc = subprocess.run([sys.executable, "-m", "xlbridge", "check", str(good), str(foreign)], capture_output=True,
                          text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "no parity check for workbook kind None" in lines[0], proc.stderr


def test_the_next_process_starts_from_the_profile_libreoffice_set_up(tmp_path):
    """The first process keeps the profile LibreOffice set up in the cache; the next one starts
    from a copy of it, and still recalculates every formula, through UNO and through convert-to."""
    recalculated = recalculate_files([_book(tmp_path / "a.xlsx", a=4.0, b=5.0)], tmp_path / "lo")[0]
    stale = tmp_path / "stale.xlsx"
    _with_stale_cache(recalculated, stale)
    script = ("import sys; from xlbridge.engine import recalculate, soffice\n"
              "print((soffice.profile('uno') / 'user' / 'extensions').is_dir())   # set up before it starts?\n"
              "print(recalculate(sys.argv[1]).value('out'))")
    env = dict(os.environ, XLBRIDGE_CACHE=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", script, str(stale)], capture_output=True, text=True, env=env,
                           timeout=300) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    (kept,) = (tmp_path / "cache").glob("libreoffice-profile-*")
    assert "OOXMLRecalcMode" in (kept / "registrymodifications.xcu").read_text()
    assert [r.stdout.split() for r in runs] == [["False", str(4.0 * 5.0 + 2.0)], ["True", str(4.0 * 5.0 + 2.0)]]
    # convert-to from the same kept profile (the UNO server's, which leaves recalculating to
    # calculateAll) must recalculate on load: the stale 999 never comes back
    fallback = subprocess.run([sys.executable, "-c", "import xlbridge.engine as e; e.import_uno = lambda: None\n" + script,
                               str(stale)], capture_output=True, text=True, env=env, timeout=300)
    assert fallback.returncode == 0 and fallback.stdout.split()[1] == str(4.0 * 5.0 + 2.0), fallback.stderr
