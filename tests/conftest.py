"""Shared fixtures: real data from ../shared, small ratings tables, the LibreOffice marker."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xlbridge.contracts import FORMULA_ROLES, SHEET_KIND
from xlbridge.data import Ratings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` need a GPU and skip with that reason without one. Tests marked
    `libreoffice` need soffice. Where it is missing they skip with that reason, except under
    XLBRIDGE_REQUIRE_LIBREOFFICE=1 (CI), where a missing engine fails."""
    import torch

    if not torch.cuda.is_available():
        no_gpu = pytest.mark.skip(reason="no CUDA device: torch.cuda.is_available() is False on this machine")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(no_gpu)
    if shutil.which("soffice") or shutil.which("libreoffice") or os.environ.get("XLBRIDGE_SOFFICE"):
        return
    if os.environ.get("XLBRIDGE_REQUIRE_LIBREOFFICE") == "1":
        return  # let them run and fail loudly
    skip = pytest.mark.skip(reason="LibreOffice (soffice) not found: install libreoffice-calc-nogui")
    for item in items:
        if "libreoffice" in item.keywords:
            item.add_marker(skip)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with a reason naming what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads (and LibreOffice's kept profile) land in a per-test cache, never in the user's,
    and not in the test's own folder, which some tests list."""
    monkeypatch.setenv("XLBRIDGE_CACHE", str(tmp_path_factory.mktemp("cache")))


def make_ratings(rows, titles=None, source="test ratings") -> Ratings:
    """A Ratings table from (user, movie, rating) triples, for small hand-made cases."""
    df = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    df["timestamp"] = np.arange(len(df), dtype="int64")
    df = df.astype({"userId": "int64", "movieId": "int64", "rating": "float64"})
    titles = pd.Series(titles or {m: f"Movie {m}" for m in df.movieId.unique()})
    return Ratings(df, titles, source)


def workbook_content(path):
    """Every cell's value or formula and every sheet-scoped name, for comparing two builds."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    cells = [(ws.title, c.coordinate, c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    names = sorted((ws.title, n, d.attr_text) for ws in wb for n, d in ws.defined_names.items())
    return cells, names


@pytest.fixture
def small_ratings() -> Ratings:
    """6 users x 5 movies, most pairs rated, deterministic."""
    rng = np.random.default_rng(7)
    rows = [(u, m, float(rng.integers(1, 11)) / 2) for u in range(1, 7) for m in range(10, 15)
            if rng.uniform() < 0.8]
    return make_ratings(rows)


def tampered_copy(src, dst, sheet: str, name: str = "rmse"):
    """A copy of a built workbook whose formula in `name` on `sheet` is off by 1%: a mismatch."""
    import openpyxl

    wb = openpyxl.load_workbook(src)
    ws = wb[sheet]
    coord = ws.defined_names[name].attr_text.split("!")[1].replace("$", "")
    ws[coord] = ws[coord].value + "*1.01"
    wb.save(dst)
    return dst


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train faster on one thread, and do not stall on a busy machine."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def formula_blocks(wb, contract):
    """(worksheet, name, rows of cells) of every formula block (outputs, losses, labels) that the
    name contract declares on the sheets of an openpyxl workbook."""
    for ws in wb.worksheets:
        if SHEET_KIND not in ws.defined_names:
            continue
        kind = ws.defined_names[SHEET_KIND].attr_text.strip('"')
        for name in contract.sheet(kind).with_role(*FORMULA_ROLES):
            if name not in ws.defined_names:
                continue
            (_, coord), = ws.defined_names[name].destinations
            got = ws[coord.replace("$", "")]
            if not isinstance(got, tuple):
                rows = [[got]]
            elif isinstance(got[0], tuple):
                rows = [list(r) for r in got]
            else:       # one row or one column: openpyxl gives a flat tuple
                rows = [list(got)] if ":" in coord and got[0].row == got[-1].row else [[c] for c in got]
            yield ws, name, rows
