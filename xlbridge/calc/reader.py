"""Safe, streaming reading of untrusted .xlsx/.xlsm files, straight from the zip.

A workbook from a student's e-mail is untrusted input: a zip can expand to gigabytes (a
"zip bomb"), its XML can carry entity tricks (billion laughs, external entities), and a
modest file can hold hundreds of megabytes of sheet XML. So:

- the zip's directory is checked first (member count, expanded sizes, compression ratio,
  the size of each sheet's XML), and the limits are enforced again while inflating, since
  the directory is written by whoever made the file;
- every XML part is refused if it has a DTD (no genuine xlsx part has one; without a DTD
  no entity can be defined), then parsed as a stream by the C parser, a row at a time, so
  memory follows the cells kept, not the XML; a sheet's declared <dimension> and the
  running cell count are checked against MAX_CELLS;
- each problem becomes one `XlbridgeInputError` naming the file and the problem.

We read the parts ourselves rather than through openpyxl: openpyxl raises on good Excel
files (pivot-table caches), is slow to import and to load, and drops what the evaluator
needs together: defined names with their `localSheetId`, shared formulas, tables, cached
values. The input file is only ever read.
"""

from __future__ import annotations

import gc
import posixpath
import re
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError, XMLPullParser, fromstring
from xml.parsers import expat

from xlbridge.calc.values import XlError
from xlbridge.errors import XlbridgeInputError

# Limits. A course workbook is well under 1 MB zipped and 10 MB expanded; these leave room
# for a 300x300 crosstab with 20 factors and keep a whole evaluation or solve under 1 GB
# (benchmarks/solver_memory.py measures it). Memory follows what is kept, not the XML:
# about 550 bytes a cell read and evaluated, a byte a character of text, and for each
# distinct formula (not a copy of another) some 6 kB of parse tree, closures and plan, which
# is why those have a budget of their own.
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 512 * 2**20      # everything expanded together
MAX_MEMBER_BYTES = 256 * 2**20     # one part expanded
MAX_SHEET_BYTES = 100 * 2**20      # one sheet's XML
MAX_CELLS = 1_250_000              # cells kept, all sheets together
MAX_TEXT = 64 * 2**20              # characters of text kept: formulas and strings
MAX_FORMULA_LENGTH = 8192          # one formula: Excel's own limit
MAX_FORMULAS = 20_000              # distinct formulas compiled (plan.py): some 6 kB each
MAX_FORMULA_TEXT = 2**20           # and their text, in characters
MAX_RATIO = 200                    # expanded / compressed, for parts larger than 1 MiB
RATIO_FLOOR = 2**20
CHUNK = 1 << 20

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RNS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
OFFICE_DOC = "/officeDocument"

_CELL_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


@dataclass(slots=True)
class Cell:
    """One cell as stored: its cached value and, for formula cells, the formula text.

    `formula` has no leading '='. `host` is the (row, col) the text was written at: the
    cell itself, or for a cell inside a shared formula the anchor whose text it shares
    (formulas are relative, so the anchor's text read at the anchor means the same thing).
    """

    value: object = None            # float, str, bool, XlError or None (empty)
    formula: str | None = None
    host: tuple | None = None
    array_ref: str | None = None    # set on the anchor of an array (CSE) formula

    @property
    def shared(self):               # the name the solver used before
        return self.host


@dataclass
class DefinedName:
    name: str
    text: str                       # the reference or formula, as stored (no '=')
    sheet: int | None = None        # localSheetId: index of the sheet it is scoped to
    hidden: bool = False


@dataclass
class Table:
    """An Excel table (ListObject): what structured references such as Table1[NPV] mean."""

    name: str
    sheet: str
    r1: int
    c1: int
    r2: int
    c2: int
    header_rows: int
    totals_rows: int
    columns: list


@dataclass
class Sheet:
    title: str
    part: str                       # zip member name, e.g. 'xl/worksheets/sheet1.xml'
    cells: dict = field(default_factory=dict)     # (row, col) -> Cell
    max_row: int = 0
    max_col: int = 0


