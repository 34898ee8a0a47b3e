"""Compile the formulas between the changing cells and the objective into torch float64.

Why compile rather than interpret: an optimiser calls the objective hundreds of times and
needs its gradient. Running the workbook's formulas as vectorised torch operations gives
both, exactly (autograd), in well under a millisecond for a course-sized sheet.

How:
1. Run the formulas once with `Evaluator` (both IF branches), recording which cells each
   formula reads. Cells that read a changing cell, directly or not, are *dynamic*; all
   others are constants and keep the interpreter's value.
2. Give each dynamic cell a *level* (1 + the highest level it reads; changing cells are 0),
   and group the cells of a level that share one formula tree. Trees hold references
   relative to their cell (R1C1), so a filled-down block of 225 `=IF(H2="",0,MMULT(...))`
   cells is one group, compiled once, run as one batched `torch.matmul`.
3. Within a group, a sub-formula that reads only constants (`H2=""`, `MATCH(...)`, the
   position arguments of OFFSET/INDEX) is worked out once per cell by the interpreter and
   becomes a constant array: lookups whose position depends only on data are resolved once.
   The rest becomes torch code over a batch dimension N (one entry per cell of the group).

At run time every level's results are appended to one flat tensor V (x first), and each
reference is a gather from V by a precomputed index array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from xlbridge.solver.formula import (
    Array, Call, CellError, Const, Evaluator, FormulaError, Missing, Name, Op, Range, Ref,
    _truth, is_number, resolve,
)
from xlbridge.solver.xlsxsafe import XlError

DTYPE = torch.float64


@dataclass
class Static:
    """A constant per cell of the group: object array (N, r, c) of Excel values."""
    arr: np.ndarray


@dataclass
class Dyn:
    """A value that depends on the changing cells: fn(V) -> tensor (N, r, c).

    `numeric` (N, r, c) bool marks real numbers; text and empty cells gathered from a range
    hold 0 and are skipped by SUM, SUMXMY2, COUNT... as Excel skips them. `logical` marks
    TRUE/FALSE results of comparisons, held as 1.0/0.0."""
    fn: object
    shape: tuple
    numeric: np.ndarray
    logical: bool = False


def _as_float(arr: np.ndarray, what: str) -> np.ndarray:
    """Static values used as numbers: empty is 0, TRUE is 1; text or an error cannot be."""
    out = np.zeros(arr.shape)
    for i, v in np.ndenumerate(arr):
        if isinstance(v, XlError):
            raise FormulaError(f"{what} meets the error value {v}")
        if isinstance(v, str):
            try:
                out[i] = float(v)
            except ValueError:
                raise FormulaError(f"{what} meets the text {v!r} in arithmetic") from None
        elif v is not None:
            out[i] = float(v)
    return out


def _numeric_mask(arr: np.ndarray) -> np.ndarray:
    return np.vectorize(is_number, otypes=[bool])(arr) if arr.size else np.zeros(arr.shape, bool)


def _masked_values(arr: np.ndarray) -> np.ndarray:
    """Numbers where numbers are, 0 elsewhere (for range functions that skip non-numbers)."""
    out = np.zeros(arr.shape)
    for i, v in np.ndenumerate(arr):
        if isinstance(v, XlError):
            raise FormulaError(f"a range holds the error value {v}")
        if is_number(v):
            out[i] = float(v)
    return out


class Program:
    """x (the changing cells, in order) -> the values of the requested output cells."""

    def __init__(self, x_cells, outputs, levels, out_index, out_const):
        self.x_cells = x_cells          # list of (sheet, row, col)
        self.outputs = outputs          # list of (sheet, row, col)
        self._levels = levels           # list of lists of group functions V -> (N,)
        self._out_index = out_index     # (n_out,) long: position in V, or -1 for a constant
        self._out_const = out_const     # (n_out,) float64: value of constant outputs

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        segs = [x]
        for groups in self._levels:
            V = torch.cat(segs)
            segs.append(torch.cat([g(V) for g in groups]))
        V = torch.cat(segs)
        dyn = self._out_index >= 0
        out = torch.as_tensor(self._out_const, dtype=DTYPE).clone()
        if dyn.any():
            out = torch.where(torch.as_tensor(dyn), V[torch.as_tensor(np.where(dyn, self._out_index, 0))], out)
        return out

    def numpy(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self(torch.as_tensor(x, dtype=DTYPE)).numpy()

    def value_and_grad(self, x: np.ndarray, which: int = 0) -> tuple[float, np.ndarray]:
        """Output `which` (0 = the objective) and its exact gradient, by autograd."""
        xt = torch.tensor(x, dtype=DTYPE, requires_grad=True)
        y = self(xt)[which]
        (g,) = torch.autograd.grad(y, xt, allow_unused=True)
        return float(y.detach()), (g.numpy() if g is not None else np.zeros_like(x))

    def jacobian(self, x: np.ndarray, rows: slice) -> np.ndarray:
        xt = torch.tensor(x, dtype=DTYPE)
        J = torch.autograd.functional.jacobian(lambda v: self(v)[rows], xt)
        return J.numpy()


class Compiler:
    def __init__(self, ev: Evaluator, x_cells: list, outputs: list):
        self.ev = ev
        self.x_cells = list(x_cells)
        self.outputs = list(outputs)
        self.slot: dict = {k: i for i, k in enumerate(self.x_cells)}      # cell -> index in V
        self.numeric: dict = {k: True for k in self.x_cells}                # cell -> holds a number
        self.dynamic: set = set(self.x_cells)

    # -- step 1 and 2: which cells move with x, and in which order ------------------------
    def discover(self):
        ev = self.ev
        ev.both_branches = True
        for k in self.outputs:
            ev.value(k)
        ev.both_branches = False
        # level: 0 for a changing cell, 1 + the highest level read for a formula reading one,
        # -1 for a constant. Worked out deepest first without recursion (long step chains).
        level: dict = {k: 0 for k in self.x_cells}
        order, entered = [], set()
        for out in self.outputs:
            todo = [(out, False)]
            while todo:
                k, expanded = todo.pop()
                if k in level:
                    continue
                reads = ev.reads.get(k, ())
                if not expanded:
                    if k in entered:        # reached again before it was finished: a cycle
                        raise FormulaError(f"circular reference through '{k[0]}'!{_a1(k)}")
                    entered.add(k)
                    todo.append((k, True))
                    todo.extend((r, False) for r in reads if r not in level)
                    continue
                lv = max((level.get(r, -1) for r in reads), default=-1)
                level[k] = lv + 1 if lv >= 0 else -1
                if level[k] > 0:
                    order.append(k)
        self.dynamic |= {k for k, lv in level.items() if lv > 0}
        by_level: dict = {}
        for k in order:
            tree = ev.tree(k)
            by_level.setdefault(level[k], {}).setdefault((k[0], tree), []).append(k)
        return [by_level[lv] for lv in sorted(by_level)]

    # -- step 3: one group -> torch ------------------------------------------------------
    def compile(self) -> Program:
        levels_fns = []
        size = len(self.x_cells)
        for groups in self.discover():
            fns, new_slots = [], []
            for (sheet, tree), cells in groups.items():
                hosts = [(c[0], c[1], c[2]) for c in cells]
                val = self.node(tree, hosts)
                fn, numeric = self._cell_result(val, cells)
                fns.append(fn)
                for c, isnum in zip(cells, numeric):
                    new_slots.append(c)
                    self.numeric[c] = bool(isnum)
            for i, c in enumerate(new_slots):
                self.slot[c] = size + i
            size += len(new_slots)
            levels_fns.append(fns)
        idx = np.array([self.slot.get(k, -1) for k in self.outputs])
        const = np.array([0.0 if k in self.slot else _scalar_float(self.ev.value(k), k) for k in self.outputs])
        return Program(self.x_cells, self.outputs, levels_fns, idx, const)

    def _cell_result(self, val, cells):
        where = f"'{cells[0][0]}'!{_a1(cells[0])}"
        if isinstance(val, Static):
            arr = val.arr
            if arr.shape[1:] != (1, 1):
                arr = arr[:, :1, :1]
            num = _numeric_mask(arr)[:, 0, 0]
            t = torch.as_tensor(_masked_values(arr)[:, 0, 0], dtype=DTYPE)
            return (lambda V, t=t: t), num
        if val.shape[1:] != (1, 1):
            raise FormulaError(f"{where}: a formula returning a {val.shape[1]}x{val.shape[2]} array in one cell")
        fn = val.fn
        return (lambda V: fn(V)[:, 0, 0]), val.numeric[:, 0, 0]

    def static(self, node, hosts) -> Static:
        rows = []
        for h in hosts:
            try:
                v = self.ev.eval(node, h)
            except CellError as e:
                v = e.code
            rows.append(self.ev.values(v))
        shape = rows[0].shape
        if any(r.shape != shape for r in rows):
            raise FormulaError("a formula block whose ranges change size from cell to cell")
        return Static(np.stack(rows))

    def node(self, node, hosts):
        if isinstance(node, Const | Array | Missing):
            return self.static(node, hosts)
        if isinstance(node, Ref):
            return self.gather([resolve(node, *h) for h in hosts])
        if isinstance(node, Name):
            return self.node(self.ev.name_tree(node.name, hosts[0][0]), hosts)
        if isinstance(node, Call) and node.fn in ("OFFSET", "INDEX") or isinstance(node, Op) and node.op == ":":
            return self.lookup(node, hosts)
        args = [self.node(a, hosts) for a in node.args]
        if all(isinstance(a, Static) for a in args):
            return self.static(node, hosts)
        if isinstance(node, Op):
            return self.op(node.op, args)
        impl = DYN_FUNCTIONS.get(node.fn)
        if impl is None:
            raise FormulaError(f"{node.fn} of changing cells is not supported by the formula path")
        return impl(self, args, len(hosts))

    def lookup(self, node, hosts):
        """OFFSET/INDEX/':' whose position depends only on constants: resolved once per cell."""
        positional = node.args[1:] if isinstance(node, Call) else ()
        for a in positional:
            if not isinstance(self.node(a, hosts), Static):
                raise FormulaError(f"{node.fn} whose position depends on the changing cells is not supported")
        targets = []
        for h in hosts:
            try:
                targets.append(self.ev.eval(node, h))
            except CellError as e:
                targets.append(e.code)
        if all(isinstance(t, Range) for t in targets):
            return self.gather(targets)
        if isinstance(node, Call) and node.fn == "INDEX":   # INDEX into an array value
            base = self.node(node.args[0], hosts)
            if isinstance(base, Static):
                return self.static(node, hosts)
        raise FormulaError(f"{getattr(node, 'fn', ':')} over computed arrays of changing cells is not supported")

    def gather(self, ranges: list[Range]) -> Static | Dyn:
        """The values of one range per cell of the group: constants, or a gather from V."""
        ranges = [self.ev.clip(r) for r in ranges]
        shape = ranges[0].shape
        if any(r.shape != shape for r in ranges):
            raise FormulaError("a formula block whose ranges change size from cell to cell")
        cells = [list(r.cells()) for r in ranges]
        if not any(c in self.dynamic for cs in cells for c in cs):
            return Static(np.stack([self.ev.range_values(r) for r in ranges]))
        N = len(ranges)
        idx = np.zeros((N,) + shape, dtype=np.int64)
        dyn = np.zeros((N,) + shape, dtype=bool)
        const = np.zeros((N,) + shape)
        numeric = np.zeros((N,) + shape, dtype=bool)
        for n, cs in enumerate(cells):
            for j, c in enumerate(cs):
                i = np.unravel_index(j, shape)
                if c in self.dynamic:
                    if c not in self.slot:
                        raise FormulaError(f"'{c[0]}'!{_a1(c)} is read before it is computed (circular?)")
                    idx[(n,) + i], dyn[(n,) + i] = self.slot[c], True
                    numeric[(n,) + i] = self.numeric[c]
                else:
                    v = self.ev.value(c)
                    if isinstance(v, XlError):
                        raise FormulaError(f"'{c[0]}'!{_a1(c)} holds the error value {v}")
                    numeric[(n,) + i] = is_number(v)
                    const[(n,) + i] = float(v) if is_number(v) else 0.0
        idx_t, dyn_t, const_t = torch.as_tensor(idx), torch.as_tensor(dyn), torch.as_tensor(const, dtype=DTYPE)
        if dyn.all():
            return Dyn(lambda V: V[idx_t], (N,) + shape, numeric)
        return Dyn(lambda V: torch.where(dyn_t, V[idx_t], const_t), (N,) + shape, numeric)

    # -- operators -------------------------------------------------------------------------
    def tensor(self, v, what="arithmetic"):
        """Any operand as fn(V) -> tensor."""
        if isinstance(v, Static):
            t = torch.as_tensor(_as_float(v.arr, what), dtype=DTYPE)
            return lambda V: t
        return v.fn

    def op(self, op, args):
        shape = np.broadcast_shapes(*[(a.arr.shape if isinstance(a, Static) else a.shape) for a in args])
        ones = np.ones(shape, dtype=bool)
        if op in ("neg", "pos", "%"):
            f = self.tensor(args[0])
            g = {"neg": lambda V: -f(V), "pos": f, "%": lambda V: f(V) / 100}[op]
            return Dyn(g, shape, ones)
        if op in ("=", "<>", "<", ">", "<=", ">="):
            for a in args:   # comparing a moving number with text would need Excel's type order
                if isinstance(a, Static) and not _numeric_mask(a.arr).all() and not all(v is None for v in a.arr.ravel()):
                    raise FormulaError("comparing changing cells with text is not supported")
            f, g = self.tensor(args[0]), self.tensor(args[1])
            cmp = {"=": torch.eq, "<>": torch.ne, "<": torch.lt, ">": torch.gt, "<=": torch.le, ">=": torch.ge}[op]
            return Dyn(lambda V: cmp(f(V), g(V)).to(DTYPE), shape, np.zeros(shape, bool), logical=True)
        if op == "&":
            raise FormulaError("joining text (&) with changing cells is not supported")
        f, g = self.tensor(args[0]), self.tensor(args[1])
        fn = {"+": lambda V: f(V) + g(V), "-": lambda V: f(V) - g(V), "*": lambda V: f(V) * g(V),
              "/": lambda V: f(V) / g(V), "^": lambda V: torch.pow(f(V), g(V))}[op]
        return Dyn(fn, shape, ones)


def _a1(key):
    from openpyxl.utils import get_column_letter
    return f"{get_column_letter(key[2])}{key[1]}"


def _scalar_float(v, key):
    if is_number(v) or isinstance(v, bool):
        return float(v)
    if v is None:
        return 0.0
    raise FormulaError(f"'{key[0]}'!{_a1(key)} holds {v!r}, not a number")


# ---------------------------------------------------------------------------------------
# Functions of changing cells: impl(compiler, compiled args, N) -> Dyn or Static.
# Every impl keeps the batch dimension N first; reductions sum over the last two dims.

DYN_FUNCTIONS = {}


def dyn(*names):
    def deco(fn):
        for n in names:
            DYN_FUNCTIONS[n] = fn
        return fn
    return deco


def _range_parts(c, a):
    """(fn(V) -> values with non-numbers as 0, numeric mask (N, r, c) as a tensor)."""
    if isinstance(a, Static):
        vals = torch.as_tensor(_masked_values(a.arr), dtype=DTYPE)
        return (lambda V: vals), _numeric_mask(a.arr)
    return a.fn, a.numeric


def _sum_last2(t):
    return t.sum(dim=(-2, -1), keepdim=True)


def _d_sum(c, args, N):
    parts = [_range_parts(c, a) for a in args]
    masks = [torch.as_tensor(m) for _, m in parts]
    count = sum(m.reshape(m.shape[0], -1).sum(1) for m in masks)

    def total(V, sq):
        out = 0
        for (f, _), m in zip(parts, masks):
            v = torch.where(m, f(V), torch.zeros((), dtype=DTYPE))
            out = out + _sum_last2(v * v if sq else v)
        return out
    return total, count


def _wrap_sum(name):
    def impl(c, args, N):
        total, count = _d_sum(c, args, N)
        shape = (N, 1, 1)
        if name == "SUM":
            return Dyn(lambda V: total(V, False), shape, np.ones(shape, bool))
        if name == "SUMSQ":
            return Dyn(lambda V: total(V, True), shape, np.ones(shape, bool))
        n = torch.as_tensor(np.asarray(count, dtype=float)).reshape(-1, 1, 1).to(DTYPE)
        if (n == 0).any():
            raise FormulaError("AVERAGE of no numbers (#DIV/0!)")
        return Dyn(lambda V: total(V, False) / n, shape, np.ones(shape, bool))
    return impl


for _name in ("SUM", "SUMSQ", "AVERAGE"):
    DYN_FUNCTIONS[_name] = _wrap_sum(_name)


@dyn("COUNT")
def _d_count(c, args, N):
    n = sum(np.asarray(_range_parts(c, a)[1]).reshape(N, -1).sum(1) for a in args)
    return Static(np.array(n, dtype=float).astype(object).reshape(N, 1, 1))


def _minmax(fn, fill):
    def impl(c, args, N):
        parts = [_range_parts(c, a) for a in args]

        def run(V):
            vals = [torch.where(torch.as_tensor(m), f(V), torch.full((), fill, dtype=DTYPE)).reshape(N, -1)
                    for f, m in parts]
            return fn(torch.cat(vals, dim=1), dim=1).values.reshape(N, 1, 1)
        return Dyn(run, (N, 1, 1), np.ones((N, 1, 1), bool))
    return impl


DYN_FUNCTIONS["MIN"] = _minmax(torch.min, np.inf)
DYN_FUNCTIONS["MAX"] = _minmax(torch.max, -np.inf)


def _paired(kind):
    def impl(c, args, N):
        (f, ma), (g, mb) = (_range_parts(c, a) for a in args)
        if np.shape(ma) != np.shape(mb):
            raise FormulaError(f"{kind} of ranges of different shapes")
        both = torch.as_tensor(np.asarray(ma) & np.asarray(mb))
        zero = torch.zeros((), dtype=DTYPE)
        term = {"SUMXMY2": lambda a, b: (a - b) ** 2, "SUMX2MY2": lambda a, b: a * a - b * b,
                "SUMX2PY2": lambda a, b: a * a + b * b}[kind]
        return Dyn(lambda V: _sum_last2(torch.where(both, term(f(V), g(V)), zero)), (N, 1, 1),
                   np.ones((N, 1, 1), bool))
    return impl


for _name in ("SUMXMY2", "SUMX2MY2", "SUMX2PY2"):
    DYN_FUNCTIONS[_name] = _paired(_name)


@dyn("SUMPRODUCT")
def _d_sumproduct(c, args, N):
    parts = [_range_parts(c, a) for a in args]
    shapes = {tuple(np.shape(m)) for _, m in parts}
    if len(shapes) != 1:
        raise FormulaError("SUMPRODUCT of ranges of different shapes")

    def run(V):
        p = parts[0][0](V)
        for f, _ in parts[1:]:
            p = p * f(V)
        return _sum_last2(p)
    return Dyn(run, (N, 1, 1), np.ones((N, 1, 1), bool))


@dyn("MMULT")
def _d_mmult(c, args, N):
    a, b = args
    sa = a.arr.shape if isinstance(a, Static) else a.shape
    sb = b.arr.shape if isinstance(b, Static) else b.shape
    if sa[2] != sb[1]:
        raise FormulaError(f"MMULT of a {sa[1]}x{sa[2]} and a {sb[1]}x{sb[2]} range")
    for x in (a, b):
        if isinstance(x, Dyn) and not x.numeric.all():
            raise FormulaError("MMULT of a range holding text or empty cells (#VALUE!)")
    f, g = c.tensor(a, "MMULT"), c.tensor(b, "MMULT")
    shape = (N, sa[1], sb[2])
    return Dyn(lambda V: torch.matmul(f(V), g(V)), shape, np.ones(shape, bool))


@dyn("TRANSPOSE")
def _d_transpose(c, args, N):
    a = args[0]
    f = c.tensor(a)
    return Dyn(lambda V: f(V).transpose(1, 2), (N, a.shape[2], a.shape[1]), a.numeric.transpose(0, 2, 1))


def _elementwise(torch_fn):
    def impl(c, args, N):
        fs = [c.tensor(a) for a in args]
        shape = np.broadcast_shapes(*[(a.arr.shape if isinstance(a, Static) else a.shape) for a in args])
        return Dyn(lambda V: torch_fn(*[f(V) for f in fs]), shape, np.ones(shape, bool))
    return impl


DYN_FUNCTIONS.update({
    "SQRT": _elementwise(torch.sqrt), "EXP": _elementwise(torch.exp), "LN": _elementwise(torch.log),
    "LOG10": _elementwise(torch.log10), "ABS": _elementwise(torch.abs), "TANH": _elementwise(torch.tanh),
    "POWER": _elementwise(torch.pow), "SIGN": _elementwise(torch.sign),
    "COS": _elementwise(torch.cos), "SIN": _elementwise(torch.sin), "TAN": _elementwise(torch.tan),
    "ATAN": _elementwise(torch.atan), "COSH": _elementwise(torch.cosh), "SINH": _elementwise(torch.sinh),
    "ACOS": _elementwise(torch.acos), "ASIN": _elementwise(torch.asin),
})


@dyn("IF")
def _d_if(c, args, N):
    cond = args[0]
    then = args[1] if len(args) > 1 else Static(np.full((N, 1, 1), True, dtype=object))
    other = args[2] if len(args) > 2 else Static(np.full((N, 1, 1), False, dtype=object))
    branches = []
    for b in (then, other):
        if isinstance(b, Static):
            mask = _numeric_mask(b.arr)
            vals = torch.as_tensor(_masked_values(b.arr), dtype=DTYPE)
            for v in b.arr.ravel():
                if isinstance(v, XlError):
                    raise FormulaError(f"IF with the error value {v} in a branch")
            branches.append(((lambda V, t=vals: t), mask, b.arr.shape))
        else:
            branches.append((b.fn, b.numeric, b.shape))
    shape = np.broadcast_shapes(*(s for _, _, s in branches), (cond.arr.shape if isinstance(cond, Static) else cond.shape))
    (f, mf, _), (g, mg, _) = branches
    if isinstance(cond, Static):
        truth = np.vectorize(lambda v: _truth(v) if not isinstance(v, XlError) else False, otypes=[bool])(cond.arr)
        numeric = np.where(truth, np.broadcast_to(mf, shape) if np.ndim(mf) else mf, mg)
        tt = torch.as_tensor(truth)
        return Dyn(lambda V: torch.where(tt, f(V), g(V)), shape, np.broadcast_to(numeric, shape).copy())
    if not (np.all(mf) and np.all(mg)):
        raise FormulaError("IF whose condition moves with the changing cells must give numbers on both sides")
    h = cond.fn
    return Dyn(lambda V: torch.where(h(V) != 0, f(V), g(V)), shape, np.ones(shape, bool))


def compile_program(ev: Evaluator, x_cells: list, outputs: list) -> Program:
    """Compile the formulas from `x_cells` to `outputs` (lists of (sheet, row, col))."""
    return Compiler(ev, x_cells, outputs).compile()
