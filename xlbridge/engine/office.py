"""One LibreOffice for the whole run, driven over UNO.

Starting soffice costs 1.5-3 s, so a Python process starts one (lazily, on the private
profile of soffice.py, listening on a named pipe) and keeps it: each workbook is loaded hidden,
recalculated with calculateAll(), its sheets read back in one getDataArray() call each, and
closed. The process is shut down at interpreter exit. A workbook that takes longer than its
time limit gets the process killed (a fresh one starts for the next workbook) and is reported
as bad input, as is one LibreOffice cannot open or that holds a circular reference.

LibreOffice's Python bridge (`uno`, Debian's python3-uno) is built for the system Python;
another Python 3 of the same version can import it from the system folders (`import_uno`).
Without it, engine/__init__.py falls back to `soffice --convert-to`.
"""

from __future__ import annotations

import builtins
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from xlbridge.calc.values import XlError
from xlbridge.engine.soffice import find_soffice, keep_profile, profile, soffice_command
from xlbridge.errors import XlbridgeInputError

GUARD = str(Path(__file__).with_name("guard.py"))
START_TIMEOUT_S = 60    # soffice answers on its pipe within a few seconds even on a busy machine
UNO_DIRS = ("/usr/lib/python3/dist-packages", "/usr/lib/libreoffice/program")

# LibreOffice's error codes (formula/errorcodes.hxx) as the Excel error values it writes to
# .xlsx; every other code is written as #VALUE!.
EXCEL_ERRORS = {532: "#DIV/0!", 32767: "#N/A", 519: "#VALUE!", 524: "#REF!", 525: "#NAME?", 503: "#NUM!", 521: "#NULL!"}
CIRCULAR = {522: "a circular reference", 523: "a calculation that does not converge (circular reference)"}

_uno = None


def import_uno():
    """LibreOffice's `uno` module, or None where this Python cannot import it.

    Tried as is first, then with the system folders (UNO_DIRS, or $XLBRIDGE_UNO_PATH) on
    sys.path for this one import only, so nothing else is imported from them."""
    global _uno
    if _uno is not None:
        return _uno
    if os.environ.get("XLBRIDGE_NO_UNO") == "1":  # force the convert-to fallback
        return None
    saved_path, saved_import = list(sys.path), builtins.__import__
    extra = [d for d in os.environ.get("XLBRIDGE_UNO_PATH", "").split(os.pathsep) + list(UNO_DIRS) if os.path.isdir(d)]
    try:
        try:
            import uno
        except ImportError:
            sys.path.extend(extra)
            import uno
    except Exception:  # ImportError, or a bridge built for another Python version
        return None
    finally:
        sys.path[:] = saved_path
        # uno.py replaces __import__ so that `from com.sun.star... import X` finds UNO types; it
        # then turns every failed `from m import x` into a plain ImportError, which breaks
        # libraries that catch ModuleNotFoundError (tqdm). Undone: UNO types come from getClass.
        builtins.__import__ = saved_import
    _uno = uno
    return uno


