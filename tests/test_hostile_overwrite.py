"""Nothing a user owns is overwritten, nothing is left half-written.

`build` replaces a file only when its bytes are exactly what xlbridge last wrote there (the
record in .xlbridge-written.json): a fill colour, a comment, a column width, a defined name or
a VBA project added by the user keeps the file theirs. Runs killed with SIGKILL at random
moments leave no corrupt file, and the next run removes their temporary files.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

import xlbridge.files
from hostile_corpus import GOOD_RATINGS, WORKBOOK_EDITS, snapshot
from xlbridge.cli import app
from xlbridge.files import WRITTEN, recorded_path, remove_stale_temps, written_state

BOOK = "collab_filter.xlsx"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def build(data, out, *extra):
    return invoke("build", "--ratings", data, "--out", out, "--users", "6", "--movies", "6", "--factors", "2", *extra)


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "ratings.csv").write_bytes(GOOD_RATINGS)
    return folder


VALUES_KEPT = ("fill colour", "column width", "defined name", "VBA project", "comment (saved by openpyxl)")


def _values(path):
    wb = openpyxl.load_workbook(path)
    return [(ws.title, c.coordinate, c.value) for ws in wb for row in ws.iter_rows() for c in row]


@pytest.mark.parametrize("edit", WORKBOOK_EDITS, ids=str)
def test_a_workbook_the_user_changed_is_never_replaced(edit, data, tmp_path):
    out = tmp_path / "out"
    assert build(data, out).exit_code == 0
    values_before = _values(out / BOOK)
    WORKBOOK_EDITS[edit](out / BOOK)
    if edit in VALUES_KEPT:   # every cell's value as built: a fingerprint of the cells would miss it
        assert _values(out / BOOK) == values_before
    before = snapshot(tmp_path)
    result = build(data, out)
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        f"xlbridge: error: {out / BOOK}: was edited since xlbridge built it; pass --force to overwrite it"]
    assert snapshot(tmp_path) == before
    assert build(data, out, "--force").exit_code == 0 and written_state(out / BOOK) == "ours"


def test_an_untouched_workbook_is_rebuilt_and_the_build_repeats_its_bytes(data, tmp_path):
    out = tmp_path / "out"
    assert build(data, out).exit_code == 0
    first = (out / BOOK).read_bytes()
    os.utime(out / BOOK, (0, 0))   # opened and closed without saving: only the time changed
    assert build(data, out).exit_code == 0
    assert (out / BOOK).read_bytes() == first
    record = json.loads((out / WRITTEN).read_text())
    assert record == {"format": "xlbridge-written/1", "sha256": {BOOK: [xlbridge.files.sha256(out / BOOK)]}}


def test_a_file_not_written_here_is_the_users(data, tmp_path):
    out = tmp_path / "out"
    assert build(data, out).exit_code == 0
    (out / WRITTEN).write_text("{ not json")   # a damaged record knows nothing
    before = snapshot(tmp_path)
    result = build(data, out)
    assert result.exit_code == 2 and "was not written by xlbridge; pass --force" in result.stderr
    assert snapshot(tmp_path) == before
    elsewhere = tmp_path / "copy"   # a byte-identical copy in another folder is not known there either
    elsewhere.mkdir()
    (elsewhere / BOOK).write_bytes((out / BOOK).read_bytes())
    assert build(data, elsewhere).exit_code == 2


def test_a_link_to_the_users_file_is_replaced_not_followed(data, tmp_path):
    mine = tmp_path / "mine.xlsx"
    mine.write_bytes(b"my own work")
    out = tmp_path / "out"
    out.mkdir()
    (out / BOOK).symlink_to(mine)
    assert build(data, out).exit_code == 2 and mine.read_bytes() == b"my own work"
    assert build(data, out, "--force").exit_code == 0
    assert mine.read_bytes() == b"my own work" and not (out / BOOK).is_symlink()


def test_a_run_killed_between_rename_and_record_leaves_a_known_file(data, tmp_path, monkeypatch):
    """The new digest joins the record before the rename: whichever file is there, it is ours."""
    out = tmp_path / "out"
    assert build(data, out).exit_code == 0
    real, calls = xlbridge.files._write_record, []

    def dies_after_the_rename(folder, files):
        calls.append(files)
        if len(calls) == 2:
            raise KeyboardInterrupt   # the run ends here, the new workbook renamed into place
        real(folder, files)

    monkeypatch.setattr(xlbridge.files, "_write_record", dies_after_the_rename)
    with pytest.raises(KeyboardInterrupt):
        with recorded_path(out / BOOK) as tmp:
            tmp.write_bytes(b"new bytes")
    monkeypatch.undo()
    assert (out / BOOK).read_bytes() == b"new bytes" and written_state(out / BOOK) == "ours"
    assert len(json.loads((out / WRITTEN).read_text())["sha256"][BOOK]) == 2   # the old and the new


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporary_files_of_dead_runs_are_removed(data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead, alive = _dead_pid(), os.getpid()
    stale = out / f".~xlbridge-{dead}-abc123.xlsx"
    stale.write_bytes(b"half a workbook")
    kept = [out / f".~xlbridge-{alive}-def456.xlsx", out / ".~xlbridge-notes.txt", out / f"~xlbridge-{dead}-x"]
    for p in kept:
        p.write_text("keep")
    assert build(data, out).exit_code == 0
    assert not stale.exists() and all(p.read_text() == "keep" for p in kept)
    assert remove_stale_temps(out) == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are told apart through /proc")
def test_a_killed_runs_unreaped_child_counts_as_dead(tmp_path):
    """A killed build's forked child dies with it but may stay a zombie for good (an orphan
    whose new parent does not reap it): its temporary file is stale all the same."""
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])    # exited, not reaped: a zombie
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b") Z" not in Path(f"/proc/{zombie.pid}/stat").read_bytes():
            time.sleep(0.02)
        stale = tmp_path / f".~xlbridge-{zombie.pid}-abc123.xlsx"
        stale.write_bytes(b"half a workbook")
        assert remove_stale_temps(tmp_path) == [stale] and not stale.exists()
    finally:
        zombie.wait()


def _group(pgid: int) -> set[int]:
    """The processes of a process group (the command and what it forked or started)."""
    pids = set()
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[-1].split()   # after "pid (name)": state, ppid, pgrp, ...
        if entry.isdigit() and int(fields[2]) == pgid:
            pids.add(int(entry))
    return pids


def _killed(cmd, cwd, delay, writing: Path | None = None) -> set[int]:
    """Run `cmd`; SIGKILL it and every process it started `delay` seconds after it starts, or,
    with `writing`, after it starts writing there (its first temporary file). Returns the pids
    killed: the command's and those of the processes it forked."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    if writing is not None:
        mine = f".~xlbridge-{proc.pid}-"
        while proc.poll() is None and not any(name.startswith(mine) for name in os.listdir(writing)):
            time.sleep(0.0005)   # a fast write lasts a few milliseconds
    pids = {proc.pid}
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGSTOP)   # frozen, so none forks between the listing and the kill
        pids |= _group(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return pids


def _killed_runs(cmd, cwd, folder: Path, full: float, writing_delay: float):
    """Four runs of `cmd` killed: two at a random moment of a run that takes `full` seconds, two
    within `writing_delay` seconds of their first temporary file in `folder`. Yields, after
    each, the pids killed so far and what to say if a check fails."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    killed, left = set(), 0
    for attempt in range(4):
        writing = folder if attempt % 2 else None
        delay = rng.uniform(0, writing_delay) if writing else rng.uniform(0.3 * full, full)
        killed |= _killed(cmd, cwd, delay, writing)
        yield killed, f"seed {seed}, attempt {attempt}, killed {delay:.2f} s after {'writing' if writing else 'start'}"
        left += any(p.name.startswith(".~xlbridge-") for p in folder.iterdir())
    assert left, f"seed {seed}: no run was killed while writing; the test proved nothing about it"


def _timed(cmd, cwd) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=600, check=True)
    return time.perf_counter() - t0


def _check_after_kill(folder: Path, killed: set[int], books: list[str], why: str) -> None:
    """Every file is complete or a temporary file of a killed run (one killed before it wrote
    anything removes none); every workbook loads."""
    for p in folder.iterdir():
        if p.name.startswith(".~xlbridge-"):
            assert int(p.name.split("-")[1]) in killed, (why, p.name)
        elif p.name == WRITTEN:
            assert json.loads(p.read_text())["format"] == "xlbridge-written/1", why
        else:
            assert p.name in books, (why, p.name)
            with zipfile.ZipFile(p) as z:
                assert z.testzip() is None, (why, p.name)
            openpyxl.load_workbook(p, read_only=True).close()


@pytest.mark.slow
def test_build_killed_at_random_moments(tmp_path):
    """The whole build (three workbooks; graddesc.xlsx over one epoch, a fifth of its default
    rows, so that each of the six runs takes seconds less) killed with SIGKILL at random
    moments: the next run, with no --force, is never refused, and leaves no temporary file."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "xlbridge", "build", "--epochs", "1", "--out", str(out)]
    full = _timed(cmd, tmp_path)
    books = sorted(p.name for p in out.iterdir() if p.suffix == ".xlsx")
    for p in out.iterdir():
        p.unlink()
    for killed, why in _killed_runs(cmd, tmp_path, out, full, writing_delay=full / 2):
        _check_after_kill(out, killed, books, why)
        for book in books:
            assert written_state(out / book) in ("ours", "absent"), why
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == sorted([*books, WRITTEN])
    assert all(written_state(out / b) == "ours" for b in books)


@pytest.mark.slow
def test_solve_killed_at_random_moments(tmp_path):
    """`solve --no-check` killed at random moments: the input is untouched, the output is absent or
    whole, and the next run leaves no temporary file."""
    from xlbridge.builders.collab import CollabConfig, build_collab
    from xlbridge.data import synthetic_ratings

    folder = tmp_path / "books"
    # big enough that writing the solved copy takes a while to catch in the act
    book = build_collab(synthetic_ratings(), folder / "c.xlsx", CollabConfig(n_users=40, n_movies=40, n_factors=3))
    before = book.read_bytes()
    cmd = [sys.executable, "-m", "xlbridge", "solve", str(book), "--no-check", "--force", "--sheet", "dotprod",
           "--out", str(folder / "solved.xlsx")]
    full = _timed(cmd, tmp_path)
    (folder / "solved.xlsx").unlink()
    for killed, why in _killed_runs(cmd, tmp_path, folder, full, writing_delay=0.01):
        assert book.read_bytes() == before, why
        _check_after_kill(folder, killed, ["c.xlsx", "solved.xlsx"], why)
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == ["c.xlsx", "solved.xlsx"]
    assert book.read_bytes() == before
