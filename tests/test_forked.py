"""xlbridge/forked.py: a job in a forked child hands back its failure and its warnings.

Each case runs in a fresh interpreter: Forked forks only a process with no other thread, and a
test process may hold the engine's threads from an earlier test (then the job would run in it).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
