"""Conditional aggregates: SUMIF(S), COUNTIF(S), AVERAGEIF(S), MAXIFS, MINIFS.

A criterion is Excel's: a value to equal, or text such as '>=5', '<>x', 'a*' (values.criterion).
On the decision path the criteria ranges must be data (they pick which cells count); the
range that is summed may move with the changing cells, which keeps the sum linear.
"""

from __future__ import annotations

import math

import numpy as np

from xlbridge.calc.functions import function, path
from xlbridge.calc.values import CellError, FormulaError, XlError, criterion, is_number


def _mask(rng: np.ndarray, crit) -> np.ndarray:
    test = criterion(crit)
    return np.array([bool(test(v)) for v in rng.ravel()], dtype=bool).reshape(rng.shape)


def _fit(values: np.ndarray, shape) -> np.ndarray:
    """Excel reads the summed range from its top-left corner, the size of the criteria range."""
    if values.shape == shape:
        return values
    if values.shape[0] >= shape[0] and values.shape[1] >= shape[1]:
        return values[: shape[0], : shape[1]]
    raise CellError("#VALUE!")


def _picked(values, mask):
    out = []
    for v in values[mask]:
        if isinstance(v, XlError):
            raise CellError(v)
        if is_number(v):
            out.append(float(v))
    return out


def _masks(pairs):
    if len(pairs) % 2:
        raise CellError("#VALUE!")
    rngs, crits = pairs[0::2], pairs[1::2]
    shape = rngs[0].shape
    if any(r.shape != shape for r in rngs):
        raise CellError("#VALUE!")
    m = np.ones(shape, bool)
    for r, c in zip(rngs, crits):
        m &= _mask(r, c)
    return m


@function("SUMIF", "asa")
def _sumif(rng, crit, values=None):
    values = rng if values is None else _fit(values, rng.shape)
    return math.fsum(_picked(values, _mask(rng, crit)))


@function("SUMIFS", "a|as")
def _sumifs(values, *pairs):
    return math.fsum(_picked(values, _masks_like(values, pairs)))


def _masks_like(values, pairs):
    m = _masks(list(pairs))
    if m.shape != values.shape:
        raise CellError("#VALUE!")
    return m


@function("COUNTIF", "as")
def _countif(rng, crit):
    return float(_mask(rng, crit).sum())


@function("COUNTIFS", "|as")
def _countifs(*pairs):
    return float(_masks(list(pairs)).sum())


@function("AVERAGEIF", "asa")
def _averageif(rng, crit, values=None):
    values = rng if values is None else _fit(values, rng.shape)
    xs = _picked(values, _mask(rng, crit))
    if not xs:
        raise CellError("#DIV/0!")
    return math.fsum(xs) / len(xs)


@function("AVERAGEIFS", "a|as")
def _averageifs(values, *pairs):
    xs = _picked(values, _masks_like(values, pairs))
    if not xs:
        raise CellError("#DIV/0!")
    return math.fsum(xs) / len(xs)


@function("MAXIFS", "a|as")
def _maxifs(values, *pairs):
    xs = _picked(values, _masks_like(values, pairs))
    return max(xs) if xs else 0.0


@function("MINIFS", "a|as")
def _minifs(values, *pairs):
    xs = _picked(values, _masks_like(values, pairs))
    return min(xs) if xs else 0.0


# --- the decision path ------------------------------------------------------------------------

def _static_masks(b, crit_args, N):
    """Per cell of the block, which cells the criteria pick: (N, r, c) bool, from data only."""
    out = None
    for rng, crit in zip(crit_args[0::2], crit_args[1::2]):
        if not (b.is_static(rng) and b.is_static(crit)):
            raise FormulaError("conditional sums whose criteria move with the changing cells are not supported")
        r, c = b.static_values(rng), b.static_values(crit)
        m = np.stack([_mask(r[n], c[n].ravel()[0] if isinstance(c[n], np.ndarray) else c[n]) for n in range(N)])
        out = m if out is None else out & m
    return out


def _masked_sum(b, values, mask, N, average):
    x, numeric = b.numbers(values)
    if b.shape(x)[1:] != mask.shape[1:]:
        raise FormulaError("a conditional sum whose ranges differ in size")
    w = (mask & numeric).astype(float)
    n = w.sum(axis=(-2, -1), keepdims=True)
    if average and (n == 0).any():
        raise CellError("#DIV/0!")
    scale = 1.0 / n if average else 1.0
    return b.dyn(lambda v: (v * w).sum(axis=(-2, -1), keepdims=True) * scale, lambda g, out, v: (g * w * scale,),
                 [x], (N, 1, 1), affine=b.affine(x))


@path("SUMIF AVERAGEIF")
def _p_sumif(b, args, N, average=False):
    rng, crit = args[0], args[1]
    values = args[2] if len(args) > 2 and not b.is_missing(args[2]) else rng
    return _masked_sum(b, values, _static_masks(b, [rng, crit], N), N, average)


@path("AVERAGEIF")
def _p_averageif(b, args, N):
    return _p_sumif(b, args, N, average=True)


@path("SUMIFS")
def _p_sumifs(b, args, N):
    return _masked_sum(b, args[0], _static_masks(b, list(args[1:]), N), N, False)


@path("AVERAGEIFS")
def _p_averageifs(b, args, N):
    return _masked_sum(b, args[0], _static_masks(b, list(args[1:]), N), N, True)


@path("COUNTIF COUNTIFS")
def _p_countif(b, args, N):
    m = _static_masks(b, list(args), N)
    return b.const(m.sum(axis=(-2, -1), keepdims=True).astype(float))
