"""Writing files so that nothing is lost: write beside the target, then rename into place; and
remember what was written, so that a later run never replaces a file someone has changed.

A failed write leaves no partial file, and the previous file stays intact until the new one is
complete. A run killed outright (kill -9, a power cut) cannot remove its temporary file: each
is named after the process that made it (`.~xlbridge-<pid>-<random><suffix>`), and the next
write into that folder removes those whose process is gone.

What a command wrote into a folder is recorded beside it (WRITTEN: file name -> sha256 of the
bytes written). `written_state` compares a file with that record, byte for byte: a fill colour,
a comment, a column width, a VBA project, anything a user changes makes the file theirs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

from xlbridge.errors import XlbridgeInputError

TEMP_PREFIX = ".~xlbridge-"
_TEMP = re.compile(r"\.~xlbridge-(\d{1,9})-")
WRITTEN = ".xlbridge-written.json"
WRITTEN_FORMAT = "xlbridge-written/1"


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return pid > 0
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:       # exists but is not ours to signal
        pass
    # A killed process stays a zombie until its parent reaps it, which for an orphan (a killed
    # build's forked child) may be never: it writes nothing more, so it counts as dead.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:       # gone meanwhile, or no /proc to ask (macOS)
        return not os.path.exists("/proc/self/stat")
    except (OSError, IndexError):
        return True


def remove_stale_temps(folder) -> list[Path]:
    """Remove the temporary files of xlbridge runs that died in `folder`; returns them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m and not _alive(int(m.group(1))) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(path):
    """Yield a temporary path in `path`'s folder; when the block succeeds it is renamed onto
    `path` (with an ordinary file's permissions), when it fails it is removed."""
    path = Path(path)
    remove_stale_temps(path.parent)
    suffix = path.suffix if len(path.suffix) <= 16 else ""   # the kind of file, for tools that look
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it owner-only
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def prepare_folder(folder) -> Path:
    """`folder`, created when missing and proven writable (a temporary file is made and removed)
    before anything is written into it; else one clear error."""
    folder = Path(folder)
    record = folder / WRITTEN
    if os.path.lexists(record) and not record.is_file():
        raise XlbridgeInputError(f"{record}: is not a file; xlbridge keeps its record of the files it wrote there")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(folder)
        fd, probe = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise XlbridgeInputError(f"{folder}: cannot write into this folder ({e.strerror or type(e).__name__})") from None
    return folder


# ---------------------------------------------------------------------------------------------
# The record of what was written


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_record(folder: Path) -> dict[str, list[str]]:
    """File name -> digests written there. A missing or damaged record knows nothing: every
    file counts as the user's until a run with --force writes it again."""
    try:
        data = json.loads((folder / WRITTEN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("sha256") if isinstance(data, dict) and data.get("format") == WRITTEN_FORMAT else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(v, list) and all(isinstance(d, str) for d in v)}


def _write_record(folder: Path, files: dict[str, list[str]]) -> None:
    text = json.dumps({"format": WRITTEN_FORMAT, "sha256": files}, indent=1, sort_keys=True) + "\n"
    with atomic_path(folder / WRITTEN) as tmp:
        tmp.write_text(text, encoding="utf-8")


def written_state(path) -> str:
    """'absent', 'ours' (its bytes are what xlbridge last wrote there), 'changed' (xlbridge wrote
    it, someone changed it since) or 'foreign' (xlbridge never wrote it)."""
    path = Path(path)
    if not os.path.lexists(path):
        return "absent"
    known = _read_record(path.parent).get(path.name)
    if known is None:
        return "foreign"
    try:
        return "ours" if sha256(path) in known else "changed"
    except OSError:
        return "changed"


@contextmanager
def recorded_path(path):
    """atomic_path that also records the written bytes' digest (see written_state). The new
    digest joins the record before the rename and replaces the old one after it, so a run
    killed in between leaves a file the record still knows, whichever it is."""
    path = Path(path)
    with atomic_path(path) as tmp:
        yield tmp
        digest = sha256(tmp)
        record = _read_record(path.parent)
        _write_record(path.parent, {**record, path.name: list(dict.fromkeys([*record.get(path.name, []), digest]))})
    _write_record(path.parent, {**_read_record(path.parent), path.name: [digest]})