@dataclass
class WorkbookData:
    """Everything the evaluator and the Solver mirror read from a workbook."""

    path: Path
    sheets: list
    names: list
    workbook_part: str
    tables: dict = field(default_factory=dict)    # lower-case table name -> Table
    # What every evaluation of these formulas shares, made once: trees, the plan (plan.py).
    derived: dict = field(default_factory=dict, repr=False, compare=False)

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
    """A zip opened with limits checked up front and enforced again while inflating."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            _fail(self.path, "no such file")
        try:
            if not zipfile.is_zipfile(self.path):
                _fail(self.path, "not a workbook (not a zip file; .xlsx and .xlsm are zip packages)")
            self.zf = zipfile.ZipFile(self.path)
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as e:
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

    def chunks(self, member: str, limit: int | None = None):
        """Inflate one member a chunk at a time, stopping as soon as it passes its declared
        size or the limits; a corrupt stream is bad input."""
        if member not in self.names:
            _fail(self.path, f"part '{member}' is missing")
        info = self.zf.getinfo(member)
        limit = min(info.file_size, limit or MAX_MEMBER_BYTES, MAX_TOTAL_BYTES - self._read_so_far)
        n = 0
        try:
            with self.zf.open(info) as f:
                while chunk := f.read(CHUNK):
                    n += len(chunk)
                    if n > limit:
                        _fail(self.path, f"member '{member}' expands past its declared size or the limits (zip bomb?)")
                    self._read_so_far += len(chunk)
                    yield chunk
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as e:
            _fail(self.path, f"member '{member}' is corrupt ({type(e).__name__}: {e})")
        except Exception as e:        # zlib.error and its kin: a damaged deflate stream
            if type(e).__module__ in ("zlib", "zipfile", "bz2", "lzma"):
                _fail(self.path, f"member '{member}' is corrupt ({type(e).__name__}: {e})")
            raise

    def read(self, member: str) -> bytes:
        return b"".join(self.chunks(member))

    def events(self, member: str, tags: tuple, limit: int | None = None):
        """Stream the 'end' events of one XML part; DTDs (and so entities) are refused."""
        parser = XMLPullParser(events=("end",))
        first = True
        try:
            for chunk in self.chunks(member, limit):
                if first:
                    _refuse_dtd(self.path, member, chunk)
                    first = False
                parser.feed(chunk)
                yield from parser.read_events()
            parser.close()
            yield from parser.read_events()
        except ParseError as e:
            _fail(self.path, f"part '{member}' is not well-formed XML ({e})")

    def xml(self, member: str):
        """A small XML part, whole (its root element)."""
        root = None
        for _, el in self.events(member, ()):
            root = el
        return root

    def close(self):
        self.zf.close()


class _Stop(Exception):
    pass


def _refuse_dtd(path, member, head: bytes):
    """No genuine xlsx part has a DTD, and without one no entity (billion laughs, XXE) can be
    defined: look at the prolog with expat, which knows every encoding, up to the root."""
    p = expat.ParserCreate()

    def doctype(*_):
        _fail(path, f"part '{member}' uses XML entities or a DTD, refused as unsafe (DTDForbidden)")

    def start(*_):
        raise _Stop

    p.StartDoctypeDeclHandler = doctype
    p.EntityDeclHandler = doctype
    p.StartElementHandler = start
    try:
        p.Parse(head, False)
    except _Stop:
        return
    except expat.ExpatError as e:
        _fail(path, f"part '{member}' is not well-formed XML ({e})")


def _rels(z: SafeZip, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (target part name, type), for the .rels file belonging to `part`."""
    folder, base = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", base + ".rels")
    if rels not in z.names:
        return {}
    out = {}
    for r in z.xml(rels).iter(f"{PKG_RELS}Relationship"):
        target = r.get("Target", "")
        if r.get("TargetMode") == "External":
            continue
        out[r.get("Id")] = ((target.lstrip("/") if target.startswith("/")
                             else posixpath.normpath(posixpath.join(folder, target))), r.get("Type", ""))
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
    m = _CELL_RE.match(ref)
    if not m:
        raise ValueError(f"not a cell reference: {ref!r}")
    n = 0
    for ch in m.group(1).upper():
        n = n * 26 + ord(ch) - 64
    return int(m.group(2)), n


def _shared_strings(z: SafeZip, part: str | None, budget) -> list[str]:
    if part is None or part not in z.names:
        return []
    # A string item is <t> or rich-text runs <r><t>..</t></r>; phonetic runs (<rPh>) are not text.
    out = []
    for _, el in z.events(part, ()):
        if el.tag == f"{NS}si":
            out.append("".join(t.text or "" for t in el.iter(f"{NS}t") if t not in _phonetic(el)))
            budget.text(len(out[-1]), "shared strings")
            el.clear()
    return out


def _phonetic(si):
    return {t for ph in si.iter(f"{NS}rPh") for t in ph.iter(f"{NS}t")}


