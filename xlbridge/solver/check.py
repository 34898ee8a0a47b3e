"""The LibreOffice check of a solved workbook: a real spreadsheet engine recomputes it, and
its objective must be the one reported (1e-9).

One soffice start does it all: every workbook asked about is loaded and recalculated, and
only the sheets holding the objectives are exported, as CSV. (Writing a whole recalculated
workbook back as .xlsx is about half of LibreOffice's time on a big one; a sheet as CSV
costs little. LibreOffice writes 15 significant digits, far inside the tolerance.) Where
this LibreOffice cannot export one sheet as CSV (before 7.2), the check reads an .xlsx
export instead.

Where LibreOffice differs from the reported objective, there are two known reasons. It
counts empty cells in SUMXMY2-like sums as 0 where Excel skips them: the solved workbook is
then worked out once more by its own formulas read LibreOffice's way, and LibreOffice must
give that (a real check, with no second recalculation). Anything else (it rebuilds pivot
tables over cells, say) and the original is recalculated too: if LibreOffice already
disagrees with the workbook's formulas at the start, the check says it cannot judge
instead of failing. Inside `engine.warm_soffice()`, as `xlbridge solve` runs it, every
recalculation goes to the LibreOffice started in the background while the models were
solved.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from xlbridge.errors import XlbridgeInputError

LIBREOFFICE_TOL = 1e-9
_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,{sheet}"


def have_libreoffice() -> bool:
    from xlbridge.engine import find_soffice
    try:
        find_soffice()
        return True
    except XlbridgeInputError:
        return False


def libreoffice_values(paths: list[Path], cells: list) -> list[list[float]]:
    """The cells ((sheet, row, col)) as LibreOffice computes them, in each workbook of
    `paths`, recalculated in one soffice run (NaN where a cell is not a number)."""
    from xlbridge.engine import run_soffice
    titles = _sheet_titles(paths[0])
    wanted = sorted({titles.index(t) + 1 for t, _, _ in cells})
    with tempfile.TemporaryDirectory(prefix="xlbridge-check-") as tmp:
        tmp = Path(tmp)
        copies = []
        for i, p in enumerate(paths):                         # numbered copies: the inputs stay untouched
            copies.append(tmp / f"b{i}{Path(p).suffix.lower()}")
            shutil.copyfile(p, copies[-1])
        out = tmp / "out"
        run_soffice("--convert-to", _CSV.format(sheet=wanted[0] if len(wanted) == 1 else -1),
                    "--outdir", str(out), *map(str, copies))
        values = []
        for i, p in enumerate(paths):
            sheets = {t: _read_csv(out / f"b{i}-{t}.csv") for t in {t for t, _, _ in cells}}
            if any(rows is None for rows in sheets.values()):
                return _values_from_xlsx(paths, cells)        # an older LibreOffice
            values.append([_number(sheets[t], r, c) for t, r, c in cells])
        return values


def _sheet_titles(path) -> list[str]:
    """The sheets in workbook order (from the workbook part alone, not the cells)."""
    from xlbridge.calc.reader import SafeZip, read_parts
    z = SafeZip(Path(path))
    try:
        return list(read_parts(z)[1])
    finally:
        z.close()


def _objective(result):
    from xlbridge.calc.parse import parse, resolve
    rng = resolve(parse(result.objective, (1, 1)), result.sheet, 1, 1)
    return rng.sheet, rng.r1, rng.c1


def _read_csv(path: Path):
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _number(rows, r, c) -> float:
    try:
        text = rows[r - 1][c - 1].strip()
    except IndexError:
        return float("nan")
    try:
        if text.endswith("%"):                  # a percent format is kept in the export
            return float(text[:-1]) / 100
        if text.upper() in ("TRUE", "FALSE"):
            return float(text.upper() == "TRUE")
        return float(text)
    except ValueError:
        return float("nan")


def _values_from_xlsx(paths, targets) -> list[list[float]]:
    from xlbridge.calc.reader import read_workbook
    from xlbridge.engine import recalculate_files
    out = []
    with tempfile.TemporaryDirectory(prefix="xlbridge-check-") as tmp:
        for recalculated in recalculate_files([Path(p) for p in paths], Path(tmp)):
            wb = read_workbook(recalculated)
            row = []
            for t, r, c in targets:
                cell = wb.sheet(t).cells.get((r, c))
                v = None if cell is None else cell.value
                row.append(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else float("nan"))
            out.append(row)
    return out


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
