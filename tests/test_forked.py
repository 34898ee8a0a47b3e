"""xlbridge/forked.py: a job in a forked child hands back its failure and its warnings.

Each case runs in a fresh interpreter: Forked forks only a process with no other thread, and a
test process may hold the engine's threads from an earlier test (then the job would run in it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Forked forks only on Linux")

PRELUDE = """
import os, signal, threading, time, warnings
from xlbridge.errors import XlbridgeInputError, XlbridgeWarning
from xlbridge.forked import Forked
parent = os.getpid()
"""


def run(body: str) -> str:
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_runs_in_another_process_and_waits_for_it(tmp_path):
    out = run(f"""
        job = Forked(lambda: open({str(tmp_path / 'pid')!r}, "w").write(str(os.getpid())))
        job.result()
        print(int(open({str(tmp_path / 'pid')!r}).read()) != parent)
    """)
    assert out == "True"


def test_the_childs_error_and_warnings_come_back():
    out = run("""
        def fails():
            warnings.warn("before failing", XlbridgeWarning)
            raise XlbridgeInputError("a bad cell")
        job = Forked(fails)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                job.result()
            except XlbridgeInputError as e:
                print(repr(str(e)), os.getpid() == parent)
        print([(str(w.message), w.category.__name__) for w in caught])
    """)
    assert out.splitlines() == ["'a bad cell' True", "[('before failing', 'XlbridgeWarning')]"]


def test_a_child_that_dies_is_an_error():
    out = run("""
        try:
            Forked(lambda: os.kill(os.getpid(), signal.SIGKILL)).result()
        except RuntimeError as e:
            print(e)
    """)
    assert out == "a forked job ended with exit status -9"


def test_cancel_ends_a_running_child():
    out = run("""
        job = Forked(time.sleep, 60)
        t = time.perf_counter()
        job.cancel()
        job.result()   # nothing left to wait for
        print(time.perf_counter() - t < 10)
    """)
    assert out == "True"


def test_with_threads_running_the_job_runs_here(tmp_path):
    out = run(f"""
        stop = threading.Event()
        other = threading.Thread(target=stop.wait)
        other.start()
        job = Forked(lambda: open({str(tmp_path / 'pid')!r}, "w").write(str(os.getpid())))
        done_before_result = int(open({str(tmp_path / 'pid')!r}).read()) == parent
        job.result()
        stop.set()
        other.join()
        print(done_before_result)
    """)
    assert out == "True"


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's zombie may wait long for a reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_a_parent_killed_with_sigkill_takes_its_child_along(tmp_path):
    """A build killed with SIGKILL runs no cleanup; its child must not go on writing (the next
    run removes a dead process's temporary file, and the child would write it again)."""
    pid_file = tmp_path / "child"
    parent = subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(f"""
        job = Forked(lambda: (open({str(pid_file)!r} + ".tmp", "w").write(str(os.getpid())),
                              os.rename({str(pid_file)!r} + ".tmp", {str(pid_file)!r}), time.sleep(60)))
        time.sleep(60)
    """)])
    child = None
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert child != parent.pid and _running(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(child), "the child outlived its killed parent"
    finally:
        parent.kill()
        if child is not None and _running(child):
            os.kill(child, signal.SIGKILL)
