"""Benchmark: the whole test suite against #11's target (2 minutes on a quiet 2-core machine).

    python -m xlbridge.benchmarks.suite_time [--serial]

Runs the README's test command (`python -m pytest -q`, on every core through pytest-xdist) in
the repository and prints its wall clock beside the target scaled by the machine factor
(baseline.py). With --serial, the same suite in one process (`-n 0`) is timed first, in the same
run, as the baseline the parallel run is measured against.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from .baseline import REPO, print_machine_factor

TARGET_S = 120.0


def timed_suite(*extra: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra], cwd=REPO,
                          capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    return time.perf_counter() - t0, lines[-1] if lines else f"exit {proc.returncode}"


def main(serial: bool) -> None:
    factor = print_machine_factor()
    rows = [("one process (-n 0)", *timed_suite("-n", "0"))] if serial else []
    rows.append(("every core (-n auto)", *timed_suite()))
    print(f"\n{'suite':22s} {'seconds':>8s}  pytest's summary")
    for label, seconds, summary in rows:
        print(f"{label:22s} {seconds:8.1f}  {summary}")
    parallel = rows[-1][1]
    if serial:
        print(f"ratio every core / one process: {parallel / rows[0][1]:.2f}")
    print(f"target {TARGET_S:.0f} s on a quiet machine, {TARGET_S * factor:.0f} s scaled here: "
          f"{'met' if parallel <= TARGET_S * factor else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serial", action="store_true", help="also time the suite in one process, first")
    main(parser.parse_args().serial)
