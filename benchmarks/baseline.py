"""What the Solver and formula-engine benchmarks share: the code before this change as a
baseline measured in the same run, and commands timed in fresh processes.

- `baseline_tree()`: the merge base with main, unpacked from git into a temporary folder,
  so `run(..., tree=base)` runs the code as it was, on the same machine, now.
- `run(cmd, tree)`: one command in a fresh process, with the given tree first on the path;
  wall time, exit code, the largest resident set of any process it started (the solve or
  LibreOffice), and its last line of output. Bytecode is cached outside the repository
  (PYTHONPYCACHEPREFIX), so timings are those of an installed package, not of compiling it.
- `machine_factor()`: this machine against the one the targets were set on (where
  `python -c "import torch"` took 1.4 s), since shared machines vary several-fold from hour to hour.

Run the benchmarks from the repository root: `python -m xlbridge.benchmarks.NAME` (or, in
a working tree, `python -m benchmarks.NAME`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_CACHE = Path(tempfile.gettempdir()) / "xlbridge-bench-pycache"

# Runs the command given as arguments and prints the largest resident set (kB) among the
# processes it started: ru_maxrss of the children of a process whose only child it is.
_WRAP = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
         "print('MAXRSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")


def env_for(tree: Path | None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree or REPO), PYTHONPYCACHEPREFIX=str(_CACHE))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(cmd: list[str], tree: Path | None = None, cwd: Path | None = None, timeout: float = 3600):
    """(seconds, exit code, peak RSS in MB of the largest process, last output line). The
    command runs in a neutral folder: `python -m`/`-c` put the current folder first on the
    path, which in the repository would shadow the tree asked for."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _WRAP, *cmd], cwd=cwd or tempfile.gettempdir(), env=env_for(tree),
                       capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    lines = (p.stdout + p.stderr).strip().splitlines()
    peak = next((int(x.split()[1]) / 1024 for x in reversed(lines) if x.startswith("MAXRSS")), float("nan"))
    tail = next((x for x in reversed(lines) if not x.startswith("MAXRSS")), "")
    return seconds, p.returncode, peak, tail


def python(code: str, tree: Path | None = None, timeout: float = 3600) -> str:
    """Run Python code in a fresh process; its printed output."""
    p = subprocess.run([sys.executable, "-c", code], cwd=tempfile.gettempdir(), env=env_for(tree), capture_output=True,
                       text=True, timeout=timeout)
    if p.returncode:
        raise RuntimeError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}")
    return p.stdout.strip()


def baseline_tree(tmp: Path, rev: str | None = None) -> Path | None:
    """The code before this change, unpacked under `tmp`: `rev`, by default the merge base
    with main (on main itself, pass the revision to compare with)."""
    try:
        base = rev
        for main in ("main", "origin/main"):       # a clone of the repository has main as origin/main
            found = subprocess.run(["git", "merge-base", "HEAD", main], cwd=REPO, capture_output=True, text=True)
            if base is None and found.returncode == 0:
                base = found.stdout.strip()
        if base is None:
            return None
        out = tmp / "base"
        out.mkdir(exist_ok=True)
        tar = subprocess.run(["git", "archive", base, "xlbridge", "models"], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "x", "-C", str(out)], input=tar.stdout, check=True)
        return out
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


BASE_HELP = "git revision to compare with (default: the merge base with main)"


def print_machine_factor() -> float:
    """Measure and print the machine factor (below); returns it, to scale the targets by."""
    torch_s, factor = machine_factor()
    print(f"machine: `python -c \"import torch\"` takes {torch_s:.2f} s here (1.4 s where the targets were set): "
          f"targets are scaled by {factor:.2f}")
    return factor


def machine_factor() -> tuple[float, float]:
    """(seconds of `python -c "import torch"` here, that over the 1.4 s of the machine the
    targets were set on). Measured as the 1.4 s was: the whole process, started by run();
    the best of three, as a quiet moment is what the targets describe. (Timing the import
    inside the process leaves out both processes' start: 0.9 s where this reads 1.3 s.)"""
    best = min(run([sys.executable, "-c", "import torch"])[0] for _ in range(3))
    return best, best / 1.4
