"""A corpus of hostile input, made by this script: titles, ratings and movies files, workbooks a
user changed, model files and UDF calls, each with what xlbridge must do with it.

    python tests/hostile_corpus.py OUT_DIR      # writes every file case, to try by hand

Refused input names the fragment its one-line message must hold; the tests
(tests/test_hostile_*.py) run each case through the command line and also check that nothing
was written or changed. Expected values are worked out here from the rules, never by xlbridge.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Titles: every character XML 1.0 cannot hold, what a parser changes, what OOXML decodes, what
# a spreadsheet reads as a formula or an error, and text longer than a cell

CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))]   # the 29 of the issue

TITLES: dict[str, str] = {f"control U+{ord(c):04X}": f"Before{c}after" for c in CONTROL}
TITLES.update({
    "U+FFFE": "x\ufffey", "U+FFFF": "x\uffffy", "all controls": "".join(CONTROL),
    "carriage return": "one\rtwo", "CRLF": "one\r\ntwo", "line feed": "one\ntwo", "tab": "a\tb",
    "OOXML escape": "_x0041_", "escaped underscore": "_x005F_", "escape of e-acute": "_x00e9_",
    "escape of CR": "A_x000D_B", "upper-case X": "_X0041_", "half an escape": "_x00", "escape in escape": "__x0041__",
    "x005F without underscore": "ax005F_b",
    "formula": "=1+1", "plus": "+44", "minus": "-x", "at": "@home", "hyperlink": '=HYPERLINK("http://x")',
    "error #N/A": "#N/A", "error #DIV/0!": "#DIV/0!",
    "spaces only": "   ", "tab only": "\t", "line feed only": "\n", "padded": "  padded  ",
    "emoji": "\U0001F600 Smile", "astral CJK": "\U00020000", "combining accent": "e\u0301", "right to left": "\u05e9\u05dc\u05d5\u05dd",
    "bidi override": "\u202eevil", "zero width space": "a\u200bb", "BOM": "\ufeffbom", "line separator": "a\u2028b",
    "paragraph separator": "a\u2029b", "NEL": "a\x85b", "C1 control": "a\x9bb", "noncharacter U+FDD0": "a\ufdd0b",
    "noncharacter U+1FFFE": "a\U0001fffeb", "private use": "\ue000",
    "XML specials": "<b>&amp;</b>", "CDATA end": "]]>", "character reference": "&#1;", "quotes": "\"'", "comma": "a,b",
    "long": "L" * 40_000, "long controls": "\x01" * 5_000, "long emoji": "\U0001F600" * 20_000,
})
# What a cell keeps of the long ones: 32,767 UTF-16 units as the file holds them; a control
# character is written in 7 (_x0001_), a character beyond the BMP takes 2.
CUT_TO = {"long": "L" * 32_767, "long controls": "\x01" * (32_767 // 7), "long emoji": "\U0001F600" * (32_767 // 2)}
CUT = ("long", "long controls", "long emoji")


def expected_title(name: str) -> str:
    return CUT_TO.get(name, TITLES[name])


N_USERS = 3   # every user rates every movie: the crosstab of N_USERS x len(titles) holds them all


def write_titles_dataset(folder: Path, titles: list[str]) -> Path:
    """ratings.csv and movies.csv (ml-latest-small layout) whose movies 1..n carry `titles`."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["userId,movieId,rating,timestamp"]
    lines += [f"{u},{m},{1 + (u + m) % 9 / 2},{1000 * u + m}" for u in range(1, N_USERS + 1)
              for m in range(1, len(titles) + 1)]
    (folder / "ratings.csv").write_text("\n".join(lines) + "\n")
    buf = io.StringIO(newline="")
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")   # quoted: CR, LF and commas stay in the field
    w.writerow(["movieId", "title", "genres"])
    for m, t in enumerate(titles, start=1):
        w.writerow([m, t, "Drama"])
    (folder / "movies.csv").write_bytes(buf.getvalue().encode("utf-8"))
    return folder


# ---------------------------------------------------------------------------------------------
# Ratings and movies files given to `build --ratings`: each refused with one line, exit 2


@dataclass
class Case:
    name: str
    files: dict[str, bytes]              # path under the case's folder -> content
    fragment: str                        # the one-line message holds it
    ratings: str = "ratings.csv"         # what --ratings points at, under the case's folder
    unreadable: str | None = None        # a file that cannot be read (root reads anything: simulated)

    def write(self, folder: Path) -> Path:
        for rel, content in self.files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                path.mkdir()
            else:
                path.write_bytes(content)
        return folder / self.ratings


