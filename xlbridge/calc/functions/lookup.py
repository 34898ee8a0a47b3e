"""Lookups and references: INDEX, MATCH, VLOOKUP, HLOOKUP, XLOOKUP, LOOKUP, OFFSET, CHOOSE,
INDIRECT, ROW(S), COLUMN(S); and the IS* information functions.

INDEX, OFFSET and INDIRECT return references (Range), so `SUM(B1:INDEX(B1:B9, 3))` and
`OFFSET(...)` ranges work as in Excel. On the decision path their positions must be data:
each cell's target is then worked out once and read like a plain reference.
"""

from __future__ import annotations

import numpy as np

from xlbridge.calc.functions import function, path
from xlbridge.calc.parse import MAX_COL, MAX_ROW, Range, Ref, parse, resolve
from xlbridge.calc.values import CellError, FormulaError, XlError, compare, is_number


def _shape(ev, base):
    return base.shape if isinstance(base, Range) else ev.values(base).shape


@function("INDEX", "vii", ctx=True)
def _index(ev, host, base, r=None, c=None, area=None):
    if isinstance(base, XlError):
        raise CellError(base)
    shape = _shape(ev, base)
    single = c is None
    r, c = r or 0, c or 0
    if single and shape[0] == 1 and shape[1] > 1:     # INDEX(row, n) counts along the row
        r, c = 1, r
    if r < 0 or c < 0 or r > shape[0] or c > shape[1]:
        raise CellError("#REF!")
    if isinstance(base, Range):
        r1, r2 = (base.r1, base.r2) if r == 0 else (base.r1 + r - 1,) * 2
        c1, c2 = (base.c1, base.c2) if c == 0 else (base.c1 + c - 1,) * 2
        return Range(base.sheet, r1, c1, r2, c2)
    arr = ev.values(base)
    return arr[(slice(None) if r == 0 else slice(r - 1, r)), (slice(None) if c == 0 else slice(c - 1, c))]


@function("MATCH", "sai")
def _match(x, arr, kind=None):
    arr = arr.ravel()
    kind = 1 if kind is None else kind
    if kind == 0:
        if isinstance(x, str) and any(ch in x for ch in "*?~"):
            from xlbridge.calc.values import criterion
            test = criterion("=" + x)
            for i, v in enumerate(arr):
                if test(v):
                    return float(i + 1)
            raise CellError("#N/A")
        for i, v in enumerate(arr):
            if v is not None and not isinstance(v, XlError) and compare("=", v, x):
                return float(i + 1)
        raise CellError("#N/A")
    return float(_sorted_find(arr, x, kind) + 1)


def _sorted_find(arr, x, kind=1):
    """Excel's approximate lookup, a binary search (so unsorted data gives Excel's answer):
    kind 1, the last value <= x in ascending data; kind -1, the last >= x in descending data."""
    if isinstance(x, XlError):
        raise CellError(x)
    same = (lambda v: is_number(v)) if is_number(x) else (lambda v: isinstance(v, type(x)) and not isinstance(v, XlError))
    lo, hi, found = 0, len(arr) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        j = mid
        while j <= hi and not same(arr[j]):       # blanks and other types are stepped over
            j += 1
        if j > hi:
            hi = mid - 1
            continue
        if compare("<=", arr[j], x) if kind > 0 else compare(">=", arr[j], x):
            found, lo = j, j + 1
        else:
            hi = mid - 1
    if found is None:
        raise CellError("#N/A")
    return found


def _exact(arr, x):
    for i, v in enumerate(arr):
        if v is not None and not isinstance(v, XlError) and compare("=", v, x):
            return i
    raise CellError("#N/A")


@function("VLOOKUP", "saib")
def _vlookup(x, table, col, approx=None):
    if col < 1 or col > table.shape[1]:
        raise CellError("#REF!" if col > table.shape[1] else "#VALUE!")
    keys = table[:, 0]
    i = _sorted_find(keys, x) if approx in (None, True) else _exact(keys, x)
    return table[i, col - 1]


@function("HLOOKUP", "saib")
def _hlookup(x, table, row, approx=None):
    if row < 1 or row > table.shape[0]:
        raise CellError("#REF!" if row > table.shape[0] else "#VALUE!")
    keys = table[0, :]
    i = _sorted_find(keys, x) if approx in (None, True) else _exact(keys, x)
    return table[row - 1, i]


@function("LOOKUP", "saa")
def _lookup(x, keys, result=None):
    if result is None:
        vec = keys[:, 0] if keys.shape[0] >= keys.shape[1] else keys[0, :]
        res = keys[:, -1] if keys.shape[0] >= keys.shape[1] else keys[-1, :]
    else:
        vec, res = keys.ravel(), result.ravel()
    return res[_sorted_find(vec.ravel(), x)]


@function("XLOOKUP", "saaLii")
def _xlookup(x, keys, result, if_missing=None, mode=None, search=None):
    keys = keys.ravel() if 1 in keys.shape else keys
    try:
        if mode in (None, 0):
            i = _exact(keys.ravel(), x)
        else:
            raise FormulaError("XLOOKUP with a match mode other than exact is not supported")
    except CellError:
        if if_missing is None:
            raise
        return if_missing()
    if result.shape[0] == len(keys.ravel()):
        return result[i: i + 1, :]
    return result[:, i: i + 1]


@function("OFFSET", "riiii")
def _offset(base, dr, dc, h=None, w=None):
    h = base.shape[0] if h is None else h
    w = base.shape[1] if w is None else w
    r1, c1 = base.r1 + dr, base.c1 + dc
    if r1 < 1 or c1 < 1 or h < 1 or w < 1 or r1 + h - 1 > MAX_ROW or c1 + w - 1 > MAX_COL:
        raise CellError("#REF!")
    return Range(base.sheet, r1, c1, r1 + h - 1, c1 + w - 1)


