"""Group evaluation: the cells of one formula tree computed together with numpy.

A filled-down block of 10,000 `=IF(H2="",0,MMULT($B2:$K2,H$19:H$28))` cells, a column of
200 `=INDEX(factors,MATCH($A5,ids,0),1)` lookups: the interpreter (evaluate.py) runs one
closure per cell; here each node of the tree is one numpy operation over all the cells
(the *hosts*) at once.

Exact or not at all. Excel's rules for empty cells, text, logicals and errors, and a lazy
IF, are kept by computing here only what plain numbers express, and flagging every other
host (inputs holding text or an error, a division by zero, a result that is not finite):
the interpreter then computes the flagged cells one by one. A tree this module does not
know raises `Unsupported`, and the whole group goes to the interpreter. Results equal the
interpreter's, up to the last bit where numpy's and Python's elementary functions round
differently (sums use math.fsum, as the interpreter does).

Cells are read from a grid per sheet: `num` (float64) and `kind` (EMPTY, NUM, TEXT, BOOL,
ERROR, PENDING: a formula not computed yet), built from the evaluator's values on first
use and kept up to date as groups are computed; a formula cell the interpreter computed
meanwhile is picked up when a read meets it as PENDING.
"""

from __future__ import annotations

import math

import numpy as np

from xlbridge.calc.functions import FUNCTIONS
from xlbridge.calc.functions.math import matrix_product
from xlbridge.calc.parse import MAX_COL, MAX_ROW, Array, Call, Const, Missing, Name, Op, Range, Ref
from xlbridge.calc.values import CellError, XlError, is_number

EMPTY, NUM, TEXT, BOOL, ERROR, PENDING = range(6)
MAX_HOSTS = 1 << 16            # hosts per batch
MAX_VALUES = 1 << 23           # cell values read at once (64 MB of float64)
_ABSENT = object()
_COMPARE = {"=": np.equal, "<>": np.not_equal, "<": np.less, ">": np.greater, "<=": np.less_equal,
            ">=": np.greater_equal}
_ARITHMETIC = ("+", "-", "*", "/", "^", "neg", "pos", "%")


class Unsupported(Exception):
    """A formula this module does not compute: its cells go to the interpreter."""


class Hosts:
    """The cells a tree is evaluated at: one sheet, (n,) rows and columns."""

    __slots__ = ("sheet", "rows", "cols", "n")

    def __init__(self, sheet, rows, cols):
        self.sheet, self.rows, self.cols, self.n = sheet, rows, cols, len(rows)

    def subset(self, mask) -> Hosts:
        return Hosts(self.sheet, self.rows[mask], self.cols[mask])


class Block:
    """Values at n hosts: `x` (n or 1, h, w) floats; `ok` (n,) the hosts whose values are
    exactly these numbers; `logical`: TRUE/FALSE held as 1/0; `kinds` (n, h, w) for values
    read straight from cells (None for computed ones)."""

    __slots__ = ("x", "ok", "logical", "kinds")

    def __init__(self, x, ok, logical=False, kinds=None):
        self.x, self.ok, self.logical, self.kinds = x, ok, logical, kinds


class Refs:
    """A reference per host, all of one shape h x w: top-left corners r1, c1 (n,)."""

    __slots__ = ("sheet", "r1", "c1", "h", "w", "ok")

    def __init__(self, sheet, r1, c1, h, w, ok):
        self.sheet, self.r1, self.c1, self.h, self.w, self.ok = sheet, r1, c1, h, w, ok


class Text:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class Grid:
    __slots__ = ("num", "kind", "max_row", "max_col")

    def __init__(self, max_row, max_col):
        self.max_row, self.max_col = max_row, max_col
        self.num = np.zeros((max_row + 1, max_col + 1))          # row 0 and column 0: always EMPTY
        self.kind = np.zeros((max_row + 1, max_col + 1), np.int8)

    def set(self, r, c, v):
        self.kind[r, c], self.num[r, c] = classify(v)


def classify(v) -> tuple[int, float]:
    """(kind, number) of a cell value."""
    t = type(v)
    if t is float or t is int:
        return NUM, v
    if t is bool:
        return BOOL, float(v)
    if v is None:
        return EMPTY, 0.0
    return (ERROR if isinstance(v, XlError) or not isinstance(v, str) else TEXT), 0.0


