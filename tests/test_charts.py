"""The workbooks' charts point at the cells the lesson is about, and LibreOffice keeps them.

A chart is read from the file itself (sheet -> drawing -> chart parts), and each series'
references are compared with the defined names of the name contract, so a chart that plots
the wrong column, or one dropped by a later step of the build, fails here.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import openpyxl
import pytest

from xlbridge.builders.collab import SHEETS as COLLAB_SHEETS
from xlbridge.builders.graddesc import SHEETS as OPTIMIZER_SHEETS

WORKBOOKS = Path(__file__).resolve().parents[1] / "workbooks"
C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _rels(z: zipfile.ZipFile, part: str) -> dict[str, str]:
    """Relationship id -> target part of `part`."""
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels not in z.namelist():
        return {}
    return {r.get("Id"): posixpath.normpath(posixpath.join(folder, r.get("Target"))).lstrip("/")
            for r in ET.fromstring(z.read(rels)).iter(REL)}


def charts_by_sheet(path: Path) -> dict[str, list[dict]]:
    """Sheet title -> its charts, each {"title", "series": [{"title", "x", "y"}]} (formula text)."""
    with zipfile.ZipFile(path) as z:
        book = ET.fromstring(z.read("xl/workbook.xml"))
        book_rels = _rels(z, "xl/workbook.xml")
        out = {}
        for sheet in book.iter(f"{MAIN}sheet"):
            part = book_rels[sheet.get(R_ID)]
            charts = []
            for drawing in (t for t in _rels(z, part).values() if "/drawings/drawing" in t):
                for target in _rels(z, drawing).values():
                    if "/charts/" in target:
                        charts.append(_chart(ET.fromstring(z.read(target))))
            out[sheet.get("name")] = charts
        return out


def _chart(root) -> dict:
    def text(el, path):
        found = el.find(path)
        return None if found is None else "".join(found.itertext())
    series = [{"title": text(s, f"{C}tx"),
               "x": text(s, f"{C}cat/{C}numRef/{C}f") or text(s, f"{C}xVal/{C}numRef/{C}f"),
               "y": text(s, f"{C}val/{C}numRef/{C}f") or text(s, f"{C}yVal/{C}numRef/{C}f")}
              for s in root.iter(f"{C}ser")]
    return {"title": text(root, f"{C}chart/{C}title"), "series": series}


def _name(wb, sheet: str, name: str) -> str:
    return wb[sheet].defined_names[name].attr_text


def _same(a: str, b: str) -> bool:
    return a.replace("'", "").replace("$", "") == b.replace("'", "").replace("$", "")


def _plain(series: dict) -> tuple[str, str]:
    """A series' (x, y) references without quotes and dollars (LibreOffice quotes every sheet)."""
    return tuple((series[k] or "").replace("'", "").replace("$", "") for k in ("x", "y"))


def test_graddesc_compares_every_optimizer_on_the_intro_sheet():
    path = WORKBOOKS / "graddesc.xlsx"
    wb = openpyxl.load_workbook(path)
    charts = charts_by_sheet(path)
    (compare,) = charts["intro"]
    assert [s["title"] for s in compare["series"]] == list(OPTIMIZER_SHEETS)
    for s, sheet in zip(compare["series"], OPTIMIZER_SHEETS):
        assert _same(s["y"], _name(wb, sheet, "epoch_loss")), (sheet, s["y"])
    for sheet in OPTIMIZER_SHEETS:                      # and each sheet charts its own loss
        (own,) = charts[sheet]
        assert _same(own["series"][0]["y"], _name(wb, sheet, "epoch_loss"))


def test_collab_lookup_plots_predictions_against_ratings():
    path = WORKBOOKS / "collab_filter.xlsx"
    wb = openpyxl.load_workbook(path)
    lookup = COLLAB_SHEETS["lookup"]
    (chart,) = charts_by_sheet(path)[lookup]
    (s,) = chart["series"]
    assert _same(s["x"], _name(wb, lookup, "rating"))
    assert _same(s["y"], _name(wb, lookup, "predictions"))


@pytest.mark.libreoffice
def test_libreoffice_keeps_the_charts(tmp_path):
    """LibreOffice reads the charts and writes them back with the same references."""
    from xlbridge.engine import soffice
    soffice.find_soffice()
    paths = [WORKBOOKS / "graddesc.xlsx", WORKBOOKS / "collab_filter.xlsx"]
    for original, converted in zip(paths, soffice.convert(paths, tmp_path, 300)):
        ours, theirs = charts_by_sheet(original), charts_by_sheet(converted)
        for sheet, charts in ours.items():
            refs = sorted(_plain(s) for c in charts for s in c["series"])
            got = sorted(_plain(s) for c in theirs[sheet] for s in c["series"])
            assert [y for _, y in got] == [y for _, y in refs], sheet
            assert all(x1 == x0 for (x0, _), (x1, _) in zip(refs, got) if x1), sheet   # categories may be dropped
