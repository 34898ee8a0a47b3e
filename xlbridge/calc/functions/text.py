"""Text: LEN, LEFT, RIGHT, MID, UPPER, LOWER, TRIM, CONCATENATE, TEXTJOIN, SUBSTITUTE, FIND,
SEARCH, VALUE, TEXT, UNICODE, UNICHAR, CODE, CHAR, REPT, EXACT, PROPER, T."""

from __future__ import annotations

import re

from xlbridge.calc.functions import function
from xlbridge.calc.values import CellError, XlError, text_to_number, to_text, is_number, number_text


def _count(n, default=1):
    n = default if n is None else int(n)
    if n < 0:
        raise CellError("#VALUE!")
    return n


function("LEN", "t")(lambda s: float(len(s)))
function("LEFT", "tn")(lambda s, n=None: s[:_count(n)])
function("RIGHT", "tn")(lambda s, n=None: s[len(s) - min(_count(n), len(s)):])
function("UPPER", "t")(str.upper)
function("LOWER", "t")(str.lower)
function("PROPER", "t")(lambda s: re.sub(r"[A-Za-z]+", lambda m: m.group().capitalize(), s))
function("TRIM", "t")(lambda s: " ".join(s.split(" ")).strip() if False else re.sub(" +", " ", s.strip(" ")))
function("REPT", "tn")(lambda s, n: s * _count(n))
function("EXACT", "tt")(lambda a, b: a == b)
function("CONCATENATE", "t*")(lambda *parts: "".join(parts))


@function("MID", "tnn")
def _mid(s, start, n):
    start, n = int(start), _count(n)
    if start < 1:
        raise CellError("#VALUE!")
    return s[start - 1: start - 1 + n]


@function("CONCAT", "a*")
def _concat(*arrs):
    return "".join(to_text(v) for a in arrs for v in a.ravel())


@function("TEXTJOIN", "tba*")
def _textjoin(sep, skip_empty, *arrs):
    parts = [to_text(v) for a in arrs for v in a.ravel()]
    return sep.join(p for p in parts if p or not skip_empty)


@function("SUBSTITUTE", "tttn")
def _substitute(s, old, new, which=None):
    if not old:
        return s
    if which is None:
        return s.replace(old, new)
    k, i = int(which), -1
    for _ in range(k):
        i = s.find(old, i + 1)
        if i < 0:
            return s
    return s[:i] + new + s[i + len(old):]


@function("FIND", "ttn")
def _find(needle, hay, start=None):
    start = 1 if start is None else int(start)
    i = hay.find(needle, start - 1) if start >= 1 else -1
    if i < 0:
        raise CellError("#VALUE!")
    return float(i + 1)


@function("SEARCH", "ttn")
def _search(needle, hay, start=None):
    from xlbridge.calc.values import _wildcard
    start = 1 if start is None else int(start)
    m = re.compile(_wildcard(needle), re.I | re.S).search(hay, start - 1) if start >= 1 else None
    if m is None:
        raise CellError("#VALUE!")
    return float(m.start() + 1)


@function("VALUE", "s")
def _value(v):
    if isinstance(v, XlError):
        raise CellError(v)
    if is_number(v):
        return float(v)
    if isinstance(v, bool):
        raise CellError("#VALUE!")
    return text_to_number(v or "0")


@function("TEXT", "sn" if False else "st")
def _text(v, fmt):
    """The common number formats: '0', '0.00', '#,##0.0', '0%', '0.0%', 'General'."""
    if isinstance(v, XlError):
        raise CellError(v)
    if not is_number(v):
        return to_text(v)
    x = float(v)
    m = re.fullmatch(r"(#,##)?0(?:\.(0+))?(%)?", fmt)
    if fmt.lower() == "general":
        return number_text(x)
    if m is None:
        raise CellError("#VALUE!")
    if m.group(3):
        x *= 100
    digits = len(m.group(2) or "")
    s = f"{x:,.{digits}f}" if m.group(1) else f"{x:.{digits}f}"
    return s + (m.group(3) or "")


@function("UNICODE", "t")
def _unicode(s):
    if not s:
        raise CellError("#VALUE!")
    return float(ord(s[0]))


@function("CODE", "t")
def _code(s):
    if not s:
        raise CellError("#VALUE!")
    c = ord(s[0])
    return float(c if c < 256 else 63)


@function("UNICHAR", "n")
def _unichar(n):
    if not 1 <= n <= 0x10FFFF:
        raise CellError("#VALUE!")
    return chr(int(n))


@function("CHAR", "n")
def _char(n):
    if not 1 <= n <= 255:
        raise CellError("#VALUE!")
    return bytes([int(n)]).decode("cp1252", errors="replace")


@function("T", "s")
def _t(v):
    if isinstance(v, XlError):
        raise CellError(v)
    return v if isinstance(v, str) else ""
