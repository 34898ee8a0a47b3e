"""Safe reading of untrusted .xlsx/.xlsm files, straight from the zip.

A workbook from a student's e-mail is untrusted input: a zip can expand to gigabytes
(a "zip bomb"), and its XML can carry entity tricks (billion laughs, external entities).
So this module opens the zip itself, with limits on member count, total expanded size
and compression ratio, and parses every XML part with `defusedxml` with DTDs forbidden
(no genuine xlsx part has one). Each problem becomes one `XlbridgeInputError` naming the
file and the problem.

We read the parts ourselves rather than through `openpyxl.load_workbook`, because openpyxl
raises on perfectly good Excel files (the course workbook's pivot-table caches give a
TypeError) and because the Solver needs things openpyxl does not keep together: defined
names with their `localSheetId`, formulas (shared formulas expanded to each cell) and
cached values side by side. The input file is only ever read.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree as DET
from openpyxl.utils.cell import column_index_from_string

from xlbridge.errors import XlbridgeInputError

# Limits. A real course workbook is well under 1 MB zipped and 10 MB expanded; these leave
# room for big crosstabs and still stop a bomb long before memory is at risk.
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 512 * 2**20      # everything expanded together
MAX_MEMBER_BYTES = 256 * 2**20     # one part expanded
MAX_RATIO = 200                    # expanded / compressed, for parts larger than 1 MiB
RATIO_FLOOR = 2**20

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RNS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
OFFICE_DOC = "/officeDocument"

_CELL_RE = re.compile(r"^([A-Z]{1,3})(\d+)$")


class XlError(str):
    """A cell error value such as '#REF!' or '#DIV/0!' (a str, so it prints as itself)."""


@dataclass
class Cell:
    """One cell as stored: its cached value and, for formula cells, the formula text.

    `formula` has no leading '='. For a cell inside a shared formula, `shared` is the
    (row, col) of the anchor cell whose text the formula was written with; formulas are
    relative, so the anchor's text read from the anchor's position means the same thing.
    """

    value: object = None            # float, str, bool, XlError or None (empty)
    formula: str | None = None
    shared: tuple[int, int] | None = None
    array_ref: str | None = None    # set on the anchor of an array (CSE) formula


@dataclass
class DefinedName:
    name: str
    text: str                       # the reference or formula, as stored (no '=')
    sheet: int | None = None        # localSheetId: index of the sheet it is scoped to
    hidden: bool = False


@dataclass
class Sheet:
    title: str
    part: str                       # zip member name, e.g. 'xl/worksheets/sheet1.xml'
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    max_row: int = 0
    max_col: int = 0


@dataclass
class WorkbookData:
    """Everything the Solver mirror reads from a workbook, without openpyxl."""

    path: Path
    sheets: list[Sheet]
    names: list[DefinedName]
    workbook_part: str

    def sheet(self, title: str) -> Sheet:
        for s in self.sheets:
            if s.title.lower() == title.lower():   # sheet names are case-insensitive
                return s
        raise XlbridgeInputError(f"{self.path}: no sheet named '{title}'")

    def sheet_index(self, title: str) -> int:
        return self.sheets.index(self.sheet(title))


def _fail(path, problem):
    raise XlbridgeInputError(f"{path}: {problem}")


class SafeZip:
    """A zip opened with limits checked up front and enforced again while inflating
    (the sizes in a zip's directory are written by whoever made the file)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            _fail(self.path, "no such file")
        if not zipfile.is_zipfile(self.path):
            _fail(self.path, "not a workbook (not a zip file; .xlsx and .xlsm are zip packages)")
        try:
            self.zf = zipfile.ZipFile(self.path)
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, OSError) as e:
            _fail(self.path, f"not a readable zip package ({e})")
        if len(infos) > MAX_MEMBERS:
            _fail(self.path, f"zip has {len(infos)} members, more than the {MAX_MEMBERS} allowed")
        total = sum(i.file_size for i in infos)
        if total > MAX_TOTAL_BYTES:
            _fail(self.path, f"zip expands to {total} bytes, more than the {MAX_TOTAL_BYTES} allowed (zip bomb?)")
        for i in infos:
            if i.file_size > RATIO_FLOOR and i.file_size > MAX_RATIO * max(i.compress_size, 1):
                _fail(self.path, f"member '{i.filename}' expands {i.file_size // max(i.compress_size, 1)}x, "
                                 f"more than the {MAX_RATIO}x allowed (zip bomb?)")
        self.names = {i.filename for i in infos}
        self._read_so_far = 0

    def read(self, member: str) -> bytes:
        """Inflate one member, stopping as soon as it passes its declared size or the limits."""
        if member not in self.names:
            _fail(self.path, f"part '{member}' is missing")
        info = self.zf.getinfo(member)
        limit = min(info.file_size, MAX_MEMBER_BYTES, MAX_TOTAL_BYTES - self._read_so_far)
        chunks, n = [], 0
        try:
            with self.zf.open(info) as f:
                while chunk := f.read(1 << 20):
                    n += len(chunk)
                    if n > limit:
                        _fail(self.path, f"member '{member}' expands past its declared size or the limits (zip bomb?)")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:  # zlib errors are OSError/ValueError
            _fail(self.path, f"member '{member}' is corrupt ({e})")
        self._read_so_far += n
        return b"".join(chunks)

    def xml(self, member: str):
        """Parse one XML part; DTDs and entities (billion laughs, XXE) are refused."""
        data = self.read(member)
        try:
            return DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except defusedxml.DefusedXmlException as e:
            _fail(self.path, f"part '{member}' uses XML entities or a DTD, refused as unsafe ({type(e).__name__})")
        except ParseError as e:
            _fail(self.path, f"part '{member}' is not well-formed XML ({e})")

    def close(self):
        self.zf.close()


