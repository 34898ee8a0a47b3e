"""Spreadsheet formulas: parse them into a small tree, and evaluate them cell by cell.

The Solver mirror must optimise whatever a workbook computes, so the objective is read
from the workbook's own formulas. This module has two halves:

1. `parse(text, host)`: openpyxl's Tokenizer splits the formula; a precedence-climbing
   parser builds a tree of frozen dataclasses. References are stored *relative to the
   host cell* where they are relative (no `$`), exactly as Excel's R1C1 form does, so
   every cell of a filled-down block has the very same tree. That is what lets
   `compile.py` evaluate a whole block as one vectorised torch operation.
2. `Evaluator`: a plain Python interpreter over those trees with Excel's rules (empty
   cells, text in ranges, MATCH/OFFSET/INDEX lookups, errors). It gives the reference value
   of any cell, records which cells each formula read (the dependency graph, including
   cells reached through OFFSET/INDEX), and refreshes cached values after a solve.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from openpyxl.formula import Tokenizer
from openpyxl.utils.cell import column_index_from_string

from xlbridge.solver.xlsxsafe import XlError

MAX_ROW, MAX_COL = 1_048_576, 16_384


class FormulaError(Exception):
    """A formula we cannot parse or a function we do not evaluate (not an Excel error value)."""


class CellError(Exception):
    """An Excel error value (#DIV/0!, #N/A, ...) travelling up through a formula."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = XlError(code)


# ---------------------------------------------------------------------------------------
# The tree

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
    absolute: tuple               # (r1, c1, r2, c2) flags: True where written with '$'


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Op:
    op: str                       # '+', '-', '*', '/', '^', '&', '=', '<>', '<', '>', '<=', '>=', ':',
    args: tuple                   # 'neg', 'pos', '%'


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

    def cells(self):
        for r in range(self.r1, self.r2 + 1):
            for c in range(self.c1, self.c2 + 1):
                yield (self.sheet, r, c)

    def __str__(self):
        from openpyxl.utils import get_column_letter as L
        a = f"{L(self.c1)}{self.r1}"
        b = f"{L(self.c2)}{self.r2}"
        return f"'{self.sheet}'!{a}" + (f":{b}" if a != b else "")


# ---------------------------------------------------------------------------------------
# Parsing

_A1 = re.compile(r"^(\$?)([A-Za-z]{1,3})(\$?)(\d+)$")
_COLS = re.compile(r"^(\$?)([A-Za-z]{1,3})$")
_ROWS = re.compile(r"^(\$?)(\d+)$")

_INFIX = {":": 8, "^": 5, "*": 4, "/": 4, "+": 3, "-": 3, "&": 2,
          "=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1}
_PREFIX_BP = 6                    # Excel: -2^2 = 4, negation binds tighter than ^
_POSTFIX_BP = 7


def split_sheet(text: str) -> tuple[str | None, str]:
    """"'my sheet'!A1:B2" -> ("my sheet", "A1:B2")."""
    if "!" not in text:
        return None, text
    sheet, _, ref = text.rpartition("!")
    if sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    if sheet.startswith("["):
        raise FormulaError(f"reference to another workbook ({text}) is not supported")
    return sheet, ref


def _point(part: str, host):
    """One end of a reference -> (row, col, abs_row, abs_col); relative parts as offsets."""
    hr, hc = host
    if m := _A1.match(part):
        ac, col, ar, row = m.group(1) == "$", column_index_from_string(m.group(2).upper()), m.group(3) == "$", int(m.group(4))
        return (row if ar else row - hr, col if ac else col - hc, ar, ac)
    raise FormulaError(f"bad reference {part!r}")


def parse_ref(text: str, host) -> Ref | Const | None:
    """'H$19:H$23' at host (25, 8) -> Ref with relative parts as offsets; None if not a reference."""
    sheet, ref = split_sheet(text)
    if "#REF!" in ref.upper():
        return Const(XlError("#REF!"))
    a, _, b = ref.partition(":")
    b = b or a
    hr, hc = host
    if _A1.match(a) and _A1.match(b):
        r1, c1, ar1, ac1 = _point(a, host)
        r2, c2, ar2, ac2 = _point(b, host)
        return Ref(sheet, r1, c1, r2, c2, (ar1, ac1, ar2, ac2))
    if (ma := _COLS.match(a)) and (mb := _COLS.match(b)) and ":" in ref:      # A:C, whole columns
        c1, c2 = column_index_from_string(ma.group(2).upper()), column_index_from_string(mb.group(2).upper())
        ac1, ac2 = ma.group(1) == "$", mb.group(1) == "$"
        return Ref(sheet, 1, c1 if ac1 else c1 - hc, MAX_ROW, c2 if ac2 else c2 - hc, (True, ac1, True, ac2))
    if (ma := _ROWS.match(a)) and (mb := _ROWS.match(b)) and ":" in ref:      # 3:5, whole rows
        r1, r2 = int(ma.group(2)), int(mb.group(2))
        ar1, ar2 = ma.group(1) == "$", mb.group(1) == "$"
        return Ref(sheet, r1 if ar1 else r1 - hr, 1, r2 if ar2 else r2 - hr, MAX_COL, (ar1, True, ar2, True))
    return None


class _Parser:
    def __init__(self, text: str, host):
        self.text, self.host = text, host
        try:
            items = Tokenizer("=" + text).items
        except Exception as e:  # the tokenizer raises plain errors on unbalanced input
            raise FormulaError(f"cannot tokenize ={text}: {e}") from None
        self.toks = [t for t in items if t.type != "WHITE-SPACE"]
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self):
        t = self.peek()
        if t is None:
            raise FormulaError(f"formula ends too early: ={self.text}")
        self.i += 1
        return t

    def parse(self):
        node = self.expr(0)
        if self.peek() is not None:
            raise FormulaError(f"unexpected {self.peek().value!r} in ={self.text}")
        return node

    def expr(self, min_bp):
        t = self.next()
        if t.type == "OPERATOR-PREFIX":
            lhs = Op("neg" if t.value == "-" else "pos", (self.expr(_PREFIX_BP),))
        else:
            lhs = self.atom(t)
        while (t := self.peek()) is not None:
            if t.type == "OPERATOR-POSTFIX":            # '%'
                if _POSTFIX_BP < min_bp:
                    break
                self.next()
                lhs = Op("%", (lhs,))
                continue
            if t.type != "OPERATOR-INFIX":
                break
            bp = _INFIX.get(t.value)
            if bp is None:
                raise FormulaError(f"operator {t.value!r} is not supported in ={self.text}")
            if bp < min_bp:          # every Excel infix operator is left-associative
                break
            self.next()
            rhs = self.expr(bp + 1)
            lhs = Op(t.value, (lhs, rhs))
        return lhs

    def atom(self, t):
        if t.type == "OPERAND":
            return self.operand(t)
        if t.type == "FUNC" and t.subtype == "OPEN":
            name = t.value[:-1].upper()
            left = None
            if ":" in name:                 # 'B1:INDEX(': a range whose far end is a function
                prefix, name = t.value[:-1].rsplit(":", 1)
                name, left = name.upper(), parse_ref(prefix, self.host)
                if not isinstance(left, Ref):
                    raise FormulaError(f"cannot read reference {prefix!r} in ={self.text}")
            if name.startswith("_XLFN."):
                name = name[6:]
            if name.startswith("_XLWS."):
                name = name[6:]
            args = []
            if self.peek() is not None and self.peek().type == "FUNC" and self.peek().subtype == "CLOSE":
                self.next()
                return Call(name, ()) if left is None else Op(":", (left, Call(name, ())))
            while True:
                p = self.peek()
                if p is not None and ((p.type == "SEP" and p.subtype == "ARG") or (p.type == "FUNC" and p.subtype == "CLOSE")):
                    args.append(Missing())
                else:
                    args.append(self.expr(0))
                t2 = self.next()
                if t2.type == "FUNC" and t2.subtype == "CLOSE":
                    break
                if not (t2.type == "SEP" and t2.subtype == "ARG"):
                    raise FormulaError(f"unexpected {t2.value!r} in ={self.text}")
            call = Call(name, tuple(args))
            return call if left is None else Op(":", (left, call))
        if t.type == "PAREN" and t.subtype == "OPEN":
            node = self.expr(0)
            close = self.next()
            if close.type != "PAREN":
                raise FormulaError(f"missing ')' in ={self.text}")
            return node
        if t.type == "ARRAY" and t.subtype == "OPEN":
            rows, row = [], []
            while True:
                x = self.next()
                if x.type == "ARRAY" and x.subtype == "CLOSE":
                    rows.append(tuple(row))
                    break
                if x.type == "SEP":
                    if x.subtype == "ROW":
                        rows.append(tuple(row))
                        row = []
                    continue
                neg = x.type == "OPERATOR-PREFIX" and x.value == "-"
                if neg:
                    x = self.next()
                c = self.operand(x)
                if not isinstance(c, Const):
                    raise FormulaError(f"array constants hold constants only: ={self.text}")
                row.append(-c.value if neg else c.value)
            return Array(tuple(rows))
        raise FormulaError(f"unexpected {t.value!r} in ={self.text}")

    def operand(self, t):
        v = t.value
        if t.subtype == "NUMBER":
            return Const(float(v))
        if t.subtype == "TEXT":
            return Const(v[1:-1].replace('""', '"'))
        if t.subtype == "LOGICAL":
            return Const(v.upper() == "TRUE")
        if t.subtype == "ERROR":
            return Const(XlError(v.upper()))
        if t.subtype == "RANGE":
            ref = parse_ref(v, self.host)
            if ref is not None:
                return ref
            sheet, rest = split_sheet(v)
            if sheet is None and re.match(r"^[A-Za-z_\\][\w.\\]*$", v):
                return Name(v)
            raise FormulaError(f"cannot read reference {v!r} in ={self.text}")
        raise FormulaError(f"unexpected operand {v!r} in ={self.text}")


@lru_cache(maxsize=100_000)
def parse(text: str, host: tuple[int, int] = (1, 1)):
    """Parse formula text (without '=') written at `host` (row, col) into a tree."""
    if text.startswith("="):
        text = text[1:]
    return _Parser(text, host).parse()


def resolve(ref: Ref, sheet: str, row: int, col: int) -> Range:
    """Where `ref` points when evaluated in cell (sheet, row, col)."""
    a = ref.absolute
    r1 = ref.r1 if a[0] else row + ref.r1
    c1 = ref.c1 if a[1] else col + ref.c1
    r2 = ref.r2 if a[2] else row + ref.r2
    c2 = ref.c2 if a[3] else col + ref.c2
    r1, r2 = min(r1, r2), max(r1, r2)
    c1, c2 = min(c1, c2), max(c1, c2)
    if r1 < 1 or c1 < 1 or r2 > MAX_ROW or c2 > MAX_COL:
        raise CellError("#REF!")
    return Range(ref.sheet or sheet, r1, c1, r2, c2)


def walk(node):
    """Every node of a tree, parents first."""
    yield node
    for child in getattr(node, "args", ()):
        yield from walk(child)


# ---------------------------------------------------------------------------------------
# Excel value rules

def is_number(v) -> bool:
    return isinstance(v, float | int) and not isinstance(v, bool)


def to_number(v) -> float:
    """A scalar operand of + - * / ^: empty is 0, TRUE is 1, numeric text is read."""
    if isinstance(v, XlError):
        raise CellError(v)
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise CellError("#VALUE!") from None
    return float(v)


def compare(op: str, a, b) -> bool:
    """Excel comparison: numbers < text < logicals; text compares case-insensitively;
    an empty cell equals 0, "" and FALSE, whichever it is compared with."""
    for v in (a, b):
        if isinstance(v, XlError):
            raise CellError(v)
    if a is None:
        a = "" if isinstance(b, str) else (False if isinstance(b, bool) else 0.0)
    if b is None:
        b = "" if isinstance(a, str) else (False if isinstance(a, bool) else 0.0)
    rank = lambda v: 2 if isinstance(v, bool) else (1 if isinstance(v, str) else 0)
    ka, kb = rank(a), rank(b)
    if ka != kb:
        a, b = ka, kb
    elif ka == 1:
        a, b = a.lower(), b.lower()
    return {"=": a == b, "<>": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def arith(op: str, a: float, b: float) -> float:
    if op in ARITH:
        return ARITH[op](a, b)
    if op == "/":
        if b == 0:
            raise CellError("#DIV/0!")
        return a / b
    if op == "^":
        try:
            r = math.pow(a, b)
        except (ValueError, OverflowError):
            raise CellError("#NUM!") from None
        return r
    raise FormulaError(f"operator {op}")


# ---------------------------------------------------------------------------------------
# The interpreter

class Evaluator:
    """Evaluate cells of a WorkbookData with Excel's rules, remembering what each read.

    `overrides` maps (sheet, row, col) -> value and replaces what the file stores (the
    Solver's changing cells during and after a solve). `reads[cell]` is the set of cells
    that cell's formula read, found by running it, so OFFSET/INDEX targets are included.
    """

    def __init__(self, wb, overrides: dict | None = None):
        self.wb = wb
        self.sheets = {s.title: s for s in wb.sheets}
        self.sheets_lower = {s.title.lower(): s for s in wb.sheets}
        self.overrides = dict(overrides or {})
        self.memo: dict = {}
        self.reads: dict = {}
        self._stack: list[set] = []
        self._busy: set = set()
        self.both_branches = False  # when True, IF/IFERROR also evaluate the branch not taken
        self._ranges: dict = {}     # Range -> (values, cells), valid while overrides stay fixed
        self._precomputing = False

    # -- cells -------------------------------------------------------------------------
    def sheet_of(self, title):
        s = self.sheets.get(title) or self.sheets_lower.get(title.lower())
        if s is None:
            raise CellError("#REF!")
        return s

    def tree(self, key):
        """(tree, host sheet title) of a formula cell, or None for a value cell."""
        sheet, r, c = key
        cell = self.sheet_of(sheet).cells.get((r, c))
        if cell is None or cell.formula is None:
            return None
        return parse(cell.formula, cell.shared or (r, c))

    def value(self, key):
        """The value of one cell: override, formula result or stored value."""
        sheet, r, c = key
        if self._stack:
            self._stack[-1].add(key)
        elif key not in self.memo and key not in self.overrides and not self._precomputing:
            self._precompute(key)
        if key in self.overrides:
            return self.overrides[key]
        if key in self.memo:
            return self.memo[key]
        s = self.sheet_of(sheet)
        cell = s.cells.get((r, c))
        if cell is None:
            return None
        if cell.formula is None:
            return cell.value
        if key in self._busy:
            raise FormulaError(f"circular reference through '{sheet}'!{_a1(r, c)}")
        self._busy.add(key)
        self._stack.append(set())
        try:
            tree = parse(cell.formula, cell.shared or (r, c))
            try:
                v = self.scalar(self.eval(tree, (s.title, r, c)))
            except CellError as e:
                v = e.code
        finally:
            self.reads[key] = self._stack.pop()
            self._busy.discard(key)
        self.memo[key] = v
        return v

    def _precompute(self, key):
        """Evaluate the cells `key` depends on first, deepest first, without recursion.

        A sheet of optimiser steps is a chain hundreds of rows long (each row reads the
        one above); evaluating its last cell by plain recursion would overflow Python's
        stack. The order comes from the references written in the formulas; cells reached
        only through OFFSET/INDEX are still found by the evaluation itself."""
        order, seen, todo = [], {key}, [(key, False)]
        while todo:
            k, expanded = todo.pop()
            if expanded:
                order.append(k)
                continue
            todo.append((k, True))
            for dep in self._static_precedents(k):
                if dep not in seen and dep not in self.memo and dep not in self.overrides:
                    seen.add(dep)
                    todo.append((dep, False))
        self._precomputing = True
        try:
            for k in order[:-1]:
                try:
                    self.value(k)
                except FormulaError:
                    pass               # reported when (and if) the cell that needs it is evaluated
        finally:
            self._precomputing = False

    def _static_precedents(self, key):
        """The formula cells a cell's formula names directly (ranges and defined names)."""
        try:
            tree = self.tree(key)
        except (FormulaError, CellError):
            return []
        if tree is None:
            return []
        out, names_seen = [], set()
        todo = [tree]
        while todo:
            node = todo.pop()
            if isinstance(node, Name):
                if node.name.lower() in names_seen:
                    continue
                names_seen.add(node.name.lower())
                try:
                    todo.append(self.name_tree(node.name, key[0]))
                except (CellError, FormulaError):
                    pass
            elif isinstance(node, Ref):
                try:
                    rng = resolve(node, *key)
                    s = self.sheet_of(rng.sheet)
                except CellError:
                    continue
                r2, c2 = min(rng.r2, s.max_row), min(rng.c2, s.max_col)
                if (r2 - rng.r1 + 1) * (c2 - rng.c1 + 1) > len(s.cells):   # a whole column: scan the cells
                    out += [(s.title, r, c) for (r, c), cell in s.cells.items()
                            if cell.formula is not None and rng.r1 <= r <= r2 and rng.c1 <= c <= c2]
                else:
                    out += [(s.title, r, c) for r in range(rng.r1, r2 + 1) for c in range(rng.c1, c2 + 1)
                            if (cell := s.cells.get((r, c))) is not None and cell.formula is not None]
            else:
                todo.extend(getattr(node, "args", ()))
        return out

    def clip(self, rng: Range) -> Range:
        """Whole columns/rows stop at the sheet's used area: nothing beyond it can matter."""
        s = self.sheet_of(rng.sheet)
        return Range(s.title, rng.r1, rng.c1, min(rng.r2, max(s.max_row, rng.r1)), min(rng.c2, max(s.max_col, rng.c1)))

    def range_values(self, rng: Range) -> np.ndarray:
        """A range's values as a 2-D object array (remembered: lookups read the same
        table for every row of a long sheet)."""
        hit = self._ranges.get(rng)
        if hit is not None:
            out, keys = hit
            if self._stack:
                self._stack[-1].update(keys)
            return out
        s = self.sheet_of(rng.sheet)
        r2, c2 = self.clip(rng).r2, self.clip(rng).c2
        out = np.empty((r2 - rng.r1 + 1, c2 - rng.c1 + 1), dtype=object)
        keys = []
        for i, r in enumerate(range(rng.r1, r2 + 1)):
            for j, c in enumerate(range(rng.c1, c2 + 1)):
                out[i, j] = self.value((s.title, r, c))
                keys.append((s.title, r, c))
        out.flags.writeable = False
        if not (self._busy & set(keys)):      # never remember a range read mid-way through a cycle
            self._ranges[rng] = (out, keys)
        return out

    def scalar(self, v):
        """A cell's result: a one-cell range or array becomes its value."""
        if isinstance(v, Range):
            if v.shape != (1, 1):
                raise CellError("#VALUE!")   # implicit intersection is not modelled
            return self.value((v.sheet, v.r1, v.c1))
        if isinstance(v, np.ndarray):
            return v[0, 0] if v.size else None
        return v

    def values(self, v) -> np.ndarray:
        """Any operand as a 2-D object array."""
        if isinstance(v, Range):
            return self.range_values(v)
        if isinstance(v, np.ndarray):
            return v
        return np.array([[v]], dtype=object)

    # -- names -------------------------------------------------------------------------
    def name_tree(self, name: str, sheet: str):
        idx = next((i for i, s in enumerate(self.wb.sheets) if s.title == sheet), None)
        found = [n for n in self.wb.names if n.name.lower() == name.lower()]
        best = next((n for n in found if n.sheet == idx), None) or next((n for n in found if n.sheet is None), None)
        if best is None:
            raise CellError("#NAME?")
        return parse(best.text, (1, 1))

    # -- the tree ----------------------------------------------------------------------
    def eval(self, node, host):
        sheet, row, col = host
        if isinstance(node, Const):
            return node.value
        if isinstance(node, Ref):
            return resolve(node, sheet, row, col)
        if isinstance(node, Name):
            return self.eval(self.name_tree(node.name, sheet), host)
        if isinstance(node, Array):
            return np.array([list(r) for r in node.rows], dtype=object)
        if isinstance(node, Missing):
            return None
        if isinstance(node, Op):
            return self.op(node, host)
        if isinstance(node, Call):
            fn = FUNCTIONS.get(node.fn)
            if fn is None:
                raise FormulaError(f"function {node.fn} is not supported")
            return fn(self, node.args, host)
        raise FormulaError(f"cannot evaluate {node!r}")

    def op(self, node: Op, host):
        if node.op == ":":
            a, b = (self.eval(x, host) for x in node.args)
            if not (isinstance(a, Range) and isinstance(b, Range)) or a.sheet != b.sheet:
                raise CellError("#VALUE!")
            return Range(a.sheet, min(a.r1, b.r1), min(a.c1, b.c1), max(a.r2, b.r2), max(a.c2, b.c2))
        vals = [self.eval(x, host) for x in node.args]
        if any(isinstance(v, np.ndarray) or (isinstance(v, Range) and v.shape != (1, 1)) for v in vals):
            # array arithmetic, as inside an array formula or SUMPRODUCT((A1:A3-B1:B3)^2)
            arrs = [self.values(v) for v in vals]
            out = np.frompyfunc(lambda *xs: self._op_scalar(node.op, xs), len(arrs), 1)(*arrs)
            return out.astype(object)
        return self._op_scalar(node.op, [self.scalar(v) for v in vals])

    def _op_scalar(self, op, xs):
        try:
            if op == "neg":
                return -to_number(xs[0])
            if op == "pos":
                return xs[0]
            if op == "%":
                return to_number(xs[0]) / 100
            if op == "&":
                return "".join(_text(x) for x in xs)
            if op in ("=", "<>", "<", ">", "<=", ">="):
                return compare(op, *xs)
            return arith(op, to_number(xs[0]), to_number(xs[1]))
        except CellError as e:
            return e.code


def _a1(r, c):
    from openpyxl.utils import get_column_letter
    return f"{get_column_letter(c)}{r}"


def _text(v):
    if isinstance(v, XlError):
        raise CellError(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# ---------------------------------------------------------------------------------------
# Functions: f(evaluator, arg trees, host) -> value. Ranges stay unevaluated until a
# function asks for their values, so OFFSET/INDEX can return references.

FUNCTIONS = {}


def function(*names):
    def deco(fn):
        for n in names:
            FUNCTIONS[n] = fn
        return fn
    return deco


def _numbers_in(ev, args, host):
    """The numbers SUM/AVERAGE/... see: in ranges, text, logicals and empty cells are
    skipped; typed directly as arguments, logicals and numeric text count."""
    out = []
    for a in args:
        v = ev.eval(a, host)
        if isinstance(v, Range | np.ndarray):
            for x in ev.values(v).ravel():
                if isinstance(x, XlError):
                    raise CellError(x)
                if is_number(x):
                    out.append(float(x))
        elif v is not None:
            out.append(to_number(v))
    return out


def _scalar_arg(ev, node, host):
    return ev.scalar(ev.eval(node, host))


def _num_arg(ev, node, host):
    return to_number(_scalar_arg(ev, node, host))


@function("SUM")
def _sum(ev, args, host):
    return math.fsum(_numbers_in(ev, args, host))


@function("COUNT")
def _count(ev, args, host):
    n = 0
    for a in args:
        v = ev.eval(a, host)
        n += sum(1 for x in ev.values(v).ravel() if is_number(x))
    return float(n)


@function("COUNTA")
def _counta(ev, args, host):
    return float(sum(1 for a in args for x in ev.values(ev.eval(a, host)).ravel() if x is not None))


@function("COUNTBLANK")
def _countblank(ev, args, host):
    return float(sum(1 for x in ev.values(ev.eval(args[0], host)).ravel() if x is None or x == ""))


@function("AVERAGE")
def _average(ev, args, host):
    xs = _numbers_in(ev, args, host)
    if not xs:
        raise CellError("#DIV/0!")
    return math.fsum(xs) / len(xs)


@function("MIN")
def _min(ev, args, host):
    xs = _numbers_in(ev, args, host)
    return min(xs) if xs else 0.0


@function("MAX")
def _max(ev, args, host):
    xs = _numbers_in(ev, args, host)
    return max(xs) if xs else 0.0


@function("SUMSQ")
def _sumsq(ev, args, host):
    return math.fsum(x * x for x in _numbers_in(ev, args, host))


def _paired(ev, args, host):
    """Two equally shaped ranges; pairs where either side is not a number are skipped
    (Excel's rule for SUMXMY2, SUMX2MY2, SUMX2PY2)."""
    a, b = (ev.values(ev.eval(x, host)) for x in args)
    if a.shape != b.shape:
        raise CellError("#N/A")
    for x, y in zip(a.ravel(), b.ravel()):
        for v in (x, y):
            if isinstance(v, XlError):
                raise CellError(v)
        if is_number(x) and is_number(y):
            yield float(x), float(y)


@function("SUMXMY2")
def _sumxmy2(ev, args, host):
    return math.fsum((x - y) ** 2 for x, y in _paired(ev, args, host))


@function("SUMX2MY2")
def _sumx2my2(ev, args, host):
    return math.fsum(x * x - y * y for x, y in _paired(ev, args, host))


@function("SUMX2PY2")
def _sumx2py2(ev, args, host):
    return math.fsum(x * x + y * y for x, y in _paired(ev, args, host))


@function("SUMPRODUCT")
def _sumproduct(ev, args, host):
    arrs = [ev.values(ev.eval(a, host)) for a in args]
    if any(a.shape != arrs[0].shape for a in arrs):
        raise CellError("#VALUE!")
    total = []
    for xs in zip(*(a.ravel() for a in arrs)):
        p = 1.0
        for v in xs:
            if isinstance(v, XlError):
                raise CellError(v)
            p *= float(v) if is_number(v) else 0.0      # non-numbers count as 0
        total.append(p)
    return math.fsum(total)


@function("MMULT")
def _mmult(ev, args, host):
    a, b = (ev.values(ev.eval(x, host)) for x in args)
    if a.shape[1] != b.shape[0] or not all(is_number(v) for v in np.concatenate([a.ravel(), b.ravel()])):
        raise CellError("#VALUE!")
    out = a.astype(float) @ b.astype(float)
    return out.astype(object)


@function("TRANSPOSE")
def _transpose(ev, args, host):
    return ev.values(ev.eval(args[0], host)).T.copy()


def _unary(fn, domain=lambda x: True):
    def f(ev, args, host):
        x = _num_arg(ev, args[0], host)
        if not domain(x):
            raise CellError("#NUM!")
        try:
            return fn(x)
        except OverflowError:
            raise CellError("#NUM!") from None
    return f


FUNCTIONS.update({
    "SQRT": _unary(math.sqrt, lambda x: x >= 0),
    "EXP": _unary(math.exp),
    "LN": _unary(math.log, lambda x: x > 0),
    "LOG10": _unary(math.log10, lambda x: x > 0),
    "ABS": _unary(abs),
    "TANH": _unary(math.tanh),
    "COS": _unary(math.cos), "SIN": _unary(math.sin), "TAN": _unary(math.tan),
    "ATAN": _unary(math.atan), "COSH": _unary(math.cosh), "SINH": _unary(math.sinh),
    "ACOS": _unary(math.acos, lambda x: -1 <= x <= 1), "ASIN": _unary(math.asin, lambda x: -1 <= x <= 1),
    "SIGN": _unary(lambda x: float((x > 0) - (x < 0))),
    "INT": _unary(lambda x: float(math.floor(x))),
})


@function("POWER")
def _power(ev, args, host):
    return arith("^", _num_arg(ev, args[0], host), _num_arg(ev, args[1], host))


@function("LOG")
def _log(ev, args, host):
    x = _num_arg(ev, args[0], host)
    base = _num_arg(ev, args[1], host) if len(args) > 1 else 10.0
    if x <= 0 or base <= 0 or base == 1:
        raise CellError("#NUM!")
    return math.log(x, base)


@function("MOD")
def _mod(ev, args, host):
    a, b = _num_arg(ev, args[0], host), _num_arg(ev, args[1], host)
    if b == 0:
        raise CellError("#DIV/0!")
    return a - b * math.floor(a / b)


@function("ROUND")
def _round(ev, args, host):
    x, d = _num_arg(ev, args[0], host), int(_num_arg(ev, args[1], host))
    q = 10.0 ** d
    return math.copysign(math.floor(abs(x) * q + 0.5) / q, x)   # half away from zero


@function("PI")
def _pi(ev, args, host):
    return math.pi


def _truth(v) -> bool:
    if isinstance(v, XlError):
        raise CellError(v)
    if isinstance(v, str):
        if v.upper() in ("TRUE", "FALSE"):
            return v.upper() == "TRUE"
        raise CellError("#VALUE!")
    return bool(to_number(v))


@function("IF")
def _if(ev, args, host):
    cond = _truth(_scalar_arg(ev, args[0], host))
    then = args[1] if len(args) > 1 else Const(True)
    other = args[2] if len(args) > 2 else Const(False)
    taken, skipped = (then, other) if cond else (other, then)
    if ev.both_branches:   # record the other branch's reads too: with new x it may be taken
        try:
            ev.scalar(ev.eval(skipped, host)) if not isinstance(skipped, Missing) else None
        except (CellError, FormulaError):
            pass
    return 0.0 if isinstance(taken, Missing) else ev.eval(taken, host)


@function("IFERROR")
def _iferror(ev, args, host):
    try:
        v = ev.eval(args[0], host)
        s = ev.scalar(v) if not isinstance(v, np.ndarray) else v
        if isinstance(s, XlError):
            raise CellError(s)
        if ev.both_branches:
            ev.eval(args[1], host)
        return v
    except CellError:
        return ev.eval(args[1], host)


@function("AND")
def _and(ev, args, host):
    return all(_truth(x) for a in args for x in ev.values(ev.eval(a, host)).ravel() if x is not None)


@function("OR")
def _or(ev, args, host):
    return any(_truth(x) for a in args for x in ev.values(ev.eval(a, host)).ravel() if x is not None)


@function("NOT")
def _not(ev, args, host):
    return not _truth(_scalar_arg(ev, args[0], host))


@function("TRUE")
def _true(ev, args, host):
    return True


@function("FALSE")
def _false(ev, args, host):
    return False


@function("ISBLANK")
def _isblank(ev, args, host):
    return _scalar_arg(ev, args[0], host) is None


@function("ISNUMBER")
def _isnumber(ev, args, host):
    return is_number(_scalar_arg(ev, args[0], host))


@function("ROW")
def _row(ev, args, host):
    return float(ev.eval(args[0], host).r1 if args else host[1])


@function("COLUMN")
def _column(ev, args, host):
    return float(ev.eval(args[0], host).c1 if args else host[2])


@function("ROWS")
def _rows(ev, args, host):
    return float(ev.values(ev.eval(args[0], host)).shape[0])


@function("COLUMNS")
def _columns(ev, args, host):
    return float(ev.values(ev.eval(args[0], host)).shape[1])


@function("OFFSET")
def _offset(ev, args, host):
    base = ev.eval(args[0], host)
    if not isinstance(base, Range):
        raise CellError("#VALUE!")
    dr = int(_num_arg(ev, args[1], host))
    dc = int(_num_arg(ev, args[2], host))
    h = int(_num_arg(ev, args[3], host)) if len(args) > 3 and not isinstance(args[3], Missing) else base.shape[0]
    w = int(_num_arg(ev, args[4], host)) if len(args) > 4 and not isinstance(args[4], Missing) else base.shape[1]
    r1, c1 = base.r1 + dr, base.c1 + dc
    if r1 < 1 or c1 < 1 or h < 1 or w < 1:
        raise CellError("#REF!")
    return Range(base.sheet, r1, c1, r1 + h - 1, c1 + w - 1)


@function("INDEX")
def _index(ev, args, host):
    base = ev.eval(args[0], host)
    r = int(_num_arg(ev, args[1], host)) if len(args) > 1 and not isinstance(args[1], Missing) else 0
    c = int(_num_arg(ev, args[2], host)) if len(args) > 2 and not isinstance(args[2], Missing) else 0
    shape = base.shape if isinstance(base, Range) else ev.values(base).shape
    if shape[0] == 1 and len(args) == 2:       # INDEX(row vector, n) counts along the row
        r, c = 1, r
    if r < 0 or c < 0 or r > shape[0] or c > shape[1]:
        raise CellError("#REF!")
    if isinstance(base, Range):
        r1, r2 = (base.r1, base.r2) if r == 0 else (base.r1 + r - 1,) * 2
        c1, c2 = (base.c1, base.c2) if c == 0 else (base.c1 + c - 1,) * 2
        return Range(base.sheet, r1, c1, r2, c2)
    arr = ev.values(base)
    return arr[(slice(None) if r == 0 else r - 1), (slice(None) if c == 0 else c - 1)].reshape(
        (shape[0] if r == 0 else 1), (shape[1] if c == 0 else 1))


@function("MATCH")
def _match(ev, args, host):
    x = _scalar_arg(ev, args[0], host)
    arr = ev.values(ev.eval(args[1], host)).ravel()
    kind = int(_num_arg(ev, args[2], host)) if len(args) > 2 and not isinstance(args[2], Missing) else 1
    if kind == 0:
        for i, v in enumerate(arr):
            if v is not None and not isinstance(v, XlError) and compare("=", v, x):
                return float(i + 1)
        raise CellError("#N/A")
    # Sorted lookups (1: ascending, largest <= x; -1: descending, smallest >= x), by
    # binary search as Excel does, so unsorted data gives Excel's answer too.
    ok = lambda v: v is not None and (is_number(v) == is_number(x))
    lo, hi, found = 0, len(arr) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        v = arr[mid]
        if not ok(v):   # Excel skips blanks/other types; step past them
            j = mid + 1
            while j <= hi and not ok(arr[j]):
                j += 1
            if j > hi:
                hi = mid - 1
                continue
            mid, v = j, arr[j]
        if (compare("<=", v, x) if kind == 1 else compare(">=", v, x)):
            found, lo = mid, mid + 1
        else:
            hi = mid - 1
    if found is None:
        raise CellError("#N/A")
    return float(found + 1)