@function("INDIRECT", "tb", ctx=True)
def _indirect(ev, host, text, a1=None):
    if a1 is False:
        raise FormulaError("INDIRECT with R1C1 references is not supported")
    try:
        node = parse(text.strip(), (1, 1))
    except FormulaError:
        raise CellError("#REF!") from None
    if isinstance(node, Ref):
        return resolve(node, host[0], 1, 1)
    raise CellError("#REF!")


@function("_XLBRIDGE.ARRAYPART", "vii", ctx=True)
def _array_part(ev, host, base, i, j):
    """Cell (i, j) of an array formula over several cells (the reader writes these): the
    element of the array the formula gives, by Excel's rules: an array of one row or one
    column fills the whole range, a cell beyond the array shows #N/A."""
    arr = ev.values_of(base)
    h, w = arr.shape
    i, j = (1 if h == 1 else i), (1 if w == 1 else j)
    if not (1 <= i <= h and 1 <= j <= w):
        raise CellError("#N/A")
    return arr[i - 1, j - 1]


@path("_XLBRIDGE.ARRAYPART")
def _p_array_part(b, args, N):
    base, i, j = args
    if not (b.is_static(i) and b.is_static(j)):
        raise FormulaError("an array formula's cell positions must be data")
    x = b.num(base)
    _, h, w = b.shape(x)
    ii = np.array([1 if h == 1 else int(float(v)) for v in b.static_values(i).reshape(N)])
    jj = np.array([1 if w == 1 else int(float(v)) for v in b.static_values(j).reshape(N)])
    if ((ii < 1) | (ii > h) | (jj < 1) | (jj > w)).any():
        raise FormulaError("array formula cells beyond the array (#N/A)")
    rows, ii, jj = np.arange(N), ii - 1, jj - 1

    def fwd(u):
        return u[..., rows, ii, jj].reshape(u.shape[:-3] + (N, 1, 1))

    def vjp(g, out, u):
        gu = np.zeros(g.shape[:-3] + u.shape[-3:])
        gu[..., rows, ii, jj] = g[..., 0, 0]
        return (gu,)
    numeric = np.broadcast_to(b.numeric_mask(base), (N, h, w))[rows, ii, jj].reshape(N, 1, 1)
    return b.dyn(fwd, vjp, [x], (N, 1, 1), affine=b.affine(x), numeric=numeric)


@function("CHOOSE", "iL*")
def _choose(k, *options):
    if not 1 <= k <= len(options):
        raise CellError("#VALUE!")
    return options[k - 1]()


@function("ROW", "v", ctx=True)
def _row(ev, host, ref=None):
    return float(ref.r1 if isinstance(ref, Range) else host[1])


@function("COLUMN", "v", ctx=True)
def _column(ev, host, ref=None):
    return float(ref.c1 if isinstance(ref, Range) else host[2])


@function("ROWS", "v", ctx=True)
def _rows(ev, host, ref):
    return float(_shape(ev, ref)[0])


@function("COLUMNS", "v", ctx=True)
def _columns(ev, host, ref):
    return float(_shape(ev, ref)[1])


@function("ADDRESS", "iiii")
def _address(r, c, kind=None, a1=None):
    from xlbridge.calc.parse import column_letters
    kind = kind or 1
    return f"{'$' if kind in (1, 3) else ''}{column_letters(c)}{'$' if kind in (1, 2) else ''}{r}"


# --- information --------------------------------------------------------------------------------

function("ISBLANK", "s")(lambda v: v is None)
function("ISNUMBER", "s")(lambda v: is_number(v))
function("ISTEXT", "s")(lambda v: isinstance(v, str) and not isinstance(v, XlError))
function("ISNONTEXT", "s")(lambda v: not (isinstance(v, str) and not isinstance(v, XlError)))
function("ISLOGICAL", "s")(lambda v: isinstance(v, bool))
function("ISEVEN", "n")(lambda x: int(x) % 2 == 0)
function("ISODD", "n")(lambda x: int(x) % 2 == 1)


@function("ISERROR", "L")
def _iserror(thunk):
    return isinstance(_caught(thunk), XlError)


@function("ISERR", "L")
def _iserr(thunk):
    v = _caught(thunk)
    return isinstance(v, XlError) and v != "#N/A"


@function("ISNA", "L")
def _isna(thunk):
    return _caught(thunk) == "#N/A"


def _caught(thunk):
    try:
        v = thunk()
    except CellError as e:
        return e.code
    if isinstance(v, np.ndarray):
        v = v.ravel()[0] if v.size else None
    return v


@function("NA", "")
def _na():
    raise CellError("#N/A")


@function("N", "s")
def _n(v):
    if isinstance(v, XlError):
        raise CellError(v)
    return float(v) if is_number(v) or isinstance(v, bool) else 0.0


# --- the decision path: positions from data, targets read like plain references -----------------

@path("INDEX OFFSET")
def _p_reference(b, args, N):
    return b.lookup()


@path("CHOOSE")
def _p_choose(b, args, N):
    k = args[0]
    if not b.is_static(k):
        raise FormulaError("CHOOSE whose index moves with the changing cells is not supported")
    picks = np.array([int(float(v)) for v in b.static_values(k).reshape(N)])
    if ((picks < 1) | (picks > len(args) - 1)).any():
        raise CellError("#VALUE!")
    return b.select(picks - 1, list(args[1:]))
