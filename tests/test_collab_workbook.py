"""The collaborative-filtering workbook: structure, Solver models, styling, text safety, and
parity with models/collab.py after a real LibreOffice recalculation."""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pytest
from conftest import REPO, SHARED, make_ratings, workbook_content

from xlbridge.contracts import collab as N
from xlbridge.builders.collab import CollabConfig, build_collab
from xlbridge.data import load_ratings, synthetic_ratings
from xlbridge.engine import recalculate_many
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity import check_book

GRID_SHEETS = ["dotprod", "bias", "bias_sigmoid"]
XMLNS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
LOOKUP_SHEET = "embedding lookup"


def _names(ws):
    return {n: dn.attr_text for n, dn in ws.defined_names.items()}


def _shape(wb, ref):
    (title, coord), = openpyxl.workbook.defined_name.DefinedName("x", attr_text=ref).destinations
    cells = wb[title][coord.replace("$", "")]
    if not isinstance(cells, tuple):
        return (1, 1)
    if not isinstance(cells[0], tuple):
        return (1, len(cells)) if cells[0].row == cells[-1].row else (len(cells), 1)
    return (len(cells), len(cells[0]))


@pytest.fixture(scope="module")
def default_book(tmp_path_factory):
    path = tmp_path_factory.mktemp("wb") / "collab_filter.xlsx"
    return build_collab(synthetic_ratings(), path)


# --- structure -----------------------------------------------------------------------------------

def test_sheets_names_and_shapes(default_book):
    wb = openpyxl.load_workbook(default_book)
    assert wb.sheetnames == ["intro", "crosstab", *GRID_SHEETS, LOOKUP_SHEET]
    U = M = 15
    K = 5
    dims = {"U": U, "M": M, "K": K, "N": None, "1": 1, "2": 2}
    for sheet, registry in [("crosstab", N.CROSSTAB), ("dotprod", N.GRID), ("bias", N.GRID),
                            ("bias_sigmoid", N.GRID), (LOOKUP_SHEET, N.LOOKUP)]:
        names = _names(wb[sheet])
        for entry in registry.names:
            sigmoid_only = entry.name in ("y_range", "y_low", "y_high")
            optional = (sheet == "dotprod" and (entry.name in ("user_bias", "movie_bias") or sigmoid_only)) or \
                       (sheet in ("bias", LOOKUP_SHEET) and sigmoid_only)
            if optional:
                assert entry.name not in names, (sheet, entry.name)
                continue
            assert entry.name in names, (sheet, entry.name)
            rows, cols = (dims[d.strip()] for d in entry.shape.split("x"))
            got = _shape(wb, names[entry.name])
            if rows is not None:
                assert got[0] == rows, (sheet, entry.name, got)
            assert got[1] == cols, (sheet, entry.name, got)
    # the workbook says what it is, hidden from the user
    assert wb.defined_names["xlbridge_kind"].attr_text == '"collab"'


def test_solver_models_as_excel_stores_them(default_book):
    wb = openpyxl.load_workbook(default_book)
    for sheet in [*GRID_SHEETS, LOOKUP_SHEET]:
        ws = wb[sheet]
        dn = ws.defined_names
        assert all(dn[k].hidden for k in dn if k.startswith("solver_"))
        loss = "mse" if sheet == LOOKUP_SHEET else "rmse"
        assert dn["solver_opt"].attr_text == dn[loss].attr_text
        assert dn["solver_typ"].attr_text == "2" and dn["solver_eng"].attr_text == "1"
        changing = set(dn["solver_adj"].attr_text.split(","))
        params = {"user_factors", "movie_factors"} | ({"user_bias", "movie_bias"} if sheet != "dotprod" else set())
        if sheet == LOOKUP_SHEET:  # the lookup tables: factors and bias side by side, one range per table
            assert len(changing) == 2
        else:
            assert changing == {dn[p].attr_text for p in params}
    # the XML carries localSheetId + hidden on each, which is what Excel's Solver dialog reads
    root = ElementTree.fromstring(zipfile.ZipFile(default_book).read("xl/workbook.xml"))
    sheet_ids = {ws: i for i, ws in enumerate(wb.sheetnames)}
    opts = [e for e in root.iter(f"{XMLNS}definedName") if e.get("name") == "solver_opt"]
    assert sorted(int(e.get("localSheetId")) for e in opts) == sorted(sheet_ids[s] for s in [*GRID_SHEETS, LOOKUP_SHEET])
    assert all(e.get("hidden") in ("1", "true") for e in opts)


