"""The char-RNN workbook: structure, build checks, and parity with models/char_rnn.py after a
real LibreOffice recalculation (trained weights, random weights with random characters,
characters changed by hand, and a deliberately wrong weight that must fail)."""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pytest
from conftest import SHARED

from xlbridge import text as T
from xlbridge.builders.char_rnn import SHEETS, CharRnnConfig, build_char_rnn
from xlbridge.text import glyph
from xlbridge.engine import recalculate_many
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity.char_rnn import check_char_rnn

MODEL_SHEETS = [SHEETS["char3"], SHEETS["loop"], SHEETS["concat"], SHEETS["rnn"]]
SMALL = dict(n_fac=4, n_hidden=6)  # for the extra workbooks: quick to build, same formulas


def _random_config(seed: int) -> CharRnnConfig:
    """Untrained (seeded random) weights and random characters from the whole vocabulary."""
    vocab = T.Vocab.from_text(T.load_default_text())
    rng = np.random.default_rng(seed)

    def chars(n):
        return "".join(rng.choice(list(vocab.chars[1:]), n))

    return CharRnnConfig(epochs=0, seed=seed, char3_text=chars(4), loop_text=chars(9),
                         sequences=(chars(9), chars(9)), n_sequences=2, **SMALL)


def _loop_forward(w: dict, x: list[int]) -> np.ndarray:
    """CharLoopModel written out in numpy: log-probabilities after the last character."""
    h = np.zeros(w["l_hidden_weight"].shape[0])
    for i in x:
        inp = np.maximum(0, w["l_in_weight"] @ w["embedding"][i] + w["l_in_bias"].ravel())
        h = np.tanh(w["l_hidden_weight"] @ (h + inp) + w["l_hidden_bias"].ravel())
    z = w["l_out_weight"] @ h + w["l_out_bias"].ravel()
    return z - z.max() - np.log(np.exp(z - z.max()).sum())


def _block(ws, name):
    """A name's cells (sheet scope first, then workbook scope), as written: formulas, not values."""
    dn = ws.defined_names.get(name) or ws.parent.defined_names[name]
    (title, coord), = dn.destinations
    cells = ws.parent[title][coord.replace("$", "")]
    return cells if isinstance(cells, tuple) else ((cells,),)


def _matrix(ws, name):
    return np.array([[c.value for c in row] for row in _block(ws, name)], dtype=float)


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory):
    """Every workbook the tests need: built, then edited with openpyxl as a user would."""
    d = tmp_path_factory.mktemp("char_rnn")
    paths = {"default": build_char_rnn(d / "char_rnn.xlsx")}
    for seed in (1, 2):
        paths[f"random{seed}"] = build_char_rnn(d / f"random{seed}.xlsx", _random_config(seed))

    # new characters typed on the char loop sheet: pick a window whose prediction differs
    wb = openpyxl.load_workbook(paths["default"])
    ws = wb[SHEETS["loop"]]
    vocab = T.Vocab(("\0", *(c.value for c, in _block(wb["vocab"], "vocab_chars")[1:])))
    w = {n: _matrix(ws, n) for n in ("embedding", "l_in_weight", "l_in_bias", "l_hidden_weight",
                                      "l_hidden_bias", "l_out_weight", "l_out_bias")}
    old = "".join(c.value for c, in _block(ws, "chars"))
    old_pred = int(np.argmax(_loop_forward(w, vocab.encode(old))))
    text = T.load_default_text()
    new = next(s for s in (text[i : i + 8] for i in range(0, 2000, 37))
               if int(np.argmax(_loop_forward(w, vocab.encode(s)))) != old_pred)
    for (c,), ch in zip(_block(ws, "chars"), new):
        c.value = ch
    wb.save(d / "typed.xlsx")
    paths["typed"] = d / "typed.xlsx"

    # a wrong weight in one formula: unit 1 of step 1 reads row 2 of l_hidden_weight
    wb = openpyxl.load_workbook(paths["default"])
    cell = _block(wb[SHEETS["loop"]], "hidden")[0][0]
    assert "INDEX(l_hidden_weight, 1, 0)" in cell.value
    cell.value = cell.value.replace("INDEX(l_hidden_weight, 1, 0)", "INDEX(l_hidden_weight, 2, 0)")
    wb.save(d / "wrong.xlsx")
    paths["wrong"] = d / "wrong.xlsx"

    # a character the vocabulary does not have
    wb = openpyxl.load_workbook(paths["random1"])
    _block(wb[SHEETS["char3"]], "chars")[1][0].value = "Ω"
    wb.save(d / "unknown.xlsx")
    paths["unknown"] = d / "unknown.xlsx"

    # a huge output bias for the padding character (index 0), so it is the prediction
    wb = openpyxl.load_workbook(paths["random2"])
    _block(wb[SHEETS["char3"]], "l_out_bias")[0][0].value = 100.0
    wb.save(d / "pad.xlsx")
    paths["pad"] = d / "pad.xlsx"

    return paths, {"old": old, "new": new, "old_pred": vocab.chars[old_pred]}


