"""LibreOffice as a command: its binary, a private user profile, and `soffice --convert-to`.

The profile is shared by both ways of running LibreOffice: the UNO server (office.py) and
the convert-to fallback below, used where Python cannot import LibreOffice's `uno` bridge.
The fallback starts a fresh process per call (about 1.5 s), has `--convert-to xlsx` load the
workbooks with "recalculate on load: always" forced and write recalculated copies, which the
caller reads back. The input files are never touched: LibreOffice gets numbered copies.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from xlbridge.errors import XlbridgeInputError

# What LibreOffice does with the values cached in a file it loads, per use: convert-to must
# recalculate on load (0, always), or it writes the cached values back instead of computing the
# formulas; the UNO server recalculates every formula with calculateAll() after the load, so a
# load that also recalculated would do the work twice (1, never: 0.15 s of 0.65 s on graddesc.xlsx).
RECALC_ON_LOAD = {"convert": 0, "uno": 1}
_RECALC_ITEMS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""
_RECALC_VALUE = re.compile(r'(<prop oor:name="(?:OOXML|ODF)RecalcMode" oor:op="fuse"><value>)\d(</value>)')

_lock = threading.RLock()   # one convert-to soffice at a time on its profile
_profile_dir: Path | None = None
_profile_tried = False      # keep_profile has run in this process


def find_soffice() -> str:
    """Path of the LibreOffice binary ($XLBRIDGE_SOFFICE, else soffice/libreoffice on PATH)."""
    for candidate in (os.environ.get("XLBRIDGE_SOFFICE"), "soffice", "libreoffice"):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise XlbridgeInputError(
        "LibreOffice not found (no soffice on PATH): install it, e.g. "
        "'apt-get install libreoffice-calc-nogui', or set XLBRIDGE_SOFFICE"
    )


def profile(use: str) -> Path:
    """A private LibreOffice user profile for this process, one per `use` ("uno", "convert"):
    two soffice processes sharing a profile collide (the second hands its work to the first,
    which may then exit), and each carries its use's RECALC_ON_LOAD. Each starts as a copy
    of the set-up profile kept in the cache (keep_profile), when there is one. All are removed
    at exit (remove_profiles, once no soffice uses them)."""
    global _profile_dir
    with _lock:
        if _profile_dir is None:
            _profile_dir = Path(tempfile.mkdtemp(prefix="xlbridge-lo-"))
        user = _profile_dir / use / "user"
        if not user.is_dir():
            kept = _kept_profile()
            settings, mode = user / "registrymodifications.xcu", rf"\g<1>{RECALC_ON_LOAD[use]}\g<2>"
            try:
                shutil.copytree(kept, user)
                text, n = _RECALC_VALUE.subn(mode, settings.read_text())
            except OSError:
                n = 0
            if n != 2:   # none kept yet, unreadable, or not as we wrote it: LibreOffice sets up an empty one
                shutil.rmtree(user, ignore_errors=True)
                user.mkdir(parents=True)
                text = _RECALC_VALUE.sub(mode, _RECALC_ITEMS)
            settings.write_text(text)
        return user.parent


def _kept_profile() -> Path:
    """Where a profile this LibreOffice has set up is kept for the next process. Its first start
    in an empty profile sets one up before it answers (settings, the extension registry, a
    graphics self-test): about 0.3 s that starting from a copy skips. Keyed by the installation
    (the binary and its version file), so another LibreOffice never starts from this one's."""
    from xlbridge.cache import cache_dir

    exe = Path(find_soffice()).resolve()
    stamp = [f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in (exe, exe.parent / "versionrc") if p.is_file()]
    return cache_dir() / f"libreoffice-profile-{hashlib.sha256('|'.join(stamp).encode()).hexdigest()[:16]}"


def keep_profile(use: str) -> None:
    """Keep the profile `use`'s LibreOffice has just set up (it answered: it is whole), once per
    installation; our recalculate-on-load setting must be in it. Written beside and renamed into
    place, so a process never copies half a profile. Tried once per process: every later
    workbook would find the same answer."""
    global _profile_tried
    with _lock:
        if _profile_dir is None or _profile_tried:
            return
        _profile_tried = True
        user, kept = _profile_dir / use / "user", _kept_profile()
        settings = user / "registrymodifications.xcu"
        if kept.exists() or not settings.is_file() or "OOXMLRecalcMode" not in settings.read_text(errors="replace"):
            return
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            staged = Path(tempfile.mkdtemp(prefix=".profile-", dir=kept.parent))
        except OSError:
            return                                # a read-only cache: every start sets one up, as before
        try:
            shutil.copytree(user, staged / "user")
            os.rename(staged / "user", kept)      # another process may have kept one first: theirs stays
        except OSError:
            pass
        finally:
            shutil.rmtree(staged, ignore_errors=True)


def remove_profiles() -> None:
    global _profile_dir
    with _lock:
        if _profile_dir is not None:
            shutil.rmtree(_profile_dir, ignore_errors=True)
            _profile_dir = None


def soffice_command(use: str, *args: str) -> list[str]:
    """A headless soffice command line on the private profile for `use`."""
    return [find_soffice(), "--headless", "--invisible", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
            f"-env:UserInstallation={profile(use).as_uri()}", *args]


def convert(paths: list[Path], out_dir: Path, timeout: float) -> list[Path]:
    """Recalculate workbooks in one `soffice --convert-to xlsx` run; returns the copies in out_dir
    (b0.xlsx, b1.xlsx, ... in the order given)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xlbridge-in-") as tmp:
        # Numbered copies: the inputs stay untouched and equal file names cannot collide.
        copies = []
        for i, p in enumerate(paths):
            copy = Path(tmp) / f"b{i}{p.suffix.lower()}"
            shutil.copyfile(p, copy)
            copies.append(copy)
        cmd = soffice_command("convert", "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out_dir), *map(str, copies))
        with _lock:
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * max(len(paths), 1))
            except subprocess.TimeoutExpired:
                names = ", ".join(map(str, paths))
                raise XlbridgeInputError(f"{names}: LibreOffice did not finish recalculating within "
                                         f"{timeout * len(paths):g} s (raise it with --timeout)") from None
    outs = [out_dir / f"b{i}.xlsx" for i in range(len(paths))]
    missing = [str(p) for p, o in zip(paths, outs) if not o.is_file()]
    if missing:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise XlbridgeInputError(
            f"{', '.join(missing)}: LibreOffice could not open or recalculate the workbook"
            + (f" ({detail[-1]})" if detail else "")
        )
    return outs
