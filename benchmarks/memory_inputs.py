"""Benchmark: peak memory (RSS) per input size, for what a user feeds xlbridge — ratings files,
hostile fields, titles, text to train on, and UDF calls at and beyond their caps.

    python -m xlbridge.benchmarks.memory_inputs [--quick]

Each case runs in a fresh Python process that imports what it needs, then reports its peak
RSS (getrusage's ru_maxrss); input files are written beforehand by another process, so their
making is not counted (a UDF's blocks are: they are what Excel hands over). The baseline,
measured in the same run, is a process that imports the same modules and does nothing: the
table shows each case's peak above it, and per unit of input. Memory bounds are read here,
never asserted in timed tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# Each case: (label, units of input, unit name, module, setup, code). A setup that writes files
# into `tmp` runs in its own process first; one that builds inputs in memory runs with the code.
PRELUDE = """
import json, resource, sys, time
import numpy as np
from pathlib import Path
tmp = Path(sys.argv[1])
"""
REPORT = """
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - t0, "note": note}))
"""
IMPORTS = {
    "data": "from xlbridge.data import load_ratings",
    "udfs": "from xlbridge import udfs\nfrom xlbridge.errors import XlbridgeInputError",
    "text": "from xlbridge import text as textlib",
}


def ratings_file(n: int, bad_last: bool = False) -> str:
    return f"""
