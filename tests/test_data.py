"""xlbridge.data: both MovieLens layouts, validation, duplicates, the crosstab, the offline default."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_ratings, shared_path

from xlbridge.data import crosstab, dedupe, load_ratings, synthetic_ratings
from xlbridge.errors import XlbridgeInputError


# --- the real files (counts from their PROVENANCE.md, not from our code) ----------------------

def test_ml_latest_small_folder_and_file():
    folder = shared_path("data", "ml-latest-small")
    by_folder = load_ratings(folder)
    by_file = load_ratings(folder / "ratings.csv")
    r = by_folder.ratings
    assert len(r) == 100_836
    assert r.userId.nunique() == 610 and r.movieId.nunique() == 9_724
    assert r.rating.min() == 0.5 and r.rating.max() == 5.0
    assert r.rating.mean() == pytest.approx(3.50156, abs=1e-5)
    assert by_folder.title(1) == "Toy Story (1995)"
    assert by_file.ratings.equals(r)


def test_ml_100k_layout_reads_latin1_titles():
    data = load_ratings(shared_path("data", "ml-100k"))
    r = data.ratings
    assert len(r) == 100_000
    assert r.userId.nunique() == 943 and r.movieId.nunique() == 1_682
    assert r.rating.value_counts().sort_index().tolist() == [6_110, 11_370, 27_145, 34_174, 21_201]
    assert data.title(1) == "Toy Story (1995)"
    assert any("Misérables" in t for t in data.titles)


def test_ml_latest_small_2016_edition():
    r = load_ratings(shared_path("data", "ml-latest-small-2016")).ratings
    assert len(r) == 100_004 and r.userId.nunique() == 671


def test_crosstab_matches_the_lesson_on_real_data():
    data = load_ratings(shared_path("data", "ml-latest-small"))
    ct = crosstab(data, 15, 15)
    # The lesson's recipe, written independently with pandas: top counts, then a crosstab.
    raw = pd.read_csv(shared_path("data", "ml-latest-small", "ratings.csv"))
    top_u = raw.groupby("userId").size().sort_values(ascending=False, kind="stable").index[:15]
    top_m = raw.groupby("movieId").size().sort_values(ascending=False, kind="stable").index[:15]
    sub = raw[raw.userId.isin(top_u) & raw.movieId.isin(top_m)]
    want = pd.crosstab(sub.userId, sub.movieId, sub.rating, aggfunc="sum")
    assert ct.user_ids == want.index.tolist()
    assert ct.movie_ids == want.columns.tolist()
    np.testing.assert_array_equal(ct.matrix, want.to_numpy(dtype=float))
    assert ct.titles[ct.movie_ids.index(356)] == "Forrest Gump (1994)"
    assert len(ct.long) == int((~np.isnan(ct.matrix)).sum())


# --- rules --------------------------------------------------------------------------------------

def test_duplicates_most_recent_wins_then_later_line(tmp_path):
    f = tmp_path / "ratings.csv"
    f.write_text("userId,movieId,rating,timestamp\n"
                 "1,10,1.0,300\n"    # most recent of the (1, 10) pair
                 "1,10,5.0,100\n"
                 "2,10,2.0,50\n"
                 "2,10,4.5,50\n"     # same time: the later line wins
                 "3,11,3.0,10\n")
    r = load_ratings(f).ratings.set_index(["userId", "movieId"]).rating
    assert r[(1, 10)] == 1.0 and r[(2, 10)] == 4.5 and len(r) == 3


def test_crosstab_ties_prefer_smaller_ids():
    # every user and movie has one rating: the top 2 must be the 2 smallest ids
    data = make_ratings([(u, 100 + u, 3.0) for u in (9, 4, 7, 1)])
    ct = crosstab(data, 2, 2)
    assert ct.user_ids == [1, 4] and ct.movie_ids == [101, 104]


def test_synthetic_default_is_deterministic_and_labelled():
    a, b = synthetic_ratings(), synthetic_ratings()
    assert a.ratings.equals(b.ratings) and a.titles.equals(b.titles)
    assert a.synthetic and "synthetic" in a.source
    assert all("[synthetic]" in t for t in a.titles)
    r = a.ratings.rating
    assert r.between(0.5, 5).all() and ((r * 2) % 1 == 0).all()
    assert not dedupe(a.ratings).duplicated(["userId", "movieId"]).any()
    assert synthetic_ratings(seed=1).ratings.rating.tolist() != r.tolist()
    ct = crosstab(a)
    assert (~np.isnan(ct.matrix)).sum() > 100  # dense enough to teach with


# --- bad input: one clear line naming the file and the problem ---------------------------------

BAD_FILES = [
    pytest.param("ratings.csv", "user,movie,stars\n1,2,3\n", r"missing column\(s\) 'userId', 'movieId', 'rating'", id="missing-columns"),
    pytest.param("ratings.csv", "userId,movieId,rating\n1,2,3\n1,3,five\n", r"'rating' must be a number; line 3: 'five'", id="non-numeric"),
    pytest.param("ratings.csv", "userId,movieId,rating\n1,2,3\n1,3,7\n1,4,0\n", r"must be in \[0.5, 5.0\]; line 3: '7', line 4: '0'", id="out-of-range"),
    pytest.param("ratings.csv", "", "the file is empty", id="empty"),
    pytest.param("ratings.csv", "userId,movieId,rating\n", "no data rows", id="header-only"),
    pytest.param("ratings.json", '{"a": 1}', "unknown layout", id="unknown-layout"),
    pytest.param("u.data", "1\t2\n", "expected tab-separated", id="100k-too-few-columns"),
    pytest.param("u.data", "1\t2\t9\t5\n", r"must be in \[0.5, 5.0\]; line 1: '9'", id="100k-out-of-range"),
    pytest.param("ratings.csv", "userId,movieId,rating\n9223372036854775807,1,3\n9223372036854775808,1,3\n",
                 r"'userId' holds a number beyond 64-bit integers, refused rather than altered; line 3: '9223372036854775808'",
                 id="id-past-int64"),
    pytest.param("ratings.csv", "userId,movieId,rating\n1,1e30,3\n", r"'movieId' must hold whole numbers; line 2: '1e30'",
                 id="id-past-float-precision"),
    pytest.param("ratings.csv", "userId,movieId,rating\n1,2.5,3\n", r"'movieId' must hold whole numbers; line 2: '2.5'",
                 id="fractional-id"),
    pytest.param("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3,100\n1,3,4,noon\n",
                 r"'timestamp' must hold whole numbers; line 3: 'noon'", id="text-timestamp"),
    pytest.param("ratings.csv", "userId,movieId,rating\n1,2," + "9" * 5_000_000 + "\n",
                 r"'rating' must be a number; line 2: '9{30,}\.\.\.$", id="huge-field-quoted-short"),
]


@pytest.mark.parametrize("name, text, message", BAD_FILES)
def test_bad_ratings_files(tmp_path, name, text, message):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(XlbridgeInputError, match=message) as e:
        load_ratings(f)
    assert str(f) in str(e.value) and "\n" not in str(e.value)


def test_ids_are_exact_whatever_their_spelling(tmp_path):
    f = tmp_path / "ratings.csv"
    big = 2**62 + 1                            # not a float64: a float round trip would change it
    f.write_text(f"userId,movieId,rating,timestamp\n{big},1.0,3,5\n{big + 1},2e3,4,6\n")
    r = load_ratings(f).ratings
    assert r["userId"].tolist() == [big, big + 1]            # two users stay two users
    assert r["movieId"].tolist() == [1, 2000] and r["userId"].dtype == np.int64


def test_fast_and_checked_readers_agree_on_real_data(tmp_path):
    """The typed fast path and the line-checking text path read the same numbers."""
    from xlbridge.data import _check_latest, _read_typed

    path = shared_path("data", "ml-latest-small", "ratings.csv")
    fast, checked = _read_typed(path), _check_latest(path)
    assert fast is not None and len(fast) == 100_836
    pd.testing.assert_frame_equal(fast, checked, check_dtype=True)


def test_bad_row_list_is_cut_short(tmp_path):
    f = tmp_path / "ratings.csv"
    f.write_text("userId,movieId,rating\n" + "".join(f"1,{m},9\n" for m in range(20)))
    with pytest.raises(XlbridgeInputError, match=r"line 6: '9' \(and 15 more\)"):
        load_ratings(f)


def test_folder_without_ratings_is_unknown_layout(tmp_path):
    with pytest.raises(XlbridgeInputError, match="unknown layout"):
        load_ratings(tmp_path)


def test_fewer_users_than_n(small_ratings):
    with pytest.raises(XlbridgeInputError, match=r"needs 15 users and 15 movies; the data has 6 users and 5 movies"):
        crosstab(small_ratings, 15, 15)