@pytest.fixture(scope="module")
def recalculated(workbooks):
    """The workbooks above recalculated in one LibreOffice run (only the engine tests ask for it)."""
    paths, chars = workbooks
    return paths, dict(zip(paths, recalculate_many(list(paths.values())))), chars


def _report(comparisons):
    return "\n".join(f"{c.sheet:10} {c.quantity:38} {c.cells:5} {c.max_diff:.3g} {c.passed}" for c in comparisons)


@pytest.mark.libreoffice
def test_default_workbook_matches_pytorch(recalculated):
    _, books, _ = recalculated
    comparisons = check_char_rnn(books["default"])
    assert all(c.passed for c in comparisons), _report(comparisons)
    assert {c.sheet for c in comparisons} == set(MODEL_SHEETS)
    quantities = {(c.sheet, c.quantity) for c in comparisons}
    for sheet in MODEL_SHEETS:
        assert (sheet, "probabilities") in quantities
        assert any(q.startswith("hidden states") for s, q in quantities if s == sheet)
    assert ("nn.RNN", "sequence loss") in quantities
    assert ("concat", "cat(h, e(c))") in quantities
    assert books["default"].kind == "char_rnn"


@pytest.mark.libreoffice
def test_trained_workbook_predicts_better_than_chance(recalculated):
    _, books, _ = recalculated
    book = books["default"]
    V = book.values("vocab_codes").shape[0]
    assert book.value("loss", "nn.RNN") < np.log(V) - 0.5
    probs = book.values("probs", "nn.RNN")
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.libreoffice
@pytest.mark.parametrize("which", ["random1", "random2"])
def test_random_weights_and_random_characters_match_pytorch(recalculated, which):
    paths, books, _ = recalculated
    comparisons = check_char_rnn(books[which])
    assert all(c.passed for c in comparisons), _report(comparisons)
    chars = "".join(v for v, in books[which].raw("chars", "char loop"))
    assert chars == _random_config(int(which[-1])).loop_text[:-1]


@pytest.mark.libreoffice
def test_typed_characters_change_the_prediction_and_still_match(recalculated):
    _, books, chars = recalculated
    book = books["typed"]
    assert "".join(v for v, in book.raw("chars", "char loop")) == chars["new"]
    assert book.raw("prediction", "char loop")[0][0] != chars["old_pred"]
    assert books["default"].raw("prediction", "char loop")[0][0] == chars["old_pred"]
    comparisons = check_char_rnn(book)
    assert all(c.passed for c in comparisons), _report(comparisons)


@pytest.mark.libreoffice
def test_a_wrong_weight_fails_the_check(recalculated):
    _, books, _ = recalculated
    comparisons = check_char_rnn(books["wrong"])
    failed = {(c.sheet, c.quantity) for c in comparisons if not c.passed}
    assert ("char loop", "hidden states") in failed
    assert ("char loop", "probabilities") in failed
    assert all(s == "char loop" for s, _ in failed)  # the other sheets are untouched
    hidden = next(c for c in comparisons if c.quantity == "hidden states" and c.sheet == "char loop")
    assert hidden.max_diff > 1e-3


@pytest.mark.libreoffice
def test_a_predicted_padding_character_is_empty_text_and_matches(recalculated):
    _, books, _ = recalculated
    assert books["pad"].raw("prediction", "char3")[0][0] in (None, "")  # not 0, not an error
    comparisons = check_char_rnn(books["pad"])
    assert all(c.passed for c in comparisons), _report(comparisons)


@pytest.mark.libreoffice
def test_a_character_outside_the_vocabulary_is_named(recalculated):
    _, books, _ = recalculated
    with pytest.raises(XlbridgeInputError, match=re.escape("sheet 'char3', chars row 2: 'Ω' is not a character")):
        check_char_rnn(books["unknown"])


