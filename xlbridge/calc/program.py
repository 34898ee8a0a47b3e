"""The formulas between a Solver's changing cells and its outputs, as one numpy program with
exact gradients and, where the formulas are linear, their exact linear form.

Why compile rather than interpret: an optimiser calls the objective hundreds of times and
needs its gradient; a linear model is handed to HiGHS as a matrix. How:

1. Find the *dynamic* cells: formula cells that read a changing cell, directly or not (by
   the references their formulas name, OFFSET/INDIRECT targets worked out from data). Every
   other cell is a constant for the solve: the interpreter (evaluate.py) gives its value
   once, whatever function it uses.
2. Give each dynamic cell a level (1 + the highest level it reads; changing cells are 0)
   and group the cells of a level that share one formula tree: a filled-down block of
   10,000 `=IF(H2="",0,MMULT($B25:$K25,H$19:H$28))` cells is one group, run as one batched
   `np.matmul`.
3. In a group, a sub-formula that reads only constants (`H2=""`, `MATCH(...)`, the positions
   of INDEX/OFFSET) is worked out per cell by the interpreter and becomes a constant array;
   the rest is built from the registry's decision-path forms (functions/): numpy forward
   functions with their vector-Jacobian products beside them, and a flag saying whether
   each result is affine in the changing cells.

At run time the values live in one flat array V (x first, then each group's cells); a
reference is a gather from V by a precomputed index array, and the gradient is the reverse
sweep (reverse-mode differentiation) scattering back into V.
"""

from __future__ import annotations

import numpy as np

from xlbridge.calc.functions import FUNCTIONS
from xlbridge.calc.parse import Array, Call, Const, Missing, Name, Op, Range, Ref, TableRef, cell_name, resolve, walk
from xlbridge.calc.evaluate import Evaluator, Need
from xlbridge.calc.plan import plan_of
from xlbridge.calc.values import CellError, FormulaError, XlError, is_number, text_to_number
from xlbridge.calc.vector import NUM, ERROR, PENDING, GroupEvaluator, Hosts, Refs, Unsupported, positions


class Static:
    """A constant per cell of the group: object array (N, r, c) of Excel values."""

    __slots__ = ("arr", "missing")

    def __init__(self, arr, missing=False):
        self.arr, self.missing = arr, missing


class Dyn:
    """A block of values that moves with x: fwd(*input values) -> array (N, r, c)."""

    __slots__ = ("fwd", "vjp", "inputs", "shape", "affine", "numeric", "i", "gather")

    def __init__(self, fwd, vjp, inputs, shape, affine, numeric):
        self.fwd, self.vjp, self.inputs, self.shape = fwd, vjp, inputs, tuple(shape)
        self.affine, self.numeric = affine, numeric
        self.i, self.gather = -1, None


class UnsupportedOnPath(FormulaError):
    """A formula on the decision path that the program cannot build (names the cell)."""


# --- the builder the registry's path functions use ------------------------------------------------

def _float(v) -> float:
    """A constant used as a number; what Excel could not use (text, errors) becomes NaN, which
    only matters if the block's result is used, as an error would."""
    if type(v) is float:
        return v
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, XlError):
        return np.nan
    if isinstance(v, str):
        try:
            return text_to_number(v)
        except CellError:
            return np.nan
    return float(v)


_to_float = np.vectorize(_float, otypes=[float])
_is_number = np.vectorize(is_number, otypes=[bool])


