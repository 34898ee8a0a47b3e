"""Formula cells computed in one sweep: the plan's steps in order, in bulk where a group allows.

A group evaluated on its own (plan.py) goes to numpy (vector.py) when it is big enough to
pay for it; the cells numpy cannot settle, and the groups that read one another, go to the
interpreter one by one, in reading order (row by row). Whatever a cell turns out to read
that is not computed yet, the interpreter computes first (evaluate.py's `Need`), so the
order only matters for speed, never for the values.
"""

from __future__ import annotations

from xlbridge.calc.evaluate import Need
from xlbridge.calc.plan import plan_of
from xlbridge.calc.vector import GroupEvaluator, Unsupported

# Below this many cells a group's numpy overhead (a fraction of a millisecond a group)
# costs more than the interpreter's few microseconds a cell (measured on the committed
# workbooks: char_rnn's 24-row blocks go faster one by one).
MIN_BULK = 32


def sweep(ev, keys=None, groups=None) -> None:
    """Compute the formula cells `keys` of the Evaluator `ev` (default: every one), or those
    of the plan's `groups`, and what they read, into `ev.vals`; cells already there are left
    as they are."""
    plan = plan_of(ev)
    wanted = None
    if keys is not None or groups is not None:
        wanted = plan.upstream(plan.groups_of(keys) if groups is None else groups)
    bulk = GroupEvaluator(ev)
    order = {s.title: i for i, s in enumerate(ev.wb.sheets)}
    vals = ev.vals
    for gids, cyclic in plan.steps:
        if wanted is not None and gids[0] not in wanted:
            continue
        cells = None
        if not cyclic:
            g = plan.groups[gids[0]]
            if len(g) >= MIN_BULK and not g.opaque:
                try:
                    cells = bulk.run(g.tree, g.sheet, g.rows, g.cols, g.keys)
                    ev.stats["bulk"] += len(g) - len(cells)
                except Unsupported:
                    cells = None
        if cells is None:
            cells = []
            for gid in gids:
                group = [k for k in plan.groups[gid].cells() if k in ev.formulas]
                if group:
                    ev.bind(group)
                    cells += group
            if len(gids) > 1:
                cells.sort(key=lambda k: (order[k[0]], k[1], k[2]))
        formulas, run = ev.formulas, ev.run
        for key in cells:
            if key not in vals and key in formulas:
                try:
                    vals[key] = run(key)
                except Need:                       # reads a cell not computed yet: that one first
                    ev.compute(key)
                ev.stats["cells"] += 1


def refresh(wb, changed: dict):
    """The formula cells that depend on the `changed` cells ({cell: new value}), recomputed
    with the new values, in bulk where they allow; every other formula cell keeps the value
    the file stores (so is neither recomputed nor read back cell by cell). A formula cell
    the file stores no value for (a workbook no spreadsheet has computed) counts as changed.

    Returns ({cell: value} of the recomputed cells, {cell: why} of those that could not be)."""
    from xlbridge.calc.evaluate import Evaluator
    from xlbridge.calc.reader import paused_gc
    with paused_gc():
        return _refresh(Evaluator(wb, changed), wb, changed)


def _refresh(ev, wb, changed):
    plan = plan_of(ev)
    stored = {s.title: s.cells for s in wb.sheets}
    stale = {gid for gid, g in enumerate(plan.groups)
             if any(stored[g.sheet][rc].value is None for rc in zip(g.rows.tolist(), g.cols.tolist()))}
    dirty = plan.reading(changed) | plan.downstream(stale)
    cells = [k for gid in dirty for k in plan.groups[gid].cells() if k in ev.formulas]
    todo = set(cells)
    for key, cell in ev.formulas.items():
        if key not in todo:
            ev.vals[key] = cell.value
    sweep(ev, groups=dirty)
    return {k: ev.vals[k] for k in cells}, {k: why for k, why in ev.problems.items() if k in todo}