_C, _F, _V, _IS, _ROW, _DIM = f"{NS}c", f"{NS}f", f"{NS}v", f"{NS}is", f"{NS}row", f"{NS}dimension"


def _cell_value(c, t, strings, path):
    if t == "inlineStr":
        return "".join(x.text or "" for x in c.iter(f"{NS}t"))
    v = c.find(_V)
    if v is None or v.text is None:
        return None
    text = v.text
    if t is None or t == "n":
        try:
            return float(text)
        except ValueError:
            _fail(path, f"cell {c.get('r')}: number expected, got {text[:20]!r}")
    if t == "s":
        try:
            return strings[int(text)]
        except (ValueError, IndexError):
            _fail(path, f"cell {c.get('r')}: shared string {text!r} does not exist")
    if t == "b":
        return text.strip() in ("1", "true")
    if t == "e":
        return XlError(text)
    return text            # 'str' (a formula's text result) and 'd' (an ISO date, kept as text)


class _Budget:
    def __init__(self, path):
        self.path, self.cells, self.chars = path, 0, 0

    def spend(self, n, where):
        self.cells += n
        if self.cells > MAX_CELLS:
            _fail(self.path, f"{where}: more than {MAX_CELLS:,} cells, the most this tool reads")

    def text(self, n, where):
        self.chars += n
        if self.chars > MAX_TEXT:
            _fail(self.path, f"{where}: more than {MAX_TEXT:,} characters of formulas and text, the most this "
                             "tool reads")


_COLS: dict = {}


def _col(letters: str) -> int:
    n = _COLS.get(letters)
    if n is None:
        n = 0
        for ch in letters.upper():
            n = n * 26 + ord(ch) - 64
        if not letters.isalpha() or len(letters) > 3:
            raise ValueError(letters)
        _COLS[letters] = n
    return n


_SHEETDATA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sheetData\b[^>]*?(/?)>")
_END_SHEETDATA = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?sheetData\s*>")
_END_ROW = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?row\s*>")
_ROOT_START = re.compile(rb"<(?![?!])([A-Za-z_][\w.:-]*)[^>]*>")
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*\bref=[\"']([^\"']*)[\"']")


def _row_blocks(z: SafeZip, part: str):
    """The sheet's rows as small well-formed documents of whole <row> elements.

    The C parser is three times faster on a whole document than as a stream of events, so
    the sheetData is cut after a '</row>' (which cannot occur inside XML text or attribute
    values) about every megabyte, and each piece is parsed inside the document's own root
    start tag, which carries its namespace declarations. Memory follows the piece, not the
    sheet. Yields ('dimension', ref) first when the sheet declares one."""
    buf, root_tag, head_done, inside, first = b"", None, False, False, True
    for chunk in z.chunks(part, MAX_SHEET_BYTES):
        if first:
            _refuse_dtd(z.path, part, chunk)
            first = False
        buf += chunk
        if not head_done:
            m = _SHEETDATA.search(buf)
            if m is None:
                if len(buf) > 4 * CHUNK:
                    _fail(z.path, f"part '{part}' has no sheetData in its first {len(buf) // 2**20} MB")
                continue
            head = buf[:m.start()]
            rm = _ROOT_START.search(head)
            if rm is None:
                _fail(z.path, f"part '{part}' is not well-formed XML (no root element)")
            root_tag = (rm.group(0), rm.group(1))
            d = _DIMENSION.search(head)
            if d:
                yield "dimension", d.group(1).decode("ascii", "replace")
            head_done = True
            if m.group(1):                          # <sheetData/>: no cells
                return
            buf, inside = buf[m.end():], True
        end = _END_SHEETDATA.search(buf)
        if end is not None:
            yield "rows", _wrap(z, part, root_tag, buf[:end.start()])
            return
        cut = None
        for cut in _END_ROW.finditer(buf, max(0, len(buf) - CHUNK - 64)):
            pass
        if cut is not None:
            yield "rows", _wrap(z, part, root_tag, buf[:cut.end()])
            buf = buf[cut.end():]
    if inside:
        _fail(z.path, f"part '{part}' is not well-formed XML (sheetData not closed)")
    if not head_done:
        _fail(z.path, f"part '{part}' is not a worksheet (no sheetData)")


def _wrap(z, part, root_tag, body: bytes):
    start, name = root_tag
    try:
        return fromstring(start + body + b"</" + name + b">")
    except ParseError as e:
        _fail(z.path, f"part '{part}' is not well-formed XML ({e})")


