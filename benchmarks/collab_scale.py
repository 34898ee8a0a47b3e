"""Benchmark: MovieLens 25M-sized data on this machine's memory (24 GiB), without the real file.

    python -m xlbridge.benchmarks.collab_scale [--ratings 25000095] [--steps 2000] [--keep DIR]

Writes a synthetic ratings.csv in the ml-25m layout (userId,movieId,rating,timestamp; 162,541
users, 59,047 movies, 25,000,095 ratings by default, the same shape as ml-25m), then, in a fresh
process each so the peak memory of each stage is its own:

    load      xlbridge.data.load_ratings: the typed fast reader, duplicates check
    prepare   xlbridge.collab_data.prepare: ids numbered, fastai's 80/20 split
    train     DotProductBias, 50 factors, batch 1024: `--steps` steps timed, an epoch estimated

and prints wall time and peak resident memory (ru_maxrss) beside the file's size. With
`--ratings 32000204` it is ml-32m's size.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STAGES = {
    "load": "from xlbridge.data import load_ratings; r = load_ratings(PATH); print(len(r.ratings))",
    "prepare": "from xlbridge.data import load_ratings; from xlbridge.collab_data import prepare; "
               "d = prepare(load_ratings(PATH)); print(d.n_users, d.n_movies, len(d.train[0]))",
    "train": (
        "import time, torch; from xlbridge.data import load_ratings; from xlbridge.collab_data import prepare\n"
        "from xlbridge.collab_training import FitConfig, build_model\n"
        "from xlbridge.models.training import adamw; import torch.nn.functional as F\n"
        "torch.set_num_threads(1); d = prepare(load_ratings(PATH)); cfg = FitConfig(factors=50).resolved()\n"
        "m, _ = build_model(cfg, d); opt = adamw(m, lr=5e-3, wd=0.1)\n"
        "u, mo, r = (torch.from_numpy(a) for a in d.train); order = torch.randperm(len(r))\n"
        "t = time.perf_counter()\n"
        "for i in range(STEPS):\n"
        "    idx = order[i * 1024:(i + 1) * 1024]\n"
        "    loss = F.mse_loss(m(u[idx], mo[idx]), r[idx]); opt.zero_grad(); loss.backward(); opt.step()\n"
        "s = (time.perf_counter() - t) / STEPS; print(f'{s * 1e3:.2f} ms/step; one epoch of {len(r):,} ratings '\n"
        "      f'at batch 1024: {s * len(r) / 1024 / 60:.1f} min')"
    ),
}


def write_ratings(path: Path, n: int, n_users: int = 162_541, n_movies: int = 59_047, seed: int = 0) -> None:
    """A ratings.csv of the ml-25m shape: popular movies rated more, half-star ratings."""
    rng = np.random.default_rng(seed)
    chunk = 5_000_000
    with open(path, "w") as f:
        f.write("userId,movieId,rating,timestamp\n")
        done = 0
        while done < n:
            k = min(chunk, n - done)
            users = rng.integers(1, n_users + 1, k)
            movies = (rng.pareto(1.2, k) * 50).astype(np.int64) % n_movies + 1
            ratings = rng.integers(1, 11, k) / 2
            stamps = rng.integers(789_652_009, 1_574_327_703, k)
            np.savetxt(f, np.column_stack([users, movies, ratings, stamps]), fmt=["%d", "%d", "%.1f", "%d"],
                       delimiter=",")
            done += k


def run_stage(code: str) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stderr)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss   # the largest child so far
    return wall, peak_kb / 2**20, proc.stdout.strip()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratings", type=int, default=25_000_095)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--keep", type=Path, default=None, help="write the file here and keep it")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "ratings.csv"
        t0 = time.perf_counter()
        if not path.is_file():
            write_ratings(path, args.ratings)
        print(f"{path}: {args.ratings:,} ratings, {path.stat().st_size / 2**20:,.0f} MiB "
              f"(written in {time.perf_counter() - t0:.0f} s)")
        print(f"{'stage':<8} {'wall s':>8} {'peak GiB':>9}  result")
        for name, code in STAGES.items():
            code = code.replace("PATH", repr(str(path))).replace("STEPS", str(args.steps))
            wall, peak, out = run_stage(code)
            print(f"{name:<8} {wall:>8.1f} {peak:>9.2f}  {out}", flush=True)


if __name__ == "__main__":
    main()