class Builder:
    def __init__(self, program, hosts):
        self.p, self.hosts, self.N = program, hosts, len(hosts)
        self.node = None

    # constants and dynamic blocks
    def is_static(self, a):
        return isinstance(a, Static)

    def is_missing(self, a):
        return isinstance(a, Static) and a.missing

    def is_const(self, x):
        return isinstance(x, np.ndarray)

    def affine(self, x):
        return isinstance(x, np.ndarray) or x.affine

    def shape(self, x):
        return x.shape

    def has_text(self, a):
        return any(isinstance(v, str) and not isinstance(v, XlError) for v in a.arr.ravel())

    def static_values(self, a):
        return a.arr

    def const(self, arr, numeric=True):
        out = Static(np.asarray(arr, dtype=float).astype(object))
        if not numeric:
            out.arr = np.vectorize(bool, otypes=[object])(out.arr)
        return out

    def num(self, a, strict=False):
        if isinstance(a, Static):
            return _to_float(a.arr) if a.arr.size else np.zeros(a.arr.shape)
        return a

    def numeric_mask(self, a):
        if isinstance(a, Static):
            return _is_number(a.arr) if a.arr.size else np.zeros(a.arr.shape, bool)
        return a.numeric

    def numbers(self, a):
        """(values with non-numbers as 0, which cells hold numbers)."""
        m = self.numeric_mask(a)
        if isinstance(a, Static):
            return np.where(m, _to_float(a.arr) if a.arr.size else 0.0, 0.0), m
        if m.all():
            return a, m
        return self.dyn(lambda v: np.where(m, v, 0.0), lambda g, out, v: (g * m,), [a], a.shape,
                        affine=a.affine), m

    def flat_numbers(self, args):
        """The numbers of all the arguments side by side: ((N, 1, K) values, (N, 1, K) mask)."""
        parts, masks = [], []
        for a in args:
            if self.is_missing(a):
                continue
            x, m = self.numbers(a)
            parts.append(x)
            masks.append(m.reshape(self.N, 1, -1))
        mask = np.concatenate(masks, axis=-1) if masks else np.zeros((self.N, 1, 0), bool)
        if all(isinstance(x, np.ndarray) for x in parts):
            return np.concatenate([x.reshape(self.N, 1, -1) for x in parts], axis=-1), mask
        sizes = [int(np.prod(self.shape(x)[1:])) for x in parts]
        shapes = [self.shape(x) for x in parts]
        N = self.N

        def fwd(*vs):
            return np.concatenate([v.reshape(v.shape[:-3] + (N, 1, -1)) for v in vs], axis=-1)

        def vjp(g, out, *vs):
            cuts = np.cumsum(sizes)[:-1]
            return tuple(p.reshape(p.shape[:-3] + s) for p, s in zip(np.split(g, cuts, axis=-1), shapes))
        return self.dyn(fwd, vjp, parts, (N, 1, sum(sizes)), affine=all(self.affine(x) for x in parts)), mask

    def dyn(self, fwd, vjp, inputs, shape, affine=False, numeric=None):
        shape = tuple(shape)
        numeric = np.ones(shape, bool) if numeric is None else np.broadcast_to(numeric, shape)
        d = Dyn(fwd, vjp, list(inputs), shape, affine, numeric)
        return self.p.add(d)

    # choosing per cell, and references whose position is data
    def select(self, picks: np.ndarray, options: list):
        """Per cell n, the option picks[n] (IF and CHOOSE on a condition from data)."""
        used = sorted(set(picks.tolist()))
        if len(used) == 1:
            return options[used[0]]
        opts = [options[k] for k in used]
        if all(isinstance(o, Static) for o in opts):
            shape = np.broadcast_shapes(*(o.arr.shape for o in opts))
            arr = np.empty(shape, dtype=object)
            for k, o in zip(used, opts):
                sel = picks == k
                arr[sel] = np.broadcast_to(o.arr, shape)[sel]
            return Static(arr)
        vals = [self.num(o) for o in opts]
        shape = np.broadcast_shapes(*(self.shape(v) for v in vals))
        onehot = [(picks == k).reshape(-1, 1, 1) for k in used]
        numeric = np.zeros(shape, bool)
        for oh, o in zip(onehot, opts):
            numeric |= oh & np.broadcast_to(self.numeric_mask(o), shape)

        def fwd(*vs):
            out = np.zeros(np.broadcast_shapes(*(np.shape(v) for v in vs)))
            for oh, v in zip(onehot, vs):
                out = np.where(oh, v, out)
            return out

        def vjp(g, out, *vs):
            from xlbridge.calc.functions import unbroadcast
            return tuple(unbroadcast(g * oh, np.shape(v)) for oh, v in zip(onehot, vs))
        return self.dyn(fwd, vjp, vals, shape, affine=all(self.affine(v) for v in vals), numeric=numeric)

    def lookup(self):
        """INDEX/OFFSET/INDIRECT/':' whose position is data: each cell's target, read like a
        plain reference."""
        node = self.node
        positional = node.args[1:] if isinstance(node, Call) else ()
        for a in positional:
            if any(isinstance(x, Ref | Name | TableRef) for x in walk(a)) and not isinstance(
                    self.p.compile_node(a, self.hosts), Static):
                raise FormulaError(f"{node.fn} whose position moves with the changing cells is not supported")
        refs = self.p.references(node, self.hosts)
        if refs is not None:
            return self.p.gather(refs)
        if isinstance(node, Call) and node.fn == "INDEX":
            base = self.p.compile_node(node.args[0], self.hosts)
            if isinstance(base, Static):
                return self.p.static(node, self.hosts)
        raise FormulaError(f"{getattr(node, 'fn', ':')} over computed arrays of changing cells is not supported")


