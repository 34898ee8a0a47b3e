"""`xlbridge solve`: the command-line face of the Solver mirror (wired in xlbridge/cli.py).

A thin layer over `solving.solve_many`: print the models or the outcome with rich, check
the solved workbook in LibreOffice when it is installed, and turn the outcome into an
exit code (0 every model solved; 1 a completed run with a negative answer: a model not
solved, infeasible, unbounded, stopped at a limit, or the LibreOffice check differs;
2 bad input, nothing written).
"""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from xlbridge.errors import XlbridgeInputError
from xlbridge.solver.solving import list_models, solve_many

LIBREOFFICE_TOL = 1e-9


def libreoffice_objectives(paths: list[Path], results) -> list[list[float]]:
    """The objective cell of each result as LibreOffice computes it, in each workbook of
    `paths` (recalculated in one LibreOffice start and read back with calc's reader, which
    reads the recalculated values without loading the whole file into openpyxl)."""
    import tempfile
    from xlbridge.calc.reader import read_workbook
    from xlbridge.engine import recalculate_files
    out = []
    with tempfile.TemporaryDirectory(prefix="xlbridge-check-") as tmp:
        for recalculated in recalculate_files([Path(p) for p in paths], Path(tmp)):
            wb = read_workbook(recalculated)
            row = []
            for r in results:
                rng = _objective_range(r)
                cell = wb.sheet(rng.sheet).cells.get((rng.r1, rng.c1))
                v = None if cell is None else cell.value
                row.append(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else float("nan"))
            out.append(row)
    return out


def _objective_range(r):
    from xlbridge.calc.parse import parse, resolve
    return resolve(parse(r.objective, (1, 1)), r.sheet, 1, 1)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= LIBREOFFICE_TOL * max(1.0, abs(b))


def check_in_libreoffice(original: Path, results, console: Console) -> bool:
    """Recalculate the solved workbook in LibreOffice: its objective must be the one reported.

    Only where LibreOffice differs is the original recalculated too: if LibreOffice already
    disagrees with the workbook's own formulas at the start (it treats empty cells in SUMXMY2
    as 0 where Excel skips them, and it rebuilds pivot tables over cells), the comparison
    says so instead of failing."""
    results = [r for r in results if r.status != 5]
    if not results:
        return True
    solved = results[0].path
    (end,) = libreoffice_objectives([solved], results)
    ok = True
    differs = [i for i, r in enumerate(results) if not _close(end[i], r.fun)]
    start = None
    if differs and Path(original).resolve() != Path(solved).resolve():
        (start,) = libreoffice_objectives([original], results)
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


def _have_libreoffice() -> bool:
    try:
        from xlbridge.engine import find_soffice
        find_soffice()
        return True
    except (XlbridgeInputError, ImportError):
        return shutil.which("soffice") is not None


def solve_command(workbook: Path, sheet: str | None = None, list_only: bool = False, out: Path | None = None,
                  in_place: bool = False, force: bool = False, max_time: float | None = None,
                  check: bool = True, console: Console | None = None) -> int:
    """Run `xlbridge solve`; returns the exit code. Bad input raises XlbridgeInputError (exit 2)."""
    t0 = time.perf_counter()
    console = console or Console()
    err = Console(stderr=True)
    workbook = Path(workbook)
    if max_time is not None and not max_time > 0:
        raise XlbridgeInputError(f"--max-time must be > 0 seconds; got {max_time}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            models = list_models(workbook)
            if list_only:
                for m in models:
                    console.print(m.describe(), markup=False)
                if not models:
                    console.print(f"{workbook}: no Solver model", markup=False)
                return 0
            results = solve_many(workbook, [sheet] if sheet else None, out=out, in_place=in_place,
                                 force=force, max_time=max_time)
        finally:
            # each warning once, in order (the models are read twice, so their warnings repeat)
            for text in dict.fromkeys(str(w.message) for w in caught):
                err.print(f"warning: {text}", markup=False)
    for r in results:
        if r.status == 5:
            err.print(f"not solved: {r.message}", markup=False, soft_wrap=True)
    written = [r for r in results if r.path is not None]
    if not written:
        return 1

    table = Table(title=f"{workbook.name} -> {written[0].path.name}", title_justify="left")
    for col in ("sheet", "objective", "start", "end", "iter", "time (s)", "outcome"):
        table.add_column(col, justify="right" if col in ("start", "end", "iter", "time (s)") else "left",
                         no_wrap=col != "sheet")
    for r in written:
        table.add_row(r.sheet, r.objective.split("!")[-1], f"{r.fun_start:.6g}", f"{r.fun:.8g}", str(r.nit),
                      f"{r.time:.3f}", r.outcome if r.success else f"NOT solved: {r.outcome}")
    console.print(table)
    for r in written:
        kind = "linear" if r.linear else "nonlinear"
        proof = "optimality proven" if r.proven else "optimality not proven (local)"
        console.print(f"{r.sheet}: {kind} model, {r.engine} engine, solved by {r.method}; {proof}. {r.message}",
                      markup=False)
    code = 0 if all(r.success for r in results) else 1

    if check and _have_libreoffice():
        if not check_in_libreoffice(workbook, written, console):
            code = 1
    elif check:
        console.print("LibreOffice not found: solved workbook not re-checked in a spreadsheet engine", markup=False)
    console.print(f"total {time.perf_counter() - t0:.2f} s", markup=False)
    return code