def _read_sheet(z: SafeZip, sheet: Sheet, strings: list[str], budget: _Budget):
    info = z.zf.getinfo(sheet.part)
    if info.file_size > MAX_SHEET_BYTES:
        _fail(z.path, f"sheet '{sheet.title}' is {info.file_size / 2**20:.0f} MB of XML, more than the "
                      f"{MAX_SHEET_BYTES // 2**20} MB this tool reads")
    shared_anchor: dict = {}
    pending, arrays = [], []
    cells = sheet.cells
    path = z.path
    where = f"sheet '{sheet.title}'"
    for kind, block in _row_blocks(z, sheet.part):
        if kind == "dimension":
            _check_dimension(path, sheet, block)
            continue
        row_digits = row_number = None
        for row in block.iter(_ROW):
            budget.spend(len(row), where)
            row_r = row.get("r")
            for c in row:
                if c.tag != _C:
                    continue
                ref = c.get("r")
                try:
                    if ref is None:                    # optional: the next cell of the row
                        raise ValueError("no r attribute")
                    letters = ref.rstrip("0123456789")
                    digits = ref[len(letters):]
                    if digits != row_digits:       # one int object for the cells of a row
                        row_digits, row_number = digits, int(digits)
                    rc = (row_number, _col(letters.lstrip("$")))
                except ValueError:
                    _fail(path, f"{where}: bad or missing cell reference {str(ref)[:20]!r} in row {row_r}")
                t = c.get("t")
                f = c.find(_F)
                if t is None or t == "n":          # a number, or no value: most cells
                    v = c.find(_V)
                    v = None if v is None else v.text
                    try:
                        value = None if v is None else float(v)
                    except ValueError:
                        _fail(path, f"cell {ref}: number expected, got {v[:20]!r}")
                else:
                    value = _cell_value(c, t, strings, path)
                if f is None:
                    if value is not None:
                        cells[rc] = Cell(value)
                        if t == "inlineStr" or t == "str":
                            budget.text(len(value), where)
                    continue
                cell = Cell(value)
                if f.text:
                    if len(f.text) > MAX_FORMULA_LENGTH:
                        _fail(path, f"{where}: cell {ref} holds a formula of {len(f.text):,} characters, longer than "
                                    f"the {MAX_FORMULA_LENGTH:,} Excel allows")
                    budget.text(len(f.text), where)
                elif type(value) is str:
                    budget.text(len(value), where)
                kind = f.get("t")
                if kind == "shared":
                    si = f.get("si")
                    if f.text:                     # the anchor carries the text
                        shared_anchor[si] = (rc, f.text)
                        cell.formula, cell.host = f.text, rc
                    else:
                        pending.append((rc, si))
                elif kind == "array":
                    cell.formula, cell.host, cell.array_ref = f.text, rc, f.get("ref")
                    arrays.append(cell)
                elif f.text:
                    cell.formula, cell.host = f.text, rc
                cells[rc] = cell
    for rc, si in pending:
        if si not in shared_anchor:
            _fail(path, f"{where}: shared formula {si} has no anchor cell")
        anchor, text = shared_anchor[si]
        cells[rc].formula, cells[rc].host = text, anchor
    for cell in arrays:
        _spread_array(path, where, cells, cell, budget)
    if cells:
        sheet.max_row = max(r for r, _ in cells)
        sheet.max_col = max(c for _, c in cells)


def _spread_array(path, where, cells, anchor: Cell, budget):
    """An array formula over several cells (Excel stores its text in the first cell only):
    every other cell of its range gets a formula for its own element of the array, the
    anchor's formula with references made absolute, so it means the same in every cell."""
    from xlbridge.calc.parse import absolute
    a, _, b = (anchor.array_ref or "").partition(":")
    try:
        (r1, c1), (r2, c2) = split_cell(a), split_cell(b or a)
    except ValueError:
        _fail(path, f"{where}: array formula with a bad range {anchor.array_ref!r}")
    if (r1, c1) != anchor.host or (r1, c1) == (r2, c2) or not anchor.formula:
        return
    budget.spend((r2 - r1 + 1) * (c2 - c1 + 1), where)
    text = f"_XLBRIDGE.ARRAYPART(({absolute(anchor.formula)}),ROW()-{r1 - 1},COLUMN()-{c1 - 1})"
    for r in range(r1, r2 + 1):
        for c in range(c1, c2 + 1):
            if (r, c) != (r1, c1):
                cell = cells.get((r, c)) or Cell()
                cell.formula, cell.host = text, (r1, c1)
                cells[(r, c)] = cell


