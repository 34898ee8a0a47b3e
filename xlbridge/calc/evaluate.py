"""The interpreter: every formula cell of a workbook evaluated with Excel's rules, fast.

Each distinct formula tree (parse.py: one per filled-down block, thanks to relative
references) is compiled once per sheet into a Python closure `fn(row, col)`, so a cell
costs a few closure calls and dictionary look-ups. Cells are evaluated on demand without
recursion: a closure that reads a formula cell not yet computed raises `Need`, the driver
computes that cell first (an explicit stack, so chains thousands of cells long are fine)
and runs the closure again; a cell met again while it waits is a circular reference.

    ev = Evaluator(read_workbook(path), overrides={('model', 1, 2): 3.0})
    ev.value(('model', 4, 2))        # one cell
    ev.values()                      # every formula cell: {(sheet, row, col): value}

Values: float, str, bool, XlError, or None for an empty cell (a formula never gives None:
`=A1` of an empty A1 is 0). `problems` names the cells whose formula could not be evaluated
at all (a function we do not have, a circular reference): their value is #NAME? or #REF!.
"""

from __future__ import annotations

import re

import numpy as np

from xlbridge.calc.arith import compile_fast
from xlbridge.calc.functions import FUNCTIONS
from xlbridge.calc.parse import (
    Array, Call, Const, Missing, Name, Op, Range, Ref, TableRef, cell_name, parse, parse_keyed, resolve,
)
from xlbridge.calc.values import CellError, FormulaError, XlError, is_number, to_number, to_text, truth

_EMPTY = object()
FAST_PATH_CELLS = 64      # compiling Python source for a tree pays off over this many cells

# Functions that may return a reference or an array: their callers check what came back.
_NOT_SCALAR = {"INDEX", "OFFSET", "INDIRECT", "MMULT", "TRANSPOSE", "IF", "IFERROR", "IFNA", "CHOOSE",
               "XLOOKUP", "IFS", "SWITCH"}


class Need(Exception):
    """A closure read formula cells that are not computed yet."""

    def __init__(self, keys):
        super().__init__()
        self.keys = keys


def cells_by_key(wb) -> tuple[dict, dict]:
    """({(sheet, row, col): Cell} of the formula cells, {(sheet, row, col): value} of the
    others), made once per workbook: every evaluator shares them, keys and all (two million
    cells are a lot of tuples)."""
    hit = wb.derived.get("cells")
    if hit is None:
        formulas, values = {}, {}
        for s in wb.sheets:
            t = s.title
            for (r, c), cell in s.cells.items():
                if cell.formula is not None:
                    formulas[(t, r, c)] = cell
                else:
                    values[(t, r, c)] = cell.value
        hit = wb.derived["cells"] = (formulas, values)
    return hit


