"""Write values into a copy of a workbook's own zip, so nothing else is lost.

Saving through openpyxl would drop pivot tables, VBA, drawings and whatever else it does not
model. Instead every zip member is copied byte for byte, except the sheet XML parts that
hold changed cells, where only those `<c>` elements are rewritten: value cells get their new
values, and formula cells keep their `<f>` and get a fresh cached `<v>`, so pandas, a
previewer or a viewer that does not recalculate shows numbers. The output is deterministic
(the same input and values give the same bytes) and written to a temporary file in the
destination folder, then renamed into place (atomic on one file system).
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

from xlbridge.calc.parse import column_letters as get_column_letter
from xlbridge.calc.reader import SafeZip, read_parts, split_cell
from xlbridge.calc.values import XlError
from xlbridge.files import atomic_path

_CELL = re.compile(r"<c\b([^>]*?)(/>|>(.*?)</c>)", re.S)
_R_ATTR = re.compile(r'\br="([A-Z]+\d+)"')
_T_ATTR = re.compile(r'\s+t="[^"]*"')
_F_ELEM = re.compile(r"<f\b[^>]*/>|<f\b[^>]*>.*?</f>", re.S)
_ROW = re.compile(r"<row\b([^>]*?)(/>|>.*?</row>)", re.S)
_ROW_R = re.compile(r'\br="(\d+)"')


def escape(text: str) -> str:
    """Text for XML content (xml.sax.saxutils has the same, but imports urllib and http)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell_xml(ref: str, attrs: str, formula: str | None, value) -> str:
    """One <c> element holding `value` (and `formula`, the original <f> element, if any)."""
    attrs = _T_ATTR.sub("", attrs)
    if not _R_ATTR.search(attrs):
        attrs = f' r="{ref}"' + attrs
    f = formula or ""
    if isinstance(value, bool):
        return f'<c{attrs} t="b">{f}<v>{int(value)}</v></c>'
    if isinstance(value, XlError) or (isinstance(value, float) and not math.isfinite(value)):
        code = value if isinstance(value, XlError) else "#NUM!"
        return f'<c{attrs} t="e">{f}<v>{escape(code)}</v></c>'
    if isinstance(value, str):
        if formula:
            return f'<c{attrs} t="str">{f}<v>{escape(value)}</v></c>'
        return f'<c{attrs} t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'
    if value is None:
        return f"<c{attrs}>{f}</c>" if f else f"<c{attrs}/>"
    x = float(value)
    text = repr(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)
    return f"<c{attrs}>{f}<v>{text}</v></c>"


def _patch_sheet(xml: str, updates: dict[tuple[int, int], object]) -> str:
    """Rewrite the <c> elements named in `updates` ((row, col) -> value); add missing ones.
    Rows holding no updated cell are copied as they are, unread."""
    todo = dict(updates)
    rows = {r for r, _ in updates}

    def cell(m):
        attrs = m.group(1)
        r = _R_ATTR.search(attrs)
        if r is None:
            return m.group(0)
        rc = split_cell(r.group(1))
        if rc not in todo:
            return m.group(0)
        inner = m.group(3) or ""
        f = _F_ELEM.search(inner)
        return _cell_xml(r.group(1), attrs, f.group(0) if f else None, todo.pop(rc))

    def row(m):
        r = _ROW_R.search(m.group(1))
        if r is not None and int(r.group(1)) not in rows:
            return m.group(0)
        return _CELL.sub(cell, m.group(0))

    xml = _ROW.sub(row, xml)
    if todo:
        xml = _insert_cells(xml, todo)
    return xml


def _insert_cells(xml: str, cells: dict) -> str:
    """Add cells that do not exist yet (a changing cell left empty), in row/column order."""
    by_row: dict[int, list] = {}
    for (r, c), v in cells.items():
        by_row.setdefault(r, []).append((c, v))
    for r, items in sorted(by_row.items()):
        new = [(c, _cell_xml(f"{get_column_letter(c)}{r}", f' r="{get_column_letter(c)}{r}"', None, v))
               for c, v in items]
        row = re.search(rf'<row\b[^>]*\br="{r}"[^>]*?(/>|>(.*?)</row>)', xml, re.S)
        if row:                               # merge into the existing row, in column order
            tag = row.group(0)
            head = tag[:-2] + ">" if row.group(2) is None else tag[: tag.index(">") + 1]
            head = re.sub(r'\s+spans="[^"]*"', "", head)     # a hint that may no longer hold
            old = [(split_cell(_R_ATTR.search(m.group(1)).group(1))[1], m.group(0))
                   for m in _CELL.finditer(row.group(2) or "")]
            body = "".join(x for _, x in sorted(old + new, key=lambda t: t[0]))
            xml = xml[: row.start()] + head + body + "</row>" + xml[row.end():]
            continue
        new = "".join(x for _, x in sorted(new, key=lambda t: t[0]))
        row_xml = f'<row r="{r}">{new}</row>'
        later = [m for m in re.finditer(r'<row\b[^>]*\br="(\d+)"', xml) if int(m.group(1)) > r]
        if later:
            xml = xml[: later[0].start()] + row_xml + xml[later[0].start():]
        elif "<sheetData/>" in xml:
            xml = xml.replace("<sheetData/>", f"<sheetData>{row_xml}</sheetData>", 1)
        else:
            xml = xml.replace("</sheetData>", row_xml + "</sheetData>", 1)
    return xml


def _full_calc_on_load(xml: str) -> str:
    """Ask Excel/LibreOffice to recalculate on open (used when some cached values are stale)."""
    m = re.search(r"<calcPr\b[^>]*?/?>", xml)
    if m:
        tag = m.group(0)
        if "fullCalcOnLoad" in tag:
            return xml
        new = tag.replace("<calcPr", '<calcPr fullCalcOnLoad="1"', 1)
        return xml[: m.start()] + new + xml[m.end():]
    for anchor in ("</definedNames>", "</sheets>"):
        if anchor in xml:
            return xml.replace(anchor, anchor + '<calcPr fullCalcOnLoad="1"/>', 1)
    return xml


def write_values(src: Path, dst: Path, updates: dict, recalc_on_load: bool = False) -> Path:
    """Copy the workbook `src` to `dst` (atomically), with the cells in `updates`
    ({(sheet title, row, col): value}) set: a formula cell keeps its formula and gets the
    value as its cached result; any other cell gets the value. `recalc_on_load` asks Excel
    and LibreOffice to recalculate on opening (when some cached values could not be computed)."""
    src, dst = Path(src), Path(dst)
    z = SafeZip(src)
    try:
        workbook_part, parts_of = read_parts(z)
        by_part: dict[str, dict] = {}
        for (sheet, r, c), v in updates.items():
            part = parts_of.get(sheet)
            if part is None:
                raise KeyError(f"no sheet named {sheet!r} in {src}")
            by_part.setdefault(part, {})[(r, c)] = v
        with atomic_path(dst) as tmp, zipfile.ZipFile(tmp, "w") as out:
            for info in z.zf.infolist():
                data = z.read(info.filename)
                if info.filename in by_part:
                    data = _patch_sheet(data.decode("utf-8"), by_part[info.filename]).encode("utf-8")
                elif info.filename == workbook_part and recalc_on_load:
                    data = _full_calc_on_load(data.decode("utf-8")).encode("utf-8")
                out.writestr(info, data, compress_type=info.compress_type)
    finally:
        z.close()
    return dst