GOOD_RATINGS = b"userId,movieId,rating,timestamp\n" + b"".join(
    f"{u},{m},{1 + (u * m) % 9 / 2},{u * 100 + m}\n".encode() for u in range(1, 21) for m in range(1, 21))
FIVE_MB = 5_000_000

RATINGS_CASES = [
    Case("5 MB rating field", {"ratings.csv": b"userId,movieId,rating\n1,2," + b"9" * FIVE_MB + b"\n"},
         "column 'rating' must be a number; line 2: '9999"),
    Case("5 MB text in a rating", {"ratings.csv": b"userId,movieId,rating\n1,2," + b"x" * FIVE_MB + b"\n"},
         "column 'rating' must be a number; line 2: 'xxxx"),
    Case("5 MB id", {"ratings.csv": b"userId,movieId,rating\n" + b"1" * FIVE_MB + b",2,3\n"},
         "beyond 64-bit integers"),
    Case("5 MB column name", {"ratings.csv": b"userId,movieId," + b"r" * FIVE_MB + b"\n1,2,3\n"},
         "missing column(s) 'rating'"),
    Case("5 MB timestamp", {"ratings.csv": b"userId,movieId,rating,timestamp\n1,2,3," + b"7" * FIVE_MB + b"\n"},
         "column 'timestamp' holds a number beyond 64-bit integers"),
    Case("id past int64", {"ratings.csv": b"userId,movieId,rating\n9223372036854775808,2,3\n"},
         "line 2: '9223372036854775808'"),
    Case("id in other digits", {"ratings.csv": "userId,movieId,rating\n\u0663,2,3\n".encode()},
         "column 'userId' must hold whole numbers; line 2: '\u0663'"),
    Case("100,000 columns", {"ratings.csv": ",".join(f"c{i}" for i in range(100_000)).encode() + b"\n1,2,3\n"},
         "the first line has 100,000 fields; a MovieLens file has a few (at most 100 are read)"),
    Case("movies: 100,000 columns", {"ratings.csv": GOOD_RATINGS, "movies.csv": b"movieId,title" + b",x" * 99_998 + b"\n"},
         "movies.csv: the first line has 100,000 fields"),
    Case("a line with a field too many", {"ratings.csv": b"userId,movieId,rating,timestamp\n1,2,3,4,5\n"},
         "Expected 4 fields in line 2, saw 5"),
    Case("every line a field too many", {"ratings.csv": b"userId,movieId,rating\n1,2,3,4\n5,6,7,8\n"},
         "Expected 3 fields in line 2, saw 4"),
    Case("a column named twice", {"ratings.csv": b"userId,movieId,rating,rating\n1,2,3,4\n"},
         "the header names column 'rating' more than once"),
    Case("not UTF-8", {"ratings.csv": b"userId,movieId,rating\n1,2,\xff\xfe\n"}, "not a readable ratings file"),
    Case("binary", {"ratings.csv": bytes(range(256)) * 64}, "ratings.csv"),
    Case("NUL bytes", {"ratings.csv": b"userId,movieId,rating\n1,2,\x00\n"}, "column 'rating' must be a number"),
    Case("only a header", {"ratings.csv": b"userId,movieId,rating\n"}, "no ratings"),
    Case("empty", {"ratings.csv": b""}, "the file is empty"),
    Case("ml-100k with two columns", {"u.data": b"1\t2\n"}, "expected tab-separated user, item, rating",
         ratings="u.data"),
    Case("ml-100k ragged", {"u.data": b"1\t2\t3\t4\n1\t2\t3\t4\t5\n"}, "Expected 4 fields in line 2, saw 5",
         ratings="u.data"),
    Case("a folder of nothing", {"data/readme.txt": b"hi"}, "unknown layout", ratings="data"),
    Case("ratings.csv is a folder", {"data/ratings.csv": None}, "unknown layout", ratings="data"),
    Case("movies: an id twice", {"ratings.csv": GOOD_RATINGS, "movies.csv": b"movieId,title\n5,A\n5,B\n"},
         "a movie is listed more than once: movieId 5"),
    Case("movies: an unclosed quote", {"ratings.csv": GOOD_RATINGS, "movies.csv": b'movieId,title\n5,"A\n6,B\n'},
         "not a readable movies file"),
    Case("movies: not UTF-8", {"ratings.csv": GOOD_RATINGS, "movies.csv": b"movieId,title\n5,\xff\n"},
         "not a readable movies file"),
    Case("movies: a field too many", {"ratings.csv": GOOD_RATINGS, "movies.csv": b"movieId,title\n5,A, The,x\n"},
         "Expected 2 fields in line 2, saw 4"),
    Case("ratings unreadable", {"ratings.csv": GOOD_RATINGS}, "cannot read (Permission denied)",
         unreadable="ratings.csv"),
    Case("movies unreadable", {"ratings.csv": GOOD_RATINGS, "movies.csv": b"movieId,title\n5,A\n"},
         "cannot read (Permission denied)", unreadable="movies.csv"),
    Case("u.item unreadable", {"u.data": GOOD_RATINGS.split(b"\n", 1)[1].replace(b",", b"\t"), "u.item": b"5|A|\n"},
         "cannot read (Permission denied)", ratings="u.data", unreadable="u.item"),
]


