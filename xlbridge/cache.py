"""Where xlbridge keeps what it fetched or made once for later runs: $XLBRIDGE_CACHE, else
$XDG_CACHE_HOME/xlbridge, else ~/.cache/xlbridge (downloads, LibreOffice's set-up profile)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    if os.environ.get("XLBRIDGE_CACHE"):
        return Path(os.environ["XLBRIDGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "xlbridge"
