"""Every workbook the main command builds from the offline default, and where it goes.

`xlbridge build` walks this list; each builder module owns its sheets, each parity module
(xlbridge/parity/<kind>.py) owns its check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class WorkbookSpec:
    kind: str                                # the workbook's xlbridge_kind name; picks its checker
    filename: str                            # file name under workbooks/
    build_default: Callable[[Path], Path]    # build from the offline default into this path


def _collab(path: Path) -> Path:
    from xlbridge.builders.collab import CollabConfig, build_collab
    from xlbridge.data import synthetic_ratings

    return build_collab(synthetic_ratings(), path, CollabConfig())


def _char_rnn(path: Path) -> Path:
    from xlbridge.builders.char_rnn import CharRnnConfig, build_char_rnn

    return build_char_rnn(path, CharRnnConfig())  # trains small models on the offline default text


def _graddesc(path: Path) -> Path:
    from xlbridge.builders.graddesc import GraddescConfig, build_graddesc

    return build_graddesc(path, GraddescConfig())  # seeded synthetic points, like the course's


WORKBOOKS: list[WorkbookSpec] = [
    WorkbookSpec("collab", "collab_filter.xlsx", _collab),
    WorkbookSpec("char_rnn", "char_rnn.xlsx", _char_rnn),
    WorkbookSpec("graddesc", "graddesc.xlsx", _graddesc),
]