def _rels(z: SafeZip, part: str) -> dict[str, str]:
    """Relationship id -> target part name, for the .rels file belonging to `part`."""
    folder, base = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", base + ".rels")
    if rels not in z.names:
        return {}
    out = {}
    for r in z.xml(rels).iter(f"{PKG_RELS}Relationship"):
        target = r.get("Target", "")
        if r.get("TargetMode") == "External":
            continue
        out[r.get("Id")] = (target.lstrip("/") if target.startswith("/")
                            else posixpath.normpath(posixpath.join(folder, target)))
    return out


def _office_document(z: SafeZip) -> str:
    """The main workbook part, found the way Excel finds it: through _rels/.rels."""
    if "_rels/.rels" not in z.names:
        _fail(z.path, "not a workbook (no _rels/.rels in the zip)")
    for r in z.xml("_rels/.rels").iter(f"{PKG_RELS}Relationship"):
        if r.get("Type", "").endswith(OFFICE_DOC):
            target = r.get("Target", "").lstrip("/")
            if target in z.names:
                return target
    _fail(z.path, "not a workbook (no main workbook part; is this a Word or PowerPoint file?)")


def split_cell(ref: str) -> tuple[int, int]:
    """'H25' -> (25, 8)."""
    m = _CELL_RE.match(ref.replace("$", "").upper())
    if not m:
        raise ValueError(f"not a cell reference: {ref!r}")
    return int(m.group(2)), column_index_from_string(m.group(1))


def _shared_strings(z: SafeZip, rels: dict[str, str]) -> list[str]:
    part = next((t for t in rels.values() if t.endswith("sharedStrings.xml")), None)
    if part is None or part not in z.names:
        return []
    # A string item is either <t> or rich-text runs <r><t>..</t></r>; phonetic runs are not text.
    out = []
    for si in z.xml(part).iter(f"{NS}si"):
        phonetic = {id(t) for ph in si.iter(f"{NS}rPh") for t in ph.iter(f"{NS}t")}
        out.append("".join(t.text or "" for t in si.iter(f"{NS}t") if id(t) not in phonetic))
    return out