class Evaluator:
    """Evaluate cells of a WorkbookData; `overrides` ((sheet, row, col) -> value) replace
    what the file stores, as the Solver's changing cells do."""

    def __init__(self, wb, overrides: dict | None = None):
        self.wb = wb
        self.sheets = {s.title: s for s in wb.sheets}
        self._lower = {s.title.lower(): s.title for s in wb.sheets}
        formulas, values = cells_by_key(wb)
        self.formulas = formulas                 # shared with every evaluator: never changed here
        self.vals: dict = dict(values)           # a copy holding the same keys: no new tuples
        overrides = dict(overrides or {})
        if any(k in formulas for k in overrides):
            self.formulas = {k: v for k, v in formulas.items() if k not in overrides}
        self.vals.update(overrides)
        self.overrides = overrides
        self.problems: dict = {}
        self._closures: dict = {}
        self._fast: dict = {}
        self._ranges: dict = {}
        self._numbers: dict = {}
        self._names: dict = {}
        self._fns: dict = {}                 # cell -> its closure, once compiled
        self.trees = wb.derived.setdefault("trees", {})   # cell -> (R1C1 key, tree), for every evaluator
        self._tree_refs: dict = {}           # (R1C1 key, sheet) -> [(Ref, sheet)]
        self._in_range: dict = {}            # Range -> formula cells inside it
        self.stats = {"bulk": 0, "cells": 0}  # cells computed in bulk (vector.py) and one by one

    # -- cells ---------------------------------------------------------------------------------
    def sheet_title(self, title: str) -> str:
        t = self._lower.get(title.lower()) if title not in self.sheets else title
        if t is None:
            raise CellError("#REF!")
        return t

    def tree(self, key):
        """The formula tree of a cell, or None for a value cell (or an overridden one)."""
        cell = self.formulas.get(key)
        if cell is None:
            return None
        return parse(cell.formula, cell.host)

    def value(self, key):
        """The value of one cell: override, stored value, or its formula's result (computed
        with what it reads, in bulk where it can: sweep.py)."""
        v = self.vals.get(key, _EMPTY)
        if v is not _EMPTY:
            return v
        if key not in self.formulas:
            return None
        self.evaluate([key])
        return self.vals[key]

    def values(self, keys=None) -> dict:
        """The value of every formula cell (or of `keys`): see `evaluate`."""
        self.evaluate(keys)
        keys = list(self.formulas) if keys is None else keys
        return {k: self.vals.get(k) for k in keys}

    def evaluate(self, keys=None) -> None:
        """Compute every formula cell (or `keys`) into `vals` in one sweep (sweep.py):
        groups of cells sharing a formula in bulk with numpy, the rest cell by cell, each
        after what it reads."""
        from xlbridge.calc.reader import paused_gc
        from xlbridge.calc.sweep import sweep
        with paused_gc():
            sweep(self, keys)
            for k in self.formulas if keys is None else keys:
                if k not in self.vals and k in self.formulas:
                    self.compute(k)

    def precedents(self, key) -> list:
        """The formula cells a cell's formula names directly (ranges and defined names)."""
        try:
            refs = self.refs(key)
        except (FormulaError, CellError):
            return []
        out = []
        formulas = self.formulas
        for ref, t in refs:
            try:
                rng = resolve(ref, t, key[1], key[2])
            except CellError:
                continue
            if rng.r1 == rng.r2 and rng.c1 == rng.c2:
                k = (rng.sheet, rng.r1, rng.c1)
                if k in formulas:
                    out.append(k)
            else:
                out.extend(self.formula_cells_in(rng))
        return out

    def refs(self, key):
        """(Ref, sheet) of every reference a cell's tree names, through defined names too;
        remembered per tree and sheet."""
        rkey, tree = self.cell_tree(key)
        hit = self._tree_refs.get((rkey, key[0]))
        if hit is None:
            hit, seen, todo = [], set(), [(tree, key[0])]
            while todo:
                node, sheet = todo.pop()
                t = type(node)
                if t is Ref:
                    try:
                        hit.append((node, self.sheet_title(node.sheet) if node.sheet else sheet))
                    except CellError:
                        pass
                elif t is Name:
                    if node.name.lower() not in seen:
                        seen.add(node.name.lower())
                        try:
                            todo.append((self.name_tree(node.name, sheet), sheet))
                        except CellError:
                            pass
                else:
                    todo.extend((a, sheet) for a in getattr(node, "args", ()))
            self._tree_refs[(rkey, key[0])] = hit
        return hit

    def formula_cells_in(self, rng: Range) -> list:
        hit = self._in_range.get(rng)
        if hit is None:
            if rng.sheet not in self.sheets:
                return []
            s = self.sheets[rng.sheet]
            clipped = self.clip(rng)
            t, formulas = rng.sheet, self.formulas
            if clipped.size > len(s.cells):
                hit = [(t, r, c) for (r, c) in s.cells if (t, r, c) in formulas and (t, r, c) in clipped]
            else:
                hit = [k for k in clipped.cells() if k in formulas]
            self._in_range[rng] = hit
        return hit

    def cell_tree(self, key):
        """(R1C1 key, tree) of a formula cell."""
        hit = self.trees.get(key)
        if hit is None:
            cell = self.formulas[key]
            hit = self.trees[key] = parse_keyed(cell.formula, cell.host)
        return hit

    def compute(self, key):
        """Compute one formula cell, and first whatever it reads that is not known yet."""
        stack, waiting = [key], {key}
        vals = self.vals
        while stack:
            k = stack[-1]
            if k in vals:
                stack.pop()
                waiting.discard(k)
                continue
            try:
                v = self._run(k)
            except Need as need:
                for d in need.keys:
                    if d in waiting:
                        self._circular(d, stack)
                        break
                    if d not in vals:
                        stack.append(d)
                        waiting.add(d)
                continue
            vals[k] = v
            stack.pop()
            waiting.discard(k)

    def _circular(self, key, stack):
        i = stack.index(key)
        loop = stack[i:]
        msg = f"circular reference through {cell_name(key)}"
        for k in loop:
            self.problems[k] = msg
            self.vals[k] = XlError("#REF!")

    def _run(self, key):
        sheet, r, c = key
        try:
            fn = self._fns.get(key)
            if fn is None:
                fn = self._fns[key] = self.closure(key)
            v = fn(r, c)
            if type(v) is not float or v - v != 0.0:     # not a finite number: Excel's rules
                v = self.cell_result(v, sheet, r, c)
        except CellError as e:
            v = e.code
        except FormulaError as e:
            self.problems[key] = str(e)
            v = XlError("#NAME?")
        except RecursionError:
            self.problems[key] = "formula nested too deeply"
            v = XlError("#NAME?")
        except TypeError as e:                     # a function given too few or too many arguments
            self.problems[key] = f"a function has the wrong number of arguments ({e})"
            v = XlError("#VALUE!")
        return v

    def bind(self, cells):
        """Compile once the closure that cells sharing one tree share (sweep.py's groups);
        for many cells, plain arithmetic gets the fast path too (arith.py)."""
        try:
            fn = self.closure(cells[0])
        except FormulaError:
            return                                 # each cell reports it when it runs
        if len(cells) >= FAST_PATH_CELLS:
            rkey, tree = self.cell_tree(cells[0])
            fast = self._fast.get((rkey, cells[0][0]))
            if fast is None:
                fast = self._fast[(rkey, cells[0][0])] = compile_fast(tree, cells[0][0], self, fn) or fn
            fn = fast
        self._fns.update(dict.fromkeys(cells, fn))

    def closure(self, key):
        """The compiled closure of a formula cell, shared by every cell with the same tree."""
        rkey, tree = self.cell_tree(key)
        fn = self._closures.get((rkey, key[0]))
        if fn is None:
            fn = self._closures[(rkey, key[0])] = self.compile(tree, key[0])
        return fn

    def run(self, key):
        """The value of one formula cell whose inputs are known (raises Need if not)."""
        return self._run(key)

    def cell_result(self, v, sheet, r, c):
        """What a cell shows for a formula's result: a range by implicit intersection, an
        array by its top-left value, an empty reference as 0."""
        if type(v) is Range:
            v = self.get(self.intersect(v, r, c))
        elif type(v) is np.ndarray:
            v = v[0, 0] if v.size else None
        if v is None:
            return 0.0
        if type(v) is int:
            return float(v)
        if type(v) is float and (v != v or v in (float("inf"), float("-inf"))):
            return XlError("#NUM!")
        return v

    def get(self, key):
        v = self.vals.get(key, _EMPTY)
        if v is _EMPTY:
            if key in self.formulas:
                raise Need((key,))
            return None
        return v

    def intersect(self, rng: Range, r: int, c: int):
        """Implicit intersection: the cell of a one-column range in the host's row (or of a
        one-row range in its column)."""
        if rng.r1 == rng.r2 and rng.c1 == rng.c2:
            return (rng.sheet, rng.r1, rng.c1)
        if rng.c1 == rng.c2 and rng.r1 <= r <= rng.r2:
            return (rng.sheet, r, rng.c1)
        if rng.r1 == rng.r2 and rng.c1 <= c <= rng.c2:
            return (rng.sheet, rng.r1, c)
        raise CellError("#VALUE!")

    # -- ranges --------------------------------------------------------------------------------
    def clip(self, rng: Range) -> Range:
        """Whole columns and rows stop at the sheet's used area: nothing beyond it matters."""
        s = self.sheets[rng.sheet]
        r2, c2 = min(rng.r2, max(s.max_row, rng.r1)), min(rng.c2, max(s.max_col, rng.c1))
        return rng if (r2, c2) == (rng.r2, rng.c2) else Range(rng.sheet, rng.r1, rng.c1, r2, c2)

    def range_values(self, rng: Range) -> np.ndarray:
        """A range's values as a 2-D object array (remembered: lookups read the same table
        for every row of a long sheet)."""
        hit = self._ranges.get(rng)
        if hit is not None:
            return hit
        if rng.sheet not in self.sheets:
            raise CellError("#REF!")
        clipped = self.clip(rng)
        h, w = clipped.shape
        out = np.empty((h, w), dtype=object)
        vals, formulas, missing = self.vals, self.formulas, []
        sheet = self.sheets[rng.sheet]
        t, r1, c1 = rng.sheet, rng.r1, rng.c1
        if h * w > 4 * len(sheet.cells) + 64:        # sparse: visit the cells that exist
            for (r, c) in sheet.cells:
                if r1 <= r <= clipped.r2 and c1 <= c <= clipped.c2:
                    key = (t, r, c)
                    v = vals.get(key, _EMPTY)
                    if v is _EMPTY:
                        missing.append(key)
                    else:
                        out[r - r1, c - c1] = v
            for key, v in self.overrides.items():
                if key in clipped and (key[1], key[2]) not in sheet.cells:
                    out[key[1] - r1, key[2] - c1] = v
        else:
            for i in range(h):
                r = r1 + i
                for j in range(w):
                    key = (t, r, c1 + j)
                    v = vals.get(key, _EMPTY)
                    if v is _EMPTY:
                        if key in formulas:
                            missing.append(key)
                    else:
                        out[i, j] = v
        if missing:
            raise Need(missing)
        out.flags.writeable = False
        self._ranges[rng] = out
        return out

    def range_numbers(self, rng: Range) -> np.ndarray:
        """The numbers in a range, as SUM sees them; an error in it is raised."""
        hit = self._numbers.get(rng)
        if hit is None:
            vals = self.range_values(rng)
            err = None
            xs = []
            for v in vals.ravel():
                if type(v) is float:
                    xs.append(v)
                elif isinstance(v, XlError) and err is None:
                    err = v
                elif is_number(v):
                    xs.append(float(v))
            hit = self._numbers[rng] = (np.array(xs, dtype=float), err)
        xs, err = hit
        if err is not None:
            raise CellError(err)
        return xs

    def values_of(self, v) -> np.ndarray:
        """Any operand as a 2-D object array."""
        if type(v) is Range:
            return self.range_values(v)
        if type(v) is np.ndarray:
            return v
        return np.array([[v]], dtype=object)

    values_array = values_of

    def scalar_shaped(self, node, sheet) -> bool:
        return _scalar_shaped(node, lambda name: self.name_tree(name, sheet))

    # -- names and tables ------------------------------------------------------------------------
    def name_tree(self, name: str, sheet: str):
        key = (name.lower(), sheet)
        if key not in self._names:
            idx = next((i for i, s in enumerate(self.wb.sheets) if s.title == sheet), None)
            found = [n for n in self.wb.names if n.name.lower() == name.lower()]
            best = next((n for n in found if n.sheet == idx), None) or next((n for n in found if n.sheet is None), None)
            self._names[key] = None if best is None or not best.text else parse(best.text, (1, 1))
        tree = self._names[key]
        if tree is None:
            raise CellError("#NAME?")
        return tree

    def table_range(self, node: TableRef, sheet: str, row: int, col: int) -> Range:
        tables = getattr(self.wb, "tables", {}) or {}
        if node.table is None:
            t = next((t for t in tables.values() if t.sheet == sheet and t.r1 <= row <= t.r2 and t.c1 <= col <= t.c2), None)
        else:
            t = tables.get(node.table.lower())
        if t is None:
            raise CellError("#REF!")
        return table_part(t, node.spec, row)

    # -- evaluating a tree at one cell ----------------------------------------------------------------
    def eval_at(self, tree, sheet: str, row: int, col: int):
        """The raw result (value, Range or array) of a tree at a host cell, computing the cells
        it needs first."""
        fn = self.compile(tree, sheet)
        while True:
            try:
                return fn(row, col)
            except Need as need:
                for k in need.keys:
                    self.value(k)

    def scalar_at(self, tree, sheet, row, col):
        try:
            return self.cell_result(self.eval_at(tree, sheet, row, col), sheet, row, col)
        except CellError as e:
            return e.code

    # -- the compiler: tree -> closure(row, col) --------------------------------------------------------
    def compile(self, node, sheet: str, array: bool = False):
        """A closure fn(row, col) giving the raw result of `node` at that cell. In an array
        context (an argument SUMPRODUCT or MMULT reads as an array), one-value functions
        map over arrays and ranges, as Excel evaluates them there."""
        t = type(node)
        if t is Const:
            v = node.value
            if isinstance(v, XlError):
                def err(r, c, v=v):
                    raise CellError(v)
                return err
            return lambda r, c: v
        if t is Ref:
            return self._ref(node, sheet)
        if t is Name:
            return self._name(node, sheet)
        if t is Op:
            return self._op(node, sheet, array)
        if t is Call:
            return self._call(node, sheet, array)
        if t is Array:
            arr = np.array([list(row) for row in node.rows], dtype=object)
            return lambda r, c: arr
        if t is Missing:
            return lambda r, c: None
        if t is TableRef:
            return lambda r, c: self.table_range(node, sheet, r, c)
        raise FormulaError(f"cannot evaluate {node!r}")

    def _ref(self, node: Ref, sheet: str):
        try:
            target = self.sheet_title(node.sheet) if node.sheet else sheet
        except CellError:
            def missing(r, c):
                raise CellError("#REF!")
            return missing
        if all(node.absolute):
            rng = resolve(node, target, 1, 1)
            return lambda r, c: rng
        return lambda r, c: resolve(node, target, r, c)

    def scalar(self, node, sheet: str):
        """A closure giving one value: the hot path for `E262*C262`, a plain cell read."""
        if type(node) is Name:
            try:
                return self.scalar(self.name_tree(node.name, sheet), sheet)
            except CellError:
                return self._name(node, sheet)
        if type(node) is Ref and node.r1 == node.r2 and node.c1 == node.c2 and node.absolute[0] == node.absolute[2] \
                and node.absolute[1] == node.absolute[3]:
            try:
                t = self.sheet_title(node.sheet) if node.sheet else sheet
            except CellError:
                return self.compile(Const(XlError("#REF!")), sheet)
            vals, formulas = self.vals, self.formulas
            ar, ac, dr, dc = node.absolute[0], node.absolute[1], node.r1, node.c1
            if ar and ac:
                key = (t, dr, dc)

                def fixed(r, c):
                    v = vals.get(key, _EMPTY)
                    if v is _EMPTY:
                        if key in formulas:
                            raise Need((key,))
                        return None
                    return v
                return fixed

            def rel(r, c):
                k = (t, dr if ar else r + dr, dc if ac else c + dc)
                v = vals.get(k, _EMPTY)
                if v is _EMPTY:
                    if k in formulas:
                        raise Need((k,))
                    if k[1] < 1 or k[2] < 1:
                        raise CellError("#REF!")
                    return None
                return v
            return rel
        if type(node) is Const and not isinstance(node.value, XlError):
            v = node.value
            return lambda r, c: v
        fn = self.compile(node, sheet)
        if self.scalar_shaped(node, sheet):
            return fn

        def scalarised(r, c):
            v = fn(r, c)
            if type(v) is Range:
                return self.get(self.intersect(v, r, c))
            if type(v) is np.ndarray:
                return v[0, 0] if v.size else None
            return v
        return scalarised

    def _name(self, node: Name, sheet: str):
        try:
            tree = self.name_tree(node.name, sheet)
        except CellError as e:
            def missing(r, c, code=e.code):
                raise CellError(code)
            return missing
        return self.compile(tree, sheet)

    def _op(self, node: Op, sheet: str, array: bool = False):
        op, args = node.op, node.args
        if op == ":":
            fa, fb = (self.compile(a, sheet) for a in args)

            def span(r, c):
                a, b = fa(r, c), fb(r, c)
                if type(a) is not Range or type(b) is not Range or a.sheet != b.sheet:
                    raise CellError("#VALUE!")
                return Range(a.sheet, min(a.r1, b.r1), min(a.c1, b.c1), max(a.r2, b.r2), max(a.c2, b.c2))
            return span
        if op == "@":
            fa = self.compile(args[0], sheet)

            def at(r, c):
                v = fa(r, c)
                return self.get(self.intersect(v, r, c)) if type(v) is Range else v
            return at
        fn = FUNCTIONS[op]
        coerce = [_COERCE[k] for k in fn.kinds(len(args))]
        impl = fn.impl
        if all(self.scalar_shaped(a, sheet) for a in args):
            fs = [self.scalar(a, sheet) for a in args]
            if len(fs) == 2:
                (fa, fb), (ka, kb) = fs, coerce
                return lambda r, c: impl(ka(fa(r, c)), kb(fb(r, c)))
            (fa,), (ka,) = fs, coerce
            return lambda r, c: impl(ka(fa(r, c)))
        return self._mapped_call(fn, fn.kinds(len(args)), args, sheet, array)

    def _call(self, node: Call, sheet: str, array: bool = False):
        fn = FUNCTIONS.get(node.fn)
        if fn is None:
            raise FormulaError(f"function {node.fn} is not supported")
        args = node.args
        kinds = fn.kinds(len(args))
        if len(kinds) < len(args) and not fn.args.endswith("*"):
            raise FormulaError(f"{node.fn} takes at most {len(kinds)} arguments, got {len(args)}")
        impl = fn.impl
        if array and kinds and not fn.ctx and all(k in "nibst" for k in kinds):
            return self._mapped_call(fn, kinds, args, sheet)
        if "N" in kinds:
            i = kinds.index("N")
            head = [self._arg(k, a, sheet) for k, a in zip(kinds[:i], args[:i])]
            nums = self._numbers_arg(args[i:], sheet)
            if fn.ctx:
                raise FormulaError(f"{node.fn}: context and number lists together")
            if not head:
                return lambda r, c: impl(nums(r, c))
            return lambda r, c: impl(*[h(r, c) for h in head], nums(r, c))
        preps = [self._arg(k, a, sheet) for k, a in zip(kinds, args)]
        if fn.ctx:
            def with_ctx(r, c):
                return impl(self, (sheet, r, c), *[p(r, c) for p in preps])
            return with_ctx
        if len(preps) == 1:
            (p,) = preps
            return lambda r, c: impl(p(r, c))
        if len(preps) == 2:
            p, q = preps
            return lambda r, c: impl(p(r, c), q(r, c))
        if not preps:
            return lambda r, c: impl()
        return lambda r, c: impl(*[p(r, c) for p in preps])

    def _mapped_call(self, fn, kinds, args, sheet, array=True):
        """An operator or one-value function over arrays, cell by cell (errors stay in their
        cells); arrays of plain numbers at once, where the function has a numpy form."""
        fs = [self.compile(a, sheet, array) for a in args]
        coerce = [_COERCE[k] for k in kinds]
        impl, vec = fn.impl, (fn.vec if set(kinds) == {"n"} else None)

        def mapped(r, c):
            vals, arrays = [], False
            for f in fs:
                v = f(r, c)
                if type(v) is Range:
                    v = self.range_values(v) if v.size > 1 else self.get((v.sheet, v.r1, v.c1))
                arrays |= type(v) is np.ndarray
                vals.append(v)
            if not arrays:
                return impl(*(k(v) for k, v in zip(coerce, vals)))
            return _map(impl, coerce, vals, vec)
        return mapped

    def _arg(self, kind: str, node, sheet: str):
        if type(node) is Missing:
            return (lambda: None) if False else (lambda r, c: None)
        if kind == "L":
            f = self.compile(node, sheet)
            return lambda r, c: (lambda: f(r, c))
        if kind in "nibst":
            f = self.scalar(node, sheet)
            k = _COERCE[kind]
            return lambda r, c: k(f(r, c))
        f = self.compile(node, sheet, array=kind == "a")
        if kind == "a":
            values_of = self.values_of
            return lambda r, c: values_of(f(r, c))
        if kind == "r":
            def ref(r, c):
                v = f(r, c)
                if type(v) is not Range:
                    raise CellError(v if isinstance(v, XlError) else "#VALUE!")
                return v
            return ref
        return f                                   # 'v'

    def _numbers_arg(self, args, sheet):
        """Kind 'N': the numbers of all the arguments, as Excel's SUM sees them."""
        fs = [(self.compile(a, sheet), None) for a in args if type(a) is not Missing]

        def numbers(r, c):
            parts = []
            for f, direct in fs:
                v = f(r, c)
                if type(v) is Range:
                    parts.append(self.range_numbers(v))
                elif type(v) is np.ndarray:
                    xs = []
                    for x in v.ravel():
                        if isinstance(x, XlError):
                            raise CellError(x)
                        if is_number(x):
                            xs.append(float(x))
                    parts.append(np.array(xs))
                elif v is not None:
                    parts.append(np.array([to_number(v)]))
            if len(parts) == 1:
                return parts[0]
            return np.concatenate(parts) if parts else np.zeros(0)
        return numbers


