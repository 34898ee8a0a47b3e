"""Benchmark: the collaborative-filtering lesson's table, reproduced on one split in one run.

    python -m xlbridge.benchmarks.collab_training [--ml-100k PATH] [--data PATH_TO_2016_ml-latest-small]
                                                  [--seeds 0-4] [--no-peers] [--threads 1]

Rows, on ml-100k with fastai's RandomSplitter(0.2, seed=42) and movies keyed by title as the
fastai book does, each trained exactly as the lesson trained it (xlbridge/collab_training.py
RECIPES; 5 epochs of one-cycle AdamW at lr 5e-3, batch size 64):

    DotProduct                     fastai's default wd (the book passes none: Adam's 0.01)
    DotProductBias, wd 0.01        the book's first DotProductBias (no wd given: fastai's default)
    DotProductBias, wd 0.1
    collab_learner's model         collab_learner(n_factors=50, y_range=(0, 5.5)) builds DotProductBias
                                   (its EmbeddingDotBias) and trains it as the row above
    CollabNN                       wd 0.01
    EmbeddingNN [100, 50]          collab_learner(use_nn=True, layers=[100, 50]), wd 0.1
and, with --data pointing at the 2016 ml-latest-small, the older lesson's rows on its own split
rule (get_cv_idxs): EmbeddingDotBias (SGD, momentum 0.9) and EmbeddingNet (Adam).

Peers, when installed (pip install 'xlbridge[bench]'), on the same split in the same run:
fastai 2.8.12's collab_learner (its default collab loader, which draws each epoch's rows with
replacement, and with dl_type=TabDataLoader) and scikit-surprise's SVD.

Then the presets: `fast` and `best` on seed 42 and on split seeds 0-4 (mean and spread).
Every time is training wall time on this machine, torch CPU threads as --threads (1 by default:
on a shared 2-core machine one thread is several times faster than two).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from xlbridge.collab_data import prepare
from xlbridge.collab_training import FitConfig, fit_collab
from xlbridge.data import load_ratings

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The course's figures (valid MSE; fastai on a GPU, its own random split) and the targets.
COURSE = {
    "DotProduct": 0.8846, "DotProductBias, wd 0.01": 0.8941, "DotProductBias, wd 0.1": 0.8218,
    "collab_learner's model": 0.8169, "CollabNN": 0.8413, "EmbeddingNN [100, 50]": 0.8576,
    "EmbeddingDotBias (2018)": 0.8099, "EmbeddingNet (2018)": 0.787,
}
MARGIN = 0.005                       # every row within +0.005 of the course, or better
FAST_TARGET, FAST_SECONDS = 0.81, 1.0
BEST_TARGET, BEST_SECONDS = 0.80, 5.0

ROWS = [
    ("DotProduct", dict(model="DotProduct")),
    ("DotProductBias, wd 0.01", dict(model="DotProductBias", wd=0.01)),
    ("DotProductBias, wd 0.1", dict(model="DotProductBias", wd=0.1)),
    ("collab_learner's model", dict(model="DotProductBias", wd=0.1)),
    ("CollabNN", dict(model="CollabNN")),
    ("EmbeddingNN [100, 50]", dict(model="EmbeddingNN")),
]
OLDER_ROWS = [
    ("EmbeddingDotBias (2018)", dict(model="EmbeddingDotBias")),
    ("EmbeddingNet (2018)", dict(model="EmbeddingNet")),
]


def _line(name, mse, seconds, course=None, note=""):
    if course is None:
        verdict, target = "", ""
    else:
        target = f"{course + MARGIN:.4f}"
        verdict = "ok" if mse <= course + MARGIN else "MISSED"
    print(f"{name:<34} {mse:>8.4f} {'' if course is None else f'{course:.4f}':>8} {target:>8} {verdict:>7} "
          f"{seconds:>8.1f}  {note}", flush=True)


def _header():
    print(f"{'row':<34} {'valid':>8} {'course':>8} {'target':>8} {'':>7} {'train s':>8}")


def fastai_peer(frame, split_valid, threads, dl_type=None):
    """fastai's collab_learner as the book runs it, on the same rows and the same split.
    Returns (valid MSE, training seconds) or None when fastai is not installed."""
    try:
        from fastai.collab import CollabDataLoaders, collab_learner
        from fastai.tabular.core import TabDataLoader
    except ImportError:
        return None
    torch.set_num_threads(threads)
    kw = {"dl_type": TabDataLoader} if dl_type == "TabDataLoader" else {}
    dls = CollabDataLoaders.from_df(frame, item_name="title", user_name="user", rating_name="rating",
                                    valid_pct=0.2, seed=42, bs=64, device=torch.device("cpu"), **kw)
    assert sorted(dls.valid.items.index.tolist()) == sorted(split_valid.tolist()), "fastai split differs"
    return _fit_one_cycle(collab_learner(dls, n_factors=50, y_range=(0, 5.5)), wd=0.1)


def fastai_collab_nn_peer(frame, split_valid, threads):
    """fastai training the book's CollabNN (written here as the book writes it), on the same split."""
    try:
        from fastai.collab import CollabDataLoaders
        from fastai.layers import Embedding, sigmoid_range
        from fastai.learner import Learner
        from fastai.losses import MSELossFlat
        from fastai.tabular.model import get_emb_sz
        from fastai.torch_core import Module
    except ImportError:
        return None

    class BookCollabNN(Module):
        def __init__(self, user_sz, item_sz, y_range=(0, 5.5), n_act=100):
            self.user_factors, self.item_factors = Embedding(*user_sz), Embedding(*item_sz)
            self.layers = torch.nn.Sequential(torch.nn.Linear(user_sz[1] + item_sz[1], n_act), torch.nn.ReLU(),
                                              torch.nn.Linear(n_act, 1))
            self.y_range = y_range

        def forward(self, x):
            embs = self.user_factors(x[:, 0]), self.item_factors(x[:, 1])
            return sigmoid_range(self.layers(torch.cat(embs, dim=1)), *self.y_range)

    torch.set_num_threads(threads)
    dls = CollabDataLoaders.from_df(frame, item_name="title", user_name="user", rating_name="rating",
                                    valid_pct=0.2, seed=42, bs=64, device=torch.device("cpu"))
    return _fit_one_cycle(Learner(dls, BookCollabNN(*get_emb_sz(dls)), loss_func=MSELossFlat()), wd=0.01)


