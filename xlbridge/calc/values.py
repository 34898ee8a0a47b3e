"""Excel's value rules: what a cell can hold and how operators and functions read it.

A value is a float, a str, a bool, an `XlError` (a str subclass such as '#DIV/0!') or None
(an empty cell). Errors travel through formulas as the `CellError` exception and land in
the cell as the `XlError` value, as Excel shows them.
"""

from __future__ import annotations

import math
import re


class XlError(str):
    """A cell error value such as '#REF!' or '#DIV/0!' (a str, so it prints as itself)."""


ERRORS = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!")


class CellError(Exception):
    """An Excel error value travelling up through a formula."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = XlError(code)


class FormulaError(Exception):
    """A formula that cannot be parsed, or a function that is not implemented (not an Excel error value)."""


def is_number(v) -> bool:
    return (type(v) is float or type(v) is int) or (isinstance(v, float | int) and not isinstance(v, bool))


def to_number(v) -> float:
    """A scalar operand of + - * / ^: empty is 0, TRUE is 1, numeric text is read."""
    t = type(v)
    if t is float:
        return v
    if v is None:
        return 0.0
    if t is bool:
        return float(v)
    if isinstance(v, XlError):
        raise CellError(v)
    if isinstance(v, str):
        return text_to_number(v)
    return float(v)


_PERCENT = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*%\s*$")


def text_to_number(s: str) -> float:
    """'3', ' 2.5 ', '1e3', '30%' -> a number, as Excel coerces text in arithmetic."""
    try:
        return float(s.strip().replace(",", "")) if s.strip() else _bad()
    except ValueError:
        m = _PERCENT.match(s)
        if m:
            return float(m.group(1)) / 100
        raise CellError("#VALUE!") from None


def _bad():
    raise CellError("#VALUE!")


def to_text(v) -> str:
    if isinstance(v, XlError):
        raise CellError(v)
    if v is None:
        return ""
    if v is True:
        return "TRUE"
    if v is False:
        return "FALSE"
    if isinstance(v, float | int):
        return number_text(float(v))
    return str(v)


def number_text(x: float) -> str:
    """A number as Excel's General format turns it into text: up to 15 significant digits."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    s = f"{x:.15g}"
    if "e" in s:
        mant, exp = s.split("e")
        return f"{mant}E{int(exp):+03d}"
    return s


def truth(v) -> bool:
    """A condition: numbers are true when non-zero, 'TRUE'/'FALSE' text is read, other text is #VALUE!."""
    if v is True or v is False:
        return v
    if type(v) is float:
        return v != 0
    if v is None:
        return False
    if isinstance(v, XlError):
        raise CellError(v)
    if isinstance(v, str):
        u = v.upper()
        if u in ("TRUE", "FALSE"):
            return u == "TRUE"
        raise CellError("#VALUE!")
    return bool(float(v))


def _rank(v) -> int:
    return 2 if isinstance(v, bool) else (1 if isinstance(v, str) else 0)


def compare(op: str, a, b) -> bool:
    """Excel comparison: numbers < text < logicals; text compares case-insensitively;
    an empty cell equals 0, "" and FALSE, whichever it is compared with."""
    if isinstance(a, XlError):
        raise CellError(a)
    if isinstance(b, XlError):
        raise CellError(b)
    if a is None:
        a = "" if isinstance(b, str) else (False if isinstance(b, bool) else 0.0)
    if b is None:
        b = "" if isinstance(a, str) else (False if isinstance(a, bool) else 0.0)
    ka, kb = _rank(a), _rank(b)
    if ka != kb:
        a, b = ka, kb
    elif ka == 1:
        a, b = a.lower(), b.lower()
    if op == "=":
        return a == b
    if op == "<>":
        return a != b
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op == "<=":
        return a <= b
    return a >= b


def divide(a: float, b: float) -> float:
    if b == 0:
        raise CellError("#DIV/0!")
    return a / b


def power(a: float, b: float) -> float:
    if a == 0 and b < 0:
        raise CellError("#DIV/0!")
    try:
        r = a ** b
    except (OverflowError, ZeroDivisionError):
        raise CellError("#NUM!") from None
    if isinstance(r, complex) or not math.isfinite(r):
        raise CellError("#NUM!")
    return r


def finite(x: float) -> float:
    """Excel has no inf or NaN: an overflow is #NUM!."""
    if math.isfinite(x):
        return x
    raise CellError("#NUM!")


def round_half_away(x: float, digits: int) -> float:
    """ROUND: half away from zero, on the decimal value Excel shows (15 digits)."""
    q = 10.0 ** digits
    y = abs(x) * q
    y = float(f"{y:.15g}") if y < 1e15 else y     # 2.675 is 2.67499999... in binary; Excel says 2.68
    return math.copysign(math.floor(y + 0.5) / q, x)


# --- criteria of SUMIF, COUNTIF, ... --------------------------------------------------------

_CRIT = re.compile(r"^(<=|>=|<>|<|>|=)?(.*)$", re.S)


def criterion(c):
    """A criterion ('>5', 'a*', 3, '<>', TRUE) -> a predicate on one cell value."""
    if isinstance(c, XlError):
        raise CellError(c)
    if c is None:
        c = 0.0       # an empty criterion cell is read as 0
    if isinstance(c, bool):
        return lambda v, want=c: isinstance(v, bool) and v == want
    if is_number(c):
        want = float(c)
        return lambda v: (is_number(v) and v == want) or (isinstance(v, str) and _num_or_none(v) == want)
    op, rest = _CRIT.match(c).groups()
    op = op or "="
    num = _num_or_none(rest)
    if rest.upper() in ("TRUE", "FALSE"):
        b = rest.upper() == "TRUE"
        return lambda v: (isinstance(v, bool) and v == b) == (op == "=") if op in ("=", "<>") else False
    if num is not None:
        def numeric(v, op=op, num=num):
            if is_number(v):
                x = float(v)
            elif isinstance(v, str) and op in ("=", "<>") and _num_or_none(v) is not None:
                x = _num_or_none(v)
            else:
                return op == "<>"
            return compare(op, x, num)
        return numeric
    if op in ("=", "<>"):
        if rest == "":
            empty = (lambda v: v is None) if op == "=" and c.startswith("=") else (lambda v: v is None or v == "")
            return empty if op == "=" else (lambda v: not (v is None))
        if any(ch in rest for ch in "*?~"):
            rx = re.compile(_wildcard(rest), re.I | re.S)
            hit = lambda v: isinstance(v, str) and rx.fullmatch(v) is not None   # noqa: E731
        else:
            low = rest.lower()
            hit = lambda v: isinstance(v, str) and v.lower() == low               # noqa: E731
        return hit if op == "=" else (lambda v: not hit(v))
    return lambda v: isinstance(v, str) and compare(op, v, rest)


def _wildcard(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "~" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return "".join(out)


def _num_or_none(s: str):
    try:
        return float(s)
    except ValueError:
        return None
