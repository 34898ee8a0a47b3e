"""Text for the char-RNN lesson: load a corpus, build its vocabulary, cut it into datasets.

The lesson (fastai 2018, lesson 6) reads the Nietzsche text, lists its distinct characters,
puts a padding character "\\0" at index 0, and turns the text into three kinds of
training data, one per model in models/char_rnn.py:

    char3_dataset     three characters -> the fourth        (Char3Model)
    window_dataset    8 characters -> the next, overlapping (CharLoopModel, CharRnn)
    sequence_dataset  8 characters -> the same 8 shifted by one, non-overlapping (CharSeqRnn)

Everything here is plain Python and numpy, so the workbook builder and the parity check
can use it without torch. Characters are indices into `Vocab.chars`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from xlbridge.errors import XlbridgeInputError
from xlbridge.params import Interval, check

PAD = "\0"  # the lesson's padding character; index 0, never in a text
TEXTS_DIR = Path(__file__).parent / "texts"
DEFAULT_TEXT = TEXTS_DIR / "default.txt"  # written for the project, see texts/README.md


def load_text(path) -> str:
    """Return the whole text of `path` (UTF-8), or raise one clear error for a bad file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise XlbridgeInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise XlbridgeInputError(f"{path}: is a folder, expected a text file") from None
    except OSError as e:
        raise XlbridgeInputError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise XlbridgeInputError(f"{path}: byte {e.start}: not UTF-8 text ({e.reason})") from None
    text = text.removeprefix("\ufeff")  # a BOM is an encoding mark, not a character
    if not text:
        raise XlbridgeInputError(f"{path}: the text is empty")
    if PAD in text:
        pos = text.index(PAD)
        raise XlbridgeInputError(
            f"{path}: character {pos}: contains the padding character '\\0', which the vocabulary reserves"
        )
    return text


def load_default_text() -> str:
    """The offline default corpus shipped with the package (a few KB of plain English)."""
    return load_text(DEFAULT_TEXT)


GLYPHS = {PAD: "␀", " ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}


def glyph(ch: str) -> str:
    """A character as a sheet's header shows it: invisible ones get a visible sign."""
    return GLYPHS.get(ch, ch)


def _show(ch: str) -> str:
    """A character as a person can read it in a one-line message."""
    return repr(ch) if not ch.isprintable() or ch == " " else f"'{ch}'"


@dataclass(frozen=True)
class Vocab:
    """The characters a model knows. chars[0] is the padding character "\\0", as in the lesson."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        # sorted so that the same text always gives the same indices
        return cls((PAD, *sorted(set(text) - {PAD})))

    def __post_init__(self):
        if not self.chars or self.chars[0] != PAD:
            raise XlbridgeInputError("vocabulary: index 0 must be the padding character '\\0'")
        if len(set(self.chars)) != len(self.chars):
            raise XlbridgeInputError("vocabulary: characters must be distinct")
        if any(len(c) != 1 for c in self.chars):
            raise XlbridgeInputError("vocabulary: every entry must be a single character")

    def __len__(self) -> int:
        return len(self.chars)

    @cached_property
    def stoi(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str, *, source: str = "text", start: int = 0) -> list[int]:
        """Indices of the characters of `text`; an unknown character is named with its position
        (counted from `start`, for a piece cut from a longer text)."""
        stoi = self.stoi
        ids = []
        for pos, ch in enumerate(text, start=start):
            i = stoi.get(ch)
            if i is None:
                raise XlbridgeInputError(
                    f"{source}: character {pos}: {_show(ch)} is not in the vocabulary "
                    f"({len(self) - 1} characters from the training text)"
                )
            ids.append(i)
        return ids

    def decode(self, ids) -> str:
        n = len(self.chars)
        out = []
        for pos, i in enumerate(ids):
            i = int(i)
            if not 0 <= i < n:
                raise XlbridgeInputError(f"indices: position {pos}: {i} is outside the vocabulary [0, {n - 1}]")
            out.append(self.chars[i])
        return "".join(out)


def _as_ids(ids, context: int, what: str) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1:
        raise XlbridgeInputError(f"{what}: expected a 1-D sequence of indices, got shape {ids.shape}")
    if len(ids) <= context:
        raise XlbridgeInputError(
            f"{what}: the text has {len(ids)} characters; the context of {context} needs at least {context + 1}"
        )
    return ids


def char3_dataset(ids) -> tuple[np.ndarray, np.ndarray]:
    """Three characters -> the fourth, stepping by three as in the lesson: x (N, 3), y (N,)."""
    ids = _as_ids(ids, 3, "char3 dataset")
    starts = np.arange(0, len(ids) - 3, 3)  # lesson: range(0, len(idx)-cs, cs)
    x = np.stack([ids[starts + k] for k in range(3)], axis=1)  # (N, 3)
    y = ids[starts + 3]  # (N,)
    return x, y


def window_dataset(ids, context: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Every window of `context` characters -> the next one (overlapping): x (N, T), y (N,)."""
    context = check(context, Interval(int, 1), "context")
    ids = _as_ids(ids, context, "window dataset")
    starts = np.arange(len(ids) - context)  # lesson: range(len(idx)-cs)
    x = ids[starts[:, None] + np.arange(context)]  # (N, T)
    y = ids[starts + context]  # (N,)
    return x, y


def sequence_dataset(ids, context: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping sequences and the same sequences shifted by one: x (N, T), y (N, T)."""
    context = check(context, Interval(int, 1), "context")
    ids = _as_ids(ids, context, "sequence dataset")
    starts = np.arange(0, len(ids) - context, context)  # every start leaves room for the shifted target
    x = ids[starts[:, None] + np.arange(context)]  # (N, T)
    y = ids[starts[:, None] + np.arange(1, context + 1)]  # (N, T)
    return x, y


def split_text(ids, valid_frac: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Train on the start of the text, validate on its end.

    A contiguous cut (not a random sample of windows) keeps overlapping windows from
    putting the same characters on both sides of the split.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if not 0 < valid_frac < 1:
        raise XlbridgeInputError(f"valid_frac == {valid_frac}, must be in (0, 1)")
    cut = int(round(len(ids) * (1 - valid_frac)))
    return ids[:cut], ids[cut:]


def make_dataset(kind: str, ids, context: int) -> tuple[np.ndarray, np.ndarray]:
    """The lesson's dataset for a model kind of models/char_rnn.py: x (N, T), y (N,) or (N, T)."""
    if kind == "char3":
        return char3_dataset(ids)
    if kind == "seq":
        return sequence_dataset(ids, context)
    return window_dataset(ids, context)
