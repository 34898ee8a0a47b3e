"""Formulas as trees: tokenize, parse, and key each tree by its relative (R1C1) form.

References are stored *relative to the host cell* where they are relative (no `$`), as
Excel's R1C1 form does, so every cell of a filled-down block has the very same tree: it is
parsed once, compiled once (evaluate.py, program.py) and, on the decision path, run as one
vectorised numpy operation over the whole block.

`parse(text, host)` is cached by `r1c1_key(text, host)`, cheap to compute from the text, so
35,000 filled-down formulas cost 35,000 keys and a few hundred parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xlbridge.calc.values import ERRORS, CellError, FormulaError, XlError

MAX_ROW, MAX_COL = 1_048_576, 16_384


# --- the tree -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Const:
    value: object                 # float, str, bool or XlError


@dataclass(frozen=True)
class Array:
    rows: tuple                   # tuple of tuples of constants, e.g. {1,2;3,4}


@dataclass(frozen=True)
class Ref:
    """A cell or range. A relative row/col holds an offset from the host cell."""

    sheet: str | None             # None: the host's sheet
    r1: int
    c1: int
    r2: int
    c2: int
    absolute: tuple               # (r1, c1, r2, c2) flags: True where written with '$' (or whole rows/cols)


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class TableRef:
    """A structured reference such as Table1[NPV] or [@Qty]; `table` None: the host's table."""

    table: str | None
    spec: str                     # the text inside the outer brackets


@dataclass(frozen=True)
class Op:
    op: str                       # + - * / ^ & = <> < > <= >= : and the unary 'neg', 'pos', '%', '@'
    args: tuple


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple


@dataclass(frozen=True)
class Missing:                    # an empty argument, as in IF(A1,,2)
    pass


@dataclass(frozen=True)
class Range:
    """A resolved (absolute) rectangle on one sheet: what a Ref means at one host cell."""

    sheet: str
    r1: int
    c1: int
    r2: int
    c2: int

    @property
    def shape(self):
        return (self.r2 - self.r1 + 1, self.c2 - self.c1 + 1)

    @property
    def size(self):
        return (self.r2 - self.r1 + 1) * (self.c2 - self.c1 + 1)

    def cells(self):
        s = self.sheet
        for r in range(self.r1, self.r2 + 1):
            for c in range(self.c1, self.c2 + 1):
                yield (s, r, c)

    def __contains__(self, key):
        return key[0] == self.sheet and self.r1 <= key[1] <= self.r2 and self.c1 <= key[2] <= self.c2

    def __str__(self):
        a, b = a1(self.r1, self.c1), a1(self.r2, self.c2)
        sheet = self.sheet.replace("'", "''")
        return f"'{sheet}'!{a}" + (f":{b}" if a != b else "")


def column_letters(c: int) -> str:
    out = ""
    while c:
        c, rem = divmod(c - 1, 26)
        out = chr(65 + rem) + out
    return out


def column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def a1(r: int, c: int) -> str:
    return f"{column_letters(c)}{r}"


def cell_name(key) -> str:
    """('model', 4, 2) -> "model!B4" (quoted as Excel would)."""
    return f"{quote_sheet(key[0])}!{a1(key[1], key[2])}"