def test_structure_names_colours_and_formulas(workbooks):
    paths, _ = workbooks
    wb = openpyxl.load_workbook(paths["default"])
    assert wb.sheetnames == ["intro", "vocab", *MODEL_SHEETS]
    assert wb.defined_names["xlbridge_kind"].attr_text == '"char_rnn"'
    for name in ("vocab_chars", "vocab_codes", "vocab_glyphs"):
        assert name in wb.defined_names
    loop_params = ["embedding", "l_in_weight", "l_in_bias", "l_hidden_weight", "l_hidden_bias", "l_out_weight", "l_out_bias"]
    rnn_params = ["embedding", "weight_ih", "bias_ih", "weight_hh", "bias_hh", "l_out_weight", "l_out_bias"]
    for sheet in MODEL_SHEETS:
        params = rnn_params if sheet == SHEETS["rnn"] else loop_params
        ws = wb[sheet]
        for name in params:
            for row in _block(ws, name):
                for c in row:
                    assert isinstance(c.value, (int, float)) and c.fill.fgColor.rgb.endswith("F8CBAD")  # orange
        for (c,) in _block(ws, "chars"):
            assert c.data_type == "s" and c.fill.fgColor.rgb.endswith("BDD7EE")  # blue
        for name in ("hidden", "probs", "prediction", "loss"):
            assert all(str(c.value).startswith("=") for row in _block(ws, name) for c in row)
        formulas = " ".join(str(c.value) for row in ws.iter_rows() for c in row if str(c.value).startswith("="))
        assert not re.search(r"\b(OFFSET|INDIRECT|RAND|RANDBETWEEN|NOW|TODAY)\(", formulas)
        assert "INDEX(embedding" in formulas and "MATCH(_xlfn.UNICODE(" in formulas
    concat = wb[SHEETS["concat"]]
    assert _matrix(concat, "l_in_weight").shape == (8, 8 + 5)  # l_in reads cat(h, x)
    cat, hidden = _block(concat, "concat"), _block(concat, "hidden")
    assert cat[1][0].value == f"={hidden[0][0].coordinate}"  # step 2 starts from step 1's h
    rnn = wb[SHEETS["rnn"]]
    assert "SUMPRODUCT(INDEX(weight_hh, 1, 0)" in _block(rnn, "hidden")[1][0].value
    V = len(_block(wb["vocab"], "vocab_codes"))
    assert _matrix(rnn, "l_out_weight").shape == (V, 8) and _matrix(rnn, "embedding").shape == (V, 5)
    assert _block(wb["vocab"], "vocab_codes")[0][0].value == 0  # the padding character's code


def test_weights_are_the_trained_models_and_the_build_is_deterministic(workbooks, tmp_path):
    paths, _ = workbooks
    again = build_char_rnn(tmp_path / "again.xlsx")
    a, b = openpyxl.load_workbook(paths["default"]), openpyxl.load_workbook(again)
    for sheet in a.sheetnames:
        assert [[c.value for c in r] for r in a[sheet].iter_rows()] == [[c.value for c in r] for r in b[sheet].iter_rows()]
    w = _matrix(a[SHEETS["rnn"]], "weight_hh")
    assert np.all(np.round(w, 4) == w)  # exported rounded to 4 decimals
    assert not np.allclose(w, np.eye(len(w)))  # identity start, then trained away from it


def test_glyphs_make_invisible_characters_visible():
    assert [glyph(c) for c in ("\0", " ", "\n", "a")] == ["␀", "␣", "⏎", "a"]


@pytest.mark.parametrize("config, message", [
    (CharRnnConfig(char3_text="ab"), "char3_text must have 4 characters"),
    (CharRnnConfig(loop_text="abc"), "loop_text must have 9 characters"),
    (CharRnnConfig(sequences=("a" * 9,)), "sequences: expected 3 strings; got 1"),
    (CharRnnConfig(n_sequences=1, sequences=("a" * 8,)), r"sequences\[0\] must have 9 characters"),
    (CharRnnConfig(n_hidden=0), r"n_hidden must be an integer in \[1, 32\]; got 0"),
    (CharRnnConfig(epochs=-1), r"epochs must be an integer in \[0, 200\]; got -1"),
    (CharRnnConfig(loop_text="the rivZr", epochs=0), r"loop_text: character 7: 'Z' is not in the vocabulary"),
])
def test_bad_config_is_a_clear_error(tmp_path, config, message):
    with pytest.raises(XlbridgeInputError, match=message):
        build_char_rnn(tmp_path / "x.xlsx", config)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_text_too_short_for_the_workbook(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("a short text")
    with pytest.raises(XlbridgeInputError, match="the text has 12 characters; the workbook needs at least 36"):
        build_char_rnn(tmp_path / "x.xlsx", CharRnnConfig(text_path=path))


@pytest.mark.libreoffice
def test_built_from_the_nietzsche_text(tmp_path):
    source = SHARED / "data" / "nietzsche" / "nietzsche.txt"
    if not source.is_file():
        pytest.skip(f"real data not available: {source} is absent")
    path = build_char_rnn(tmp_path / "n.xlsx", CharRnnConfig(text_path=source, max_chars=5_000, epochs=1, **SMALL))
    (book,) = recalculate_many([path])
    comparisons = check_char_rnn(book)
    assert all(c.passed for c in comparisons), _report(comparisons)
    assert book.values("vocab_codes").shape[0] == len(set(T.load_text(source)[:5_000])) + 1
