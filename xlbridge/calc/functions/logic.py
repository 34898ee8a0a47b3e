"""Logic: IF, IFS, IFERROR, IFNA, SWITCH, AND, OR, NOT, XOR, TRUE, FALSE.

IF-like functions take their branches lazily (kind 'L'), so the branch not taken is never
evaluated, as in Excel: `IF(B2=0, 0, A2/B2)` is not #DIV/0!.
"""

from __future__ import annotations

import numpy as np

from xlbridge.calc.functions import function, path
from xlbridge.calc.values import CellError, FormulaError, XlError, compare, truth


@function("IF", "bLL")
def _if(cond, then, other=None):
    if cond:
        return then()
    return False if other is None else other()


@function("IFS", "|bL")
def _ifs(*pairs):
    for i in range(0, len(pairs) - 1, 2):
        if pairs[i]:
            return pairs[i + 1]()
    raise CellError("#N/A")


@function("IFERROR", "LL")
def _iferror(value, fallback):
    try:
        v = value()
    except CellError:
        return fallback()
    if isinstance(v, XlError) or (isinstance(v, np.ndarray) and v.size == 1 and isinstance(v.ravel()[0], XlError)):
        return fallback()
    return v


@function("IFNA", "LL")
def _ifna(value, fallback):
    try:
        v = value()
    except CellError as e:
        if e.code == "#N/A":
            return fallback()
        raise
    return fallback() if isinstance(v, XlError) and v == "#N/A" else v


@function("SWITCH", "sL*")
def _switch(x, *rest):
    for i in range(0, len(rest) - 1, 2):
        if compare("=", x, rest[i]()):
            return rest[i + 1]()
    if len(rest) % 2:
        return rest[-1]()
    raise CellError("#N/A")


def _truths(arrs):
    out = []
    for a in arrs:
        for v in a.ravel():
            if v is None or (isinstance(v, str) and not isinstance(v, XlError) and a.size > 1):
                continue                     # empty cells and text in ranges are skipped
            out.append(truth(v))
    if not out:
        raise CellError("#VALUE!")
    return out


function("AND", "a*")(lambda *arrs: all(_truths(arrs)))
function("OR", "a*")(lambda *arrs: any(_truths(arrs)))
function("XOR", "a*")(lambda *arrs: sum(_truths(arrs)) % 2 == 1)
function("NOT", "b")(lambda b: not b)
function("TRUE", "")(lambda: True)
function("FALSE", "")(lambda: False)


# --- the decision path ---------------------------------------------------------------------------

@path("IF")
def _p_if(b, args, N):
    cond = args[0]
    then = args[1] if len(args) > 1 else b.const(np.ones((N, 1, 1)))
    other = args[2] if len(args) > 2 else b.const(np.zeros((N, 1, 1)), numeric=False)   # FALSE
    then, other = (b.const(np.zeros((N, 1, 1))) if b.is_missing(x) else x for x in (then, other))
    if b.is_static(cond):                  # a condition on data: each cell takes one branch, for good
        vals = b.static_values(cond)
        picks = np.array([0 if _truth_or_error(v) else 1 for v in vals.reshape(N, -1)[:, 0]])
        return b.select(picks, [then, other])
    c = b.num(cond)
    f, g = b.num(then, strict=True), b.num(other, strict=True)
    shape = np.broadcast_shapes(b.shape(c), b.shape(f), b.shape(g))

    def vjp(gr, out, cv, fv, gv):
        take = cv != 0
        from xlbridge.calc.functions import unbroadcast
        return None, unbroadcast(gr * take, np.shape(fv)), unbroadcast(gr * ~take, np.shape(gv))
    return b.dyn(lambda cv, fv, gv: np.where(cv != 0, fv, gv), vjp, [c, f, g], shape)


def _truth_or_error(v):
    try:
        return truth(v)
    except CellError:
        raise FormulaError(f"IF whose condition is the error value {v} on the decision path") from None


@path("IFERROR")
def _p_iferror(b, args, N):
    x, alt = b.num(args[0], strict=True), b.num(args[1], strict=True)
    shape = np.broadcast_shapes(b.shape(x), b.shape(alt))

    def vjp(g, out, v, a):
        ok = np.isfinite(v)
        from xlbridge.calc.functions import unbroadcast
        return unbroadcast(g * ok, np.shape(v)), unbroadcast(g * ~ok, np.shape(a))
    return b.dyn(lambda v, a: np.where(np.isfinite(v), v, a), vjp, [x, alt], shape)


def _p_logic(reduce):
    def build(b, args, N):
        parts = [b.num(a) for a in args]
        if any(b.is_static(a) and b.has_text(a) for a in args):
            raise FormulaError("AND/OR over text on the decision path is not supported")

        def fwd(*vs):
            return reduce(np.concatenate([(v != 0).reshape(v.shape[:-2] + (1, -1)) for v in vs], axis=-1)).astype(float)
        return b.dyn(fwd, lambda g, out, *vs: tuple(None for _ in vs), parts, (N, 1, 1), numeric=False)
    return build


path("AND")(_p_logic(lambda m: m.all(axis=-1, keepdims=True)))
path("OR")(_p_logic(lambda m: m.any(axis=-1, keepdims=True)))


@path("NOT")
def _p_not(b, args, N):
    x = b.num(args[0])
    return b.dyn(lambda v: (v == 0).astype(float), lambda g, out, v: (None,), [x], b.shape(x), numeric=False)
