"""Every formula cell proven: the name contracts, coverage, and mutations that parity must catch.

The workbooks are built small (a 6 x 5 crosstab, one epoch of the line fit) so that every
mutated copy can be recalculated in one LibreOffice batch.
"""

from __future__ import annotations

import random
import re
import zipfile
from xml.sax.saxutils import escape

import numpy as np
import openpyxl
import pytest

from conftest import formula_blocks
from xlbridge.builders.char_rnn import CharRnnConfig, build_char_rnn
from xlbridge.builders.collab import CollabConfig, build_collab
from xlbridge.builders.graddesc import GraddescConfig, build_graddesc
from xlbridge.calc.reader import SafeZip, read_parts
from xlbridge.contracts import SHEET_KIND
from xlbridge.coverage import coverage
from xlbridge.engine import recalculate_many
from xlbridge.parity import check_book
from xlbridge.workbooks import WORKBOOKS, registry_entry

pytestmark = pytest.mark.libreoffice


@pytest.fixture(scope="module")
def built(tmp_path_factory, request):
    """Small workbooks of every kind, including a trained DotProductBias and a trained CollabNN."""
    from conftest import make_ratings

    from xlbridge.collab_training import FitConfig, fit_collab, load_collab_model

    tmp = tmp_path_factory.mktemp("cov")
    rng = np.random.default_rng(3)
    ratings = make_ratings([(u, m, float(rng.integers(1, 11)) / 2) for u in range(1, 13) for m in range(1, 10)
                            if rng.uniform() < 0.85])
    paths = {
        "collab": build_collab(ratings, tmp / "collab.xlsx", CollabConfig(n_users=6, n_movies=5, n_factors=3)),
        "char_rnn": build_char_rnn(tmp / "char_rnn.xlsx", CharRnnConfig(epochs=0, n_hidden=4, n_fac=3, n_sequences=2)),
        "graddesc": build_graddesc(tmp / "graddesc.xlsx", GraddescConfig(n_points=8, epochs=2)),
    }
    for model in ("DotProductBias", "CollabNN"):
        fit_collab(ratings, FitConfig(model=model, epochs=1, bs=16, factors=3), tmp / f"{model}.pt")
        paths[model] = build_collab(ratings, tmp / f"{model}.xlsx", CollabConfig(n_users=6, n_movies=5, nn_rows=6),
                                    load_collab_model(tmp / f"{model}.pt"))
    books = dict(zip(paths, recalculate_many(list(paths.values()))))
    return paths, books


def _sheet_names(path):
    """{sheet title: (its kind, its sheet-scoped defined names)} as the file stores them."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        names = set(ws.defined_names)
        kind = ws.defined_names[SHEET_KIND].attr_text.strip('"') if SHEET_KIND in names else None
        out[ws.title] = (kind, {n for n in names if not n.startswith(("solver_", "xlbridge_"))})
    return out, set(wb.defined_names) - {"xlbridge_kind", "xlbridge_fingerprint"}


@pytest.mark.parametrize("which", ["collab", "char_rnn", "graddesc", "DotProductBias", "CollabNN"])
def test_workbooks_carry_exactly_their_contracts_names(built, which):
    paths, books = built
    contract = registry_entry(books[which].kind).contract
    sheets, workbook_names = _sheet_names(paths[which])
    assert workbook_names == {n.name for n in contract.names}
    for title, (kind, names) in sheets.items():
        if kind is None:
            assert not names, title               # the intro: no names
            continue
        declared = contract.sheet(kind)
        assert names <= {n.name for n in declared.names}, (title, names - {n.name for n in declared.names})
        required = {n.name for n in declared.names if not n.optional}
        assert required <= names, (title, required - names)


@pytest.mark.parametrize("which", ["collab", "char_rnn", "graddesc", "DotProductBias", "CollabNN"])
def test_every_formula_cell_is_compared_or_checked(built, which):
    paths, books = built
    results = check_book(books[which])
    assert all(c.passed for c in results), [c for c in results if not c.passed]
    sheets = coverage(paths[which], results)
    assert sheets and all(s.formulas > 0 for s in sheets)
    assert {s.sheet: s.n_unchecked for s in sheets} == {s.sheet: 0 for s in sheets}
    assert sum(s.compared for s in sheets) > 0


def _mutate(formula: str, is_text: bool) -> str:
    """A small change any honest check must see: 1e-6 relative plus 1e-6 on a number, one more
    character on a text."""
    body = formula[1:]
    return f'=({body})&"?"' if is_text else f"=({body})*(1+1E-6)+1E-6"


def _with_formulas(path, changes: dict, copy) -> None:
    """A copy of the workbook at `path` with some cells' formulas replaced: {(sheet part, cell
    reference): formula}. The sheet XML is patched where the cell's <f> is, every other byte is
    kept (a load and save through openpyxl would cost a third of a second a copy)."""
    by_part = {}
    for (part, ref), formula in changes.items():
        by_part.setdefault(part, {})[ref] = formula
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename in by_part:
                xml = data.decode("utf-8")
                for ref, formula in by_part[info.filename].items():
                    cell = re.compile(rf'(<c r="{ref}"[^>]*>)<f>[^<]*</f>')
                    assert len(cell.findall(xml)) == 1, (info.filename, ref)
                    xml = cell.sub(lambda m: m.group(1) + "<f>" + escape(formula[1:]) + "</f>", xml)
                data = xml.encode("utf-8")
            dst.writestr(info, data)


def test_parity_catches_a_change_in_any_block_of_any_sheet(built, tmp_path):
    """One mutated formula cell in every output, loss and label block of every sheet, a sheet's
    blocks spread over several copies (one change per sheet and copy, so each copy says which
    sheet failed); every change must make that sheet's check fail."""
    paths, books = built
    rng = random.Random(0)
    copies, expected = [], []
    for which, path in paths.items():
        contract = registry_entry(books[which].kind).contract
        wb = openpyxl.load_workbook(path)
        z = SafeZip(path)
        try:
            parts = read_parts(z)[1]    # sheet title -> its XML part
        finally:
            z.close()
        plan = {}      # sheet -> [(name, cell)]
        for ws, name, rows in formula_blocks(wb, contract):
            cells = [c for row in rows for c in row]
            formulas = [c for c in cells if isinstance(c.value, str) and c.value.startswith("=")]
            if formulas:
                plan.setdefault(ws.title, []).append((name, rng.choice(formulas)))
        recalculated = books[which]
        for k in range(max(len(v) for v in plan.values())):
            changes, changed = {}, {}
            for title, items in plan.items():
                if k < len(items):
                    name, cell = items[k]
                    value = recalculated.cell(title, cell.row, cell.column)
                    changes[(parts[title], cell.coordinate)] = _mutate(cell.value, isinstance(value, str))
                    changed[title] = f"{name} at {cell.coordinate}"
            copy = tmp_path / f"{which}-{k}.xlsx"
            _with_formulas(path, changes, copy)
            copies.append(copy)
            expected.append(changed)
    for book, changed, copy in zip(recalculate_many(copies), expected, copies):
        failed = {c.sheet for c in check_book(book) if not c.passed}
        for title, what in changed.items():
            assert title in failed, f"{copy.name}: sheet '{title}': changing {what} went unnoticed"