# --- the program ----------------------------------------------------------------------------------

class Program:
    """x (the changing cells, in order) -> the values of the output cells, with gradients.

    `affine` is True when every output is an affine function of x, read off the formulas'
    structure; then `linear_form()` gives it exactly."""

    def __init__(self, ev: Evaluator, x_cells: list, outputs: list, by_groups: bool = True):
        self.ev = ev
        self.x_cells = list(x_cells)
        self.outputs = list(outputs)
        self.nodes: list[Dyn] = []
        self.groups: list = []                  # (root node or Static, first slot, N)
        self.slot = {k: i for i, k in enumerate(self.x_cells)}
        self.numeric = {k: True for k in self.x_cells}
        self.size = len(self.x_cells)
        self._closures: dict = {}
        self.dynamic_cells: list = []
        self.bulk = GroupEvaluator(ev)            # constants of a block, worked out in bulk
        self._slot_grids: dict = {}
        self._vector_hosts = None
        self._build(by_groups)

    def add(self, d: Dyn) -> Dyn:
        d.i = len(self.nodes)
        self.nodes.append(d)
        return d

    # -- discovery -------------------------------------------------------------------------------
    def _discover_groups(self):
        """The dynamic cells by the evaluation plan's groups (plan.py): the groups that read
        the changing cells and that the outputs read, each a level above the groups it
        reads. None where that is not enough (groups reading one another, or cells found
        only by evaluating): then cell by cell."""
        ev, plan = self.ev, plan_of(self.ev)
        dyn = plan.reading(self.x_cells, volatile=False) & \
            plan.upstream(plan.groups_of([k for k in self.outputs if k in ev.formulas]))
        if any(plan.groups[g].opaque for g in dyn):
            return None
        level, by_level, order = {}, {}, []
        for gids, cyclic in plan.steps:
            if not any(g in dyn for g in gids):
                continue
            if cyclic:
                return None
            g = plan.groups[gids[0]]
            lv = level[gids[0]] = 1 + max((level[d] for d in plan.edges[gids[0]] if d in dyn), default=0)
            cells = [k for k in g.cells() if k in ev.formulas]
            by_level.setdefault(lv, {})[(g.sheet, gids[0])] = (g.tree, cells)
        for lv in sorted(by_level):
            order += [k for _, cells in by_level[lv].values() for k in cells]
        return order, by_level

    def _discover_cells(self):
        """The dynamic cells one by one, from the outputs back, each a level above the
        dynamic cells it reads."""
        ev, xs = self.ev, set(self.x_cells)
        x_rects = _rectangles(self.x_cells)
        level: dict = {k: 0 for k in self.x_cells}
        reads: dict = {}
        order = []
        entered = set()
        for out in self.outputs:
            todo = [(out, False)]
            while todo:
                k, expanded = todo.pop()
                if k in level:
                    continue
                if not expanded:
                    if k in entered:
                        raise FormulaError(f"circular reference through {cell_name(k)}")
                    if k not in ev.formulas:
                        level[k] = -1
                        continue
                    entered.add(k)
                    deps, touches_x = self._reads(k, xs, x_rects)
                    reads[k] = (deps, touches_x)
                    todo.append((k, True))
                    todo.extend((d, False) for d in deps if d not in level)
                    continue
                deps, touches_x = reads[k]
                lv = max([level.get(d, -1) for d in deps] + [0 if touches_x else -1])
                level[k] = lv + 1 if lv >= 0 else -1
                if level[k] > 0:
                    order.append(k)
        by_level: dict = {}
        for k in order:
            rkey, tree = ev.cell_tree(k)
            by_level.setdefault(level[k], {}).setdefault((k[0], rkey), (tree, []))[1].append(k)
        return order, by_level

    def _build(self, by_groups: bool):
        ev = self.ev
        found = self._discover_groups() if by_groups else None
        order, by_level = found or self._discover_cells()
        self.dynamic_cells = order
        self._dyn_set = set(order)
        for lv in sorted(by_level):
            pending = []
            for (sheet, _), (tree, cells) in by_level[lv].items():
                hosts = [(c[0], c[1], c[2]) for c in cells]
                try:
                    val = self.compile_node(tree, hosts)
                    root = self._cell_result(val, cells)
                except (FormulaError, CellError) as e:
                    msg = e.code if isinstance(e, CellError) else str(e)
                    raise UnsupportedOnPath(f"{cell_name(cells[0])} (={ev.formulas[cells[0]].formula}): {msg}") from None
                pending.append((root, cells))
            for root, cells in pending:          # a level's cells read only lower levels
                self.groups.append((root, self.size, len(cells)))
                numeric = root.numeric.reshape(-1) if isinstance(root, Dyn) else _is_number(root.arr).reshape(-1)
                for i, c in enumerate(cells):
                    self.slot[c] = self.size + i
                    self.numeric[c] = bool(numeric[i])
                self._place(cells, self.size, numeric)
                self.size += len(cells)
        self.out_index = np.array([self.slot.get(k, -1) for k in self.outputs])
        self.out_const = np.array([0.0 if k in self.slot else _float(_scalar(ev.value(k))) for k in self.outputs])
        self.affine = all(g[0].affine if isinstance(g[0], Dyn) else True for g in self.groups)
        self._root_at = {g[0].i: (g[1], g[2]) for g in self.groups if isinstance(g[0], Dyn)}
        self._V0 = np.zeros(self.size)
        for root, start, n in self.groups:
            if isinstance(root, Static):
                self._V0[start: start + n] = [_float(v) for v in root.arr]

    def _reads(self, key, xs, x_rects):
        """(formula cells a cell reads, whether it reads a changing cell), by the references
        its formula names, and the targets of OFFSET/INDIRECT worked out from data."""
        ev = self.ev
        deps = list(ev.precedents(key))
        touches = False
        for ref, t in ev.refs(key):
            try:
                rng = resolve(ref, t, key[1], key[2])
            except CellError:
                continue
            if any(_overlap(rng, r) for r in x_rects):
                touches = True
        _, tree = ev.cell_tree(key)
        for node in walk(tree):
            if isinstance(node, Call) and node.fn in ("OFFSET", "INDIRECT"):
                try:
                    target = ev.eval_at(node, *key)
                except (CellError, FormulaError):
                    continue
                if isinstance(target, Range):
                    deps.extend(ev.formula_cells_in(target))
                    touches |= any(_overlap(target, r) for r in x_rects)
        return deps, touches

    # -- one group -> nodes ------------------------------------------------------------------------
    def _cell_result(self, val, cells):
        if isinstance(val, Static):
            arr = val.arr
            if arr.ndim == 3 and arr.shape[1:] != (1, 1):
                arr = arr[:, :1, :1]
            return Static(np.array([_scalar(v) for v in arr.reshape(len(cells), -1)[:, 0]], dtype=object))
        if val.shape[1:] != (1, 1):
            v = val
            val = Builder(self, []).dyn(lambda u: u[..., :1, :1], lambda g, out, u: (_pad(g, u.shape),), [v],
                                       (v.shape[0], 1, 1), affine=v.affine, numeric=v.numeric[:, :1, :1])
        return val

    def closure(self, node, sheet):
        key = (id(node), sheet)
        hit = self._closures.get(key)
        if hit is None:
            hit = self._closures[key] = (node, self.ev.compile(node, sheet))
        return hit[1]

    def static_raw(self, node, hosts):
        ev, out = self.ev, []
        fns = {}
        for h in hosts:
            fn = fns.get(h[0]) or fns.setdefault(h[0], self.closure(node, h[0]))
            while True:
                try:
                    out.append(fn(h[1], h[2]))
                    break
                except Need as need:
                    for k in need.keys:
                        ev.value(k)
                except CellError as e:
                    out.append(e.code)
                    break
        return out

    def static(self, node, hosts) -> Static:
        """A sub-formula that reads no changing cell, at every host: in bulk (vector.py)
        where it can be, the other hosts one by one."""
        ev = self.ev
        try:
            arr, ok = self.bulk.evaluate(node, self._hosts(hosts))
        except Unsupported:
            arr, ok = None, np.zeros(len(hosts), bool)
        rest = [h for h, o in zip(hosts, ok.tolist()) if not o]
        rows = [ev.values_of(v) for v in self.static_raw(node, rest)] if rest else []
        if arr is None:
            arr = np.empty((len(hosts),) + rows[0].shape, dtype=object)
        if any(r.shape != arr.shape[1:] for r in rows):
            raise FormulaError("a formula block whose ranges change size from cell to cell")
        if rows:
            arr[~ok] = np.stack(rows)
        return Static(arr)

    def references(self, node, hosts) -> Refs | None:
        """Where a reference-valued sub-formula (INDEX, OFFSET, a table) points at every
        host, if it points at one range of one size everywhere; None if not a reference."""
        try:
            v = self.bulk.node(node, self._hosts(hosts), False)
            if isinstance(v, Refs) and v.ok.all():
                return v
        except Unsupported:
            pass
        targets = self.static_raw(node, hosts)
        if not all(isinstance(t, Range) for t in targets):
            return None
        return _refs_of(targets)

    def _hosts(self, hosts) -> Hosts:
        """The group evaluator's form of a list of host cells (all on one sheet)."""
        hit = self._vector_hosts
        if hit is None or hit[0] is not hosts:
            hit = self._vector_hosts = (hosts, Hosts(hosts[0][0], np.array([h[1] for h in hosts], np.int64),
                                                     np.array([h[2] for h in hosts], np.int64)))
        return hit[1]

    def compile_node(self, node, hosts):
        if isinstance(node, Missing):
            return Static(np.full((len(hosts), 1, 1), None, dtype=object), missing=True)
        if isinstance(node, Const | Array):
            return self.static(node, hosts)
        if isinstance(node, Ref):
            try:
                refs = self.bulk.refs(node, self._hosts(hosts))
            except Unsupported:
                refs = None
            if refs is None:
                ranges = []
                for h in hosts:
                    try:
                        ranges.append(resolve(node, self.ev.sheet_title(node.sheet) if node.sheet else h[0], h[1], h[2]))
                    except CellError:
                        return self.static(Const(XlError("#REF!")), hosts)
                refs = _refs_of(ranges)
            if not refs.ok.all():
                return self.static(Const(XlError("#REF!")), hosts)
            return self.gather(refs)
        if isinstance(node, Name):
            return self.compile_node(self.ev.name_tree(node.name, hosts[0][0]), hosts)
        if isinstance(node, TableRef):
            refs = self.references(node, hosts)
            if refs is None:
                raise FormulaError("a table reference that is not a range")
            return self.gather(refs)
        if isinstance(node, Call) and node.fn in ("OFFSET", "INDEX", "INDIRECT") or \
                isinstance(node, Op) and node.op == ":":
            b = Builder(self, hosts)
            b.node = node
            return b.lookup()
        name = node.fn if isinstance(node, Call) else node.op
        if name in ("IF", "IFS") or name == "CHOOSE":
            return self._branching(node, hosts)
        args = [self.compile_node(a, hosts) for a in node.args]
        if all(isinstance(a, Static) for a in args):
            return self.static(node, hosts)
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise FormulaError(f"function {name} is not supported")
        if fn.path is None:
            raise FormulaError(f"{name} of changing cells is not supported on the decision path")
        b = Builder(self, hosts)
        b.node = node
        return fn.path(b, args, len(hosts))

    def _branching(self, node, hosts):
        """IF/IFS/CHOOSE: a condition from data picks one branch per cell, and only the
        branches some cell takes are built (the others may hold anything)."""
        cond = self.compile_node(node.args[0], hosts)
        if not isinstance(cond, Static) or node.fn == "IFS":
            args = [cond] + [self.compile_node(a, hosts) for a in node.args[1:]]
            if all(isinstance(a, Static) for a in args):
                return self.static(node, hosts)
            if node.fn == "IFS":
                raise FormulaError("IFS whose conditions move with the changing cells is not supported")
            b = Builder(self, hosts)
            b.node = node
            return FUNCTIONS[node.fn].path(b, args, len(hosts))
        N = len(hosts)
        vals = cond.arr.reshape(N, -1)[:, 0]
        if node.fn == "IF":
            from xlbridge.calc.values import truth
            picks = []
            for v in vals:
                try:
                    picks.append(0 if truth(v) else 1)
                except CellError:
                    picks.append(2)                 # the condition's error is the result
            options = [node.args[1] if len(node.args) > 1 else Const(True),
                       node.args[2] if len(node.args) > 2 else Const(False), vals]
        else:
            picks = [int(_float(v)) - 1 for v in vals]
            options = list(node.args[1:])
        picks = np.array(picks)
        built = []
        for k, opt in enumerate(options):
            if not (picks == k).any():
                built.append(Static(np.full((N, 1, 1), None, dtype=object)))
            elif node.fn == "IF" and k == 2:
                built.append(Static(np.array([v for v in opt], dtype=object).reshape(N, 1, 1)))
            else:
                part = self.compile_node(opt, hosts)
                built.append(Static(np.zeros((N, 1, 1), dtype=object)) if isinstance(opt, Missing) else part)
        if ((picks < 0) | (picks >= len(options))).any():
            raise CellError("#VALUE!")
        return Builder(self, hosts).select(picks, built)

    def gather(self, refs: Refs):
        """The values of one range per cell of the group (all of one size): constants, or a
        gather from V by an index array worked out for the whole block at once."""
        sheet, n, h, w = refs.sheet, len(refs.r1), refs.h, refs.w
        grid = self._slots(sheet)
        if grid is None:
            return self._gather_cells(refs)
        rr, cc = positions(refs)
        inside = (rr <= grid.max_row) & (cc <= grid.max_col)
        rr, cc = np.where(inside, rr, 0), np.where(inside, cc, 0)
        idx = grid.index[rr, cc]
        dyn = idx >= 0
        waiting = grid.dynamic[rr, cc] & ~dyn
        if waiting.any():
            first = (sheet, int(rr[waiting][0]), int(cc[waiting][0]))
            raise FormulaError(f"{cell_name(first)} is read before it is computed (circular?)")
        if not dyn.any():
            return Static(self.bulk.values(refs))
        block = self.bulk.read(refs)
        pending = (block.kinds == PENDING) & ~dyn
        if pending.any():                          # constants for the solve, not computed yet
            self.ev.values(list({(sheet, r, c) for r, c in zip(rr[pending].tolist(), cc[pending].tolist())}))
            block = self.bulk.read(refs)
        kinds = block.kinds
        numeric = np.where(dyn, grid.numeric[rr, cc], kinds == NUM)
        const = np.where(dyn | (kinds != NUM), np.where(kinds == ERROR, np.nan, 0.0), block.x)
        idx = np.where(dyn, idx, 0)
        all_dyn = bool(dyn.all())

        def fwd(V):
            return V[idx] if all_dyn else np.where(dyn, V[idx], const)
        d = Dyn(fwd, None, [], (n, h, w), True, numeric)
        d.gather = (idx[dyn], None if all_dyn else np.flatnonzero(dyn))
        return self.add(d)

    def _gather_cells(self, refs: Refs):
        """`gather` one cell at a time, for a sheet too sparse for a grid of slots."""
        ev = self.ev
        ranges = [Range(refs.sheet, r, c, r + refs.h - 1, c + refs.w - 1)
                  for r, c in zip(refs.r1.tolist(), refs.c1.tolist())]
        shape = (refs.h, refs.w)
        slot, numeric_of = self.slot, self.numeric
        if not any(k in slot for r in ranges for k in _cells_fast(r, slot)):
            return Static(np.stack([ev.range_values(r) for r in ranges]))
        N = len(ranges)
        idx = np.zeros((N,) + shape, dtype=np.int64)
        dyn = np.zeros((N,) + shape, dtype=bool)
        const = np.zeros((N,) + shape)
        numeric = np.zeros((N,) + shape, dtype=bool)
        for n, rng in enumerate(ranges):
            vals = None
            for j, c in enumerate(rng.cells()):
                i = np.unravel_index(j, shape)
                s = slot.get(c)
                if s is not None:
                    idx[(n,) + i], dyn[(n,) + i] = s, True
                    numeric[(n,) + i] = numeric_of[c]
                    continue
                if c in self._dyn_set:
                    raise FormulaError(f"{cell_name(c)} is read before it is computed (circular?)")
                if vals is None:
                    vals = ev.range_values(rng)
                v = vals[i]
                numeric[(n,) + i] = is_number(v)
                const[(n,) + i] = float(v) if is_number(v) else (np.nan if isinstance(v, XlError) else 0.0)
        all_dyn = bool(dyn.all())

        def fwd(V):
            return V[idx] if all_dyn else np.where(dyn, V[idx], const)
        d = Dyn(fwd, None, [], (N,) + shape, True, numeric)
        d.gather = (idx[dyn], None if all_dyn else np.flatnonzero(dyn))
        return self.add(d)

    def _slots(self, sheet):
        """Where each cell of a sheet sits in V (-1: nowhere yet) and which cells are dynamic,
        as grids; None for a sheet too sparse for grids."""
        if sheet in self._slot_grids:
            return self._slot_grids[sheet]
        s = self.ev.sheets.get(sheet)
        placed = [(k, i) for k, i in self.slot.items() if k[0] == sheet]
        dynamic = [k for k in self._dyn_set if k[0] == sheet]
        max_row = max([s.max_row if s else 0] + [k[1] for k, _ in placed] + [k[1] for k in dynamic])
        max_col = max([s.max_col if s else 0] + [k[2] for k, _ in placed] + [k[2] for k in dynamic])
        grid = None
        if (max_row + 1) * (max_col + 1) <= 8 * (len(s.cells) if s else 0) + 8 * len(placed) + (1 << 20):
            grid = _Slots(max_row, max_col)
            for k, i in placed:
                grid.index[k[1], k[2]], grid.numeric[k[1], k[2]] = i, self.numeric[k]
            for k in dynamic:
                grid.dynamic[k[1], k[2]] = True
        self._slot_grids[sheet] = grid
        return grid

    def _place(self, cells, start, numeric):
        """Record in the grids where a group's cells now sit in V."""
        grid = self._slot_grids.get(cells[0][0]) if cells else None
        if grid is not None:
            rows = np.array([k[1] for k in cells])
            cols = np.array([k[2] for k in cells])
            grid.index[rows, cols] = np.arange(start, start + len(cells))
            grid.numeric[rows, cols] = numeric

    # -- running it ----------------------------------------------------------------------------------
    def _forward(self, x):
        V = self._V0.copy()
        V[: len(self.x_cells)] = x
        vals = [None] * len(self.nodes)
        roots = self._root_at
        for node in self.nodes:
            if node.gather is not None:
                v = node.fwd(V)
            else:
                v = node.fwd(*[vals[a.i] if isinstance(a, Dyn) else a for a in node.inputs])
            vals[node.i] = v
            at = roots.get(node.i)
            if at is not None:
                V[at[0]: at[0] + at[1]] = v.reshape(at[1])
        return V, vals

    def values_at(self, x) -> np.ndarray:
        """The output cells at x."""
        V, _ = self._forward(np.asarray(x, float))
        return self._outputs(V)

    def cell_values(self, x) -> dict:
        """Every dynamic cell's value at x (for writing the solved workbook in bulk)."""
        V, _ = self._forward(np.asarray(x, float))
        return {k: V[s] for k, s in self.slot.items() if s >= len(self.x_cells)}

    def _outputs(self, V):
        dyn = self.out_index >= 0
        return np.where(dyn, V[np.where(dyn, self.out_index, 0)], self.out_const)

    def _backward(self, V, vals, gV):
        """Reverse sweep: gV (..., size) seeded at the outputs -> gradient w.r.t. x (..., n)."""
        grads: dict = {}
        roots = self._root_at
        batch = gV.shape[:-1]
        for node in reversed(self.nodes):
            g = grads.pop(node.i, None)
            root = roots.get(node.i)
            if root is not None:
                start, n = root
                seed = gV[..., start: start + n].reshape(batch + (n, 1, 1))
                g = seed if g is None else g + seed
            if g is None:
                continue
            if node.gather is not None:
                flat_idx, where = node.gather          # where: the gathered cells that move (None: all)
                gd = g.reshape(batch + (-1,))
                if where is not None:
                    gd = gd[..., where]
                if batch:
                    np.add.at(gV, (slice(None), flat_idx), gd)
                else:
                    gV += np.bincount(flat_idx, weights=gd, minlength=gV.shape[-1])
                continue
            ins = [vals[a.i] if isinstance(a, Dyn) else a for a in node.inputs]
            parts = node.vjp(g, vals[node.i], *ins)
            for a, ga in zip(node.inputs, parts):
                if isinstance(a, Dyn) and ga is not None:
                    ga = np.broadcast_to(ga, batch + a.shape) if np.shape(ga) != batch + a.shape else ga
                    prev = grads.get(a.i)
                    grads[a.i] = ga if prev is None else prev + ga
        return gV[..., : len(self.x_cells)]

    def value_and_grad(self, x, which: int = 0) -> tuple[float, np.ndarray]:
        """Output `which` (0 = the objective) and its exact gradient."""
        x = np.asarray(x, float)
        V, vals = self._forward(x)
        f = float(self._outputs(V)[which])
        gV = np.zeros(self.size)
        s = self.out_index[which]
        if s < 0:
            return f, np.zeros_like(x)
        gV[s] = 1.0
        return f, self._backward(V, vals, gV).copy()

    def jacobian(self, x, rows=None) -> tuple[np.ndarray, np.ndarray]:
        """(outputs, d outputs / dx) at x, for the outputs in `rows` (default all): one
        reverse sweep carrying every output at once."""
        x = np.asarray(x, float)
        V, vals = self._forward(x)
        y = self._outputs(V)
        rows = np.arange(len(self.outputs)) if rows is None else np.asarray(rows)
        gV = np.zeros((len(rows), self.size))
        for b, r in enumerate(rows):
            if self.out_index[r] >= 0:
                gV[b, self.out_index[r]] = 1.0
        return y[rows], self._backward(V, vals, gV).copy()

    def linear_form(self, rows=None) -> tuple[np.ndarray, np.ndarray]:
        """For an affine program, (A, b) with outputs = A x + b exactly (A from the reverse
        sweep, which for affine formulas does not depend on x)."""
        x0 = np.zeros(len(self.x_cells))
        y, A = self.jacobian(x0, rows)
        return A, y


