"""Benchmark: the whole `xlbridge solve` command against the issue's targets, now and before
this change, each in fresh processes on the same machine in the same run.

Targets (a quiet machine's; scaled here by the machine factor, see baseline.py):
- small models with --no-check: 1 s for the whole command; the course sheet: 1.5 s;
- with the default LibreOffice check: no more than LibreOffice's own recalculation of the
  file plus 1 s;
- --big: a 100x100 crosstab with 10 factors (2,000 changing cells), built by the project's
  builder with cached values as a build writes them: the whole command, check included,
  within 10 s and 600 MB (the largest process: the solve or LibreOffice); a 300x300 crosstab
  with 20 factors (12,000 changing cells) demonstrated and timed.

    python -m xlbridge.benchmarks.solver_speed [--big] [--runs 3] [--base REV]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .baseline import BASE_HELP, REPO, baseline_tree, print_machine_factor, run


def _solve(path, *extra):
    return [sys.executable, "-m", "xlbridge", "solve", str(path), "--force", *extra]


def _best(cmd, tree, runs):
    results = [run(cmd, tree) for _ in range(runs)]
    return min(results, key=lambda r: r[0])


def _libreoffice_alone(path: Path, tmp: Path) -> float:
    """LibreOffice's own recalculation of the file, as a user runs it headless: a fresh soffice
    (its profile already made) loads, recalculates and saves it (`soffice --convert-to xlsx`)."""
    from xlbridge.engine import soffice
    t0 = time.perf_counter()
    soffice.convert([path], tmp / "lo", 300)
    return time.perf_counter() - t0


def small_models(tmp: Path, base, factor: float, runs: int):
    from tests.solver_corpus import CORPUS           # the corpus lives with the tests: run from the repository root
    models = {"small linear (transport)": (CORPUS["transport"](tmp)[0], []),
              "small integer (staff_scheduling)": (CORPUS["staff_scheduling"](tmp)[0], [])}
    course = REPO.parent / "shared" / "reference" / "course-workbooks" / "collab_filter.xlsx"
    if course.is_file():
        shutil.copyfile(course, tmp / "course.xlsx")
        models["course sheet (dotprod)"] = (tmp / "course.xlsx", ["--sheet", "dotprod"])
        models["course sheet (bias)"] = (tmp / "course.xlsx", ["--sheet", "bias"])
    print(f"\n{'whole command, --no-check':34s} {'now':>8s} {'before':>8s} {'target':>8s}")
    for label, (path, extra) in models.items():
        now = _best(_solve(path, "--no-check", *extra), None, runs)
        before = _best(_solve(path, "--no-check", *extra), base, runs)[0] if base else float("nan")
        target = (1.5 if "course" in label else 1.0) * factor
        print(f"{label:34s} {now[0]:7.2f}s {before:7.2f}s {target:7.2f}s  "
              f"{'met' if now[0] <= target else 'NOT met'} (exit {now[1]})")
    if not shutil.which("soffice"):
        print("LibreOffice not found: the check's figures are left out")
        return
    print(f"\n{'with the LibreOffice check':34s} {'now':>8s} {'before':>8s} {'LO alone':>9s} {'target':>8s}")
    for label, (path, extra) in models.items():
        now = _best(_solve(path, *extra), None, max(1, runs - 1))
        before = run(_solve(path, *extra), base)[0] if base else float("nan")
        lo = min(_libreoffice_alone(path, tmp) for _ in range(2))
        target = lo + 1.0 * factor
        print(f"{label:34s} {now[0]:7.2f}s {before:7.2f}s {lo:8.2f}s {target:7.2f}s  "
              f"{'met' if now[0] <= target else 'NOT met'} (exit {now[1]})")


def _crosstab(path: Path, users: int, factors: int, whole: bool = True) -> Path:
    """A collab workbook from the project's builder on synthetic ratings, with cached values
    as a build writes them. `whole=False`: only the crosstab and dotprod sheets (the
    builder's own sheet writers), for sizes whose other sheets pass the reader's limits."""
    from xlbridge.builders import collab
    from xlbridge.calc import write_cached_values
    from xlbridge.data import crosstab, synthetic_ratings
    data = synthetic_ratings(n_users=users, n_movies=users)
    config = collab.CollabConfig(n_users=users, n_movies=users, n_factors=factors)
    if whole:
        collab.build_collab(data, path, config)
    else:
        import numpy as np
        from openpyxl import Workbook
        from xlbridge.xlsx import save_atomic
        ct = crosstab(data, users, users)
        wb = Workbook()
        wb.remove(wb.active)
        collab._crosstab_sheet(wb, ct)
        start = collab.StartValues.draw(np.random.default_rng(config.seed), users, users, config)
        collab._grid_sheet(wb, collab.SHEETS["dotprod"], ct, start, biases=False)
        save_atomic(wb, path)
    try:
        write_cached_values(path, path)
    except Exception as e:                                  # a workbook past the reader's limits
        print(f"  ({path.name}: no cached values written: {e})")
    return path


def big(tmp: Path, base, factor: float):
    print(f"\n{'big crosstabs, whole command':48s} {'time':>8s} {'peak MB':>8s}  outcome")
    path = _crosstab(tmp / "crosstab100.xlsx", 100, 10)
    for label, tree, extra in (("100x100x10 (2,000 variables), check, now", None, []),
                               ("100x100x10, --no-check, now", None, ["--no-check"]),
                               ("100x100x10, check, before", base, [])):
        if tree is None and "before" in label:
            continue
        seconds, code, peak, tail = run(_solve(path, "--sheet", "dotprod", *extra), tree)
        met = "" if "before" in label or "no-check" in label else \
            f"  target {10 * factor:.1f} s, 600 MB: {'met' if seconds <= 10 * factor and peak <= 600 else 'NOT met'}"
        print(f"{label:48s} {seconds:7.1f}s {peak:8.0f}  exit {code}{met}", flush=True)
    whole = _crosstab(tmp / "crosstab300.xlsx", 300, 20)
    seconds, code, peak, tail = run(_solve(whole, "--sheet", "dotprod"), None)
    print(f"{'300x300x20, the whole workbook':48s} {seconds:7.1f}s {peak:8.0f}  exit {code}: {tail[:90]}")
    part = _crosstab(tmp / "crosstab300-dotprod.xlsx", 300, 20, whole=False)
    for label, extra in (("300x300x20 (12,000 variables), check", []), ("300x300x20, --no-check", ["--no-check"])):
        seconds, code, peak, tail = run(_solve(part, "--sheet", "dotprod", *extra), None)
        print(f"{label:48s} {seconds:7.1f}s {peak:8.0f}  exit {code}: {tail[:60]}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", action="store_true", help="add the 100x100x10 and 300x300x20 crosstabs")
    ap.add_argument("--runs", type=int, default=3, help="fresh processes per small figure (the best is shown)")
    ap.add_argument("--base", default=None, help=BASE_HELP)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="xlb-solve-"))
    try:
        factor = print_machine_factor()
        base = baseline_tree(tmp, args.base)
        small_models(tmp, base, factor, args.runs)
        if args.big:
            big(tmp, base, factor)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
