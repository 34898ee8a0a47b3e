"""The LibreOffice check of a solved workbook: a real spreadsheet engine recomputes it, and
its objective must be the one reported (1e-9).

The engine (xlbridge.engine) recalculates every workbook asked about in the one LibreOffice
this process keeps; `xlbridge solve` starts it before solving, so its start-up overlaps the
solve. LibreOffice keeps 15 significant digits, far inside the tolerance.

Where LibreOffice differs from the reported objective, there are two known reasons. It
counts empty cells in SUMXMY2-like sums as 0 where Excel skips them: the solved workbook is
then worked out once more by its own formulas read LibreOffice's way, and LibreOffice must
give that (a real check, with no second recalculation). Anything else (it rebuilds pivot
tables over cells, say) and the original is recalculated too: if LibreOffice already
disagrees with the workbook's formulas at the start, the check says it cannot judge
instead of failing.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from xlbridge.errors import XlbridgeInputError

LIBREOFFICE_TOL = 1e-9


def have_libreoffice() -> bool:
    from xlbridge.engine import find_soffice
    try:
        find_soffice()
        return True
    except XlbridgeInputError:
        return False


def libreoffice_values(paths: list[Path], cells: list) -> list[list[float]]:
    """The cells ((sheet, row, col)) as LibreOffice computes them, in each workbook of
    `paths` (NaN where a cell is not a number)."""
    from xlbridge.engine import recalculate_many
    return [[_number(book.cell(t, r, c)) for t, r, c in cells] for book in recalculate_many(paths)]


def _objective(result):
    from xlbridge.calc.parse import parse, resolve
    rng = resolve(parse(result.objective, (1, 1)), result.sheet, 1, 1)
    return rng.sheet, rng.r1, rng.c1


def _number(v) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else float("nan")


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= LIBREOFFICE_TOL * max(1.0, abs(b))


def check_in_libreoffice(original: Path, results, console: Console) -> bool:
    """Recalculate the solved workbook in LibreOffice: its objective must be the one reported
    (see the module docstring for what is done where LibreOffice differs)."""
    results = [r for r in results if r.status != 5]
    if not results:
        return True
    cells = [_objective(r) for r in results]
    solved = Path(results[0].path)
    (end,) = libreoffice_values([solved], cells)
    differs = [i for i, r in enumerate(results) if not _close(end[i], r.fun)]
    own = _as_libreoffice_computes(solved, [cells[i] for i in differs]) if differs else {}
    start = None
    if any(not _close(end[i], own.get(cells[i], float("nan"))) for i in differs) and \
            Path(original).resolve() != solved.resolve():
        (start,) = libreoffice_values([original], cells)
    ok = True
    for i, r in enumerate(results):
        if i in differs and _close(end[i], own.get(cells[i], float("nan"))):
            console.print(f"{r.sheet}: LibreOffice recalculation gives {end[i]:.12g}, as its own reading of "
                          f"empty cells in SUMXMY2 (as 0) makes it (Excel's {r.fun:.12g}): matches", markup=False)
            continue
        if i in differs and start is not None and not _close(start[i], r.fun_start):
            console.print(f"{r.sheet}: LibreOffice computes this sheet differently from its formulas' "
                          f"Excel semantics (start {start[i]:.10g} vs {r.fun_start:.10g}); "
                          "LibreOffice check not applicable", markup=False)
            continue
        good = i not in differs
        ok &= good
        console.print(f"{r.sheet}: LibreOffice recalculation gives {end[i]:.12g} "
                      f"({'matches' if good else 'DIFFERS'}, |diff| = {abs(end[i] - r.fun):.1e})", markup=False)
    return ok


def _as_libreoffice_computes(path: Path, cells) -> dict:
    """The cells of a workbook computed as LibreOffice does where it is known to differ
    from Excel: SUMXMY2, SUMX2MY2 and SUMX2PY2 count an empty cell facing a number as 0
    (Excel skips the pair). Worked out by the workbook's own formulas with those sums
    written as SUMPRODUCT((a-b)^2) and the like, which read an empty cell as 0."""
    from xlbridge.calc.evaluate import Evaluator
    from xlbridge.calc.reader import read_workbook

    class AsLibreOffice(Evaluator):
        def cell_tree(self, key):
            rkey, tree = super().cell_tree(key)
            return rkey, _libreoffice_sums(tree)

    try:
        ev = AsLibreOffice(read_workbook(path))
        for cell in cells:
            ev.compute(cell)
        return {c: float(ev.vals[c]) for c in cells if isinstance(ev.vals.get(c), float)}
    except Exception:                                   # noqa: BLE001 - then the original is recalculated
        return {}


def _libreoffice_sums(tree):
    from xlbridge.calc.parse import Call, Const, Op
    if isinstance(tree, Call | Op):
        args = tuple(_libreoffice_sums(a) for a in tree.args)
        if isinstance(tree, Call) and tree.fn in ("SUMXMY2", "SUMX2MY2", "SUMX2PY2") and len(args) == 2:
            a, b = args
            two = Const(2.0)
            term = {"SUMXMY2": Op("^", (Op("-", (a, b)), two)),
                    "SUMX2MY2": Op("-", (Op("^", (a, two)), Op("^", (b, two)))),
                    "SUMX2PY2": Op("+", (Op("^", (a, two)), Op("^", (b, two))))}[tree.fn]
            return Call("SUMPRODUCT", (term,))
        return Call(tree.fn, args) if isinstance(tree, Call) else Op(tree.op, args)
    return tree
