"""Titles from data come back exactly: through `build`, openpyxl and LibreOffice, every title of
the hostile corpus (tests/hostile_corpus.py) is read back as it was in movies.csv, or as the one
documented cut a cell forces, with a warning naming the movies.

The file is read here without xlbridge's helpers: the sheet XML parsed with ElementTree, its
`_xHHHH_` escapes decoded by the rule of ECMA-376 (ST_Xstring: HHHH is one UTF-16 code unit).
"""

from __future__ import annotations

import re
import zipfile
import xml.etree.ElementTree as ET

import openpyxl
import pytest
from typer.testing import CliRunner

from hostile_corpus import CUT, N_USERS, TITLES, expected_title, write_titles_dataset
from xlbridge.cli import app
from xlbridge.xlsx import escape_text, fit_text, set_text, unescape_text

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
      "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships"}
NAMES = list(TITLES)


def ooxml_decode(text: str) -> str:
    """ST_Xstring decoded: each `_xHHHH_` is the UTF-16 code unit HHHH; pairs of units rejoined."""
    units, i = [], 0
    while i < len(text):
        m = re.match(r"_x([0-9A-Fa-f]{4})_", text[i:i + 7])
        if m:
            units.append(int(m.group(1), 16))
            i += 7
        else:
            b = text[i].encode("utf-16-le", "surrogatepass")
            units += [int.from_bytes(b[k:k + 2], "little") for k in range(0, len(b), 2)]
            i += 1
    return b"".join(u.to_bytes(2, "little") for u in units).decode("utf-16-le", "surrogatepass")


