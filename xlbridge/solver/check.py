"""The LibreOffice check of a solved workbook: a real spreadsheet engine recomputes it, and
its objective must be the one reported (1e-9).

One soffice start does it all: every workbook asked about is loaded and recalculated, and
only the sheets holding the objectives are exported, as CSV. (Writing a whole recalculated
workbook back as .xlsx is about half of LibreOffice's time on a big one; a sheet as CSV
costs little. LibreOffice writes 15 significant digits, far inside the tolerance.) Where
this LibreOffice cannot export one sheet as CSV (before 7.2), the check reads an .xlsx
export instead.

Where LibreOffice differs from the reported objective, the original is recalculated too: if
LibreOffice already disagrees with the workbook's own formulas at the start (it treats
empty cells in SUMXMY2 as 0 where Excel skips them, and it rebuilds pivot tables over
cells), the comparison says so instead of failing. Inside `engine.warm_soffice()`, as
`xlbridge solve` runs it, every recalculation goes to the one LibreOffice started in the
background while the models were solved: the original costs no second start, and where it
is known to be needed (EarlyOriginal) it is recalculated while the models are solved.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import threading
from pathlib import Path

from rich.console import Console

from xlbridge.errors import XlbridgeInputError

LIBREOFFICE_TOL = 1e-9
SMALL_ORIGINAL_BYTES = 512 * 1024      # recalculated beside the solve where it may be needed
_PAIRED = ("SUMXMY2", "SUMX2MY2", "SUMX2PY2")
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


def check_in_libreoffice(original: Path, results, console: Console, early: EarlyOriginal | None = None) -> bool:
    """Recalculate the solved workbook in LibreOffice: its objective must be the one reported
    (see the module docstring for when the original is recalculated too)."""
    results = [r for r in results if r.status != 5]
    if not results:
        return True
    cells = [_objective(r) for r in results]
    solved = Path(results[0].path)
    (end,) = libreoffice_values([solved], cells)
    differs = [i for i, r in enumerate(results) if not _close(end[i], r.fun)]
    start = None
    if differs and Path(original).resolve() != solved.resolve():
        start = (early and early.values(cells)) or libreoffice_values([original], cells)[0]
    ok = True
    for i, r in enumerate(results):
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


class EarlyOriginal:
    """The original workbook recalculated by LibreOffice in the background while its models
    are solved, so that the check finds it done: where the workbook is small and LibreOffice
    is known to compute one of its objectives otherwise than Excel does (a SUMXMY2-like sum
    over an empty cell facing a number other than 0: Excel skips the pair, LibreOffice counts
    the cell as 0). Anything that goes wrong here only means the check recalculates the
    original itself. `close()` waits for it (before LibreOffice is stopped)."""

    def __init__(self, path: Path, sheet: str | None = None):
        self._found: dict = {}
        self._thread = None
        if Path(path).stat().st_size <= SMALL_ORIGINAL_BYTES:
            self._thread = threading.Thread(target=self._run, args=(Path(path), sheet), daemon=True)
            self._thread.start()

    def _run(self, path, sheet):
        try:
            cells = [c for c in _may_differ(path) if sheet is None or c[0].lower() == sheet.lower()]
            if cells:
                self._found = dict(zip(cells, libreoffice_values([path], cells)[0]))
        except Exception:                                   # noqa: BLE001 - the check falls back
            self._found = {}

    def values(self, cells) -> list[float] | None:
        self.close()
        return [self._found[c] for c in cells] if all(c in self._found for c in cells) else None

    def close(self):
        if self._thread is not None:
            self._thread.join()


def _may_differ(path: Path) -> list:
    """The objective cells of the workbook's Solver models that LibreOffice is known to
    compute otherwise than Excel (see EarlyOriginal). Reads the solver_opt names directly:
    the model reader keeps module state, and this runs beside a solve."""
    from xlbridge.calc.evaluate import Evaluator, Need
    from xlbridge.calc.parse import Call, Ref, parse, resolve, walk
    from xlbridge.calc.plan import plan_of
    from xlbridge.calc.reader import read_workbook
    from xlbridge.calc.values import is_number
    wb = read_workbook(path)
    ev = Evaluator(wb)
    objectives = []
    for dn in wb.names:
        if dn.name.lower() == "solver_opt" and dn.sheet is not None and 0 <= dn.sheet < len(wb.sheets):
            node = parse(dn.text, (1, 1))
            if isinstance(node, Ref):
                rng = resolve(node, wb.sheets[dn.sheet].title, 1, 1)
                objectives.append((ev.sheet_title(rng.sheet), rng.r1, rng.c1))
    plan = plan_of(ev)
    out = []
    for cell in objectives:
        for gid in plan.upstream(plan.groups_of([cell])):
            g = plan.groups[gid]
            for node in (n for n in walk(g.tree) if isinstance(n, Call) and n.fn in _PAIRED) if g.tree else ():
                for host in g.cells():
                    while True:
                        try:
                            a, b = (ev.values_of(ev.eval_at(arg, *host)).ravel() for arg in node.args)
                            break
                        except Need as need:
                            ev.evaluate(list(need.keys))
                    if any(is_number(x) != is_number(y) and (x if is_number(x) else y) != 0 for x, y in zip(a, b)):
                        out.append(cell)
    return list(dict.fromkeys(out))