def quote_sheet(title: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", title) and not re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def resolve(ref: Ref, sheet: str, row: int, col: int) -> Range:
    """Where `ref` points when evaluated in cell (sheet, row, col)."""
    a = ref.absolute
    r1 = ref.r1 if a[0] else row + ref.r1
    c1 = ref.c1 if a[1] else col + ref.c1
    r2 = ref.r2 if a[2] else row + ref.r2
    c2 = ref.c2 if a[3] else col + ref.c2
    if r1 > r2:
        r1, r2 = r2, r1
    if c1 > c2:
        c1, c2 = c2, c1
    if r1 < 1 or c1 < 1 or r2 > MAX_ROW or c2 > MAX_COL:
        raise CellError("#REF!")
    return Range(ref.sheet or sheet, r1, c1, r2, c2)


def walk(node):
    """Every node of a tree, parents first."""
    yield node
    for child in getattr(node, "args", ()):
        yield from walk(child)


# --- tokens ---------------------------------------------------------------------------------

_SHEET = r"(?:'(?:[^']|'')+'|[^\W\d][\w.]*|\d[\w.]*[^\W\d][\w.]*)"
_CELL = r"\$?[A-Za-z]{1,3}\$?[0-9]+"
_ADDR = (rf"(?:{_CELL}(?::{_CELL})?|\$?[A-Za-z]{{1,3}}:\$?[A-Za-z]{{1,3}}|\$?[0-9]+:\$?[0-9]+|\#REF!)")
_TOKEN = re.compile(rf"""
  (?P<ws>\s+)
| (?P<str>"(?:[^"]|"")*")
| (?P<ref>(?:(?P<sheet>{_SHEET})!)?(?P<addr>{_ADDR}))(?![\w(\[.])
| (?P<err>\#(?:NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|N/A|GETTING_DATA|SPILL!|CALC!))
| (?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
| (?P<func>[^\W\d][\w.]*)\(
| (?P<table>[^\W\d][\w.\\]*)?(?P<bracket>\[)
| (?P<name>[^\W\d\\]?[\w.\\?]+)
| (?P<op><>|<=|>=|[-+*/^&=<>%:@])
| (?P<punct>[(),;{{}}])
""", re.X)


def _tokens(text: str):
    pos, out = 0, []
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FormulaError(f"cannot read ={text} at {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        if kind == "sheet" or kind == "addr":
            kind = "ref"
        if kind == "bracket":                       # a structured reference: read to the matching ']'
            depth, i = 0, m.start("bracket")
            while i < n:
                ch = text[i]
                if ch == "'" and i + 1 < n:
                    i += 2
                    continue
                depth += (ch == "[") - (ch == "]")
                i += 1
                if depth == 0:
                    break
            if depth:
                raise FormulaError(f"unclosed '[' in ={text}")
            out.append(("table", (m.group("table"), text[m.start("bracket") + 1:i - 1])))
            pos = i
            continue
        if kind != "ws":
            out.append((kind, m))
        pos = m.end()
    return out


# --- parser ---------------------------------------------------------------------------------

_INFIX = {":": 8, "^": 5, "*": 4, "/": 4, "+": 3, "-": 3, "&": 2,
          "=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1}
_PREFIX_BP = 6                    # Excel: -2^2 = 4, negation binds tighter than ^
_POSTFIX_BP = 7


def _point(part: str, host):
    m = re.fullmatch(r"(\$?)([A-Za-z]{1,3})(\$?)([0-9]+)", part)
    ac, col, ar, row = m.group(1) == "$", column_number(m.group(2)), m.group(3) == "$", int(m.group(4))
    if row < 1 or row > MAX_ROW or col > MAX_COL:
        raise FormulaError(f"reference {part} is outside the sheet")
    return (row if ar else row - host[0], col if ac else col - host[1], ar, ac)


def unquote_sheet(s: str | None) -> str | None:
    if s and s.startswith("'"):
        return s[1:-1].replace("''", "'")
    return s


def ref_node(sheet: str | None, addr: str, host) -> Ref | Const:
    """One reference token at `host` -> a Ref with relative parts as offsets."""
    sheet = unquote_sheet(sheet)
    if sheet and sheet.startswith("["):
        raise FormulaError(f"a reference to another workbook ({sheet}!{addr}) is not supported")
    if addr.upper() == "#REF!":
        return Const(XlError("#REF!"))
    a, _, b = addr.partition(":")
    b = b or a
    if a[-1].isdigit() and not a.lstrip("$").isdigit():
        r1, c1, ar1, ac1 = _point(a, host)
        r2, c2, ar2, ac2 = _point(b, host)
        return Ref(sheet, r1, c1, r2, c2, (ar1, ac1, ar2, ac2))
    if a.lstrip("$").isdigit():                   # 3:5, whole rows
        ar1, ar2 = a.startswith("$"), b.startswith("$")
        r1, r2 = int(a.lstrip("$")), int(b.lstrip("$"))
        return Ref(sheet, r1 if ar1 else r1 - host[0], 1, r2 if ar2 else r2 - host[0], MAX_COL, (ar1, True, ar2, True))
    ac1, ac2 = a.startswith("$"), b.startswith("$")   # A:C, whole columns
    c1, c2 = column_number(a.lstrip("$")), column_number(b.lstrip("$"))
    return Ref(sheet, 1, c1 if ac1 else c1 - host[1], MAX_ROW, c2 if ac2 else c2 - host[1], (True, ac1, True, ac2))


class _Parser:
    def __init__(self, text: str, host):
        self.text, self.host = text, host
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        if t[0] is None:
            raise FormulaError(f"formula ends too early: ={self.text}")
        self.i += 1
        return t

    def fail(self, what):
        raise FormulaError(f"unexpected {what} in ={self.text}")

    def parse(self):
        node = self.expr(0)
        if self.peek()[0] is not None:
            self.fail(repr(_text(self.peek())))
        return node

    def expr(self, min_bp):
        kind, m = self.take()
        if kind == "op" and m.group() in "-+@":
            op = {"-": "neg", "+": "pos", "@": "@"}[m.group()]
            lhs = Op(op, (self.expr(_PREFIX_BP),))
        else:
            lhs = self.atom(kind, m)
        while True:
            kind, m = self.peek()
            if kind != "op":
                break
            o = m.group()
            if o == "%":
                if _POSTFIX_BP < min_bp:
                    break
                self.take()
                lhs = Op("%", (lhs,))
                continue
            bp = _INFIX.get(o)
            if bp is None:
                self.fail(repr(o))
            if bp < min_bp:           # every Excel infix operator is left-associative
                break
            self.take()
            lhs = Op(o, (lhs, self.expr(bp + 1)))
        return lhs

    def atom(self, kind, m):
        if kind == "num":
            return Const(float(m.group()))
        if kind == "str":
            return Const(m.group()[1:-1].replace('""', '"'))
        if kind == "err":
            return Const(XlError(m.group().upper()))
        if kind == "ref":
            return ref_node(m.group("sheet"), m.group("addr"), self.host)
        if kind == "table":
            return TableRef(m[0], m[1])
        if kind == "name":
            word = m.group()
            if word.upper() in ("TRUE", "FALSE"):
                return Const(word.upper() == "TRUE")
            return Name(word)
        if kind == "func":
            return self.call(m.group("func"))
        if kind == "punct" and m.group() == "(":
            node = self.expr(0)
            if _text(self.take()) != ")":
                self.fail("end of group: missing ')'")
            return node
        if kind == "punct" and m.group() == "{":
            return self.array()
        self.fail(repr(_text((kind, m))))

    def call(self, name):
        name = name.upper()
        for prefix in ("_XLFN.", "_XLWS.", "_XLFN._XLWS."):
            if name.startswith(prefix):
                name = name[len(prefix):]
        name = name.replace("_XLWS.", "")
        args = []
        if _text(self.peek()) == ")":
            self.take()
            return Call(name, ())
        while True:
            if _text(self.peek()) in (",", ")"):
                args.append(Missing())
            else:
                args.append(self.expr(0))
            t = _text(self.take())
            if t == ")":
                return Call(name, tuple(args))
            if t != ",":
                self.fail(repr(t))

    def array(self):
        rows, row = [], []
        while True:
            kind, m = self.take()
            t = _text((kind, m))
            if t == "}":
                rows.append(tuple(row))
                break
            if t == ";":
                rows.append(tuple(row))
                row = []
                continue
            if t == ",":
                continue
            neg = t == "-"
            if neg:
                kind, m = self.take()
            c = self.atom(kind, m)
            if not isinstance(c, Const):
                raise FormulaError(f"array constants hold constants only: ={self.text}")
            row.append(-c.value if neg else c.value)
        if len({len(r) for r in rows}) != 1:
            raise FormulaError(f"array constant rows of different lengths: ={self.text}")
        return Array(tuple(rows))


def _text(tok):
    kind, m = tok
    if kind is None:
        return None
    if kind == "table":
        return f"[{m[1]}]"
    return m.group()


def absolute(text: str) -> str:
    """The formula with every reference made absolute (A1 -> $A$1, B:C -> $B:$C), so it
    means the same in any cell: what each cell of an array formula computes."""
    if text.startswith("="):
        text = text[1:]
    out, pos = [], 0
    for kind, m in _tokens(text):
        if kind != "ref" or m.group("addr").upper() == "#REF!":
            continue
        start, end = m.span("addr")
        parts = [re.fullmatch(r"\$?([A-Za-z]{0,3})\$?([0-9]*)", p).groups() for p in m.group("addr").split(":")]
        out += [text[pos:start], ":".join("".join("$" + x for x in part if x) for part in parts)]
        pos = end
    out.append(text[pos:])
    return "".join(out)


# --- the R1C1 key and the cache -------------------------------------------------------------

_KEY = re.compile(r"""("(?:[^"]|"")*")|('(?:[^']|'')+'!)|(\$?)([A-Za-z]{1,3})(\$?)([0-9]+)(?![\w(\[.!])"""
                  r"""|([^\W\d][\w.]*)""")
_WHOLE = re.compile(r"(?<![\w$.])\$?(?:[A-Za-z]{1,3}:\$?[A-Za-z]{1,3}|[0-9]+:\$?[0-9]+)(?![\w(])")
_DIGITS = re.compile(r"[0-9]+")
_TEMPLATES: dict = {}
_CACHE: dict = {}
_CACHE_LIMIT = 200_000


def r1c1_key(text: str, host) -> tuple:
    """A key for the formula's tree: its text with each relative reference written as an
    offset from `host`, so equal keys mean equal trees. (Whole rows/columns keep the host in
    the key: no sharing for them.)

    Fast because the work is done once per *skeleton*, the text with every run of digits
    written as 0: a regular expression treats any run of digits alike, so the skeleton says
    which runs are rows of relative references and where the relative columns are. A cell
    then costs two C-level passes over its text (`sub`, `findall`) and a few subtractions."""
    skeleton = _DIGITS.sub("0", text)
    tpl = _TEMPLATES.get(skeleton)
    if tpl is None:
        if len(_TEMPLATES) >= _CACHE_LIMIT:
            _TEMPLATES.clear()
        tpl = _TEMPLATES[skeleton] = _template(skeleton)
    if tpl is None:
        return (text, host[0], host[1])
    shape, rel_rows, rel_cols = tpl
    runs = _DIGITS.findall(text)
    hr = host[0]
    for i in rel_rows:
        runs[i] = int(runs[i]) - hr
    hc = host[1]
    return (shape, tuple(runs), tuple(c - hc for c in rel_cols))


def _template(skeleton: str):
    """(the skeleton with relative column letters blanked, indices of the digit runs that are
    relative rows, column numbers of the relative columns), or None for whole rows/columns."""
    if ":" in skeleton and _WHOLE.search(skeleton):
        return None
    run_at = {m.start(): i for i, m in enumerate(_DIGITS.finditer(skeleton))}
    rel_rows, rel_cols, pieces, pos = [], [], [], 0
    for m in _KEY.finditer(skeleton):
        if m.group(4) is None:
            continue
        if not m.group(5):
            rel_rows.append(run_at[m.start(6)])
        if not m.group(3):
            rel_cols.append(column_number(m.group(4)))
            pieces += [skeleton[pos:m.start(4)], "@"]
            pos = m.end(4)
    pieces.append(skeleton[pos:])
    return "".join(pieces), tuple(rel_rows), tuple(rel_cols)


def parse(text: str, host: tuple[int, int] = (1, 1)):
    """Parse formula text (a leading '=' is optional) written at `host` (row, col) into a tree."""
    return parse_keyed(text, host)[1]


def parse_keyed(text: str, host) -> tuple[tuple, object]:
    """(r1c1 key, tree): the key names the tree for grouping cells that share it."""
    if text.startswith("="):
        text = text[1:]
    key = r1c1_key(text, host)
    tree = _CACHE.get(key)
    if tree is None:
        tree = _Parser(text, host).parse()
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = tree
    return key, tree


__all__ = ["Const", "Array", "Ref", "Name", "TableRef", "Op", "Call", "Missing", "Range", "parse", "parse_keyed",
           "resolve", "walk", "r1c1_key", "absolute", "a1", "cell_name", "column_letters", "column_number", "quote_sheet",
           "ref_node", "MAX_ROW", "MAX_COL", "ERRORS"]
