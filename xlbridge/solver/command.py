"""`xlbridge solve`: the command-line face of the Solver mirror (wired in xlbridge/cli.py).

A thin layer over `solving.solve_many`: print the models or the outcome with rich, check
the solved workbook in LibreOffice when it is installed (check.py), and turn the outcome into
an exit code (0 every model solved; 1 a completed run with a negative answer: a model not
solved, infeasible, unbounded, stopped at a limit, or the LibreOffice check differs;
2 bad input, nothing written).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from xlbridge.errors import XlbridgeInputError
from xlbridge.solver.check import check_in_libreoffice, have_libreoffice


def solve_command(workbook: Path, sheet: str | None = None, list_only: bool = False, out: Path | None = None,
                  in_place: bool = False, force: bool = False, max_time: float | None = None,
                  check: bool = True, console: Console | None = None) -> int:
    """Run `xlbridge solve`; returns the exit code. Bad input raises XlbridgeInputError (exit 2)."""
    t0 = time.perf_counter()
    console = console or Console()
    workbook = Path(workbook)
    if max_time is not None and not max_time > 0:
        raise XlbridgeInputError(f"--max-time must be > 0 seconds; got {max_time}")
    if list_only:
        from xlbridge.solver.solving import list_models

        models = _warning_once(lambda: list_models(workbook))
        for m in models:
            console.print(m.describe(), markup=False)
        if not models:
            console.print(f"{workbook}: no Solver model", markup=False)
        return 0
    checking = check and have_libreoffice()
    if checking:
        from xlbridge import engine

        engine.start()                                  # LibreOffice starts up while we solve
    from xlbridge.solver.solving import solve_many     # after the start: the imports overlap it too

    results = _warning_once(lambda: solve_many(workbook, [sheet] if sheet else None, out=out,
                                               in_place=in_place, force=force, max_time=max_time))
    written = _report(workbook, results, console)
    if not written:
        return 1
    code = 0 if all(r.success for r in results) else 1
    if checking and not check_in_libreoffice(workbook, written, console):
        code = 1
    if check and not checking:
        console.print("LibreOffice not found: solved workbook not re-checked in a spreadsheet engine", markup=False)
    console.print(f"total {time.perf_counter() - t0:.2f} s", markup=False)
    return code


def _warning_once(run):
    """run(), printing each RuntimeWarning it gives once, in order, on stderr."""
    err = Console(stderr=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            return run()
        finally:
            for text in dict.fromkeys(str(w.message) for w in caught):
                err.print(f"warning: {text}", markup=False)


def _report(workbook: Path, results, console: Console) -> list:
    """Print the outcome of each model; returns the results written into a workbook."""
    err = Console(stderr=True)
    for r in results:
        if r.status == 5:
            err.print(f"not solved: {r.message}", markup=False, soft_wrap=True)
    written = [r for r in results if r.path is not None]
    if not written:
        return written
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
    return written