# ---------------------------------------------------------------------------------------------
# Workbooks a user changed without touching a cell's value: each must make `build` refuse


def rezip(path: Path, edit: dict | None = None, add: dict | None = None) -> None:
    """Rewrite a workbook with some parts changed ({name: bytes -> bytes}) or added ({name: bytes}),
    every other part byte for byte as it was: the change a user's spreadsheet makes, and no other."""
    with zipfile.ZipFile(path) as z:
        parts = [(i, z.read(i)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in parts:
            z.writestr(info, (edit or {}).get(info.filename, lambda b: b)(data))
        for name, data in (add or {}).items():
            z.writestr(name, data)


def _replace(old: bytes, new: bytes):
    def edit(data: bytes) -> bytes:
        assert old in data, old
        return data.replace(old, new, 1)
    return edit


def _content_type(data: bytes) -> bytes:
    return data.replace(b"</Types>", b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                                      b"</Types>")


def _comment(path: Path) -> None:
    import openpyxl
    from openpyxl.comments import Comment

    wb = openpyxl.load_workbook(path)
    wb["crosstab"]["A1"].comment = Comment("my note", "me")
    wb.save(path)


WORKBOOK_EDITS = {
    "fill colour": lambda p: rezip(p, {"xl/styles.xml": _replace(b"F8CBAD", b"FF0000")}),
    "column width": lambda p: rezip(p, {"xl/worksheets/sheet1.xml": _replace(b'width="22"', b'width="30"')}),
    "defined name": lambda p: rezip(p, {"xl/workbook.xml": _replace(
        b"</definedNames>", b'<definedName name="mine">crosstab!$A$1</definedName></definedNames>')}),
    "VBA project": lambda p: rezip(p, {"[Content_Types].xml": _content_type}, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"}),
    "comment (saved by openpyxl)": _comment,
    "one byte appended": lambda p: p.write_bytes(p.read_bytes() + b"\0"),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:1000]),
    "replaced by the user's file": lambda p: p.write_bytes(b"my own notes"),
}


def _zip_of(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()


# Files handed to `check` and `solve` as workbooks (their own guards are the engine's and the
# solver's; here only: exit 2, one line, nothing written). name -> (bytes, or None for a folder)
WORKBOOK_FILES = {
    "not a zip": lambda book: b"not a zip",
    "truncated": lambda book: book[:2000],
    "a zip of something else": lambda book: _zip_of({"x.txt": b"hi"}),
    "a folder": lambda book: None,
}


# ---------------------------------------------------------------------------------------------
# Model files for `generate` (char-RNN) and `interpret` (collab): each refused with one line


def char_checkpoint() -> dict:
    """A small, valid char-RNN checkpoint as save_char_model writes it (format xlbridge-char-rnn/2)."""
    import torch

    from xlbridge.models.char_rnn import CharModelConfig, build_model

    chars = "\0 abcdefghijklmnopqrstuvwxyz."
    torch.manual_seed(0)
    model = build_model(CharModelConfig("seq", len(chars), 4, 8, 4))
    return {"format": "xlbridge-char-rnn/2", "model": type(model).__name__,
            "config": {"vocab_size": len(chars), "n_fac": 4, "n_hidden": 8},
            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "meta": {"kind": "seq", "context": 4, "identity_init": True, "vocab": chars, "history": []}}


def collab_checkpoint(titles=("#na#", "A", "B", "C", "D")) -> dict:
    """A small, valid DotProductBias checkpoint as save_collab_model writes it (xlbridge-collab/1)."""
    import torch

    from xlbridge.models.collab import DotProductBias

    torch.manual_seed(0)
    model = DotProductBias(4, 5, 3, y_range=(0.0, 5.5))
    return {"format": "xlbridge-collab/1", "model": "DotProductBias",
            "config": {"n_users": 4, "n_movies": 5, "n_factors": 3, "y_range": [0.0, 5.5]},
            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "meta": {"users": [None, 1, 2, 3], "movies": [None, 10, 11, 12, 13], "titles": list(titles),
                     "item": "movieId", "train_counts": [0, 30, 40, 50, 60], "split": {}, "source": "test",
                     "rating_range": [0.5, 5.0], "settings": {}, "history": []}}


def _with(base, path: tuple, value):
    """A copy of the checkpoint with the entry at `path` set to `value` (or removed: value DELETE)."""
    import copy

    out = copy.deepcopy(base)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


DELETE = object()


def _scaled(base, key: str, factor: float):
    out = _with(base, ("state_dict", key), base["state_dict"][key] * factor)
    return out


def _filled(base, key: str, value: float):
    import torch

    return _with(base, ("state_dict", key), torch.full_like(base["state_dict"][key], value))


def _nan(base, key):
    return _filled(base, key, float("nan"))


# name -> (checkpoint from the valid one, or raw bytes; a fragment of the message)
CHAR_MODELS = {
    "not a checkpoint": (lambda b: b"hello", "not a saved xlbridge model"),
    "empty file": (lambda b: b"", "not a saved xlbridge model"),
    "a pickle with code": (lambda b: _pickled_object(), "not a saved xlbridge model"),
    "another format": (lambda b: _with(b, ("format",), "other/1"), "not a saved xlbridge-char-rnn/2 model"),
    "no meta": (lambda b: _with(b, ("meta",), DELETE), "'meta' is missing"),
    "no vocabulary": (lambda b: _with(b, ("meta", "vocab"), DELETE), "vocabulary is missing or not text"),
    "vocabulary not text": (lambda b: _with(b, ("meta", "vocab"), list(range(29))), "vocabulary is missing or not text"),
    "vocabulary without padding": (lambda b: _with(b, ("meta", "vocab"), "x abcdefghijklmnopqrstuvwxyz."),
                                   "index 0 must be the padding character"),
    "vocabulary twice a character": (lambda b: _with(b, ("meta", "vocab"), "\0 abcdefghijklmnopqrstuvwxyza"),
                                     "characters must be distinct"),
    "vocabulary of another size": (lambda b: _with(b, ("meta", "vocab"), "\0 abc"), "vocabulary has 5 characters"),
    "no n_hidden": (lambda b: _with(b, ("config", "n_hidden"), DELETE), "the 'n_hidden' parameter of the saved model must be an integer"),
    "200,000 hidden units": (lambda b: _with(b, ("config", "n_hidden"), 200_000), "'n_hidden' parameter of the saved model must be an integer in [1, 4096]; got 200000"),
    "n_hidden as text": (lambda b: _with(b, ("config", "n_hidden"), "8"), "the 'n_hidden' parameter of the saved model must be an integer"),
    "context of 10**9": (lambda b: _with(b, ("meta", "context"), 10**9), "'context' parameter of the saved model must be an integer in [1, 1024]"),
    "unknown kind": (lambda b: _with(b, ("meta", "kind"), "transformer"), "does not match its class"),
    "kind and class differ": (lambda b: _with(b, ("meta", "kind"), "loop"), "does not match its class"),
    "empty state dict": (lambda b: _with(b, ("state_dict",), {}), "holds no weights"),
    "a weight not a tensor": (lambda b: _with(b, ("state_dict", "e.weight"), [1.0]), "holds no weights"),
    "a weight missing": (lambda b: _with(b, ("state_dict", "e.weight"), DELETE), "missing e.weight"),
    "a weight too many": (lambda b: _with(b, ("state_dict", "extra"), b["state_dict"]["e.weight"]), "unexpected extra"),
    "a weight of the wrong shape": (lambda b: _with(b, ("state_dict", "e.weight"), b["state_dict"]["e.weight"][:3]),
                                    "e.weight is [3, 4], expected [29, 4]"),
    "integer weights": (lambda b: {**b, "state_dict": {k: v.long() for k, v in b["state_dict"].items()}},
                        "not floating point"),
    "NaN weights": (lambda b: _nan(b, "l_out.weight"), "NaN or infinity (in l_out.weight)"),
    "infinite weights": (lambda b: _filled(b, "l_out.bias", float("inf")), "NaN or infinity (in l_out.bias)"),
    "weights too large for float32": (lambda b: _filled(b, "l_out.weight", 3e38), "its output is NaN or infinite"),
    "half-precision weights that overflow": (
        lambda b: {**_filled(b, "l_out.weight", 60000.0),
                   "state_dict": {k: v.half() for k, v in _filled(b, "l_out.weight", 60000.0)["state_dict"].items()}},
        "its output is NaN or infinite"),
}

COLLAB_MODELS = {
    "not a checkpoint": (lambda b: b"\x80\x02}q\x00.", "not a saved xlbridge model"),
    "a char model": (lambda b: char_checkpoint(), "not a saved xlbridge-collab/1 model"),
    "no id maps": (lambda b: _with(b, ("meta", "users"), DELETE), "id maps"),
    "id maps of another size": (lambda b: _with(b, ("meta", "titles"), ["A"]), "do not match"),
    "titles not text": (lambda b: _with(b, ("meta", "titles"), [1, 2, 3, 4, 5]), "titles are not all text"),
    "10**9 users": (lambda b: _with(b, ("config", "n_users"), 10**9), "n_users"),
    "factors of 10**6": (lambda b: _with(b, ("config", "n_factors"), 10**6), "n_factors"),
    "a weight of the wrong shape": (lambda b: _with(b, ("state_dict", "user_factors.weight"),
                                                    b["state_dict"]["user_factors.weight"][:, :2]), "user_factors.weight"),
    "empty state dict": (lambda b: _with(b, ("state_dict",), {}), "holds no weights"),
    "NaN weights": (lambda b: _nan(b, "movie_bias.weight"), "NaN or infinity"),
    "a config that does not fit the class": (lambda b: _with(b, ("config", "layers"), [10]), "does not fit DotProductBias"),
    "a title longer than a cell holds": (lambda b: _with(b, ("meta", "titles"), ["#na#", "L" * 40_000, "B", "C", "D"]),
                                         "title 1 has 40,000 characters, more than a cell holds"),
    "settings not a dict": (lambda b: _with(b, ("meta", "settings"), [1, 2]), "its 'settings' is not a dict"),
    "source not text": (lambda b: _with(b, ("meta", "source"), 123), "its 'source' is not a str"),
    "history of words": (lambda b: _with(b, ("meta", "history"), [{"valid_loss": "low"}]),
                         "its history is not a list of epochs"),
    "factors of 1e300": (lambda b: {**b, "state_dict": {k: v.double() * (1e300 if "factors" in k else 1)
                                                        for k, v in b["state_dict"].items()}}, "its weights reach 1"),
}


class _Anything:
    """Pickled by torch.save as a class reference: loading it with weights_only must refuse."""


def _pickled_object():
    import torch

    buf = io.BytesIO()
    torch.save({"format": "xlbridge-char-rnn/2", "payload": _Anything()}, buf)
    return buf.getvalue()


def write_model(path: Path, make, base) -> Path:
    """Write the case's model file: bytes as they are, a checkpoint dict with torch.save."""
    import torch

    content = make(base)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


# ---------------------------------------------------------------------------------------------
# Folders and files left as they were: what the tests compare before and after a refused run


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under `root`: relative path -> sha256 of its bytes (or 'folder')."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "folder"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


def main(out_dir: str) -> None:
    out = Path(out_dir)
    write_titles_dataset(out / "titles", list(TITLES.values()))
    for case in RATINGS_CASES:
        case.write(out / "ratings" / case.name.replace(" ", "_").replace("*", ""))
    for folder, models, base in (("char_models", CHAR_MODELS, char_checkpoint()),
                                 ("collab_models", COLLAB_MODELS, collab_checkpoint())):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for name, (make, _) in models.items():
            write_model(out / folder / (name.replace(" ", "_").replace("*", "") + ".pt"), make, base)
    print(f"wrote the corpus under {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "hostile_corpus")
