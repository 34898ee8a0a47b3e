"""The workbook registry: every kind of workbook xlbridge writes, in one list.

Each entry joins a workbook's name contract (xlbridge/contracts), the file the main command
builds from the offline default, how it builds it, and the parity check that proves it. A new
workbook is one more entry here. Builders, parity and the CLI all look workbooks up here;
modules are imported on first use, so `xlbridge check` of one kind loads only its own models.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from xlbridge.contracts import WorkbookContract
from xlbridge.errors import XlbridgeInputError


@dataclass(frozen=True)
class WorkbookSpec:
    contract_ref: str                        # "module:NAME" of its WorkbookContract
    filename: str                            # file name under workbooks/
    builder: str                             # "module:function(path) -> Path", from the offline default
    checker_ref: str                         # "module:function(book, device) -> list[Comparison]"

    @property
    def contract(self) -> WorkbookContract:
        return _resolve(self.contract_ref)

    @property
    def kind(self) -> str:
        return self.contract.kind

    def build_default(self, path: Path) -> Path:
        return _resolve(self.builder)(path)

    def checker(self) -> Callable:
        return _resolve(self.checker_ref)


def _resolve(ref: str):
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


WORKBOOKS: list[WorkbookSpec] = [
    WorkbookSpec("xlbridge.contracts.collab:COLLAB", "collab_filter.xlsx",
                 "xlbridge.builders.collab:build_default", "xlbridge.parity.collab:check_collab"),
    WorkbookSpec("xlbridge.contracts.char_rnn:CHAR_RNN", "char_rnn.xlsx",
                 "xlbridge.builders.char_rnn:build_default", "xlbridge.parity.char_rnn:check_char_rnn"),
    WorkbookSpec("xlbridge.contracts.graddesc:GRADDESC", "graddesc.xlsx",
                 "xlbridge.builders.graddesc:build_default", "xlbridge.parity.graddesc:check_graddesc"),
]

def registry_entry(kind: str | None, source="workbook") -> WorkbookSpec:
    """The registry entry of a workbook kind, or one clear error for a file xlbridge did not write."""
    kinds = {spec.kind: spec for spec in WORKBOOKS}
    if kind not in kinds:
        raise XlbridgeInputError(f"{source}: no parity check for workbook kind {kind!r} (known kinds: "
                                 f"{', '.join(sorted(kinds))}); was it written by 'xlbridge build'?")
    return kinds[kind]
