"""The evaluation plan: which formula cells are evaluated together, and in what order.

Cells that share one formula tree on a sheet (parse.py: a filled-down or filled-right
block) form a *group*. What a group reads is worked out for all its cells at once, with
numpy, from the references its tree names: the edges of a graph of groups. Its strongly
connected components, each after the ones it reads (Tarjan's algorithm), are the steps:

- a group that does not read its own cells can be evaluated in bulk (vector.py);
- groups that read one another, such as the steps of an optimizer down a sheet where each
  row reads the row above, are evaluated cell by cell, in reading order.

References found only by evaluating (OFFSET, INDIRECT, tables) are not edges: such a group
is *opaque*, evaluated cell by cell, and the interpreter computes whatever it turns out to
read on demand. The plan depends only on the formulas, so it is made once per workbook and
shared by every evaluation of it (the Solver's, with other values in the changing cells).

    plan = plan_of(evaluator)
    for gids, cyclic in plan.steps: ...          # group ids, dependencies first
    plan.reading(cells)                          # groups that depend on these cells
"""

from __future__ import annotations

import numpy as np

from xlbridge.calc.evaluate import cells_by_key
from xlbridge.calc.functions import FUNCTIONS
from xlbridge.calc.parse import Call, Name, Ref, TableRef, parse_keyed
from xlbridge.calc.reader import MAX_FORMULA_TEXT, MAX_FORMULAS
from xlbridge.calc.values import CellError, FormulaError
from xlbridge.errors import XlbridgeInputError

_OPAQUE = ("OFFSET", "INDIRECT")


class Group:
    """The cells of one sheet that share one formula tree."""

    __slots__ = ("sheet", "tree", "keys", "rows", "cols", "opaque", "volatile", "reads")

    def __init__(self, sheet, tree, keys):
        self.sheet, self.tree, self.keys = sheet, tree, keys           # keys: [(sheet, row, col)]
        self.rows = np.fromiter((k[1] for k in keys), np.int64, len(keys))
        self.cols = np.fromiter((k[2] for k in keys), np.int64, len(keys))
        self.opaque = tree is None            # None: a formula that does not parse
        self.volatile = False
        self.reads: list = []                 # (sheet, rows, cols) cells or (sheet, r1, c1, r2, c2) boxes

    def __len__(self):
        return len(self.rows)

    def cells(self) -> list:
        return self.keys


class Locator:
    """The label (a group id) of each cell of one sheet: a dense grid where the sheet is
    compact, the labels' own cells where it is sparse (cells far apart must not cost a
    huge grid)."""

    def __init__(self, cells: dict):
        """`cells`: label -> (rows, cols) arrays."""
        self.cells = cells
        rows = [r for r, _ in cells.values() if len(r)]
        cols = [c for _, c in cells.values() if len(c)]
        self.max_row = int(max((r.max() for r in rows), default=0))
        self.max_col = int(max((c.max() for c in cols), default=0))
        n = sum(len(r) for r in rows)
        self.grid = None
        if (self.max_row + 1) * (self.max_col + 1) <= 4 * n + (1 << 20):
            self.grid = np.full((self.max_row + 1, self.max_col + 1), -1, np.int32)
            for label, (r, c) in cells.items():
                self.grid[r, c] = label
        else:
            self.boxes = {label: (r.min(), c.min(), r.max(), c.max()) for label, (r, c) in cells.items() if len(r)}
            self.where = {(int(a), int(b)): label for label, (r, c) in cells.items() for a, b in zip(r, c)}

    def at(self, rows, cols) -> np.ndarray:
        """The labels of the cells (rows[i], cols[i]); -1 where a cell has none."""
        if self.grid is None:
            return np.array([self.where.get((int(a), int(b)), -1) for a, b in zip(rows, cols)], np.int64)
        inside = (rows >= 1) & (rows <= self.max_row) & (cols >= 1) & (cols <= self.max_col)
        out = np.full(len(rows), -1, np.int64)
        out[inside] = self.grid[rows[inside], cols[inside]]
        return out

    def within(self, r1, c1, r2, c2) -> set:
        """The labels of the cells inside a rectangle."""
        r1, c1, r2, c2 = max(r1, 1), max(c1, 1), min(r2, self.max_row), min(c2, self.max_col)
        if r1 > r2 or c1 > c2:
            return set()
        if self.grid is not None and r1 == r2 and c1 == c2:
            label = int(self.grid[r1, c1])
            return {label} if label >= 0 else set()
        if self.grid is not None:
            found = np.unique(self.grid[r1:r2 + 1, c1:c2 + 1])
            return set(found[found >= 0].tolist())
        out = set()
        for label, (a, b, c, d) in self.boxes.items():
            if a <= r2 and r1 <= c and b <= c2 and c1 <= d:
                r, k = self.cells[label]
                if ((r >= r1) & (r <= r2) & (k >= c1) & (k <= c2)).any():
                    out.add(label)
        return out