def compile_program(ev: Evaluator, x_cells: list, outputs: list) -> Program:
    """Compile the formulas from `x_cells` to `outputs` (lists of (sheet, row, col)): by
    the plan's groups, or, where a group holds cells the outputs do not need and that
    cannot be compiled, cell by cell."""
    try:
        return Program(ev, x_cells, outputs)
    except FormulaError:
        return Program(ev, x_cells, outputs, by_groups=False)


class _Slots:
    """Grids over one sheet: each cell's slot in V (-1: none yet), whether the value there
    is a number, and whether the cell is dynamic."""

    def __init__(self, max_row, max_col):
        self.max_row, self.max_col = max_row, max_col
        self.index = np.full((max_row + 1, max_col + 1), -1, np.int64)
        self.numeric = np.zeros((max_row + 1, max_col + 1), bool)
        self.dynamic = np.zeros((max_row + 1, max_col + 1), bool)


def _refs_of(ranges: list) -> Refs:
    """Ranges worked out one host at a time, as the group evaluator's Refs."""
    if any(r.sheet != ranges[0].sheet for r in ranges):
        raise FormulaError("a formula block whose ranges move from sheet to sheet")
    if any(r.shape != ranges[0].shape for r in ranges):
        raise FormulaError("a formula block whose ranges change size from cell to cell")
    h, w = ranges[0].shape
    return Refs(ranges[0].sheet, np.array([r.r1 for r in ranges], np.int64),
                np.array([r.c1 for r in ranges], np.int64), h, w, np.ones(len(ranges), bool))