def sheet_texts(path, sheet: str) -> dict[str, str]:
    """{'B4': text} for every text cell of `sheet`: shared and inline strings, decoded."""
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        book = ET.fromstring(z.read("xl/workbook.xml"))
        rid = next(s.get(f"{{{NS['r']}}}id") for s in book.iter(f"{{{NS['m']}}}sheet") if s.get("name") == sheet)
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        target = next(r.get("Target") for r in rels if r.get("Id") == rid).lstrip("/")
        part = target if target.startswith("xl/") else "xl/" + target
        shared = []
        if "xl/sharedStrings.xml" in names:
            for si in ET.fromstring(z.read("xl/sharedStrings.xml")).iter(f"{{{NS['m']}}}si"):
                shared.append("".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")))
        out = {}
        for c in ET.fromstring(z.read(part)).iter(f"{{{NS['m']}}}c"):
            kind = c.get("t")
            if kind == "s":
                out[c.get("r")] = ooxml_decode(shared[int(c.find("m:v", NS).text)])
            elif kind == "inlineStr":
                out[c.get("r")] = ooxml_decode("".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t")))
            elif kind == "str":
                out[c.get("r")] = ooxml_decode(c.find("m:v", NS).text or "")
    return out


def titles_by_movie(texts: dict[str, str], n: int) -> dict[int, str]:
    """The crosstab's titles (row 4) under its movie ids 1..n (row 3, columns B onwards)."""
    from openpyxl.utils import get_column_letter

    return {m: texts.get(f"{get_column_letter(1 + m)}4", "") for m in range(1, n + 1)}


def test_escape_is_exact_for_every_title():
    for name, title in TITLES.items():
        written = escape_text(title)
        assert ooxml_decode(written) == title == unescape_text(written), name
        assert not re.search("[\x00-\x08\x0b-\x1f\ufffe\uffff]", written), name   # XML 1.0 holds all of it


@pytest.mark.parametrize("name", CUT)
def test_the_cut_is_the_longest_prefix_a_cell_holds(name):
    kept = fit_text(TITLES[name])
    assert kept == expected_title(name)
    written = escape_text(kept)
    assert len(written.encode("utf-16-le")) // 2 <= 32_767
    longer = escape_text(TITLES[name][: len(kept) + 1])
    assert len(longer.encode("utf-16-le")) // 2 > 32_767


def test_set_text_refuses_more_than_a_cell_holds_naming_the_cell():
    ws = openpyxl.Workbook().active
    ws.title = "notes"
    with pytest.raises(ValueError, match=r"^sheet 'notes', cell C7: a text of 40,000 characters; a cell holds at most 32,767$"):
        set_text(ws["C7"], "L" * 40_000)
    set_text(ws["C8"], "#N/A")
    assert ws["C8"].data_type == "s"   # text, not Excel's error value


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The corpus' titles built into a collab workbook through the command line."""
    tmp = tmp_path_factory.mktemp("titles")
    data = write_titles_dataset(tmp / "data", list(TITLES.values()))
    result = CliRunner().invoke(app, ["build", "--ratings", str(data / "ratings.csv"), "--out", str(tmp / "out"),
                                      "--users", str(N_USERS), "--movies", str(len(TITLES)), "--factors", "2"])
    return tmp, result


def test_build_keeps_every_title_and_warns_of_the_cut_once(built):
    tmp, result = built
    assert result.exit_code == 0, result.output
    warnings = result.stderr.strip().splitlines()
    cut_ids = ", ".join(f"movieId {NAMES.index(n) + 1}" for n in CUT)
    assert warnings == [f"xlbridge: warning: {tmp / 'data' / 'movies.csv'}: 3 title(s) cut to the 32,767 characters "
                        f"a cell holds: {cut_ids}"]


def test_openpyxl_reads_back_every_title(built):
    tmp, _ = built
    book = tmp / "out" / "collab_filter.xlsx"
    wb = openpyxl.load_workbook(book)   # well-formed: openpyxl parses every part
    raw = {c.coordinate: c.value for row in wb["crosstab"].iter_rows(min_row=4, max_row=4) for c in row}
    got = titles_by_movie({k: ooxml_decode(v) for k, v in raw.items() if isinstance(v, str)}, len(TITLES))
    assert got == {NAMES.index(n) + 1: expected_title(n) for n in NAMES}
    assert titles_by_movie(sheet_texts(book, "crosstab"), len(TITLES)) == got
    assert wb["crosstab"]["B4"].data_type == "s" and wb["crosstab"].cell(4, 1 + NAMES.index("formula") + 1).quotePrefix


@pytest.mark.libreoffice
def test_libreoffice_reads_back_every_title(built):
    from xlbridge.engine import recalculate_files

    tmp, _ = built
    book = tmp / "out" / "collab_filter.xlsx"
    (lo,) = recalculate_files([book], tmp / "lo")
    got = titles_by_movie(sheet_texts(lo, "crosstab"), len(TITLES))
    # LibreOffice's cell text is made of paragraphs: it reads a CR next to a LF as one line break,
    # whatever the file holds (escaped or not; the file holds the CR, as Excel and openpyxl read it).
    # A lone CR survives.
    want = {NAMES.index(n) + 1: re.sub("\r\n|\n\r", "\n", expected_title(n)) for n in NAMES}
    assert got[NAMES.index("CRLF") + 1] == "one\ntwo" and got[NAMES.index("carriage return") + 1] == "one\rtwo"
    wrong = {NAMES[m - 1]: repr(got[m])[:40] for m in want if got[m] != want[m]}
    assert not wrong
    # every cell of the crosstab kept, not 7 of 58: each movie's ratings still under its title
    values = openpyxl.load_workbook(lo, data_only=True)["crosstab"]
    assert [values.cell(3, 1 + m).value for m in range(1, len(TITLES) + 1)] == list(range(1, len(TITLES) + 1))
    assert all(values.cell(5 + u, 1 + m).value is not None for u in range(N_USERS) for m in range(1, len(TITLES) + 1))


def test_ml_100k_titles_keep_form_feeds_and_separators(tmp_path):
    """u.item is split at line feeds only: \\x0c, \\x1c, \\x85 are characters of a title there."""
    titles = ["form\x0cfeed", "file\x1csep", "next\x85line", "cr\rinside", "plain", "vt\x0bx"]
    data = tmp_path / "ml"
    data.mkdir()
    (data / "u.data").write_text("".join(f"{u}\t{m}\t3\t{u * 10 + m}\n" for u in (1, 2) for m in range(1, 7)))
    (data / "u.item").write_bytes("".join(f"{m}|{t}|01-Jan-1995||x|0|1\n" for m, t in enumerate(titles, 1))
                                  .encode("latin-1"))
    from xlbridge.data import load_ratings

    loaded = load_ratings(data)
    assert [loaded.title(m) for m in range(1, 7)] == titles