class GroupEvaluator:
    """Evaluates groups of cells for one Evaluator, whose values it reads and fills."""

    def __init__(self, ev):
        self.ev = ev
        self.grids: dict = {}
        self._tables: dict = {}

    # -- the entry point ---------------------------------------------------------------------
    def run(self, tree, sheet: str, rows, cols, keys) -> list:
        """Compute the cells `keys` of one group (at `rows`, `cols`; those not yet known),
        store what is exact, and return the cells left to the interpreter. Raises
        Unsupported for a tree it does not handle."""
        vals = self.ev.vals
        todo = np.array([k not in vals for k in keys], bool)
        if not todo.all():
            keys = [k for k, t in zip(keys, todo) if t]
            rows, cols = rows[todo], cols[todo]
        left = []
        for start in range(0, len(keys), MAX_HOSTS):
            part = slice(start, start + MAX_HOSTS)
            hosts = Hosts(sheet, rows[part], cols[part])
            try:
                with np.errstate(all="ignore"):
                    x, ok, kind = self._root(self.node(tree, hosts, False), hosts)
            except (ValueError, IndexError, TypeError, OverflowError, CellError) as e:
                raise Unsupported(str(e)) from None
            flags = ok.tolist()
            values = [bool(a) if k == BOOL else a for a, k in zip(x.tolist(), kind.tolist())]
            part_keys = keys[part]
            vals.update((k, v) for k, v, o in zip(part_keys, values, flags) if o)
            left += [k for k, o in zip(part_keys, flags) if not o]
            grid = self.grids.get(sheet)
            if grid is not None:
                grid.num[hosts.rows[ok], hosts.cols[ok]] = x[ok]
                grid.kind[hosts.rows[ok], hosts.cols[ok]] = kind[ok]
        return left

    def _root(self, v, hosts):
        """What each cell shows, as (values, ok, kind NUM or BOOL): the top-left value of an
        array, the value of a one-cell reference (an empty cell shows 0)."""
        if isinstance(v, Refs):
            if v.h * v.w != 1:
                raise Unsupported("a range as a cell's value (implicit intersection)")
            v = self.read(v)
        if not isinstance(v, Block):
            raise Unsupported("text")
        n = hosts.n
        x = np.array(np.broadcast_to(v.x[:, :1, :1], (n, 1, 1)).reshape(n))
        ok = v.ok & np.isfinite(x)
        if v.kinds is not None:
            k = v.kinds[:, 0, 0]
            ok &= (k == NUM) | (k == EMPTY) | (k == BOOL)
            return x, ok, np.where(k == BOOL, BOOL, NUM).astype(np.int8)
        return x, ok, np.full(n, BOOL if v.logical else NUM, np.int8)

    # -- cell values -------------------------------------------------------------------------
    def grid(self, sheet) -> Grid | None:
        """The sheet's values as arrays; None where the sheet is too sparse for one."""
        if sheet in self.grids:
            return self.grids[sheet]
        ev = self.ev
        s = ev.sheets.get(sheet)
        grid = None
        if s is not None:
            extra = [(k[1], k[2]) for k in ev.overrides if k[0] == sheet]
            max_row = max([s.max_row] + [r for r, _ in extra])
            max_col = max([s.max_col] + [c for _, c in extra])
            if (max_row + 1) * (max_col + 1) <= 8 * (len(s.cells) + len(extra)) + (1 << 20):
                grid = Grid(max_row, max_col)
                vals, formulas = ev.vals, ev.formulas
                for r, c in list(s.cells) + extra:
                    v = vals.get((sheet, r, c), _ABSENT)
                    if type(v) is float:               # most cells: set here, not through set()
                        grid.kind[r, c], grid.num[r, c] = NUM, v
                    elif v is _ABSENT:
                        grid.kind[r, c] = PENDING if (sheet, r, c) in formulas else EMPTY
                    else:
                        grid.set(r, c, v)
        self.grids[sheet] = grid
        return grid

    def read(self, refs: Refs) -> Block:
        """The values a reference points at, per host: (n, h, w) with their kinds."""
        n = len(refs.r1)
        count = n * refs.h * refs.w
        sheet = self.ev.sheets.get(refs.sheet)
        if refs.sheet not in self.grids and sheet is not None and 4 * count < len(sheet.cells):
            return self._read_cells(refs)          # a few cells of a big sheet: no grid for them
        grid = self.grid(refs.sheet)
        if grid is None or count > MAX_VALUES:
            raise Unsupported("values too sparse or too many to read at once")
        rr, cc = positions(refs)
        inside = (rr <= grid.max_row) & (cc <= grid.max_col)
        rr, cc = np.where(inside, rr, 0), np.where(inside, cc, 0)      # row 0: an empty cell
        kinds = grid.kind[rr, cc]
        pending = kinds == PENDING
        if pending.any():                  # computed since by the interpreter?
            vals = self.ev.vals
            for r, c in set(zip(rr[pending].tolist(), cc[pending].tolist())):
                v = vals.get((refs.sheet, r, c), _ABSENT)
                if v is not _ABSENT:
                    grid.set(r, c, v)
            kinds = grid.kind[rr, cc]
        ok = refs.ok & ~(kinds == PENDING).reshape(n, -1).any(1)
        return Block(grid.num[rr, cc], ok, kinds=kinds)

    def _read_cells(self, refs: Refs) -> Block:
        """`read`, one dictionary look-up a cell."""
        rr, cc = positions(refs)
        vals, formulas, t = self.ev.vals, self.ev.formulas, refs.sheet
        kinds, nums = [], []
        for r, c in zip(rr.ravel().tolist(), cc.ravel().tolist()):
            v = vals.get((t, r, c), _ABSENT)
            if v is _ABSENT:
                kind, x = (PENDING if (t, r, c) in formulas else EMPTY), 0.0
            else:
                kind, x = classify(v)
            kinds.append(kind)
            nums.append(x)
        kinds = np.array(kinds, np.int8).reshape(rr.shape)
        ok = refs.ok & ~(kinds == PENDING).reshape(len(refs.r1), -1).any(1)
        return Block(np.array(nums, float).reshape(rr.shape), ok, kinds=kinds)

    def values(self, refs: Refs) -> np.ndarray:
        """The Excel values a reference points at per host, as an (n, h, w) object array;
        formula cells among them not known yet are computed first (by the interpreter)."""
        block = self.read(refs)
        if (block.kinds == PENDING).any():
            rr, cc = positions(refs)
            pending = block.kinds == PENDING
            self.ev.values(list({(refs.sheet, r, c) for r, c in zip(rr[pending].tolist(), cc[pending].tolist())}))
            block = self.read(refs)
        return self.objects(block, refs)

    def objects(self, block: Block, refs: Refs | None = None) -> np.ndarray:
        """A Block as Excel values (an (n, h, w) object array); text and errors are fetched
        from the evaluator's values, so `refs` is needed where the block holds any."""
        x = np.broadcast_to(block.x, (len(block.ok),) + block.x.shape[1:])
        out = np.empty(x.shape, object)
        if block.kinds is None:
            out[...] = (x != 0).tolist() if block.logical else x.tolist()
            return out
        kinds = block.kinds
        num, flag = kinds == NUM, kinds == BOOL
        out[num] = x[num].tolist()
        out[flag] = (x[flag] != 0).tolist()
        other = (kinds == TEXT) | (kinds == ERROR)
        if other.any():
            rr, cc = positions(refs)
            vals = self.ev.vals
            out[other] = [vals.get((refs.sheet, r, c)) for r, c in zip(rr[other].tolist(), cc[other].tolist())]
        return out

    def evaluate(self, node, hosts: Hosts) -> tuple[np.ndarray, np.ndarray]:
        """`node`'s raw values at every host as an (n, h, w) object array (a reference gives
        the values it points at), and which hosts got them; Unsupported as `node`."""
        with np.errstate(all="ignore"):
            v = self.node(node, hosts, False)
        if isinstance(v, Text):
            out = np.empty((hosts.n, 1, 1), object)
            out[...] = v.value
            return out, np.ones(hosts.n, bool)
        if isinstance(v, Refs):
            ok = v.ok
            return self.values(Refs(v.sheet, v.r1, v.c1, v.h, v.w, np.ones_like(ok))), ok
        return self.objects(v), v.ok & _finite(v.x, hosts.n)

    # -- the tree ----------------------------------------------------------------------------
    def node(self, node, hosts: Hosts, array: bool):
        """A Block, Refs or Text for `node` at every host; `array`: inside an argument that
        is read as an array (SUMPRODUCT, MMULT), where one-value functions map over arrays."""
        t = type(node)
        if t is Const:
            v = node.value
            if isinstance(v, XlError):
                raise Unsupported("an error constant")
            if isinstance(v, str):
                return Text(v)
            return Block(np.full((1, 1, 1), float(v)), np.ones(hosts.n, bool), logical=isinstance(v, bool))
        if t is Ref:
            return self.refs(node, hosts)
        if t is Name:
            try:
                return self.node(self.ev.name_tree(node.name, hosts.sheet), hosts, array)
            except CellError:
                raise Unsupported("an undefined name") from None
        if t is Array:
            if not all(type(v) is float for row in node.rows for v in row):
                raise Unsupported("an array constant holding more than numbers")
            return Block(np.array(node.rows, float)[None], np.ones(hosts.n, bool))
        if t is Op:
            if node.op in _COMPARE:
                return self._compare(node, hosts, array)
            if node.op in _ARITHMETIC:
                return self._elementwise(FUNCTIONS[node.op], node.args, hosts, ranges=True, array=array)
            raise Unsupported(f"operator {node.op}")
        if t is Call:
            return self._call(node, hosts, array)
        raise Unsupported(type(node).__name__)

    def value(self, node, hosts, array, ranges) -> Block:
        """`node` as values; a multi-cell reference is read as an array only where `ranges`
        (an operator's operand, or inside an array argument), as the interpreter does."""
        v = self.node(node, hosts, array)
        if isinstance(v, Text):
            raise Unsupported("text")
        if isinstance(v, Refs):
            if v.h * v.w != 1 and not ranges:
                raise Unsupported("a range where one value is read (implicit intersection)")
            v = self.read(v)
        return v

    def refs(self, ref: Ref, hosts) -> Refs:
        """Where `ref` points at every host (Unsupported where that varies in size)."""
        try:
            sheet = self.ev.sheet_title(ref.sheet) if ref.sheet else hosts.sheet
        except CellError:
            raise Unsupported("a sheet that does not exist") from None
        a, n = ref.absolute, hosts.n
        r1 = np.broadcast_to(ref.r1 if a[0] else hosts.rows + ref.r1, (n,))
        c1 = np.broadcast_to(ref.c1 if a[1] else hosts.cols + ref.c1, (n,))
        r2 = np.broadcast_to(ref.r2 if a[2] else hosts.rows + ref.r2, (n,))
        c2 = np.broadcast_to(ref.c2 if a[3] else hosts.cols + ref.c2, (n,))
        top, bottom = np.minimum(r1, r2), np.maximum(r1, r2)
        left, right = np.minimum(c1, c2), np.maximum(c1, c2)
        ok = (top >= 1) & (left >= 1) & (bottom <= MAX_ROW) & (right <= MAX_COL)
        s = self.ev.sheets.get(sheet)
        if s is None:
            raise Unsupported("a sheet that does not exist")
        # Whole rows and columns stop at the used area, as the interpreter's ranges do.
        if n and (top == top[0]).all() and (bottom == bottom[0]).all():
            bottom = np.minimum(bottom, max(s.max_row, int(top[0])))
        if n and (left == left[0]).all() and (right == right[0]).all():
            right = np.minimum(right, max(s.max_col, int(left[0])))
        h, w = bottom - top + 1, right - left + 1
        if n and ((h != h[0]).any() or (w != w[0]).any()):
            raise Unsupported("ranges of different sizes from cell to cell")
        return Refs(sheet, np.where(ok, top, 1), np.where(ok, left, 1), int(h[0]) if n else 1,
                    int(w[0]) if n else 1, ok)

    # -- operators ---------------------------------------------------------------------------
    def _elementwise(self, fn, args, hosts, ranges, array):
        """An operator or a function of numbers over blocks: with its numpy form (`vec`,
        exact to the bit), else through its own implementation number by number."""
        xs, ok = [], np.ones(hosts.n, bool)
        for a in args:
            x, good = _numbers(self.value(a, hosts, array, ranges))
            xs.append(x)
            ok &= good
        if fn.vec is not None:
            out = np.asarray(fn.vec(*xs), float)
        else:
            out = _each(fn.impl, xs)
        return Block(out, ok & _finite(out, hosts.n))

    def _compare(self, node, hosts, array):
        a, b = (self.node(x, hosts, array) for x in node.args)
        if isinstance(a, Text) or isinstance(b, Text):
            # Only `cell = ""` and `cell <> ""`: an empty cell equals "", a number does not.
            text, other = (a, b) if isinstance(a, Text) else (b, a)
            if isinstance(other, Text) or not isinstance(other, Refs) or text.value != "" or \
                    node.op not in ("=", "<>"):
                raise Unsupported("comparing text")
            other = self.read(other)
            kinds = other.kinds
            ok = other.ok & _all(((kinds == EMPTY) | (kinds == NUM) | (kinds == BOOL)), hosts.n)
            same = kinds == EMPTY
            return Block((same if node.op == "=" else ~same).astype(float), ok, logical=True)
        blocks = []
        for v in (a, b):
            v = self.read(v) if isinstance(v, Refs) else v
            if v.logical:
                raise Unsupported("comparing logicals")
            ok = v.ok if v.kinds is None else v.ok & _all((v.kinds == NUM) | (v.kinds == EMPTY), hosts.n)
            blocks.append((v.x, ok))
        out = _COMPARE[node.op](blocks[0][0], blocks[1][0]).astype(float)
        return Block(out, blocks[0][1] & blocks[1][1], logical=True)

    # -- functions ---------------------------------------------------------------------------
    def _call(self, node: Call, hosts, array):
        name, args = node.fn, node.args
        fn = FUNCTIONS.get(name)
        if fn is None or fn.volatile or any(type(a) is Missing for a in args):
            raise Unsupported(f"function {name}")
        special = {"IF": self._if, "IFERROR": self._iferror, "INDEX": self._index, "MATCH": self._match,
                   "SUMPRODUCT": self._sumproduct, "MMULT": self._mmult, "ROW": self._row, "COLUMN": self._row}
        if name in special:
            return special[name](node, hosts, array)
        kinds = fn.kinds(len(args))
        if kinds and set(kinds) == {"N"}:
            return self._numbers_of(fn, args, hosts)
        if not args and not fn.ctx:
            v = fn.impl()
            return Block(np.full((1, 1, 1), float(v)), np.ones(hosts.n, bool), logical=isinstance(v, bool))
        if set(kinds) == {"n"} and len(kinds) == len(args) and not fn.ctx and not fn.args.endswith("*"):
            return self._elementwise(fn, args, hosts, ranges=array, array=array)
        raise Unsupported(f"function {name}")

    def _if(self, node, hosts, array):
        args = node.args
        if not 2 <= len(args) <= 3:
            raise Unsupported("IF with other than 2 or 3 arguments")
        cond = self.value(args[0], hosts, array, array)
        x, ok = _numbers(cond, allow=(NUM, EMPTY, BOOL))
        if x.shape[1:] != (1, 1):
            raise Unsupported("IF over an array")
        x = np.broadcast_to(x, (hosts.n, 1, 1)).reshape(hosts.n)
        branches = [(ok & (x != 0), args[1]), (ok & (x == 0), args[2] if len(args) > 2 else Const(False))]
        out, out_ok, logical = None, np.zeros(hosts.n, bool), None
        for mask, branch in branches:               # each branch only where it is taken
            if not mask.any():
                continue
            sub = hosts.subset(mask)
            v = self.value(branch, sub, array, False)
            bx, bok = _numbers(v, allow=(NUM,))
            if logical is not None and (v.logical != logical or bx.shape[1:] != out.shape[1:]):
                raise Unsupported("IF branches of different types or shapes")
            if out is None:
                out = np.zeros((hosts.n,) + bx.shape[1:])
            logical = v.logical
            out[mask] = np.broadcast_to(bx, (sub.n,) + bx.shape[1:])
            out_ok[mask] = bok
        if out is None:
            out = np.zeros((hosts.n, 1, 1))
        return Block(out, out_ok, logical=bool(logical))

    def _iferror(self, node, hosts, array):
        # Hosts where the value is a plain number keep it; the others (an error or not) are
        # the interpreter's to decide.
        if len(node.args) != 2:
            raise Unsupported("IFERROR with other than 2 arguments")
        v = self.value(node.args[0], hosts, array, False)
        x, ok = _numbers(v, allow=(NUM,))
        return Block(x, ok, logical=v.logical)

    def _ints(self, node, hosts):
        """An integer argument per host (Excel truncates), as (n,) int64 and ok."""
        x, ok = _numbers(self.value(node, hosts, False, False))
        if x.shape[1:] != (1, 1):
            raise Unsupported("an array where a number is read")
        x = np.broadcast_to(x, (hosts.n, 1, 1)).reshape(hosts.n)
        ok = ok & (np.abs(x) < 2.0 ** 62)
        return np.trunc(np.where(ok, x, 0)).astype(np.int64), ok

    def _index(self, node, hosts, array):
        args = node.args
        if not 2 <= len(args) <= 3:
            raise Unsupported("INDEX with an area argument")
        base = self.node(args[0], hosts, array)
        if not isinstance(base, Refs):
            raise Unsupported("INDEX of an array")
        r, ok = self._ints(args[1], hosts)
        if len(args) == 3:
            c, okc = self._ints(args[2], hosts)
            ok &= okc
        elif base.h == 1 and base.w > 1:            # INDEX(row, n) counts along the row
            r, c = np.ones_like(r), r
        else:
            c = np.zeros_like(r)
        ok &= base.ok & (r >= 0) & (c >= 0) & (r <= base.h) & (c <= base.w)
        whole_r, whole_c = (r == 0)[ok], (c == 0)[ok]
        if (whole_r.any() and not whole_r.all()) or (whole_c.any() and not whole_c.all()):
            raise Unsupported("INDEX giving ranges of different sizes")
        h = base.h if whole_r.any() else 1
        w = base.w if whole_c.any() else 1
        r1 = base.r1 + np.where(ok & (r > 0), r - 1, 0)
        c1 = base.c1 + np.where(ok & (c > 0), c - 1, 0)
        return Refs(base.sheet, r1, c1, h, w, ok)

    def _match(self, node, hosts, array):
        args = node.args
        if len(args) != 3 or type(args[2]) is not Const or args[2].value != 0 or isinstance(args[2].value, bool):
            raise Unsupported("MATCH other than exact (0)")
        where = self.node(args[1], hosts, True)
        if not isinstance(where, Refs) or not where.ok.all() or (where.r1 != where.r1[0]).any() or \
                (where.c1 != where.c1[0]).any():
            raise Unsupported("MATCH in a range that moves")
        rng = Range(where.sheet, int(where.r1[0]), int(where.c1[0]), int(where.r1[0]) + where.h - 1,
                    int(where.c1[0]) + where.w - 1)
        table = self._tables.get(rng)
        if table is None:
            from xlbridge.calc.evaluate import Need
            try:
                values = self.ev.range_values(rng)
            except (Need, CellError):
                raise Unsupported("MATCH in a range not computed yet") from None
            table = self._tables[rng] = {}
            for i, v in enumerate(values.ravel().tolist()):
                if is_number(v):
                    table.setdefault(float(v), i + 1)
        v = self.value(args[0], hosts, False, False)
        x, ok = _numbers(v, allow=(NUM,))
        if v.logical or x.shape[1:] != (1, 1):
            raise Unsupported("MATCH of a logical or an array")
        found = [table.get(a) for a in np.broadcast_to(x, (hosts.n, 1, 1)).reshape(hosts.n).tolist()]
        ok &= np.array([f is not None for f in found], bool)
        return Block(np.array([f or 0 for f in found], float).reshape(hosts.n, 1, 1), ok)

    def _sumproduct(self, node, hosts, array):
        prod, ok, shape = None, np.ones(hosts.n, bool), None
        for a in node.args:
            v = self.value(a, hosts, True, True)
            if shape is not None and v.x.shape[1:] != shape:
                raise Unsupported("SUMPRODUCT of arrays of different shapes")
            shape = v.x.shape[1:]
            if v.kinds is not None:                  # text, logicals and empty cells count as 0
                ok &= v.ok & ~_any((v.kinds == ERROR) | (v.kinds == PENDING), hosts.n)
                x = np.where(v.kinds == NUM, v.x, 0.0)
            else:
                ok &= v.ok
                x = np.zeros_like(v.x) if v.logical else v.x
            prod = x if prod is None else prod * x
        prod = np.broadcast_to(prod, (hosts.n,) + shape).reshape(hosts.n, -1)
        sums = np.array([math.fsum(row) for row in prod.tolist()])
        return Block(sums.reshape(hosts.n, 1, 1), ok & np.isfinite(sums))

    def _mmult(self, node, hosts, array):
        if len(node.args) != 2:
            raise Unsupported("MMULT with other than 2 arguments")
        xs, ok = [], np.ones(hosts.n, bool)
        for a in node.args:
            v = self.value(a, hosts, True, True)
            x, good = _numbers(v, allow=(NUM,))
            xs.append(x)
            ok &= good & (not v.logical)
        if xs[0].shape[2] != xs[1].shape[1]:
            raise Unsupported("MMULT of sizes that do not fit")
        out = matrix_product(xs[0], xs[1])
        return Block(out, ok & _finite(out, hosts.n))

    def _row(self, node, hosts, array):
        if not node.args:
            at = hosts.rows if node.fn == "ROW" else hosts.cols
            return Block(at.astype(float).reshape(-1, 1, 1), np.ones(hosts.n, bool))
        ref = self.node(node.args[0], hosts, array)
        if not isinstance(ref, Refs) or len(node.args) != 1:
            raise Unsupported(f"{node.fn} of a value")
        at = ref.r1 if node.fn == "ROW" else ref.c1
        return Block(at.astype(float).reshape(-1, 1, 1), ref.ok.copy())

    def _numbers_of(self, fn, args, hosts):
        """SUM, AVERAGE, MAX, ... (kind 'N'): the numbers of every argument per host, as the
        interpreter gathers them, then the function's own implementation per host."""
        parts, ok = [], np.ones(hosts.n, bool)
        for a in args:
            if type(a) is Call and a.fn not in ("INDEX",) or type(a) is Op and a.op not in _ARITHMETIC:
                raise Unsupported("a computed argument of a number-list function")
            v = self.node(a, hosts, False)
            if isinstance(v, Text):
                raise Unsupported("text")
            if isinstance(v, Refs):                  # ranges: numbers count, an error is the result
                v = self.read(v)
                ok &= v.ok & ~_any((v.kinds == ERROR) | (v.kinds == PENDING), hosts.n)
                take = v.kinds == NUM
            else:
                if v.logical:
                    raise Unsupported("logicals in a number list")
                ok &= v.ok
                take = np.ones(v.x.shape, bool)
            x = np.broadcast_to(v.x, (hosts.n,) + v.x.shape[1:]).reshape(hosts.n, -1)
            parts.append((x, np.broadcast_to(take, (hosts.n,) + take.shape[1:]).reshape(hosts.n, -1)))
        out = np.zeros(hosts.n)
        for i in np.flatnonzero(ok).tolist():
            xs = np.concatenate([x[i][m[i]] for x, m in parts]) if parts else np.zeros(0)
            try:
                out[i] = fn.impl(xs)
            except CellError:
                ok[i] = False
        return Block(out.reshape(hosts.n, 1, 1), ok & np.isfinite(out))


