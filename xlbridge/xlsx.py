"""Small openpyxl helpers every builder shares: references, defined names, safe text, atomic save.

Defined names are the contract between a workbook and the Python side (docs/architecture.md, principle 1):
builders write them here, the engine, parity, the solver and the UDFs read them back.
"""

from __future__ import annotations

import hashlib
import numbers
import re
import zipfile
from pathlib import Path

from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName

from xlbridge.files import atomic_path

KIND_NAME = "xlbridge_kind"  # hidden workbook-level name saying which builder wrote the file
FINGERPRINT_NAME = "xlbridge_fingerprint"  # hash of the cells as built: tells an edited copy apart

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


def set_text(cell, text) -> None:
    """Write data text that is never read as a formula (a title like '=Rise' stays text)."""
    if text is None or text == "":
        cell.value = None
        return
    text = str(text)
    cell.value = text
    cell.data_type = "s"  # openpyxl would otherwise store a leading '=' as a formula
    if text.startswith(_FORMULA_STARTS):
        cell.quotePrefix = True  # Excel shows it with a leading apostrophe, as typed text


def set_workbook_kind(wb, kind: str) -> None:
    """Record which builder wrote the workbook, so `xlbridge check` knows what to compare."""
    add_name(wb, KIND_NAME, f'"{kind}"', hidden=True)


def content_fingerprint(wb) -> str:
    """A hash of every cell's value or formula, sheet by sheet. Numbers count as openpyxl
    writes them (16 significant digits), so a value hashes the same before a save and after it
    is read back; styles and names do not count."""
    h = hashlib.sha256()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                v = c.value
                if v is None:
                    continue
                v = f"{float(v):.16g}" if isinstance(v, numbers.Number) and not isinstance(v, bool) else str(v)
                h.update(f"{ws.title}!{c.coordinate}={v}\n".encode())
    return h.hexdigest()[:32]


def stamp_fingerprint(wb) -> None:
    """Record the workbook's content fingerprint in a hidden name, just before saving."""
    add_name(wb, FINGERPRINT_NAME, f'"{content_fingerprint(wb)}"', hidden=True)


def edited_since_built(path) -> bool | None:
    """None when `path` is not a workbook xlbridge built; else whether its cells changed since."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path)
    except Exception:
        return None
    if KIND_NAME not in wb.defined_names:
        return None
    stamp = wb.defined_names.get(FINGERPRINT_NAME)
    return stamp is None or stamp.attr_text.strip('"') != content_fingerprint(wb)


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
        stamp_fingerprint(wb)
    with atomic_path(path) as tmp:
        wb.save(tmp)
        _pin_timestamps(tmp)
        if KIND_NAME in wb.defined_names:
            # every formula cell carries its computed value (xlbridge/calc), so a viewer that
            # does not recalculate (a preview, pandas.read_excel) shows the lesson's numbers
            from xlbridge.calc import write_cached_values

            write_cached_values(tmp, tmp)
    return path