def test_styles_frozen_headers_notes(default_book):
    wb = openpyxl.load_workbook(default_book)
    ws = wb["dotprod"]
    fill = lambda name: ws[ws.defined_names[name].attr_text.split("!")[1].split(":")[0].replace("$", "")].fill.fgColor.rgb  # noqa: E731
    # the course sheets' colours: parameters orange, data blue, outputs green
    assert fill("user_factors").endswith("F8CBAD")
    assert fill("ratings").endswith("BDD7EE")
    assert fill("predictions").endswith("C6EFCE")
    assert ws.freeze_panes is not None
    assert any(c.comment for row in ws.iter_rows() for c in row)
    intro = wb["intro"]
    text = " ".join(str(c.value) for row in intro.iter_rows() for c in row if c.value)
    for must in ("SYNTHETIC", "Solver", "xlbridge check", "dotprod", "embedding lookup", "Name Manager"):
        assert must in text


def test_build_is_deterministic(tmp_path, default_book):
    again = build_collab(synthetic_ratings(), tmp_path / "again.xlsx")
    assert workbook_content(again) == workbook_content(default_book)


def test_prediction_formulas_mirror_the_model(default_book):
    wb = openpyxl.load_workbook(default_book)
    first = lambda s: wb[s][wb[s].defined_names["predictions"].attr_text.split("!")[1].split(":")[0].replace("$", "")].value  # noqa: E731
    assert first("dotprod").startswith('=IF(') and "MMULT(" in first("dotprod")
    assert first("bias").count("+") == 2
    assert first("bias_sigmoid").startswith('=IF(') and "y_low+(y_high-y_low)/(1+EXP(-(" in first("bias_sigmoid")
    lookup = wb[LOOKUP_SHEET]
    formulas = [c.value for row in lookup.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert any("INDEX(user_factors,MATCH(" in f for f in formulas)
    assert not any(v in f for f in formulas for v in ("OFFSET(", "RAND(", "RANDBETWEEN(", "INDIRECT("))


# --- nothing lost --------------------------------------------------------------------------------

def test_bad_config_writes_nothing_and_keeps_old_file(tmp_path):
    target = tmp_path / "collab_filter.xlsx"
    target.write_bytes(b"previous contents")
    with pytest.raises(XlbridgeInputError, match=r"n_factors must be an integer in \[1, 50\]; got 0"):
        build_collab(synthetic_ratings(), target, CollabConfig(n_factors=0))
    with pytest.raises(XlbridgeInputError, match="needs 100 users"):
        build_collab(synthetic_ratings(), target, CollabConfig(n_users=100))
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["collab_filter.xlsx"]


# --- parity in the real engine -------------------------------------------------------------------

TRICKY_TITLES = {10: "=1+1", 11: "+44 Minutes", 12: "-Dash-", 13: "@home", 14: '=HYPERLINK("http://x","y")'}


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory, default_book):
    """Several workbooks recalculated in one LibreOffice start: the default, random starts
    with other sizes, tricky titles, real MovieLens, a tampered copy, the committed file."""
    d = tmp_path_factory.mktemp("parity")
    rng = np.random.default_rng(3)
    rows = [(u, m, float(rng.integers(1, 11)) / 2) for u in range(1, 9) for m in range(10, 17) if rng.uniform() < 0.7]
    books = {
        "default": default_book,
        "random-7x6x3": build_collab(make_ratings(rows), d / "r1.xlsx",
                                     CollabConfig(n_users=7, n_movies=6, n_factors=3, seed=11, init_high=3.0, bias_scale=2.0,
                                                  y_low=-1.0, y_high=6.0)),
        "random-8x7x1": build_collab(make_ratings(rows, titles=TRICKY_TITLES | {15: "x", 16: "y"}), d / "r2.xlsx",
                                     CollabConfig(n_users=8, n_movies=7, n_factors=1, seed=12)),
    }
    tampered = d / "tampered.xlsx"
    wb = openpyxl.load_workbook(default_book)
    ws = wb["bias"]
    cell = ws[ws.defined_names["predictions"].attr_text.split("!")[1].split(":")[0].replace("$", "")]
    cell.value = cell.value[:-1] + "+0.000001)"    # a one-in-a-million slip in one cell
    wb.save(tampered)
    books["tampered"] = tampered
    if (SHARED / "data" / "ml-latest-small").exists():
        books["ml-latest-small"] = build_collab(load_ratings(SHARED / "data" / "ml-latest-small"), d / "ml.xlsx")
    books["committed"] = REPO / "workbooks" / "collab_filter.xlsx"  # must be in the repository
    return dict(zip(books, recalculate_many(list(books.values()), d / "out")))