n = {n}
rng = np.random.default_rng(0)
u, m = rng.integers(1, 10**5, n), rng.integers(1, 10**4, n)
r = rng.integers(1, 11, n) / 2
lines = "\\n".join(f"{{a}},{{b}},{{c}},{{i}}" for i, (a, b, c) in enumerate(zip(u.tolist(), m.tolist(), r.tolist())))
(tmp / "ratings.csv").write_text("userId,movieId,rating,timestamp\\n" + lines + ("\\n1,2,x,3" if {bad_last} else "") + "\\n")
del lines, u, m, r
"""


def cases(quick: bool):
    sizes = (10**5,) if quick else (10**5, 10**6)
    out = []
    for n in sizes:
        out.append((f"load_ratings, clean file", n, "rating", "data", ratings_file(n),
                    "note = len(load_ratings(tmp / 'ratings.csv').ratings)"))
        out.append((f"load_ratings, bad last line (text path)", n, "rating", "data", ratings_file(n, True),
                    "try:\n    load_ratings(tmp / 'ratings.csv')\nexcept Exception as e:\n    note = str(e)[-60:]"))
    out.append(("load_ratings, a 5 MB field", 5_000_000, "byte", "data",
                "(tmp / 'ratings.csv').write_text('userId,movieId,rating\\n1,2,' + 'x' * 5_000_000 + '\\n')",
                "try:\n    load_ratings(tmp / 'ratings.csv')\nexcept Exception as e:\n    note = str(e)[-60:]"))
    out.append(("load_ratings, a header of 100,000 columns", 100_000, "column", "data",
                "(tmp / 'ratings.csv').write_text(','.join(f'c{i}' for i in range(100_000)) + '\\n' + ','.join(['1'] * 100_000) + '\\n')",
                "try:\n    load_ratings(tmp / 'ratings.csv')\nexcept Exception as e:\n    note = str(e)[-60:]"))
    out.append(("titles: 1,000 of 40,000 characters, cut", 40_000_000, "byte", "data",
                ratings_file(10**4) + "\nimport csv\nw = csv.writer(open(tmp / 'movies.csv', 'w', newline=''))\n"
                "w.writerow(['movieId', 'title'])\nw.writerows([(i, 'T' * 40_000) for i in range(1, 1001)])",
                "import warnings\nwith warnings.catch_warnings(record=True):\n"
                "    note = int(load_ratings(tmp / 'ratings.csv').titles.str.len().max())"))
    for n in ((10**6,) if quick else (10**6, 10**7)):
        out.append((f"text to train on: encode and cut", n, "character", "text",
                    f"text = ('the cat sat on the mat. ' * ({n} // 24 + 1))[:{n}]",
                    "v = textlib.Vocab.from_text(text)\nids = v.encode(text)\n"
                    "tr, va = textlib.split_text(ids)\nx, y = textlib.sequence_dataset(tr, 8)\nnote = x.shape"))
    udf = [
        ("XLB_PREDICT at the product cap (1000x10 . 10x1000)", 10**7, "product",
         "uf, mf = np.ones((1000, 10)).tolist(), np.ones((10, 1000)).tolist()", "note = udfs.XLB_PREDICT(uf, mf).shape"),
        ("XLB_PREDICT on two 1000x1000 blocks (refused)", 2 * 10**6, "cell",
         "uf = mf = np.ones((1000, 1000)).tolist()",
         "try:\n    udfs.XLB_PREDICT(uf, mf)\nexcept XlbridgeInputError as e:\n    note = str(e)[-40:]"),
        ("XLB_PREDICT outer product 10^5 x 10^5 (refused)", 2 * 10**5, "cell",
         "uf, mf = np.ones((100_000, 1)).tolist(), np.ones((1, 100_000)).tolist()",
         "try:\n    udfs.XLB_PREDICT(uf, mf)\nexcept XlbridgeInputError as e:\n    note = str(e)[-40:]"),
        ("XLB_FIT at the cap (100x100 rated, K 5, 200 epochs)", 10**7, "product",
         "r = (np.arange(10**4).reshape(100, 100) % 9 / 2 + 0.5).tolist()",
         "note = udfs.XLB_FIT(r, 5).shape"),
        ("XLB_FIT on 10^6 cells (refused)", 10**6, "cell", "r = np.full((1000, 1000), 3.0).tolist()",
         "try:\n    udfs.XLB_FIT(r, 5)\nexcept XlbridgeInputError as e:\n    note = str(e)[-40:]"),
        ("XLB_OPTIM_STEPS at the cap (5 x 10^4 steps)", 5 * 10**4, "step",
         "x = np.arange(1000.0).tolist(); y = (2 * np.arange(1000.0) + 1).tolist()",
         "note = udfs.XLB_OPTIM_STEPS(x, y, 'adam', 1, 1, 50).shape"),
        ("XLB_OPTIM_STEPS on 10^6 points (refused)", 10**6, "point", "x = np.arange(1e6).tolist()",
         "try:\n    udfs.XLB_OPTIM_STEPS(x, x, 'adam', 1, 1)\nexcept XlbridgeInputError as e:\n    note = str(e)[-40:]"),
    ]
    out += [(label, n, unit, "udfs", setup, code) for label, n, unit, setup, code in udf]
    return out


def run(module: str, setup: str, code: str, tmp: Path) -> dict:
    if "tmp /" in setup:   # it writes the input files: not part of what is measured
        subprocess.run([sys.executable, "-c", PRELUDE + setup, str(tmp)], check=True, timeout=1800)
        setup = ""
    script = PRELUDE + IMPORTS[module] + "\n" + setup + "\nnote = None\nt0 = time.perf_counter()\n" + code + REPORT
    proc = subprocess.run([sys.executable, "-c", script, str(tmp)], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        return {"peak_mb": float("nan"), "seconds": float("nan"), "note": proc.stderr.strip().splitlines()[-1][:60]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="xlb-mem-") as d:
        tmp = Path(d)
        baseline = {m: run(m, "", "", tmp)["peak_mb"] for m in IMPORTS}
        print("baseline (imports only, same run): " + ", ".join(f"{m} {mb:.0f} MB" for m, mb in baseline.items()))
        print(f"\n{'case':55s} {'input':>12s} {'peak MB':>8s} {'above':>8s} {'bytes/unit':>11s} {'s':>6s}  note")
        for label, n, unit, module, setup, code in cases(quick):
            r = run(module, textwrap.dedent(setup), textwrap.dedent(code), tmp)
            above = r["peak_mb"] - baseline[module]
            print(f"{label:55s} {n:>12,} {r['peak_mb']:8.0f} {above:8.0f} {above * 2**20 / n:11.1f} "
                  f"{r['seconds']:6.2f}  {unit}; {r['note']}", flush=True)
            for f in tmp.iterdir():
                f.unlink()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Only the smaller sizes.")
    main(parser.parse_args().quick)
