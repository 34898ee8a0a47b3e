"""Statistics over ranges: AVERAGE, MIN, MAX, COUNT, MEDIAN, STDEV, VAR, COVAR, CORREL, NORM.DIST, ...

Excel's rule for ranges: numbers count; text, logicals and empty cells are skipped; an
error anywhere is the result. Arguments typed directly are coerced (kind 'N').
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from xlbridge.calc.functions import function, path
from xlbridge.calc.values import CellError, XlError, is_number


def _need(xs, k=1, code="#DIV/0!"):
    if len(xs) < k:
        raise CellError(code)


@function("AVERAGE", "N*")
def _average(xs):
    _need(xs)
    return math.fsum(xs) / len(xs)


@function("MIN", "N*")
def _min(xs):
    return float(xs.min()) if len(xs) else 0.0


@function("MAX", "N*")
def _max(xs):
    return float(xs.max()) if len(xs) else 0.0


@function("MEDIAN", "N*")
def _median(xs):
    _need(xs, code="#NUM!")
    return float(np.median(xs))


def _var(xs, ddof):
    _need(xs, 1 + ddof)
    m = math.fsum(xs) / len(xs)
    return math.fsum((xs - m) ** 2) / (len(xs) - ddof)


function("VAR.S VAR", "N*")(lambda xs: _var(xs, 1))
function("VAR.P VARP", "N*")(lambda xs: _var(xs, 0))
function("STDEV.S STDEV", "N*")(lambda xs: math.sqrt(_var(xs, 1)))
function("STDEV.P STDEVP", "N*")(lambda xs: math.sqrt(_var(xs, 0)))


@function("COUNT", "a*")
def _count(*arrs):
    return float(sum(1 for a in arrs for x in a.ravel() if is_number(x)))


@function("COUNTA", "a*")
def _counta(*arrs):
    return float(sum(1 for a in arrs for x in a.ravel() if x is not None))


@function("COUNTBLANK", "a")
def _countblank(a):
    return float(sum(1 for x in a.ravel() if x is None or x == ""))


def _numbers_of(a):
    out = []
    for v in a.ravel():
        if isinstance(v, XlError):
            raise CellError(v)
        if is_number(v):
            out.append(float(v))
    return np.array(out)


@function("LARGE", "an")
def _large(a, k):
    xs = np.sort(_numbers_of(a))[::-1]
    k = math.ceil(k)
    if not 1 <= k <= len(xs):
        raise CellError("#NUM!")
    return float(xs[k - 1])


@function("SMALL", "an")
def _small(a, k):
    xs = np.sort(_numbers_of(a))
    k = math.ceil(k)
    if not 1 <= k <= len(xs):
        raise CellError("#NUM!")
    return float(xs[k - 1])


@function("RANK RANK.EQ", "nan")
def _rank(x, a, order=None):
    xs = _numbers_of(a)
    if x not in xs:
        raise CellError("#N/A")
    return float(1 + (np.sum(xs < x) if order else np.sum(xs > x)))


@function("PERCENTILE PERCENTILE.INC", "an")
def _percentile(a, p):
    xs = _numbers_of(a)
    if not len(xs) or not 0 <= p <= 1:
        raise CellError("#NUM!")
    return float(np.percentile(xs, 100 * p))


@function("QUARTILE QUARTILE.INC", "an")
def _quartile(a, q):
    return _percentile(a, int(q) / 4)


def _pairs(a, b):
    if a.size != b.size:
        raise CellError("#N/A")
    xs, ys = [], []
    for x, y in zip(a.ravel(), b.ravel()):
        for v in (x, y):
            if isinstance(v, XlError):
                raise CellError(v)
        if is_number(x) and is_number(y):
            xs.append(float(x))
            ys.append(float(y))
    return np.array(xs), np.array(ys)


def _covar(a, b, ddof):
    x, y = _pairs(a, b)
    _need(x, 1 + ddof)
    return math.fsum((x - x.mean()) * (y - y.mean())) / (len(x) - ddof)


function("COVAR COVARIANCE.P", "aa")(lambda a, b: _covar(a, b, 0))
function("COVARIANCE.S", "aa")(lambda a, b: _covar(a, b, 1))


@function("CORREL PEARSON", "aa")
def _correl(a, b):
    x, y = _pairs(a, b)
    _need(x, 2)
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        raise CellError("#DIV/0!")
    return float(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy))


@function("NORM.DIST NORMDIST", "nnnb")
def _normdist(x, mu, sigma, cumulative):
    if sigma <= 0:
        raise CellError("#NUM!")
    d = NormalDist(mu, sigma)
    return d.cdf(x) if cumulative else d.pdf(x)


@function("NORM.S.DIST NORMSDIST", "nb")
def _normsdist(x, cumulative=True):
    d = NormalDist()
    return d.cdf(x) if cumulative in (None, True) else d.pdf(x)


@function("NORM.INV NORMINV", "nnn")
def _norminv(p, mu, sigma):
    if not 0 < p < 1 or sigma <= 0:
        raise CellError("#NUM!")
    return NormalDist(mu, sigma).inv_cdf(p)


@function("NORM.S.INV NORMSINV", "n")
def _normsinv(p):
    if not 0 < p < 1:
        raise CellError("#NUM!")
    return NormalDist().inv_cdf(p)


# --- the decision path ------------------------------------------------------------------------

def _reduce(b, args, N, fwd, vjp, affine=False):
    x, m = b.flat_numbers(args)                       # (N, 1, K), non-numbers 0; m static
    n = m.sum(axis=(-2, -1), keepdims=True).astype(float)
    return b.dyn(lambda v: fwd(v, m, n), lambda g, out, v: (vjp(g, out, v, m, n),), [x], (N, 1, 1),
                 affine=affine and b.affine(x))


@path("AVERAGE")
def _p_average(b, args, N):
    _, m = b.flat_numbers(args)
    if (m.sum(axis=(-2, -1)) == 0).any():
        raise CellError("#DIV/0!")
    return _reduce(b, args, N, lambda v, m, n: v.sum(axis=(-2, -1), keepdims=True) / n,
                   lambda g, out, v, m, n: g / n * m, affine=True)


def _extreme(pick, fill):
    def build(b, args, N):
        def fwd(v, m, n):
            w = np.where(m, v, fill)
            r = pick(w, axis=-1, keepdims=True)
            return np.where(n > 0, r, 0.0)

        def vjp(g, out, v, m, n):
            w = np.where(m, v, fill)
            first = np.zeros(w.shape, bool)
            idx = np.argmax(w == out, axis=-1)[..., None]     # the first extreme gets the gradient
            np.put_along_axis(first, idx, True, axis=-1)
            return g * (first & m)
        return _reduce(b, args, N, fwd, vjp)
    return build


path("MIN")(_extreme(np.min, np.inf))
path("MAX")(_extreme(np.max, -np.inf))


def _variance(ddof, root):
    def build(b, args, N):
        _, m = b.flat_numbers(args)
        if (m.sum(axis=(-2, -1)) <= ddof).any():
            raise CellError("#DIV/0!")

        def var(v, m, n):
            mean = (v * m).sum(axis=(-2, -1), keepdims=True) / n
            return (((v - mean) * m) ** 2).sum(axis=(-2, -1), keepdims=True) / (n - ddof)

        def fwd(v, m, n):
            s = var(v, m, n)
            return np.sqrt(s) if root else s

        def vjp(g, out, v, m, n):
            mean = (v * m).sum(axis=(-2, -1), keepdims=True) / n
            d = 2 * (v - mean) * m / (n - ddof)
            return g * d / (2 * out) if root else g * d
        return _reduce(b, args, N, fwd, vjp)
    return build


path("VAR.S VAR")(_variance(1, False))
path("VAR.P VARP")(_variance(0, False))
path("STDEV.S STDEV")(_variance(1, True))
path("STDEV.P STDEVP")(_variance(0, True))


@path("COUNT")
def _p_count(b, args, N):
    _, m = b.flat_numbers(args)                     # which cells hold numbers does not move
    return b.const(m.sum(axis=(-2, -1), keepdims=True).astype(float))