class Plan:
    """Groups of formula cells, what each reads, and the order to evaluate them in."""

    def __init__(self, ev):
        self.groups: list[Group] = []
        self._group_cells(ev)
        by_sheet: dict = {}
        for gid, g in enumerate(self.groups):
            by_sheet.setdefault(g.sheet, {})[gid] = (g.rows, g.cols)
        self.locators = {s: Locator(cells) for s, cells in by_sheet.items()}
        self.edges = [self._edges(ev, g) for g in self.groups]
        self.steps = _components(self.edges)

    def _group_cells(self, ev):
        """One group per sheet and tree (equal R1C1 keys share one parsed tree object).
        Each distinct formula costs some kilobytes (tree, closures, plan), so their number
        and text have budgets (reader.MAX_FORMULAS, MAX_FORMULA_TEXT); copies cost little."""
        found: dict = {}
        distinct = 0
        for key, cell in cells_by_key(ev.wb)[0].items():
            try:
                tree = parse_keyed(cell.formula, cell.host)[1]
            except FormulaError:                  # the interpreter reports it, cell by cell
                self.groups.append(Group(key[0], None, [key]))
                continue
            slot = found.get((key[0], id(tree)))
            if slot is None:
                distinct += len(cell.formula)
                if len(found) >= MAX_FORMULAS or distinct > MAX_FORMULA_TEXT:
                    raise XlbridgeInputError(
                        f"{ev.wb.path}: more than {MAX_FORMULAS:,} distinct formulas (not copies of one another) or "
                        f"{MAX_FORMULA_TEXT:,} characters of them, the most this tool compiles")
                slot = found[(key[0], id(tree))] = (tree, [])
            slot[1].append(key)
        self.groups += [Group(t, tree, keys) for (t, _), (tree, keys) in found.items()]

    def _edges(self, ev, g: Group) -> set:
        """The groups `g` reads, by the references its tree names (through defined names),
        worked out for all its cells at once; also fills g.reads, g.opaque, g.volatile."""
        if g.tree is None:
            return set()
        out, seen, todo = set(), set(), [g.tree]
        while todo:
            node = todo.pop()
            t = type(node)
            if t is Ref:
                self._read(ev, g, node, out)
            elif t is Name:
                if node.name.lower() not in seen:
                    seen.add(node.name.lower())
                    try:
                        todo.append(ev.name_tree(node.name, g.sheet))
                    except CellError:
                        pass
            elif t is TableRef:
                g.opaque = True
            else:
                if t is Call:
                    g.opaque |= node.fn in _OPAQUE
                    fn = FUNCTIONS.get(node.fn)
                    g.volatile |= fn is not None and fn.volatile
                todo.extend(getattr(node, "args", ()))
        return out

    def _read(self, ev, g: Group, ref: Ref, out: set):
        try:
            sheet = ev.sheet_title(ref.sheet) if ref.sheet else g.sheet
        except CellError:
            return
        a = ref.absolute
        loc = self.locators.get(sheet)
        if all(a):                                # the same cells for every host: one box
            box = (sheet, min(ref.r1, ref.r2), min(ref.c1, ref.c2), max(ref.r1, ref.r2), max(ref.c1, ref.c2))
        else:
            r1 = ref.r1 if a[0] else g.rows + ref.r1
            c1 = ref.c1 if a[1] else g.cols + ref.c1
            r2 = ref.r2 if a[2] else g.rows + ref.r2
            c2 = ref.c2 if a[3] else g.cols + ref.c2
            if ref.r1 == ref.r2 and ref.c1 == ref.c2 and a[0] == a[2] and a[1] == a[3]:
                rows = np.broadcast_to(r1, g.rows.shape)
                cols = np.broadcast_to(c1, g.rows.shape)
                g.reads.append((sheet, rows, cols))
                if loc is not None:
                    hit = loc.at(rows, cols)
                    out.update(np.unique(hit[hit >= 0]).tolist())
                return
            box = (sheet, int(np.min(np.minimum(r1, r2))), int(np.min(np.minimum(c1, c2))),
                   int(np.max(np.maximum(r1, r2))), int(np.max(np.maximum(c1, c2))))
        g.reads.append(box)
        if loc is not None:
            out.update(loc.within(*box[1:]))

    # -- questions about the graph -----------------------------------------------------------
    def reading(self, cells, volatile: bool = True) -> set:
        """The groups that depend on any of `cells` ((sheet, row, col)), directly or through
        other groups; opaque groups are counted in (they may read anything), and volatile
        ones unless `volatile` is False."""
        by_sheet: dict = {}
        for s, r, c in cells:
            by_sheet.setdefault(s, ([], []))
            by_sheet[s][0].append(r)
            by_sheet[s][1].append(c)
        seeds = {s: Locator({0: (np.array(r), np.array(c))}) for s, (r, c) in by_sheet.items()}
        hit = set()
        for gid, g in enumerate(self.groups):
            if g.opaque or (volatile and g.volatile) or any(_touches(seeds.get(read[0]), read) for read in g.reads):
                hit.add(gid)
        return self.downstream(hit)

    def downstream(self, gids) -> set:
        """`gids` and every group that reads one of them, directly or not."""
        readers: dict = {}
        for gid, deps in enumerate(self.edges):
            for d in deps:
                readers.setdefault(d, []).append(gid)
        return _closure(gids, lambda g: readers.get(g, ()))

    def upstream(self, gids) -> set:
        """`gids` and every group they read, directly or not."""
        return _closure(gids, lambda g: self.edges[g])

    def groups_of(self, keys) -> set:
        """The groups holding any of the cells `keys`."""
        by_sheet: dict = {}
        for s, r, c in keys:
            by_sheet.setdefault(s, ([], []))
            by_sheet[s][0].append(r)
            by_sheet[s][1].append(c)
        out = set()
        for s, (rows, cols) in by_sheet.items():
            loc = self.locators.get(s)
            if loc is not None:
                hit = loc.at(np.array(rows, np.int64), np.array(cols, np.int64))
                out.update(np.unique(hit[hit >= 0]).tolist())
        return out


def _touches(seed: Locator | None, read) -> bool:
    if seed is None:
        return False
    if len(read) == 3:
        return bool((seed.at(np.asarray(read[1]), np.asarray(read[2])) >= 0).any())
    return bool(seed.within(*read[1:]))


def _closure(start, nxt) -> set:
    out, todo = set(start), list(start)
    while todo:
        for d in nxt(todo.pop()):
            if d not in out:
                out.add(d)
                todo.append(d)
    return out


def _components(edges: list) -> list:
    """Tarjan's strongly connected components, without recursion: [(group ids, cyclic)],
    each component after every component it reads."""
    n = len(edges)
    index, low, on_stack = [-1] * n, [0] * n, [False] * n
    stack, steps, counter = [], [], 0
    for root in range(n):
        if index[root] >= 0:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, iter(edges[w])))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == v:
                        break
                steps.append((comp, len(comp) > 1 or v in edges[v]))
    return steps


def plan_of(ev) -> Plan:
    """The plan of the evaluator's workbook, made on first use and kept with the workbook."""
    plan = ev.wb.derived.get("plan")
    if plan is None:
        plan = ev.wb.derived["plan"] = Plan(ev)
    return plan
