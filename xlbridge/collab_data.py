"""Ratings as a training set: users and movies numbered, a seeded validation split, arrays.

Two split rules, each exactly as its lesson ran it, so a row of our table compares with the
lesson on the same ratings:

    "random"       fastai's RandomSplitter(valid_pct, seed): torch.manual_seed(seed),
                   torch.randperm(n), the first valid_pct of it validation, the rest training.
                   Users and movies are numbered as fastai's Categorify does: every value in the
                   file, sorted, after a slot "#na#" at index 0 for a value never seen (so
                   ml-100k by title has 944 users and 1,665 movies, as in the fastai book).
    "random-2018"  the older lesson's get_cv_idxs(n, val_pct, seed): np.random.seed(seed),
                   np.random.permutation(n), the first val_pct validation; users and movies
                   numbered in order of first appearance in the whole file, no unknown slot.

Movies are keyed by id, or by title as the fastai book does (`item="title"`: two ids that share
a title are one movie).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xlbridge.data import Ratings
from xlbridge.errors import XlbridgeInputError
from xlbridge.params import FRACTION_OPEN, SEED, OneOf, check

SPLITS = ("random", "random-2018")
ITEMS = ("movieId", "title")
UNKNOWN = "#na#"   # fastai's name for the slot of a value never seen in training


@dataclass(frozen=True)
class CollabData:
    """Index arrays for training and validation, and the maps back to ids and titles."""

    users: list                # index -> user id (users[0] is UNKNOWN under the "random" split)
    movies: list               # index -> movie id, or title when keyed by title
    titles: list[str]          # index -> title
    train: tuple[np.ndarray, np.ndarray, np.ndarray]   # (user index, movie index, rating), int64/int64/float32
    valid: tuple[np.ndarray, np.ndarray, np.ndarray]
    item: str                  # "movieId" or "title"
    split: dict = field(default_factory=dict)          # rule, valid_pct, seed, and the sizes
    source: str = ""
    rating_range: tuple[float, float] = (0.5, 5.0)     # the smallest and largest rating in the data

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_movies(self) -> int:
        return len(self.movies)

    def train_counts(self) -> np.ndarray:
        """Training ratings per movie index: how much each movie's factors could learn."""
        return np.bincount(self.train[1], minlength=self.n_movies)


def split_rows(n: int, valid_pct: float = 0.2, seed: int = 42, rule: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of a table of n rows, by the split rule of the lesson."""
    cut = int(valid_pct * n)
    if rule == "random":
        import torch

        # fastai seeds the global generator; a private one draws the same permutation
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
        return order[cut:], order[:cut]
    valid = np.random.RandomState(seed).permutation(n)[:cut]      # np.random.seed(seed); permutation(n)
    mask = np.zeros(n, bool)
    mask[valid] = True
    return np.flatnonzero(~mask), valid                               # fastai 0.7's split_by_idx keeps file order


def _number(values: np.ndarray, rule: str):
    """(classes, index of every row) for one column."""
    if rule == "random":
        classes, index = np.unique(values, return_inverse=True)        # sorted, as Categorify
        return [UNKNOWN, *classes.tolist()], index.reshape(-1).astype(np.int64) + 1
    classes, first, index = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")                           # in order of first appearance
    rank = np.empty(len(classes), np.int64)
    rank[order] = np.arange(len(classes))
    return classes[order].tolist(), rank[index.reshape(-1)]


def prepare(data: Ratings, *, valid_pct: float = 0.2, seed: int = 42, split: str = "random",
            item: str = "movieId") -> CollabData:
    """Number the users and movies of `data` and split its ratings (see the module docstring)."""
    valid_pct = check(valid_pct, FRACTION_OPEN, "valid_pct")
    seed = check(seed, SEED, "seed")
    split = check(split, OneOf(SPLITS), "split")
    item = check(item, OneOf(ITEMS), "item")
    r = data.ratings
    n = len(r)
    train_rows, valid_rows = split_rows(n, valid_pct, seed, split)
    if len(train_rows) == 0 or len(valid_rows) == 0:
        raise XlbridgeInputError(f"{data.source}: {n} rating(s) cannot be split into training and validation "
                                 f"with valid_pct {valid_pct:g}")
    movie_ids = r["movieId"].to_numpy()
    users, u = _number(r["userId"].to_numpy(), split)
    if item == "title":
        # key every rating by its title's rank among the distinct titles: integers, so 25 million
        # ratings never become 25 million strings, and sorted ranks sort as the titles do
        ids, inverse = np.unique(movie_ids, return_inverse=True)
        distinct, rank = np.unique(np.array([data.title(i) for i in ids], dtype=object).astype(str), return_inverse=True)
        ranks, m = _number(rank.reshape(-1)[inverse.reshape(-1)], split)
        movies = [UNKNOWN if k == UNKNOWN else str(distinct[k]) for k in ranks]
        titles = list(movies)
    else:
        movies, m = _number(movie_ids, split)
        titles = [UNKNOWN if mid == UNKNOWN else data.title(mid) for mid in movies]
    rating = r["rating"].to_numpy(dtype=np.float32)
    pick = lambda rows: (u[rows], m[rows], rating[rows])   # noqa: E731
    return CollabData(users=users, movies=movies, titles=titles, train=pick(train_rows), valid=pick(valid_rows),
                      item=item, split={"rule": split, "valid_pct": valid_pct, "seed": seed,
                                        "n_train": int(len(train_rows)), "n_valid": int(len(valid_rows))},
                      source=data.source, rating_range=(float(rating.min()), float(rating.max())))
