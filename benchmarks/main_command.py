"""Benchmark: the main command and `xlbridge check` against #11's targets, beside the engine
as it was before this change, measured in the same run.

    python -m xlbridge.benchmarks.main_command [--repeat 3] [--base REV]

Rows (each a fresh `python -m xlbridge ...` process, wall clock; bytecode cached as an installed
package's is, baseline.py):

    build --check    build the three workbooks from the offline default, then the parity report
                     (target 6 s on the 2-core machine)
    check            the three committed workbooks (target 3 s)

The targets are a quiet machine's; as in solver_speed.py they are also shown scaled by the
machine factor (`python -c "import torch"` here over the 1.4 s it took there, baseline.py), which decides
"met".

"before" is --base (by default the merge base with main; unpacked by baseline.py), run on the
same workbooks. The machine is shared, so now and before alternate, `--repeat` times each, and the median is
printed with the range. Floors from the same run say what no engine can remove: importing
torch, building alone, and parity with the values already in hand (a fresh process that
checks the files and runs the models, no engine). The engine rows time recalculating the
three workbooks and reading every defined name, in a fresh process, now (one soffice over
UNO) and before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xlbridge

from .baseline import BASE_HELP, baseline_tree, env_for, print_machine_factor

REPO = Path(xlbridge.__file__).resolve().parents[1]
BOOKS = [REPO / "workbooks" / n for n in ("graddesc.xlsx", "collab_filter.xlsx", "char_rnn.xlsx")]
TARGETS = {"build --check": 6.0, "check": 3.0}

# Recalculate the three workbooks and read every defined name's values (argv: the workbooks).
ENGINE_ONLY = """
import sys
from xlbridge.engine import recalculate_many
from xlbridge.errors import XlbridgeInputError
for book in recalculate_many(sys.argv[1:]):
    for sheet, name in book.names():
        try:
            book.values(name, sheet)
        except XlbridgeInputError:
            pass
"""

# Everything `check` does but run an engine: check the files, read the values LibreOffice
# computed (cached in recalculated copies), import the models and compare (argv: source, copy, ...).
PARITY_ONLY = """
import os, sys
from pathlib import Path
from xlbridge.engine.admit import admit
from xlbridge.engine.book import Book, grids_from
from xlbridge.parity import check_book
args = sys.argv[1:]
for src, copy in zip(args[::2], args[1::2]):
    book = Book(Path(src), admit(src), grids_from(admit(copy)), "cached")
    assert all(c.passed for c in check_book(book))
sys.stdout.flush()
os._exit(0)   # as the command ends (cli.main): no teardown of torch's modules
"""


def timed(cmd: list[str], pythonpath: Path, cwd: Path) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env_for(pythonpath), capture_output=True, text=True)
    tail = (p.stdout + p.stderr).strip().splitlines()
    return time.perf_counter() - t0, p.returncode, tail[-1] if tail else ""


def summary(times: list[float]) -> str:
    if not times:
        return f"{'n/a':>17}"
    return f"{statistics.median(times):6.2f} s ({min(times):.1f}-{max(times):.1f})"


def main(repeat: int, base_rev: str | None = None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="xlb-bench-main-"))
    try:
        py = sys.executable
        load = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at the start (the timings are noisy "
              f"on a shared machine: medians of {repeat})")
        factor = print_machine_factor()
        from xlbridge.engine import uses_uno
        print(f"engine now: LibreOffice {'as one process over UNO' if uses_uno() else 'convert-to (no UNO bridge here)'}")
        base = baseline_tree(tmp, base_rev)
        if base is None:
            print("before: not measured (no git history with a main branch here)")
        commands = {
            "build --check": lambda out: ["-m", "xlbridge", "build", "--out", str(out), "--check", "--force"],
            "check": lambda out: ["-m", "xlbridge", "check", *map(str, BOOKS)],
        }
        results = {(label, who): [] for label in commands for who in ("now", "before")}
        for i in range(repeat):
            for label, args in commands.items():
                for who, path in (("now", REPO), ("before", base)):
                    if path is None:
                        continue
                    out = tmp / f"{who}{i}"
                    shutil.rmtree(out, ignore_errors=True)
                    seconds, code, tail = timed([py, *args(out)], path, tmp)
                    if code != 0:
                        print(f"  {label} ({who}) exited {code}: {tail}")
                    results[(label, who)].append(seconds)

        print(f"\n{'whole command':18s} {'now':>19s} {'before':>19s} {'target (scaled)':>16s}  ratio now/before")
        for label in commands:
            now, before = results[(label, "now")], results[(label, "before")]
            target = TARGETS[label]
            ratio = statistics.median(now) / statistics.median(before) if before else float("nan")
            met = "met" if statistics.median(now) <= target * factor else "NOT met"
            print(f"{label:18s} {summary(now):>19s} {summary(before):>19s} {target:4.1f} s ({target * factor:4.1f} s)"
                  f"  {ratio:.2f}  {met}")

        # floors: what remains without any engine
        floors = {"build alone": [], "parity alone": []}
        copies = tmp / "copies"
        from xlbridge.engine import recalculate_files
        recalculated = recalculate_files(BOOKS, copies)
        pairs = [str(p) for pair in zip(BOOKS, recalculated) for p in pair]
        engine_rows = {"now": [], "before": []}
        for i in range(repeat):
            shutil.rmtree(tmp / "b", ignore_errors=True)
            floors["build alone"].append(timed([py, "-m", "xlbridge", "build", "--out", str(tmp / "b")], REPO, tmp)[0])
            floors["parity alone"].append(timed([py, "-c", PARITY_ONLY, *pairs], REPO, tmp)[0])
            for who, path in (("now", REPO), ("before", base)):
                if path is not None:
                    engine_rows[who].append(timed([py, "-c", ENGINE_ONLY, *map(str, BOOKS)], path, tmp)[0])
        print(f"\n{'floors (no engine)':18s} {'now':>19s}")
        for label, times in floors.items():
            print(f"{label:18s} {summary(times):>19s}")
        print("  parity alone: a fresh process that checks the files, reads values already computed,")
        print("  imports torch and runs every model: what `check` costs with an engine that takes no time")
        floor = statistics.median(floors["parity alone"])
        shares = {who: statistics.median(results[("check", who)]) - floor for who in ("now", "before")
                  if results[("check", who)]}
        print("  the engine's share of check (check - parity alone): "
              + ", ".join(f"{who} {share:.2f} s" for who, share in shares.items()))
        print(f"\n{'engine alone':18s} {'now':>19s} {'before':>19s}  ratio now/before")
        now, before = engine_rows["now"], engine_rows["before"]
        ratio = statistics.median(now) / statistics.median(before) if before else float("nan")
        print(f"{'3 workbooks':18s} {summary(now):>19s} {summary(before):>19s}  {ratio:.2f}")
        print("  engine alone: a fresh process recalculating the three workbooks and reading every defined name")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command, now and before alternating")
    parser.add_argument("--base", default=None, help=BASE_HELP)
    args = parser.parse_args()
    main(args.repeat, args.base)