def _fit_one_cycle(learn, wd: float) -> tuple[float, float]:
    """fastai's fit_one_cycle(5, 5e-3, wd) as the course runs it, quietly: (valid MSE, training seconds)."""
    with learn.no_bar(), learn.no_logging():
        t0 = time.perf_counter()
        learn.fit_one_cycle(5, 5e-3, wd=wd)
        seconds = time.perf_counter() - t0
        return float(learn.validate()[0]), seconds


def surprise_peer(frame, train_rows, valid_rows):
    try:
        from surprise import SVD, Dataset, Reader
    except ImportError:
        return None
    train = frame.iloc[train_rows]
    trainset = Dataset.load_from_df(train[["user", "title", "rating"]], Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = SVD(random_state=0)
    t0 = time.perf_counter()
    algo.fit(trainset)
    seconds = time.perf_counter() - t0
    valid = frame.iloc[valid_rows]
    pred = np.array([algo.predict(u, i).est for u, i in zip(valid["user"], valid["title"])])
    return float(np.mean((pred - valid["rating"].to_numpy()) ** 2)), seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ml-100k", type=Path, default=SHARED / "ml-100k")
    ap.add_argument("--data", type=Path, default=None, help="the 2016 ml-latest-small, for the older lesson's rows")
    ap.add_argument("--seeds", default="0-4", help="split seeds for the presets' spread, e.g. 0-4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--only", choices=["course", "presets"], default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s), device cpu")

    ratings = load_ratings(args.ml_100k)
    data = prepare(ratings, item="title")                   # one split for every row
    print(f"ml-100k: {len(ratings.ratings):,} ratings; split {data.split}; {data.n_users} users x {data.n_movies} "
          "movies (fastai's classes)\n")
    results = {}
    if args.only in (None, "course"):
        _header()
        for name, kw in ROWS:
            r = fit_collab(ratings, FitConfig(item="title", threads=args.threads, **kw), data=data)
            results[name] = (r.valid_mse, r.seconds)
            _line(name, r.valid_mse, r.seconds, COURSE[name])
        if args.data is not None:
            old = load_ratings(args.data)
            old_data = prepare(old, split="random-2018")
            print(f"\n{args.data}: {len(old.ratings):,} ratings; split {old_data.split}")
            for name, kw in OLDER_ROWS:
                r = fit_collab(old, FitConfig(threads=args.threads, **kw), data=old_data)
                _line(name, r.valid_mse, r.seconds, COURSE[name])
        if not args.no_peers:
            frame = ratings.ratings.assign(user=ratings.ratings.userId,
                                           title=[ratings.title(m) for m in ratings.ratings.movieId])
            frame = frame[["user", "title", "rating"]].reset_index(drop=True)
            train_rows, valid_rows = _split(len(frame))
            print("\npeers on the same split:")
            ours = results["collab_learner's model"]
            for label, dl_type in (("fastai collab_learner (default loader)", None),
                                   ("fastai collab_learner (TabDataLoader)", "TabDataLoader")):
                got = fastai_peer(frame, valid_rows, args.threads, dl_type)
                if got is None:
                    print(f"{label}: fastai not installed (pip install 'xlbridge[bench]')")
                    continue
                _line(label, got[0], got[1], note=f"xlbridge's same model: {got[1] / ours[1]:.1f}x faster, "
                      f"valid {ours[0]:.4f} vs {got[0]:.4f} ({'no worse' if ours[0] <= got[0] else 'WORSE'})")
            got = fastai_collab_nn_peer(frame, valid_rows, args.threads)
            if got is not None:
                _line("fastai, the book's CollabNN", got[0], got[1], note=f"xlbridge's CollabNN: valid {results['CollabNN'][0]:.4f}")
            got = surprise_peer(frame, train_rows, valid_rows)
            if got is None:
                print("scikit-surprise SVD: not installed (pip install 'xlbridge[bench]')")
            else:
                _line("scikit-surprise SVD", *got)
    if args.only in (None, "presets"):
        lo, _, hi = args.seeds.partition("-")
        seeds = list(range(int(lo), int(hi or lo) + 1))
        print(f"\npresets (ml-100k by title; targets: fast <= {FAST_TARGET} in <= {FAST_SECONDS:g} s, "
              f"best <= {BEST_TARGET} in <= {BEST_SECONDS:g} s)")
        for preset, target, limit in (("fast", FAST_TARGET, FAST_SECONDS), ("best", BEST_TARGET, BEST_SECONDS)):
            r = fit_collab(ratings, FitConfig(preset=preset, item="title", threads=args.threads), data=data)
            ok = "ok" if r.valid_mse <= target and r.seconds <= limit else "MISSED"
            print(f"{preset:<5} seed 42: valid {r.valid_mse:.4f} in {r.seconds:.2f} s  {ok}", flush=True)
            runs = [fit_collab(ratings, FitConfig(preset=preset, item="title", seed=s, threads=args.threads))
                    for s in seeds]
            mses, secs = [x.valid_mse for x in runs], [x.seconds for x in runs]
            print(f"{preset:<5} seeds {args.seeds}: valid {statistics.mean(mses):.4f} +- {statistics.stdev(mses):.4f} "
                  f"(min {min(mses):.4f}, max {max(mses):.4f}); {statistics.mean(secs):.2f} s each", flush=True)


def _split(n):
    from xlbridge.collab_data import split_rows

    return split_rows(n, 0.2, 42, "random")


if __name__ == "__main__":
    main()
