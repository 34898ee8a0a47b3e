"""Gnumeric as a second, independent engine: `ssconvert --recalc` writes a recalculated copy.

Gnumeric shares no code with LibreOffice or Excel, so a workbook that both recalculate to the
PyTorch values is proven twice (docs/architecture.md, principle 3). One ssconvert process per workbook,
on a copy (the input is never touched); its output is read with xlbridge.calc.reader.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from xlbridge.calc.reader import read_workbook
from xlbridge.engine.book import grids_from
from xlbridge.errors import XlbridgeInputError


_running: set[subprocess.Popen] = set()


def stop_running() -> None:
    """End the ssconvert processes still running (at interpreter exit)."""
    for proc in list(_running):
        proc.kill()


def find_ssconvert() -> str:
    """Path of Gnumeric's ssconvert ($XLBRIDGE_SSCONVERT, else on PATH)."""
    for candidate in (os.environ.get("XLBRIDGE_SSCONVERT"), "ssconvert"):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise XlbridgeInputError("Gnumeric not found (no ssconvert on PATH): install it, e.g. 'apt-get install gnumeric', "
                             "or set XLBRIDGE_SSCONVERT")


def recalculate(path: Path, timeout: float, store: Path | None = None) -> dict[str, list]:
    """Every sheet's values (rows from A1) after Gnumeric recalculated `path`; with `store`, the
    recalculated copy is also kept there."""
    ssconvert = find_ssconvert()
    with tempfile.TemporaryDirectory(prefix="xlbridge-gnumeric-") as tmp:
        copy, out = Path(tmp) / f"in{path.suffix.lower()}", Path(tmp) / "out.xlsx"
        shutil.copyfile(path, copy)
        cmd = [ssconvert, "--recalc", "--export-type=Gnumeric_Excel:xlsx2", str(copy), str(out)]
        # its settings stay in the scratch folder; its own session, so that it can be ended at exit
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, HOME=tmp), start_new_session=True)
        _running.add(proc)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise XlbridgeInputError(f"{path}: Gnumeric did not finish recalculating within {timeout:g} s "
                                     "(raise the limit with --timeout)") from None
        finally:
            _running.discard(proc)
        if proc.returncode != 0 or not out.is_file():
            detail = [line for line in (stderr + stdout).splitlines() if line.strip()]
            raise XlbridgeInputError(f"{path}: Gnumeric could not open or recalculate the workbook"
                                     + (f" ({detail[-1].strip()})" if detail else ""))
        if store is not None:
            shutil.copyfile(out, store)
        return grids_from(read_workbook(out))