@pytest.mark.libreoffice
@pytest.mark.parametrize("which", ["default", "random-7x6x3", "random-8x7x1", "ml-latest-small", "committed"])
def test_every_checked_cell_matches_pytorch(recalculated, which):
    if which not in recalculated:
        pytest.skip(f"{which} workbook not available: ../shared/data/ml-latest-small is absent")
    results = check_book(recalculated[which])
    sheets = {c.sheet for c in results}
    assert sheets == {*GRID_SHEETS, LOOKUP_SHEET}
    for c in results:
        assert c.cells > 0 and c.max_diff <= 1e-9, c
    # every crosstab cell of every grid sheet was compared, plus the loss cells
    book = recalculated[which]
    U, M = book.values("ratings", "crosstab").shape
    for s in GRID_SHEETS:
        assert next(c for c in results if (c.sheet, c.quantity) == (s, "predictions")).cells == U * M


@pytest.mark.libreoffice
def test_losses_are_real_numbers_with_the_expected_size(recalculated):
    book = recalculated["default"]
    # start values are uniform [0, 1) factors: RMSE must be a few stars, not 0 and not NaN
    for s in GRID_SHEETS:
        assert 0.3 < book.value("rmse", s) < 5
    rated = ~np.isnan(book.values("ratings", "dotprod"))
    assert np.all(book.values("predictions", "dotprod")[~rated] == 0)
    assert book.value("mse", LOOKUP_SHEET) == pytest.approx(book.value("rmse", LOOKUP_SHEET) ** 2, rel=1e-12)


@pytest.mark.libreoffice
def test_a_slip_in_one_cell_is_caught(recalculated):
    results = check_book(recalculated["tampered"])
    bad = [c for c in results if not c.passed]
    assert ("bias", "predictions") in {(c.sheet, c.quantity) for c in bad}
    assert {c.sheet for c in bad} == {"bias"}
    assert next(c for c in bad if c.quantity == "predictions").max_diff == pytest.approx(1e-6, rel=1e-6)


@pytest.mark.libreoffice
def test_titles_stay_text_after_recalculation(recalculated):
    book = recalculated["random-8x7x1"]
    wb = book.wb
    titles = [c.value for c in wb["crosstab"][4][1:8]]
    for title in TRICKY_TITLES.values():
        assert title in titles
    row = [c.value for c in wb["dotprod"][6] if c.value is not None]
    assert "=1+1" in row and "2" not in [str(v) for v in row]
