"""MovieLens ratings: load either published layout, validate, make the lesson's crosstab.

Layouts:
  - ml-latest-small: `ratings.csv` (userId,movieId,rating,timestamp) + `movies.csv` (movieId,title,...)
  - ml-100k: `u.data` (tab-separated user, item, rating, timestamp; no header) + `u.item`
    (pipe-separated, latin-1, id|title|...)
A path may be the dataset folder or the ratings file itself; titles are read from beside it.

Duplicate (user, movie) pairs: the most recent rating wins (largest timestamp; at equal or
missing timestamps, the later line in the file). Users change their minds; the last word is
what they think now. The offline default is `synthetic_ratings()`: deterministic, planted
low-rank, and labelled synthetic everywhere it appears.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xlbridge.errors import XlbridgeInputError, XlbridgeWarning
from xlbridge.params import Interval, check, shown
from xlbridge.xlsx import CELL_TEXT_MAX, fit_text

RATING_MIN, RATING_MAX = 0.5, 5.0
MAX_LISTED = 5  # bad rows quoted in one message, as sklearn cuts long lists
CROSSTAB_SIZE = Interval(int, 1, 500)  # users or movies in a crosstab: a sheet stays usable
MAX_COLUMNS = 100  # fields a ratings or movies line may have: MovieLens has 3 to 5


@dataclass(frozen=True)
class Ratings:
    """A validated ratings table plus titles, and where it came from."""

    ratings: pd.DataFrame   # columns userId, movieId (int64), rating (float64), timestamp (int64)
    titles: pd.Series       # movieId -> title (str)
    source: str             # file/folder it was read from, or a description of synthetic data
    synthetic: bool = False

    def title(self, movie_id: int) -> str:
        return str(self.titles.get(movie_id, f"movie {movie_id}"))


@dataclass(frozen=True)
class Crosstab:
    """The lesson's crosstab: top users x top movies, NaN where a user did not rate a movie."""

    user_ids: list[int]     # rows, ascending id (as pd.crosstab orders them)
    movie_ids: list[int]    # columns, ascending id
    titles: list[str]       # one per movie column
    matrix: np.ndarray      # (U, M) float64, NaN = no rating
    source: str
    synthetic: bool

    @property
    def long(self) -> pd.DataFrame:
        """The rated cells as a long list (userId, movieId, rating), row by row."""
        u, m = np.nonzero(~np.isnan(self.matrix))
        return pd.DataFrame({
            "userId": np.asarray(self.user_ids)[u],
            "movieId": np.asarray(self.movie_ids)[m],
            "rating": self.matrix[u, m],
            "user_idx": u,
            "movie_idx": m,
        })


# ---------------------------------------------------------------------------------------------
# Loading and validation


def _bad_rows(mask, values: pd.Series, first_line: int) -> str:
    """'line 3: 'five', line 9: '7' (and 4 more)' for the first few offending rows; a long field
    is quoted only in part, so a message stays one short line."""
    idx = np.flatnonzero(np.asarray(mask))
    return _listed([f"line {i + first_line}: {shown(values.iloc[i])}" for i in idx[:MAX_LISTED]], len(idx))


