"""Small openpyxl helpers every builder shares: references, defined names, exact text, atomic save.

Defined names are the contract between a workbook and the Python side (docs/architecture.md, principle 1):
builders write them here, the engine, parity, the solver and the UDFs read them back.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path

from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName

from xlbridge.contracts import KIND_NAME
from xlbridge.errors import XlbridgeInputError, XlbridgeWarning
from xlbridge.files import atomic_path


# A cell value starting with one of these would be read as a formula by Excel or LibreOffice.
_FORMULA_STARTS = ("=", "+", "-", "@")


def quote_sheet(title: str) -> str:
    """A sheet name as a formula reference needs it: bare when plain, else 'quoted' (as Excel writes)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", title) and not re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def cell_ref(sheet_title: str, row: int, col: int, absolute: bool = True) -> str:
    """`'basic SGD'!$B$4` for (row 4, col 2); the sheet name is quoted when it needs to be."""
    d = "$" if absolute else ""
    return f"{quote_sheet(sheet_title)}!{d}{get_column_letter(col)}{d}{row}"


def range_ref(sheet_title: str, min_row: int, min_col: int, max_row: int, max_col: int) -> str:
    """`dotprod!$B$5:$F$19`; a single cell gives a single-cell reference."""
    first = cell_ref(sheet_title, min_row, min_col)
    if (min_row, min_col) == (max_row, max_col):
        return first
    return f"{first}:${get_column_letter(max_col)}${max_row}"


def a1(row: int, col: int, absolute_row: bool = False, absolute_col: bool = False) -> str:
    """An A1 address on the same sheet, e.g. a1(5, 2, absolute_col=True) == '$B5'."""
    return f"{'$' if absolute_col else ''}{get_column_letter(col)}{'$' if absolute_row else ''}{row}"


def block(min_row: int, min_col: int, max_row: int, max_col: int) -> str:
    """A same-sheet absolute range such as `$B$5:$F$19`, for use inside formulas."""
    return f"{a1(min_row, min_col, True, True)}:{a1(max_row, max_col, True, True)}"


def add_name(wb, name: str, ref: str, *, sheet=None, hidden: bool = False) -> None:
    """Add a defined name; sheet-scoped (Excel's 'scope') when `sheet` is a Worksheet."""
    dn = DefinedName(name, attr_text=ref, hidden=hidden or None)
    if sheet is None:
        wb.defined_names[name] = dn
    else:
        sheet.defined_names[name] = dn


# Text as a cell holds it. XML 1.0 cannot hold control characters (other than tab, line feed
# and carriage return), surrogates, U+FFFE or U+FFFF, and a parser turns a carriage return into
# a line feed: OOXML writes each such character as `_xHHHH_` (ECMA-376 ST_Xstring), which Excel
# and LibreOffice decode on load. A literal `_xHHHH_` in the text then needs its underscore
# written as `_x005F_`, or it would be decoded too.
_NEEDS_ESCAPE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")
CELL_TEXT_MAX = 32_767  # Excel's limit on a cell's text, in UTF-16 units as the file holds it


def escape_text(text: str) -> str:
    """`text` as an OOXML string holds it: every character kept (see _NEEDS_ESCAPE)."""
    return _NEEDS_ESCAPE.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def unescape_text(text: str) -> str:
    """The text an OOXML string stands for: `_xHHHH_` decoded, as Excel and LibreOffice do on load
    (openpyxl hands it over undecoded). Inverse of escape_text."""
    if "_x" not in text:
        return text
    decoded = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return decoded.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")  # pairs rejoined


def _units(written: str) -> int:
    return len(written.encode("utf-16-le", "surrogatepass")) // 2   # a character beyond the BMP takes two


def fit_text(text: str) -> str:
    """`text`, or its longest beginning a cell holds (CELL_TEXT_MAX once escaped): the one cut a
    cell forces. Callers that cut say so (data titles warn with their line)."""
    if len(text) <= CELL_TEXT_MAX // 7 or _units(escape_text(text)) <= CELL_TEXT_MAX:
        return text
    head = text[:CELL_TEXT_MAX]                  # every character takes at least one unit
    if head.isascii() and not _NEEDS_ESCAPE.search(head):
        return head                              # one unit each: the usual long title, cut at once
    lo, hi = 0, len(head)
    while lo < hi:                               # the longest prefix that fits: a prefix only grows
        mid = (lo + hi + 1) // 2
        if _units(escape_text(text[:mid])) <= CELL_TEXT_MAX:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def set_text(cell, text) -> None:
    """Write data text that reads back exactly: never as a formula (a title like '=Rise' stays
    text), every character kept (escape_text). Text longer than a cell holds is an error naming
    the cell; text from data is cut by its reader first (fit_text)."""
    if text is None or text == "":
        cell.value = None
        return
    text = str(text)
    written = escape_text(text)
    if _units(written) > CELL_TEXT_MAX:   # openpyxl would cut it silently, maybe inside an escape
        raise XlbridgeInputError(f"sheet '{cell.parent.title}', cell {cell.coordinate}: a text of {len(text):,} "
                                 f"characters; a cell holds at most {CELL_TEXT_MAX:,}")
    cell.value = written
    cell.data_type = "s"  # openpyxl would otherwise store a leading '=' as a formula, '#N/A' as an error
    if text.startswith(_FORMULA_STARTS):
        cell.quotePrefix = True  # Excel shows it with a leading apostrophe, as typed text


def set_workbook_kind(wb, kind: str) -> None:
    """Record which builder wrote the workbook, so `xlbridge check` knows what to compare."""
    add_name(wb, KIND_NAME, f'"{kind}"', hidden=True)


BUILD_TIME = (2000, 1, 1, 0, 0, 0)  # every build carries the same timestamps, so bytes repeat too


def _pin_timestamps(path) -> None:
    """Rewrite a freshly saved workbook with fixed zip-entry and document times: the same
    inputs then give the same bytes, and a rebuilt workbook shows no change in git."""
    stamp = "%04d-%02d-%02dT%02d:%02d:%02dZ" % BUILD_TIME
    with zipfile.ZipFile(path) as zin:
        parts = [(info.filename, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in parts:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>" + stamp.encode() + rb"\2", data)
            zout.writestr(zipfile.ZipInfo(name, date_time=BUILD_TIME), data, zipfile.ZIP_DEFLATED)


def save_atomic(wb, path) -> Path:
    """Save to a temporary file in the target folder, then rename it into place
    (xlbridge.files.atomic_path): a failed build leaves no partial workbook."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if KIND_NAME in wb.defined_names:
        wb.properties.creator = "xlbridge"
    with atomic_path(path) as tmp:
        wb.save(tmp)
        _pin_timestamps(tmp)
        if KIND_NAME in wb.defined_names:
            # every formula cell carries its computed value (xlbridge/calc), so a viewer that
            # does not recalculate (a preview, pandas.read_excel) shows the lesson's numbers
            from xlbridge.calc import write_cached_values

            try:
                write_cached_values(tmp, tmp)
            except XlbridgeInputError as e:   # past what the formula engine reads (a huge sheet)
                warnings.warn(f"{path}: written without computed values, so it shows them once "
                              f"recalculated ({str(e).split(': ', 1)[-1]})", XlbridgeWarning, stacklevel=2)
    return path