def _check_dimension(path, sheet, ref):
    """A sheet declares its used area before its cells: refuse a huge one before reading it."""
    a, _, b = ref.partition(":")
    try:
        (r1, c1), (r2, c2) = split_cell(a), split_cell(b or a)
    except ValueError:
        return                                   # a missing or odd hint: the running count still holds
    n = (r2 - r1 + 1) * (c2 - c1 + 1)
    if n > 4 * MAX_CELLS and (r2 - r1 + 1) * 16 > MAX_CELLS:   # a dense sheet that large cannot fit
        _fail(path, f"sheet '{sheet.title}' declares {n:,} cells ({ref}), more than the {MAX_CELLS:,} this tool reads")


def _tables(z: SafeZip, sheet: Sheet, sheet_rels) -> list[Table]:
    out = []
    for target, kind in sheet_rels.values():
        if not kind.endswith("/table") or target not in z.names:
            continue
        root = z.xml(target)
        ref = root.get("ref", "")
        a, _, b = ref.partition(":")
        try:
            (r1, c1), (r2, c2) = split_cell(a), split_cell(b or a)
        except ValueError:
            _fail(z.path, f"table part '{target}' has a bad range {ref!r}")
        cols = [c.get("name", "") for c in root.iter(f"{NS}tableColumn")]
        out.append(Table(name=root.get("displayName") or root.get("name", ""), sheet=sheet.title, r1=r1, c1=c1,
                         r2=r2, c2=c2, header_rows=int(root.get("headerRowCount", "1")),
                         totals_rows=int(root.get("totalsRowCount", "0")), columns=cols))
    return out


def read_parts(z: SafeZip) -> tuple[str, dict]:
    """(the workbook part, {sheet title: its XML part}) of an open package."""
    wb_part = _office_document(z)
    root = z.xml(wb_part)
    rels = _rels(z, wb_part)
    return wb_part, {s.get("name"): rels.get(s.get(f"{RNS}id"), (None,))[0] for s in root.iter(f"{NS}sheet")}


@contextmanager
def paused_gc():
    """Pause Python's cyclic garbage collector while building a million small objects that
    hold no cycles (cells, trees, values): otherwise each of its passes walks them all again,
    which costs more than half the time of reading a big workbook. Reference counting still
    frees everything as usual."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_workbook(path) -> WorkbookData:
    """Read sheets, cells (values and formulas), defined names and tables of an .xlsx/.xlsm.

    Raises XlbridgeInputError (one line: file and problem) for anything that is not a sound
    workbook, including zip bombs, XML entity tricks and sheets past the size limits.
    """
    with paused_gc():
        return _read_workbook(path)


def _read_workbook(path) -> WorkbookData:
    z = SafeZip(Path(path))
    try:
        wb_part = _office_document(z)
        root = z.xml(wb_part)
        if root.tag != f"{NS}workbook":
            _fail(z.path, "not a workbook (the main part is not a spreadsheet; .xlsb and .ods are not supported)")
        rels = _rels(z, wb_part)
        budget = _Budget(z.path)
        strings = _shared_strings(z, next((t for t, k in rels.values() if t.endswith("sharedStrings.xml")), None), budget)
        sheets = []
        for s in root.iter(f"{NS}sheet"):
            target = rels.get(s.get(f"{RNS}id"), (None,))[0]
            if target is None or target not in z.names:
                _fail(z.path, f"sheet '{s.get('name')}' points at a missing part")
            sheets.append(Sheet(title=s.get("name"), part=target))
        if not sheets:
            _fail(z.path, "not a workbook (no sheets)")
        names = []
        for dn in root.iter(f"{NS}definedName"):
            local = dn.get("localSheetId")
            try:
                scope = int(local) if local is not None else None
            except ValueError:
                _fail(z.path, f"defined name '{dn.get('name')}' has a bad sheet scope {local!r}")
            names.append(DefinedName(name=dn.get("name", ""), text=(dn.text or "").strip(), sheet=scope,
                                     hidden=dn.get("hidden") in ("1", "true")))
        tables = {}
        for sheet in sheets:
            if sheet.part.endswith(".xml") and "worksheets/" in sheet.part:
                _read_sheet(z, sheet, strings, budget)
                for t in _tables(z, sheet, _rels(z, sheet.part)):
                    tables[t.name.lower()] = t
        return WorkbookData(path=z.path, sheets=sheets, names=names, workbook_part=wb_part, tables=tables)
    finally:
        z.close()