def _listed(items: list[str], total: int) -> str:
    """The first MAX_LISTED of `total` items, and how many more there are."""
    more = f" (and {total - MAX_LISTED} more)" if total > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def _whole_numbers(raw: pd.Series, col: str, path: Path, first_line: int) -> np.ndarray:
    """Text fields as exact int64 ids. Digits are read exactly (an id past 64 bits is refused,
    never rounded or wrapped); other spellings of a whole number (1.0, 2e3) are accepted while
    float64 holds them exactly (up to 2**53)."""
    out = np.zeros(len(raw), dtype=np.int64)
    digits = raw.str.fullmatch(r"[+-]?[0-9]+").to_numpy()          # ASCII digits: '٣' is no id
    short = digits & (raw.str.len().to_numpy() <= 18)              # always inside int64
    out[short] = raw[short].astype(np.int64).to_numpy()
    too_big = np.zeros(len(raw), bool)
    for i in np.flatnonzero(digits & ~short):
        text = raw.iloc[i]
        v = int(text) if len(text.lstrip("+-").lstrip("0")) <= 19 else 2**63   # int() refuses 4,300+ digits
        if -(2**63) <= v < 2**63:
            out[i] = v
        else:
            too_big[i] = True
    if too_big.any():
        raise XlbridgeInputError(f"{path}: column '{col}' holds a number beyond 64-bit integers, refused rather than "
                                 "altered; " + _bad_rows(too_big, raw, first_line))
    other = ~digits
    num = pd.to_numeric(raw[other], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(num) & (num == np.floor(num)) & (np.abs(num) <= 2.0**53)
    bad = np.zeros(len(raw), bool)
    bad[np.flatnonzero(other)[~ok]] = True
    if bad.any():
        raise XlbridgeInputError(f"{path}: column '{col}' must hold whole numbers; " + _bad_rows(bad, raw, first_line))
    out[np.flatnonzero(other)] = num.astype(np.int64)
    return out


def check_ratings(df: pd.DataFrame, path: Path, first_line: int) -> pd.DataFrame:
    """Validate raw string columns and return a typed frame, or raise one clear error.

    `first_line` is the file line of the first data row, so messages point at real lines.
    """
    if df.empty:
        raise XlbridgeInputError(f"{path}: no ratings (the file has no data rows)")
    out = {col: _whole_numbers(df[col].astype(str).str.strip(), col, path, first_line) for col in ("userId", "movieId")}
    raw = df["rating"].astype(str).str.strip()
    rating = pd.to_numeric(raw, errors="coerce")
    bad = rating.isna()
    if bad.any():
        raise XlbridgeInputError(f"{path}: column 'rating' must be a number; " + _bad_rows(bad, raw, first_line))
    bad = (rating < RATING_MIN) | (rating > RATING_MAX)
    if bad.any():
        raise XlbridgeInputError(
            f"{path}: column 'rating' must be in [{RATING_MIN}, {RATING_MAX}]; " + _bad_rows(bad, raw, first_line)
        )
    out["rating"] = rating.to_numpy(dtype="float64")
    if "timestamp" in df:   # the most-recent-wins rule needs real times: no guessing
        out["timestamp"] = _whole_numbers(df["timestamp"].astype(str).str.strip(), "timestamp", path, first_line)
    else:
        out["timestamp"] = np.full(len(df), -1, dtype="int64")
    return pd.DataFrame(out)


def _read_typed(path: Path, **kw) -> pd.DataFrame | None:
    """The fast path: the file read straight into int64/float64 columns (MovieLens 25M in
    seconds, in about 30 bytes a rating). None when anything in it needs a closer look: the
    text path then finds the line and says what is wrong."""
    columns = ["userId", "movieId", "rating", "timestamp"]
    try:
        with warnings.catch_warnings():   # a refused cast warns before it raises: the text path reports it
            warnings.simplefilter("ignore", RuntimeWarning)
            # a line with more fields than the header: pandas drops them with a warning (or, without
            # index_col=False, shifts the line under the header); the text path names the line
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(path, dtype={"userId": "int64", "movieId": "int64", "rating": "float64",
                                          "timestamp": "int64"}, engine="c", index_col=False, **kw)
    except (ValueError, OverflowError, OSError, pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError):
        return None
    if df.empty or not {"userId", "movieId", "rating"} <= set(df.columns) or any(
            str(c).partition(".")[0] in columns and "." in str(c) for c in df.columns):   # a name twice
        return None
    r = df["rating"].to_numpy()
    if not (np.isfinite(r).all() and r.min() >= RATING_MIN and r.max() <= RATING_MAX):
        return None
    df = df[[c for c in columns if c in df.columns]]
    if "timestamp" not in df:
        df = df.assign(timestamp=np.int64(-1))
    return df.reset_index(drop=True)


def dedupe(ratings: pd.DataFrame) -> pd.DataFrame:
    """One rating per (user, movie): the most recent wins, the later line at equal times."""
    if not ratings.duplicated(["userId", "movieId"]).any():
        return ratings            # the usual case: nothing to decide, no sort of a big table
    order = ratings.assign(_line=np.arange(len(ratings))).sort_values(["timestamp", "_line"], kind="stable")
    last = order.drop_duplicates(["userId", "movieId"], keep="last")
    return last.sort_values("_line").drop(columns="_line").reset_index(drop=True)


def _check_width(path: Path, sep: str = ",") -> None:
    """Refuse a file whose first line has more than MAX_COLUMNS fields before pandas reads it:
    pandas takes seconds per ten thousand columns, and a 600 KB line holds a hundred thousand."""
    try:
        with open(path, "rb") as f:
            first = f.read(1 << 20).split(b"\n", 1)[0]
    except OSError as e:
        raise XlbridgeInputError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    fields = first.count(sep.encode()) + 1
    if fields > MAX_COLUMNS:
        raise XlbridgeInputError(f"{path}: the first line has {fields:,} fields; a MovieLens file has a few "
                                 f"(at most {MAX_COLUMNS} are read)")


def _read_csv(path: Path, what: str = "ratings file", header: bool = True, **kw) -> pd.DataFrame:
    """Every field as text. A line with more fields than the first line is an error naming it:
    told that the first line is a header, pandas would take a longer line's first field as an
    index and shift the rest under the wrong columns."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, header=None, **kw)
    except pd.errors.EmptyDataError:
        raise XlbridgeInputError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        why = (str(e).strip().splitlines() or [type(e).__name__])[0].removeprefix("Error tokenizing data. C error: ")
        raise XlbridgeInputError(f"{path}: not a readable {what} ({why[:100]})") from None
    except OSError as e:
        raise XlbridgeInputError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    if not header:
        return df
    names = [str(c) for c in df.iloc[0]]
    twice = sorted(c for c in ("userId", "movieId", "rating", "timestamp", "title") if names.count(c) > 1)
    if twice:
        raise XlbridgeInputError(f"{path}: the header names column {twice[0]!r} more than once")
    return df.iloc[1:].set_axis(names, axis=1).reset_index(drop=True)


def _titles(ids: list[str], titles: list[str], path: Path) -> pd.Series:
    """movieId -> title. A row counts when its id is a whole number in int64, as ratings ids are
    (others are skipped, as before); an id listed twice is refused, never resolved by a guess;
    a title longer than a cell holds is cut to fit, with one warning naming the movies."""
    rows = [(int(i), t) for i, t in zip(ids, titles)
            if len(i.strip()) <= 19 and i.strip().isascii() and i.strip().isdigit() and int(i) < 2**63]
    index = pd.Index([i for i, _ in rows], dtype="int64")
    twice = sorted(set(index[index.duplicated()]))
    if twice:
        raise XlbridgeInputError(f"{path}: a movie is listed more than once: "
                                 + _listed([f"movieId {i}" for i in twice[:MAX_LISTED]], len(twice)))
    kept = [fit_text(t) for _, t in rows]
    cut = [i for (i, t), k in zip(rows, kept) if len(k) < len(t)]
    if cut:
        warnings.warn(XlbridgeWarning(f"{path}: {len(cut)} title(s) cut to the {CELL_TEXT_MAX:,} characters a cell "
                                      "holds: " + _listed([f"movieId {i}" for i in cut[:MAX_LISTED]], len(cut))),
                      stacklevel=2)
    return pd.Series(kept, index=index, dtype=object)


def _load_latest(ratings_path: Path) -> Ratings:
    _check_width(ratings_path)
    ratings = _read_typed(ratings_path)
    if ratings is None:
        ratings = _check_latest(ratings_path)
    titles = pd.Series(dtype=object)
    movies = ratings_path.parent / "movies.csv"
    if movies.is_file():
        _check_width(movies)
        m = _read_csv(movies, "movies file")
        if {"movieId", "title"} <= set(m.columns):
            titles = _titles(m["movieId"].tolist(), m["title"].tolist(), movies)
    return Ratings(dedupe(ratings), titles, str(ratings_path))


def _check_latest(ratings_path: Path) -> pd.DataFrame:
    df = _read_csv(ratings_path)
    missing = [c for c in ("userId", "movieId", "rating") if c not in df.columns]
    if missing:
        raise XlbridgeInputError(
            f"{ratings_path}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"expected a header like userId,movieId,rating,timestamp, got {shown(','.join(map(str, df.columns)))}"
        )
    return check_ratings(df, ratings_path, first_line=2)


def _load_100k(data_path: Path) -> Ratings:
    _check_width(data_path, "\t")
    ratings = _read_typed(data_path, sep="\t", header=None, names=["userId", "movieId", "rating", "timestamp"])
    if ratings is None:
        df = _read_csv(data_path, header=False, sep="\t")
        if df.shape[1] < 3:
            raise XlbridgeInputError(
                f"{data_path}: expected tab-separated user, item, rating, timestamp; got {df.shape[1]} column(s)"
            )
        df = df.iloc[:, :4]
        df.columns = ["userId", "movieId", "rating", "timestamp"][: df.shape[1]]
        ratings = check_ratings(df, data_path, first_line=1)
    titles = pd.Series(dtype=object)
    item = data_path.parent / "u.item"
    if item.is_file():
        try:
            text = item.read_bytes().decode("latin-1")   # read_text would turn a lone CR into a line break
        except OSError as e:
            raise XlbridgeInputError(f"{item}: cannot read ({e.strerror or type(e).__name__})") from None
        # lines end at \n only: str.splitlines would also break a title at \x0c, \x1c or \x85
        rows = [r for r in (line.removesuffix("\r").split("|") for line in text.split("\n")) if len(r) >= 2]
        titles = _titles([r[0] for r in rows], [r[1] for r in rows], item)
    return Ratings(dedupe(ratings), titles, str(data_path))


def load_ratings(path) -> Ratings:
    """Load MovieLens ratings from a dataset folder or ratings file, in either layout."""
    path = Path(path)
    try:
        return _load(path)
    except OSError as e:   # the file system refused (a name too long, a file gone meanwhile): one line
        raise XlbridgeInputError(f"{e.filename or path}: cannot read ({e.strerror or type(e).__name__})") from None


def _load(path: Path) -> Ratings:
    if path.is_dir():
        for name, loader in (("ratings.csv", _load_latest), ("u.data", _load_100k)):
            if (path / name).is_file():
                return loader(path / name)
        raise XlbridgeInputError(f"{path}: unknown layout (no ratings.csv or u.data in this folder)")
    if not path.is_file():
        raise XlbridgeInputError(f"{path}: no such file or folder")
    if path.stat().st_size == 0:
        raise XlbridgeInputError(f"{path}: the file is empty")
    if path.name == "u.data" or path.suffix == ".data":
        return _load_100k(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return _load_latest(path)
    raise XlbridgeInputError(
        f"{path}: unknown layout (expected ratings.csv as in ml-latest-small or u.data as in ml-100k)"
    )


# ---------------------------------------------------------------------------------------------
# The crosstab


def _top(counts: pd.Series, n: int) -> list[int]:
    """The n ids with most ratings; ties broken by the smaller id so builds are deterministic."""
    ranked = counts.rename("n").reset_index().sort_values(["n", counts.index.name], ascending=[False, True])
    return sorted(ranked[counts.index.name].head(n).tolist())


def crosstab(data: Ratings, n_users: int = 15, n_movies: int = 15) -> Crosstab:
    """Top-n most active users x top-n most rated movies, as the lesson does."""
    n_users = check(n_users, CROSSTAB_SIZE, "n_users")
    n_movies = check(n_movies, CROSSTAB_SIZE, "n_movies")
    r = data.ratings
    have_u, have_m = r["userId"].nunique(), r["movieId"].nunique()
    if have_u < n_users or have_m < n_movies:
        raise XlbridgeInputError(
            f"{data.source}: a {n_users}x{n_movies} crosstab needs {n_users} users and {n_movies} movies; "
            f"the data has {have_u} users and {have_m} movies"
        )
    users = _top(r.groupby("userId").size(), n_users)
    movies = _top(r.groupby("movieId").size(), n_movies)
    sub = r[r["userId"].isin(users) & r["movieId"].isin(movies)]
    table = sub.pivot(index="userId", columns="movieId", values="rating").reindex(index=users, columns=movies)
    return Crosstab(
        user_ids=users,
        movie_ids=movies,
        titles=[data.title(m) for m in movies],
        matrix=table.to_numpy(dtype=float),
        source=data.source,
        synthetic=data.synthetic,
    )


# ---------------------------------------------------------------------------------------------
# The offline default: synthetic, deterministic, planted low-rank

_ADJECTIVES = ["Silver", "Quiet", "Crimson", "Hidden", "Last", "Electric", "Paper", "Midnight",
               "Frozen", "Golden", "Lonely", "Broken", "Wild", "Distant", "Velvet", "Iron"]
_NOUNS = ["Harbor", "Lantern", "Orchard", "Signal", "Garden", "Compass", "Engine", "River",
          "Mirror", "Station", "Voyage", "Kingdom", "Letter", "Summer", "Archive", "Bridge"]


def synthetic_ratings(seed: int = 2018, n_users: int = 80, n_movies: int = 60, n_factors: int = 3) -> Ratings:
    """A MovieLens-shaped sample from a planted low-rank model (clearly synthetic).

    rating = clip(round_to_half(3.5 + user_bias + movie_bias + user_f . movie_f + noise), 0.5, 5);
    users rate between 10% and 80% of the movies, so activity varies as in real data.
    """
    rng = np.random.default_rng(seed)
    uf = rng.normal(0, 0.6, (n_users, n_factors))
    mf = rng.normal(0, 0.6, (n_movies, n_factors))
    ub, mb = rng.normal(0, 0.4, n_users), rng.normal(0, 0.4, n_movies)
    popularity = rng.uniform(0.2, 1.0, n_movies)
    rows = []
    for u in range(n_users):
        activity = rng.uniform(0.1, 0.8)
        rated = np.flatnonzero(rng.uniform(size=n_movies) < activity * popularity * 1.4)
        for m in rated:
            x = 3.5 + ub[u] + mb[m] + uf[u] @ mf[m] + rng.normal(0, 0.3)
            rows.append((u + 1, m + 1, float(np.clip(np.round(x * 2) / 2, RATING_MIN, RATING_MAX)),
                         1_500_000_000 + len(rows)))
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    titles = pd.Series({
        m + 1: f"The {_ADJECTIVES[m % 16]} {_NOUNS[(m * 7 + m // 16) % 16]} ({1970 + (m * 13) % 50}) [synthetic]"
        for m in range(n_movies)
    })
    source = f"synthetic MovieLens-shaped sample (seed {seed}; {n_users} users, {n_movies} movies, planted rank {n_factors})"
    return Ratings(ratings, titles, source, synthetic=True)