class Office:
    """A headless soffice listening on a private pipe, and the UNO connection to it."""

    def __init__(self):
        self._lock = threading.RLock()
        self._proc: subprocess.Popen | None = None   # the guard (guard.py), or soffice itself
        self._group: int | None = None                # soffice's process group, once known
        self._pipe = ""
        self._desktop = None

    @property
    def pid(self) -> int | None:
        """The running soffice's process id (and process group), or None."""
        return (self._soffice_group() or None) if self._proc is not None and self._proc.poll() is None else None

    def _soffice_group(self) -> int:
        """soffice's process group: the guard prints it first thing (read here when first asked,
        so that start() does not wait for the guard's interpreter); 0 if it printed none."""
        if self._group is None:
            line = self._proc.stdout.readline()
            self._proc.stdout.close()
            self._group = int(line) if line.strip().isdigit() else 0
        return self._group

    def start(self) -> None:
        """Start soffice now, without waiting for it (it boots while Python works on)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._desktop = None
            self._pipe = f"xlbridge{os.getpid()}_{time.monotonic_ns()}"
            command = soffice_command("uno", f"--accept=pipe,name={self._pipe};urp;StarOffice.ComponentContext")
            # soffice forks soffice.bin: its own session, so that the whole group is ended together
            # and a Ctrl-C in the terminal reaches only Python, which ends it
            if os.name != "posix" or not sys.executable:
                self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, start_new_session=True)
                self._group = self._proc.pid
                return
            # through the guard, which ends it when this process ends, whatever ends it (a guard
            # that cannot start soffice exits, and _connect reports it)
            self._group = None
            self._proc = subprocess.Popen([sys.executable, "-I", "-S", GUARD, str(profile("uno").parent), *command],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          start_new_session=True)

    def _connect(self):
        if self._desktop is not None and self.pid is not None:
            return self._desktop
        self.start()  # not started yet, or ended since (killed, crashed): a fresh one
        uno = import_uno()
        NoConnectException = uno.getClass("com.sun.star.connection.NoConnectException")
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                ctx = resolver.resolve(f"uno:pipe,name={self._pipe};urp;StarOffice.ComponentContext")
                break
            except NoConnectException:
                if self._proc.poll() is not None:
                    raise XlbridgeInputError(f"LibreOffice ({find_soffice()}) exited with status "
                                             f"{self._proc.returncode} before it could be used") from None
                if time.monotonic() > deadline:
                    self.stop()
                    raise XlbridgeInputError(f"LibreOffice did not start within {START_TIMEOUT_S} s") from None
                time.sleep(0.05)
        self._desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        return self._desktop

    def recalculate(self, path: Path, timeout: float, store: Path | None, areas: dict[str, tuple[int, int]]
                    ) -> dict[str, list]:
        """Load `path` hidden, recalculate it, read each sheet's values and close it; with
        `store`, also save the recalculated workbook there as .xlsx.

        `areas` gives each sheet's extent in the file (rows, columns from A1, as the safety
        checks counted them): formulas write only into their own cells, so that is all there is
        to read, however far a sheet's formatting reaches."""
        with self._lock:
            expired = threading.Event()

            def expire():  # a hung or endless load: end the process, which ends the call
                expired.set()
                self.stop()

            watchdog = threading.Timer(timeout, expire)
            watchdog.daemon = True
            try:
                with tempfile.TemporaryDirectory(prefix="xlbridge-in-") as tmp:
                    copy = Path(tmp) / f"book{path.suffix.lower()}"  # LibreOffice never sees the user's file
                    shutil.copyfile(path, copy)
                    desktop = self._connect()
                    watchdog.start()
                    grids = self._load_and_read(desktop, path, copy, store, areas)
                keep_profile("uno")  # it set up its profile and worked: the next process starts from a copy
                return grids
            except Exception as e:
                watchdog.cancel()
                if expired.is_set():
                    raise XlbridgeInputError(f"{path}: LibreOffice did not finish recalculating within {timeout:g} s "
                                             "(raise the limit with --timeout)") from None
                if isinstance(e, XlbridgeInputError):
                    raise
                crashed = self._proc is None or self._proc.poll() is not None
                self.stop()  # whatever state it is in, the next workbook gets a fresh process
                what = "crashed on" if crashed else "could not read"
                raise XlbridgeInputError(f"{path}: LibreOffice {what} the workbook ({_message(e)})") from None
            finally:
                watchdog.cancel()

    def _load_and_read(self, desktop, source: Path, copy: Path, store: Path | None, areas) -> dict[str, list]:
        uno = import_uno()
        ERROR = uno.getConstantByName("com.sun.star.sheet.FormulaResult.ERROR")
        props = _props(uno, Hidden=True, ReadOnly=True,
                       MacroExecutionMode=0,    # NEVER_EXECUTE: a workbook's macros never run
                       UpdateDocMode=0)         # NO_UPDATE: no links to other files are followed
        doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(str(copy)), "_blank", 0, props)
        if doc is None or not hasattr(doc, "calculateAll"):
            if doc is not None:
                doc.close(True)
            raise XlbridgeInputError(f"{source}: LibreOffice could not open it as a spreadsheet")
        try:
            doc.calculateAll()
            grids = {}
            for sheet in doc.Sheets:
                n_rows, n_cols = areas.get(sheet.Name, (0, 0))
                if not n_rows:
                    grids[sheet.Name] = []
                    continue
                data = sheet.getCellRangeByPosition(0, 0, n_cols - 1, n_rows - 1).getDataArray()
                # getDataArray gives '' for an empty cell and None for an error: None and the error's name
                rows = [[None if v == "" else v for v in row] for row in data]
                for block in sheet.queryFormulaCells(ERROR).getRangeAddresses():
                    for r in range(block.StartRow, min(block.EndRow + 1, n_rows)):
                        for c in range(block.StartColumn, min(block.EndColumn + 1, n_cols)):
                            code = sheet.getCellByPosition(c, r).getError()
                            if code in CIRCULAR:
                                raise XlbridgeInputError(f"{source}: sheet '{sheet.Name}' cell {_a1(r, c)}: "
                                                         f"{CIRCULAR[code]} (LibreOffice Err:{code})")
                            rows[r][c] = XlError(EXCEL_ERRORS.get(code, "#VALUE!"))
                grids[sheet.Name] = rows
            if store is not None:
                doc.storeToURL(uno.systemPathToFileUrl(str(store)), _props(uno, FilterName="Calc MS Excel 2007 XML"))
            return grids
        finally:
            doc.close(True)

    def stop(self) -> None:
        """End the process and forget the connection. At once, not with desktop.terminate():
        nothing in it is ever saved (its profile is thrown away), and a load in progress
        returns with an error instead of holding it up."""
        proc, self._proc, self._desktop = self._proc, None, None
        if proc is None:
            return
        if proc.stdin is None:   # soffice itself, without a guard: its whole group, where there are groups
            if hasattr(os, "killpg"):
                _kill_group(proc.pid)
            else:
                proc.kill()
            proc.wait()
            return
        try:  # the guard ends the whole group (soffice and soffice.bin, only ours) and exits
            proc.stdin.write(b"stop\n")
            proc.stdin.close()
        except BrokenPipeError:   # it has exited already
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:   # a guard that does not answer: end both ourselves
            for pgid in (self._group or proc.pid, proc.pid):
                _kill_group(pgid)
            proc.wait()
        proc.stdout.close()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _props(uno, **kw):
    """Keyword arguments as the tuple of PropertyValue structs UNO calls take."""
    out = []
    for k, v in kw.items():
        p = uno.createUnoStruct("com.sun.star.beans.PropertyValue")
        p.Name, p.Value = k, v
        out.append(p)
    return tuple(out)


def _a1(r: int, c: int) -> str:
    from xlbridge.calc.parse import a1
    return a1(r + 1, c + 1)


def _message(e: Exception) -> str:
    text = (getattr(e, "Message", "") or str(e) or type(e).__name__).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


_office: Office | None = None
_office_lock = threading.Lock()


def office() -> Office:
    """This process's LibreOffice (created on first use, ended at interpreter exit by
    engine/__init__.py's shutdown)."""
    global _office
    with _office_lock:
        if _office is None:
            _office = Office()
        return _office


def stop_office() -> None:
    """End this process's LibreOffice, if it runs."""
    if _office is not None:
        _office.stop()
