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
background while the models were solved: the original costs no second start.
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


def libreoffice_objectives(paths: list[Path], results) -> list[list[float]]:
    """The objective cell of each result as LibreOffice computes it, in each workbook of
    `paths`, recalculated in one LibreOffice start (NaN where it is not a number)."""
    from xlbridge.engine import run_soffice
    targets = [_objective(r) for r in results]                 # (sheet, row, col)
    titles = _sheet_titles(paths[0])
    wanted = sorted({titles.index(t) + 1 for t, _, _ in targets})
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
            sheets = {t: _read_csv(out / f"b{i}-{t}.csv") for t in {t for t, _, _ in targets}}
            if any(rows is None for rows in sheets.values()):
                return _objectives_from_xlsx(paths, targets)    # an older LibreOffice
            values.append([_number(sheets[t], r, c) for t, r, c in targets])
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


def _objectives_from_xlsx(paths, targets) -> list[list[float]]:
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
    (see the module docstring for when the original is recalculated too)."""
    results = [r for r in results if r.status != 5]
    if not results:
        return True
    solved = Path(results[0].path)
    (end,) = libreoffice_objectives([solved], results)
    differs = [i for i, r in enumerate(results) if not _close(end[i], r.fun)]
    start = None
    if differs and Path(original).resolve() != solved.resolve():
        (start,) = libreoffice_objectives([original], results)
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