def _int(v):
    x = to_number(v)
    return int(x) if x == x and abs(x) < 2**62 else _raise_num()


def _raise_num():
    raise CellError("#NUM!")


def _scalar_value(v):
    if isinstance(v, XlError):
        raise CellError(v)
    return v


_COERCE = {"n": to_number, "i": _int, "b": truth, "s": lambda v: v, "t": to_text}


def _scalar_shaped(node, names=None) -> bool:
    """Whether a tree surely gives one value (so an operator needs no array mapping);
    `names(name)` gives a defined name's tree."""
    t = type(node)
    if t is Name and names is not None:
        try:
            return _scalar_shaped(names(node.name))
        except CellError:
            return True                         # #NAME?: an error value, one of it
    if t is Const:
        return True
    if t is Ref:
        return node.r1 == node.r2 and node.c1 == node.c2 and node.absolute[0] == node.absolute[2] \
            and node.absolute[1] == node.absolute[3]
    if t is Op:
        return node.op not in (":",) and all(_scalar_shaped(a, names) for a in node.args)
    if t is Call:
        return node.fn not in _NOT_SCALAR and node.fn not in ("TRANSPOSE", "MMULT")
    return False


def _map(impl, coerce, vals, vec=None):
    """An operator over arrays, cell by cell with broadcasting; errors stay in their cells.
    With `vec` (the function's numpy form) arrays of plain numbers go at once, where every
    result is finite (numpy gives what impl gives there)."""
    arrs = [v if type(v) is np.ndarray else np.array([[v]], dtype=object) for v in vals]
    if vec is not None and all(type(x) is float for a in arrs for x in a.flat):
        with np.errstate(all="ignore"):
            out = np.asarray(vec(*(a.astype(float) for a in arrs)), float)
        if np.isfinite(out).all():
            return np.array(out.tolist(), dtype=object).reshape(out.shape)
    shape = np.broadcast_shapes(*(a.shape for a in arrs))
    out = np.empty(shape, dtype=object)
    bs = [np.broadcast_to(a, shape) for a in arrs]
    for idx in np.ndindex(shape):
        try:
            out[idx] = impl(*(k(b[idx]) for k, b in zip(coerce, bs)))
        except CellError as e:
            out[idx] = e.code
    return out


