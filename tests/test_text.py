"""xlbridge.text: loading a corpus, the vocabulary, encode/decode and the lesson's three datasets."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import shared_path

from xlbridge import text as T
from xlbridge.errors import XlbridgeInputError


def test_default_text_is_shipped_and_small():
    text = T.load_default_text()
    assert 1_000 < len(text) < 20_000
    assert T.PAD not in text
    assert (T.TEXTS_DIR / "README.md").read_text().count("public domain") >= 1


def test_nietzsche_vocabulary_matches_its_provenance():
    text = T.load_text(shared_path("data", "nietzsche", "nietzsche.txt"))
    assert len(text) == 600_893  # characters, per PROVENANCE.md
    vocab = T.Vocab.from_text(text)
    assert len(vocab) == 84 + 1  # 84 distinct characters plus the padding character
    assert vocab.decode(vocab.encode(text[:5000])) == text[:5000]


def test_vocab_puts_padding_first_and_sorts_the_rest():
    vocab = T.Vocab.from_text("banana bread")
    assert vocab.chars == ("\0", " ", "a", "b", "d", "e", "n", "r")
    assert vocab.stoi["\0"] == 0 and vocab.stoi["a"] == 2
    assert vocab.encode("bad") == [3, 2, 4]
    assert vocab.decode([3, 2, 4]) == "bad"


def test_vocab_is_case_sensitive():
    vocab = T.Vocab.from_text("aA")
    assert vocab.encode("Aa") == [1, 2]  # 'A' (65) sorts before 'a' (97)


@pytest.mark.parametrize("bad, pos, shown", [("abz", 2, "'z'"), ("a\tb", 1, r"'\t'"), ("Ab", 0, "'A'")])
def test_encode_names_the_unknown_character_and_its_position(bad, pos, shown):
    vocab = T.Vocab.from_text("ab ")
    with pytest.raises(XlbridgeInputError, match=re.escape(f"character {pos}: {shown} is not in the vocabulary")):
        vocab.encode(bad)


def test_decode_rejects_an_index_outside_the_vocabulary():
    with pytest.raises(XlbridgeInputError, match=r"position 1: 9 is outside the vocabulary \[0, 2\]"):
        T.Vocab.from_text("ab").decode([1, 9])


@pytest.mark.parametrize("content, message", [
    (b"", "the text is empty"),
    (b"ab\xffcd", "byte 2: not UTF-8"),
    (b"ab\x00cd", "character 2: contains the padding character"),
])
def test_load_text_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    with pytest.raises(XlbridgeInputError, match=message) as e:
        T.load_text(path)
    assert str(path) in str(e.value)


def test_load_text_missing_file_and_folder(tmp_path):
    with pytest.raises(XlbridgeInputError, match="no such file"):
        T.load_text(tmp_path / "absent.txt")
    with pytest.raises(XlbridgeInputError, match="is a folder"):
        T.load_text(tmp_path)


def test_load_text_keeps_utf8_and_drops_a_bom(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffÆsop éte\n".encode("utf-8"))
    assert T.load_text(path) == "Æsop éte\n"


def test_char3_dataset_steps_by_three():
    ids = list(range(10, 20))  # 10 characters
    x, y = T.char3_dataset(ids)
    # lesson: starts range(0, len - 3, 3) = 0, 3, 6
    assert x.tolist() == [[10, 11, 12], [13, 14, 15], [16, 17, 18]]
    assert y.tolist() == [13, 16, 19]


def test_window_dataset_overlaps():
    ids = list(range(10))
    x, y = T.window_dataset(ids, context=4)
    assert x.shape == (6, 4) and y.shape == (6,)
    for j in range(6):
        assert x[j].tolist() == ids[j : j + 4]
        assert y[j] == ids[j + 4]


def test_sequence_dataset_targets_are_inputs_shifted_by_one():
    ids = np.arange(20) * 3
    x, y = T.sequence_dataset(ids, context=8)
    assert x.tolist() == [list(ids[0:8]), list(ids[8:16])]
    assert y.tolist() == [list(ids[1:9]), list(ids[9:17])]
    assert (x[:, 1:] == y[:, :-1]).all()


@pytest.mark.parametrize("make", [
    lambda ids: T.char3_dataset(ids),
    lambda ids: T.window_dataset(ids, 8),
    lambda ids: T.sequence_dataset(ids, 8),
])
def test_text_shorter_than_context_is_a_clear_error(make):
    with pytest.raises(XlbridgeInputError, match=r"the text has 3 characters; the context of \d needs at least"):
        make([1, 2, 3])


def test_window_dataset_context_must_be_positive():
    with pytest.raises(XlbridgeInputError, match="context must be an integer >= 1; got 0"):
        T.window_dataset(range(10), 0)


def test_split_text_is_contiguous():
    train, valid = T.split_text(np.arange(100), 0.1)
    assert train.tolist() == list(range(90)) and valid.tolist() == list(range(90, 100))
    with pytest.raises(XlbridgeInputError):
        T.split_text(np.arange(10), 1.5)
