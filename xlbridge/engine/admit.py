"""What a file must pass before a spreadsheet engine sees it: the same checks `xlbridge solve` makes.

LibreOffice and Gnumeric open whatever they are given: a 1 GB zip bomb takes gigabytes of
memory, a 200 MB sheet minutes, and a damaged file comes back half-read and looks like a
parity mismatch. So every workbook is first read by xlbridge.calc.reader, which checks the zip
directory and inflates each part under limits, refuses XML with a DTD, finds each sheet's part
and counts cells. A file that fails is bad input: one line, exit 2, and no engine is started
for it. The read also gives the defined names the Book resolves.
"""

from __future__ import annotations

from pathlib import Path

from xlbridge.calc.reader import WorkbookData, read_workbook
from xlbridge.errors import XlbridgeInputError


def admit(path) -> WorkbookData:
    """The workbook at `path`, read and checked; XlbridgeInputError (one line) when it is unsafe or broken."""
    path = Path(path)
    if path.is_dir():
        raise XlbridgeInputError(f"{path}: is a folder, not a workbook file")
    if not path.is_file():
        raise XlbridgeInputError(f"{path}: no such workbook")
    return read_workbook(path)