def _pad(g, shape):
    out = np.zeros(g.shape[:-3] + shape[-3:])
    out[..., :1, :1] = g
    return out


def _scalar(v):
    if isinstance(v, np.ndarray):
        v = v.ravel()[0] if v.size else None
    return 0.0 if v is None else v


def _rectangles(cells) -> list[Range]:
    """The changing cells as a few rectangles (by sheet and column runs), for overlap tests."""
    by_col: dict = {}
    for s, r, c in cells:
        by_col.setdefault((s, c), []).append(r)
    out = []
    for (s, c), rows in by_col.items():
        rows.sort()
        start = prev = rows[0]
        for r in rows[1:]:
            if r != prev + 1:
                out.append(Range(s, start, c, prev, c))
                start = r
            prev = r
        out.append(Range(s, start, c, prev, c))
    merged: list = []                          # join equal row runs of neighbouring columns
    for rng in sorted(out, key=lambda q: (q.sheet, q.r1, q.r2, q.c1)):
        last = merged[-1] if merged else None
        if last and last.sheet == rng.sheet and (last.r1, last.r2) == (rng.r1, rng.r2) and last.c2 + 1 == rng.c1:
            merged[-1] = Range(last.sheet, last.r1, last.c1, last.r2, rng.c2)
        else:
            merged.append(rng)
    return merged


def _overlap(a: Range, b: Range) -> bool:
    return a.sheet == b.sheet and a.r1 <= b.r2 and b.r1 <= a.r2 and a.c1 <= b.c2 and b.c1 <= a.c2


def _cells_fast(rng: Range, slot: dict):
    if rng.size <= 4 * len(slot) + 16:
        return rng.cells()
    return (k for k in slot if k in rng)
