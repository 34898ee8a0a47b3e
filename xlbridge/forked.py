"""A job run in a forked child process, so that two workbooks are built at once on two cores.

Building a workbook is Python work, and Python threads share one interpreter lock: only another
process builds in parallel. A forked child starts at once (a copy of this process: no interpreter
start, no imports) and hands back only what it must: None or the exception it raised, and the
warnings it gave, which are given again here. It ends with its parent, even a parent killed
with SIGKILL. Where fork is not how the platform starts processes (macOS, Windows), or where
threads already run (a fork copies only the calling thread, not the locks the others hold), the
job runs here, at once, instead.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import warnings

_PR_SET_PDEATHSIG = 1     # linux/prctl.h


def _die_with(parent: int) -> None:
    """End this child when its parent ends, however it ends: a parent killed with SIGKILL runs
    no cleanup, and its child would go on writing the temporary file that the next run has
    already removed as a dead process's."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:      # it ended before the line above
        os._exit(1)


def _child(conn, parent, fn, args) -> None:
    _die_with(parent)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn(*args)
            error = None
        except BaseException as e:  # noqa: BLE001 - handed to the parent, which raises it
            error = e
    given = [(w.message, w.category) for w in caught]
    try:
        conn.send((error, given))
    except Exception:  # an exception that does not pickle still fails the job, by its text
        conn.send((RuntimeError(f"{type(error).__name__}: {error}"), given))
    conn.close()


class Forked:
    """`fn(*args)` in a forked child, started now; `result()` waits for it."""

    def __init__(self, fn, *args):
        self._proc, self._error, self._given = None, None, []
        if sys.platform != "linux" or threading.active_count() > 1:
            fn(*args)
            return
        ctx = multiprocessing.get_context("fork")
        self._conn, child_conn = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(child_conn, os.getpid(), fn, args),
                                 daemon=True)
        self._proc.start()
        child_conn.close()

    def result(self) -> None:
        """Wait for the job; give its warnings again, and raise what it raised."""
        if self._proc is not None:
            try:
                self._error, self._given = self._conn.recv()
            except EOFError:  # the child died without a word (killed, out of memory)
                self._proc.join()
                self._error = RuntimeError(f"a forked job ended with exit status {self._proc.exitcode}")
                self._given = []
            finally:
                self._proc.join()
                self._conn.close()
                self._proc = None
        for message, category in self._given:
            warnings.warn(message, category, stacklevel=2)
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Stop the job if it still runs (this process is leaving early)."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.join()
            self._conn.close()
            self._proc = None
