"""Every workbook xlbridge writes carries the computed value of every formula cell, equal to
LibreOffice's recalculation, so a viewer that does not recalculate shows the lesson's numbers."""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import REPO, formula_blocks
from xlbridge.engine import recalculate_many
from xlbridge.workbooks import WORKBOOKS, registry_entry

pytestmark = pytest.mark.libreoffice


@pytest.fixture(scope="module")
def built():
    """The committed workbooks: what `xlbridge build` writes, byte for byte (tests/test_workbooks.py
    builds each afresh and compares), recalculated in one LibreOffice run."""
    paths = [REPO / "workbooks" / spec.filename for spec in WORKBOOKS]
    return paths, recalculate_many(paths)


def _close(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return (a if a is not None else "") == (b if b is not None else "")


@pytest.mark.parametrize("index", range(len(WORKBOOKS)), ids=[s.filename for s in WORKBOOKS])
def test_cached_values_equal_libreoffices(built, index):
    """openpyxl(data_only=True) reads the values the file stores; LibreOffice recalculates.
    Every formula cell lies in an output, loss or label name (tests/test_coverage.py), so
    comparing those names compares every formula cell."""
    paths, books = built
    path, book = paths[index], books[index]
    contract = registry_entry(book.kind).contract
    stored = openpyxl.load_workbook(path, data_only=True)
    checked = 0
    for ws, name, rows in formula_blocks(stored, contract):
        cached = [[c.value for c in row] for row in rows]
        fresh = book.raw(name, ws.title)
        for r1, r2 in zip(cached, fresh):
            for a, b in zip(r1, r2):
                assert a is not None or b in (None, ""), (ws.title, name, "no cached value")
                assert _close(a, b), (ws.title, name, a, b)
                checked += 1
    assert checked > 1000


def test_pandas_sees_the_numbers_without_recalculating(built):
    paths, _ = built
    collab = pd.read_excel(paths[0], sheet_name="dotprod", header=None)
    assert collab.notna().to_numpy().sum() > 400          # predictions, ids, factors: all there
    graddesc = pd.read_excel(paths[2], sheet_name="adam", header=None)
    new_a = pd.to_numeric(graddesc.iloc[3:, 16], errors="coerce")       # column Q: new a of every step
    assert new_a.notna().sum() == 300 and np.isfinite(new_a).all()


def test_a_workbook_too_big_for_the_formula_engine_is_still_built(tmp_path, monkeypatch, small_ratings):
    """Past the formula engine's limits the workbook is written all the same, without computed
    values (a warning says so), and asks the spreadsheet to recalculate on opening."""
    from xlbridge.builders.collab import CollabConfig, build_collab
    from xlbridge.calc import reader
    from xlbridge.errors import XlbridgeWarning

    monkeypatch.setattr(reader, "MAX_SHEET_BYTES", 20_000)     # as if every sheet were huge
    with pytest.warns(XlbridgeWarning, match="written without computed values"):
        path = build_collab(small_ratings, tmp_path / "big.xlsx", CollabConfig(n_users=5, n_movies=5, n_factors=2))
    assert [p.name for p in tmp_path.iterdir()] == ["big.xlsx"]      # no temporary file left
    wb = openpyxl.load_workbook(path)
    assert wb.calculation.fullCalcOnLoad
    assert isinstance(wb["dotprod"].defined_names["rmse"].attr_text, str)
    stored = openpyxl.load_workbook(path, data_only=True)
    (_, coord), = stored["dotprod"].defined_names["rmse"].destinations
    assert stored["dotprod"][coord.replace("$", "")].value is None      # no value pretending to be computed
