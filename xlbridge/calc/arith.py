"""Plain arithmetic compiled to Python source: the interpreter's fast path for long chains.

The steps of an optimizer down a sheet (graddesc.xlsx: 35,000 cells, each row reading the
row above) cannot be evaluated in bulk, and the interpreter's closures cost some ten Python
calls a cell. A formula made only of numbers, single-cell references, arithmetic,
comparisons, IF and functions of numbers is compiled once into one Python function whose
body is the formula itself:

    =E4-lr*K4   ->   def formula(r, c): return (num((s0, r, c - 8)) - (num(k0) * num((s0, r, c - 2))))

It runs while every cell it reads holds a plain number; anything else (text, an empty cell,
an error, a cell not computed yet, a division by zero) makes it give way to the interpreter's
closure, which has Excel's rules. On plain numbers Python's arithmetic is the interpreter's
own, so the two give the same values to the bit. The source holds only names made here and
numbers written by repr(): nothing of the workbook's text.
"""

from __future__ import annotations

from xlbridge.calc.functions import FUNCTIONS
from xlbridge.calc.parse import Call, Const, Name, Op, Ref
from xlbridge.calc.values import CellError, power

_ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/"}
_COMPARE = {"=": "==", "<>": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
_DEPTH = 40                      # deeper formulas stay with the closures (Python's own parser has limits)


class _GiveWay(Exception):
    """A value the fast path does not handle: the closure computes the cell."""


class _Unsupported(Exception):
    pass


def compile_fast(tree, sheet: str, ev, slow):
    """A function (r, c) -> value computing `tree` on the fast path, falling back on `slow`
    (the interpreter's closure); None if the formula is not plain arithmetic."""
    names: dict = {}
    try:
        body = _Source(ev, sheet, names).expr(tree, 0)[0]
    except (_Unsupported, CellError):
        return None
    vals = ev.vals
    get = vals.get

    def num(key):
        v = get(key)
        if v.__class__ is float:
            return v
        raise _GiveWay

    names.update(num=num, power=power)
    exec(compile(f"def formula(r, c):\n    return {body}\n", "<formula>", "exec"), names)
    formula = names["formula"]

    def fast(r, c):
        try:
            return formula(r, c)
        except (_GiveWay, ZeroDivisionError):
            return slow(r, c)
    return fast


class _Source:
    """Python source for a formula tree: (text, is a comparison)."""

    def __init__(self, ev, sheet, names):
        self.ev, self.sheet, self.names = ev, sheet, names

    def name(self, value) -> str:
        n = f"k{len(self.names)}"
        self.names[n] = value
        return n

    def number(self, node, depth) -> str:
        text, logical = self.expr(node, depth)
        return f"float({text})" if logical else text        # TRUE is 1 in arithmetic

    def expr(self, node, depth):
        if depth > _DEPTH:
            raise _Unsupported
        t = type(node)
        if t is Const:
            v = node.value
            if type(v) is float:
                return repr(v), False
            if type(v) is bool:
                return repr(v), True
            raise _Unsupported
        if t is Ref:
            return self.ref(node), False
        if t is Name:
            return self.expr(self.ev.name_tree(node.name, self.sheet), depth + 1)
        if t is Op:
            return self.op(node, depth + 1)
        if t is Call:
            return self.call(node, depth + 1)
        raise _Unsupported

    def ref(self, node: Ref) -> str:
        if not (node.r1 == node.r2 and node.c1 == node.c2 and node.absolute[0] == node.absolute[2]
                and node.absolute[1] == node.absolute[3]):
            raise _Unsupported                                  # a range
        sheet = self.ev.sheet_title(node.sheet) if node.sheet else self.sheet
        row_fixed, col_fixed = node.absolute[0], node.absolute[1]
        if row_fixed and col_fixed:
            return f"num({self.name((sheet, node.r1, node.c1))})"
        row = str(node.r1) if row_fixed else f"r + {node.r1}" if node.r1 >= 0 else f"r - {-node.r1}"
        col = str(node.c1) if col_fixed else f"c + {node.c1}" if node.c1 >= 0 else f"c - {-node.c1}"
        return f"num(({self.name(sheet)}, {row}, {col}))"

    def op(self, node: Op, depth):
        args = node.args
        if node.op in _ARITHMETIC:
            a, b = (self.number(x, depth) for x in args)
            return f"({a} {_ARITHMETIC[node.op]} {b})", False
        if node.op == "^":
            a, b = (self.number(x, depth) for x in args)
            return f"power({a}, {b})", False
        if node.op == "neg":
            return f"(-{self.number(args[0], depth)})", False
        if node.op == "%":
            return f"({self.number(args[0], depth)} / 100.0)", False
        if node.op in _COMPARE:                                  # numbers with numbers only: Excel
            (a, la), (b, lb) = (self.expr(x, depth) for x in args)   # ranks text and logicals apart
            if la or lb:
                raise _Unsupported
            return f"({a} {_COMPARE[node.op]} {b})", True
        raise _Unsupported

    def call(self, node: Call, depth):
        if node.fn == "IF" and len(node.args) in (2, 3):
            cond, logical = self.expr(node.args[0], depth)
            test = cond if logical else f"({cond} != 0.0)"
            then = self.expr(node.args[1], depth)
            other = self.expr(node.args[2], depth) if len(node.args) == 3 else ("False", True)
            return f"({then[0]} if {test} else {other[0]})", then[1] and other[1]
        fn = FUNCTIONS.get(node.fn)
        if fn is None or fn.ctx or fn.volatile or fn.kinds(len(node.args)) != "n" * len(node.args) \
                or fn.args.endswith("*"):
            raise _Unsupported
        args = ", ".join(self.number(a, depth) for a in node.args)
        return f"{self.name(fn.impl)}({args})", False