def _each(impl, xs) -> np.ndarray:
    """impl over broadcast blocks of numbers, one number at a time (NaN where it gives an
    error): Python's own math, so each value is the interpreter's to the bit."""
    shape = np.broadcast_shapes(*(x.shape for x in xs))
    columns = [np.broadcast_to(x, shape).ravel().tolist() for x in xs]
    out = []
    for args in zip(*columns):
        try:
            v = impl(*args)
            out.append(float(v) if type(v) is not bool else np.nan)
        except (CellError, OverflowError, ValueError, ZeroDivisionError):
            out.append(np.nan)
    return np.array(out, float).reshape(shape)


def positions(refs: Refs):
    """Row and column of every cell a reference points at, per host: two (n, h, w) arrays."""
    rr = refs.r1[:, None, None] + np.arange(refs.h)[None, :, None]
    cc = refs.c1[:, None, None] + np.arange(refs.w)[None, None, :]
    return np.broadcast_arrays(rr, cc)


def _numbers(v: Block, allow=(NUM, EMPTY, BOOL)):
    """(values, ok): values as numbers (an empty cell is 0, a logical 1 or 0) and the hosts
    whose every value is of a kind in `allow` (computed values always are)."""
    if v.kinds is None:
        return v.x, v.ok
    good = np.isin(v.kinds, allow)
    return v.x, v.ok & _all(good, len(v.ok))


def _all(mask, n):
    return np.broadcast_to(mask, (n,) + mask.shape[1:]).reshape(n, -1).all(1)


def _any(mask, n):
    return np.broadcast_to(mask, (n,) + mask.shape[1:]).reshape(n, -1).any(1)


def _finite(x, n):
    return _all(np.isfinite(x), n)