# --- structured references ------------------------------------------------------------------------

_ITEM = re.compile(r"\[((?:[^\]']|'.)*)\]")


def table_part(t, spec: str, row: int) -> Range:
    """Table1[NPV], Table1[[#This Row],[NPV]], Table1[@NPV], Table1[#All], Table1[[A]:[C]]."""
    spec = spec.strip()
    items = [m.group(1) for m in _ITEM.finditer(spec)] if spec.startswith("[") else None
    if items is None:                               # Table1[NPV], Table1[@NPV], Table1[#Data], Table1[]
        if spec.startswith("@"):
            items = ["#This Row", spec[1:].strip("[]")]
        else:
            items = [spec] if spec else []
    special = [i.strip() for i in items if i.strip().startswith("#")]
    cols = [i for i in items if not i.strip().startswith("#")]
    first_data = t.r1 + t.header_rows
    last_data = t.r2 - t.totals_rows
    rows = (first_data, last_data)
    for s in special:
        s = s.lower()
        if s == "#all":
            rows = (t.r1, t.r2)
        elif s == "#headers":
            rows = (t.r1, t.r1)
        elif s == "#totals":
            rows = (t.r2, t.r2)
        elif s == "#this row":
            rows = (row, row)
        elif s != "#data":
            raise CellError("#REF!")
    c1, c2 = t.c1, t.c2
    if cols:
        names = [_unescape(c) for c in (":".join(cols).split("]:[") if ":" in spec and len(cols) > 1 else cols)]
        if ":" in spec and len(cols) == 2:
            names = [_unescape(cols[0]), _unescape(cols[1])]
        lower = [c.lower() for c in t.columns]
        try:
            idx = [lower.index(n.strip().lower()) for n in names]
        except ValueError:
            raise CellError("#REF!") from None
        c1, c2 = t.c1 + min(idx), t.c1 + max(idx)
    return Range(t.sheet, rows[0], c1, rows[1], c2)


def _unescape(name: str) -> str:
    return re.sub(r"'(.)", r"\1", name)
