"""Ratings files, movies files and folders that `build` must refuse: exit 2, one line naming the
file, the place and the problem, never a 5 MB field, and nothing written or changed anywhere.

Cases come from tests/hostile_corpus.py. They run through the command line in this process
(typer's CliRunner: an uncaught exception there is exit 1 and fails the case); a few run as a
user runs them, in a subprocess, to see the real stderr.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import subprocess
import sys
import tempfile

import openpyxl
import pytest
from typer.testing import CliRunner

from conftest import REPO
from hostile_corpus import GOOD_RATINGS, RATINGS_CASES, WORKBOOK_FILES, snapshot
from xlbridge.cli import app
from xlbridge.xlsx import unescape_text

LONGEST_MESSAGE = 400   # characters: a message quotes a short excerpt, never a whole field


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def refused(result, *fragments):
    """Exit 2, and one line on stderr that starts as every error does and holds every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:], result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlbridge: error: "), result.stderr[-2000:]
    for f in fragments:
        assert f in lines[0], lines[0][:LONGEST_MESSAGE]
    return lines[0]


def unreadable(monkeypatch, path):
    """`path` cannot be opened, as for a user without read permission. Simulated: root reads any
    file, so open() is made to refuse this one path the way the kernel would."""
    real = builtins.open

    def guarded(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == os.path.abspath(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(io, "open", guarded)


@pytest.mark.parametrize("case", RATINGS_CASES, ids=lambda c: c.name)
def test_bad_ratings_and_movies_files(case, tmp_path, monkeypatch):
    ratings = case.write(tmp_path / "in")
    before = snapshot(tmp_path)
    with monkeypatch.context() as patch:
        if case.unreadable:
            unreadable(patch, tmp_path / "in" / case.unreadable)
        result = invoke("build", "--ratings", ratings, "--out", tmp_path / "out", "--users", "5", "--movies", "5")
    line = refused(result, case.fragment)
    assert len(line) <= LONGEST_MESSAGE + len(str(tmp_path)), line[:LONGEST_MESSAGE]
    assert snapshot(tmp_path) == before


def _dataset(folder):
    folder.mkdir(parents=True)
    (folder / "ratings.csv").write_bytes(GOOD_RATINGS)
    return folder


def test_output_folder_that_is_a_file_or_under_a_file(tmp_path):
    data = _dataset(tmp_path / "data")
    (tmp_path / "a_file").write_text("x")
    before = snapshot(tmp_path)
    refused(invoke("build", "--ratings", data, "--out", tmp_path / "a_file"), "--out must be a folder; this is a file")
    refused(invoke("build", "--ratings", data, "--out", tmp_path / "a_file" / "sub"),
            f"{tmp_path / 'a_file' / 'sub'}: cannot write into this folder (Not a directory)")
    refused(invoke("build", "--ratings", data, "--out", tmp_path / ("n" * 300)), "File name too long")
    assert snapshot(tmp_path) == before


def test_names_too_long_for_the_file_system(tmp_path):
    """Every command that reads or writes a file: a name the file system refuses is one line."""
    data = _dataset(tmp_path / "data")
    long = tmp_path / ("n" * 300)
    before = snapshot(tmp_path)
    for args in (("fit", data, "--out", f"{long}.pt"), ("train", "--out", f"{long}.pt"),
                 ("interpret", f"{long}.pt"), ("generate", f"{long}.pt", "abc"),
                 ("check", f"{long}.xlsx"), ("solve", f"{long}.xlsx"),
                 ("build", "--ratings", data, "--out", long)):
        refused(invoke(*args), "File name too long")
    assert snapshot(tmp_path) == before


def test_output_folder_the_kernel_refuses(tmp_path):
    """/sys/kernel refuses new files even to root: a folder that is not writable, for real."""
    try:
        fd, probe = tempfile.mkstemp(dir="/sys/kernel")
    except OSError:
        pass
    else:
        os.close(fd)
        os.unlink(probe)
        pytest.skip("/sys/kernel accepts new files on this machine: no unwritable folder to try")
    data = _dataset(tmp_path / "data")
    refused(invoke("build", "--ratings", data, "--out", "/sys/kernel"), "/sys/kernel: cannot write into this folder")


def test_a_disk_that_fills_up_leaves_nothing_half_written(tmp_path, monkeypatch):
    """ENOSPC in the middle of writing the workbook (simulated where the zip is rewritten)."""
    import xlbridge.xlsx

    def full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(xlbridge.xlsx, "_pin_timestamps", full)
    data = _dataset(tmp_path / "data")
    out = tmp_path / "out"
    refused(invoke("build", "--ratings", data, "--out", out), "No space left on device")
    assert os.listdir(out) == []   # the folder was made for the build; no workbook, no temp file, no record


def test_the_record_of_written_files_must_be_a_file(tmp_path):
    data = _dataset(tmp_path / "data")
    (tmp_path / "out" / ".xlbridge-written.json").mkdir(parents=True)
    before = snapshot(tmp_path)
    refused(invoke("build", "--ratings", data, "--out", tmp_path / "out"), ".xlbridge-written.json: is not a file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("char", ["\x01", "\n", "\x1b", "\u2028"], ids=["U+0001", "line feed", "escape", "U+2028"])
def test_paths_with_control_characters(tmp_path, char):
    """A folder whose name holds a control character: built from, it is the workbook's source line,
    kept exactly; in a message it is shown escaped, so the message stays one line."""
    data = _dataset(tmp_path / f"my{char}data")
    out = tmp_path / f"out{char}put"
    result = invoke("build", "--ratings", data, "--out", out, "--users", "5", "--movies", "5", "--factors", "2")
    assert result.exit_code == 0, (result.output, result.exception)
    subtitle = openpyxl.load_workbook(out / "collab_filter.xlsx")["crosstab"]["A2"].value
    assert unescape_text(subtitle).startswith(f"Source: {data / 'ratings.csv'}.")
    (data / "ratings.csv").write_text("userId,movieId,rating\n1,2,x\n")
    before = snapshot(tmp_path)
    line = refused(invoke("build", "--ratings", data, "--out", out, "--force"), "line 2: 'x'")
    assert repr(char)[1:-1] in line and char not in line
    assert snapshot(tmp_path) == before


def test_as_a_user_runs_it_no_traceback(tmp_path):
    """The issue's cases, in a subprocess: a control character in a title, and an unwritable folder."""
    data = _dataset(tmp_path / "data")
    (data / "movies.csv").write_text('movieId,title\n1,"A\x01B"\n2,"x\uffffy"\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    run = lambda *a: subprocess.run([sys.executable, "-m", "xlbridge", *map(str, a)], capture_output=True,  # noqa: E731
                                    text=True, env=env, timeout=300)
    ok = run("build", "--ratings", data, "--out", tmp_path / "out", "--users", "5", "--movies", "5", "--factors", "2")
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr[-2000:]
    (tmp_path / "f").write_text("x")
    bad = run("build", "--ratings", data, "--out", tmp_path / "f" / "out")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [f"xlbridge: error: {tmp_path / 'f' / 'out'}: cannot write into this "
                                                "folder (Not a directory)"]


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", WORKBOOK_FILES)
@pytest.mark.parametrize("command", ["check", "solve"])
def test_files_that_are_not_workbooks(command, name, tmp_path):
    """End to end only: the engine's and the solver's own guards decide the message."""
    content = WORKBOOK_FILES[name]((REPO / "workbooks" / "collab_filter.xlsx").read_bytes())
    book = tmp_path / "book.xlsx"
    book.mkdir() if content is None else book.write_bytes(content)
    before = snapshot(tmp_path)
    refused(invoke(command, book, *(["--no-check"] if command == "solve" else [])), str(book))
    assert snapshot(tmp_path) == before