def _cell_value(c, strings, path) -> object:
    t = c.get("t", "n")
    v = c.find(f"{NS}v")
    if t == "inlineStr":
        return "".join(x.text or "" for x in c.iter(f"{NS}t"))
    if v is None or v.text is None:
        return None
    text = v.text
    if t == "s":
        try:
            return strings[int(text)]
        except (ValueError, IndexError):
            _fail(path, f"cell {c.get('r')}: shared string {text!r} does not exist")
    if t == "b":
        return text.strip() in ("1", "true")
    if t == "e":
        return XlError(text)
    if t in ("str", "d"):
        return text
    try:
        return float(text)
    except ValueError:
        _fail(path, f"cell {c.get('r')}: number expected, got {text[:20]!r}")


def _read_sheet(z: SafeZip, sheet: Sheet, strings: list[str]):
    root = z.xml(sheet.part)
    shared_anchor: dict[str, tuple[tuple[int, int], str]] = {}
    pending: list[tuple[tuple[int, int], str]] = []
    for row in root.iter(f"{NS}row"):
        for c in row.iter(f"{NS}c"):
            ref = c.get("r")
            if ref is None:
                _fail(z.path, f"sheet '{sheet.title}': a cell without a reference (r attribute)")
            rc = split_cell(ref)
            cell = Cell(value=_cell_value(c, strings, z.path))
            f = c.find(f"{NS}f")
            if f is not None:
                kind = f.get("t", "normal")
                if kind == "shared":
                    si = f.get("si")
                    if f.text:                     # the anchor carries the text
                        shared_anchor[si] = (rc, f.text)
                        cell.formula, cell.shared = f.text, rc
                    else:
                        pending.append((rc, si))
                elif kind == "array":
                    cell.formula, cell.array_ref = f.text, f.get("ref")
                elif kind == "normal" and f.text:
                    cell.formula = f.text
            if cell.value is not None or cell.formula is not None or f is not None:
                sheet.cells[rc] = cell
    for rc, si in pending:
        if si not in shared_anchor:
            _fail(z.path, f"sheet '{sheet.title}': shared formula {si} has no anchor cell")
        anchor, text = shared_anchor[si]
        sheet.cells[rc].formula, sheet.cells[rc].shared = text, anchor
    if sheet.cells:
        sheet.max_row = max(r for r, _ in sheet.cells)
        sheet.max_col = max(c for _, c in sheet.cells)


def read_workbook(path) -> WorkbookData:
    """Read sheets, cells (values and formulas) and defined names of an .xlsx/.xlsm.

    Raises XlbridgeInputError (one line: file and problem) for anything that is not a
    sound workbook, including zip bombs and XML entity tricks.
    """
    z = SafeZip(Path(path))
    try:
        wb_part = _office_document(z)
        root = z.xml(wb_part)
        if root.tag != f"{NS}workbook":
            _fail(z.path, "not a workbook (the main part is not a spreadsheet; .xlsb and .ods are not supported)")
        rels = _rels(z, wb_part)
        strings = _shared_strings(z, rels)
        sheets = []
        for s in root.iter(f"{NS}sheet"):
            target = rels.get(s.get(f"{RNS}id"))
            if target is None or target not in z.names:
                _fail(z.path, f"sheet '{s.get('name')}' points at a missing part")
            sheets.append(Sheet(title=s.get("name"), part=target))
        if not sheets:
            _fail(z.path, "not a workbook (no sheets)")
        names = []
        for dn in root.iter(f"{NS}definedName"):
            local = dn.get("localSheetId")
            names.append(DefinedName(name=dn.get("name", ""), text=(dn.text or "").strip(),
                                     sheet=int(local) if local is not None else None,
                                     hidden=dn.get("hidden") in ("1", "true")))
        for sheet in sheets:
            if sheet.part.endswith(".xml") and "worksheets/" in sheet.part:
                _read_sheet(z, sheet, strings)
        return WorkbookData(path=z.path, sheets=sheets, names=names, workbook_part=wb_part)
    finally:
        z.close()
