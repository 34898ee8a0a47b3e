"""Operators and mathematical functions: + - * / ^ & comparisons, SQRT, EXP, ROUND, MMULT, ...

The interpreter's form works on one value at a time (the evaluator maps operators over
arrays); the decision path's form works on whole blocks and carries its derivative.
"""

from __future__ import annotations

import math

import numpy as np

from xlbridge.calc.functions import elementwise, function, path
from xlbridge.calc.values import (
    CellError, FormulaError, compare, divide, finite, is_number, power, round_half_away,
)

# --- operators ------------------------------------------------------------------------------
# Registered under their symbols; 'neg', 'pos' and '%' are the one-argument forms.

function("+", "nn")(lambda a, b: a + b)
function("-", "nn")(lambda a, b: a - b)
function("*", "nn")(lambda a, b: a * b)
function("/", "nn")(divide)
function("^", "nn")(power)
function("neg", "n")(lambda a: -a)
function("pos", "s")(lambda a: a)
function("%", "n")(lambda a: a / 100)
function("&", "tt")(lambda a, b: a + b)
for _op in ("=", "<>", "<", ">", "<=", ">="):
    function(_op, "ss")(lambda a, b, _op=_op: compare(_op, a, b))


def _unit(i, out, *v):
    return 1.0


path("+")(elementwise(np.add, _unit, linear=True, exact=True))
path("-")(elementwise(np.subtract, lambda i, out, a, b: 1.0 if i == 0 else -1.0, linear=True, exact=True))
path("neg")(elementwise(np.negative, lambda i, out, a: -1.0, linear=True, exact=True))
path("pos")(elementwise(lambda a: a, _unit, linear=True, exact=True))
path("%")(elementwise(lambda a: a / 100, lambda i, out, a: 0.01, linear=True, exact=True))


def _p_mul(b, args, N):
    x, y = (b.num(a) for a in args)
    node = elementwise(np.multiply, lambda i, out, a, c: c if i == 0 else a)(b, args, N)
    node.affine = (b.affine(x) and b.is_const(y)) or (b.is_const(x) and b.affine(y))
    return node


_p_mul.vec = np.multiply
path("*")(_p_mul)


def _p_div(b, args, N):
    x, y = (b.num(a) for a in args)
    node = elementwise(np.divide, lambda i, out, a, c: 1.0 / c if i == 0 else -out / c)(b, args, N)
    node.affine = b.affine(x) and b.is_const(y)
    return node


_p_div.vec = np.divide
path("/")(_p_div)


def _d_pow(i, out, a, c):
    if i == 0:
        return c * np.power(a, c - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, out * np.log(np.where(a > 0, a, 1.0)), 0.0)


path("^")(elementwise(np.power, _d_pow))


def _comparison(op):
    fn = {"=": np.equal, "<>": np.not_equal, "<": np.less, ">": np.greater, "<=": np.less_equal,
          ">=": np.greater_equal}[op]

    def build(b, args, N):
        for a in args:          # a moving number compared with text would need Excel's type order
            if b.is_static(a) and b.has_text(a):
                raise FormulaError("comparing changing cells with text is not supported")
        xs = [b.num(a) for a in args]
        shape = np.broadcast_shapes(*(b.shape(x) for x in xs))
        return b.dyn(lambda u, v: fn(u, v).astype(float), lambda g, out, u, v: (None, None), xs, shape,
                     numeric=False)
    return build


for _op in ("=", "<>", "<", ">", "<=", ">="):
    path(_op)(_comparison(_op))


# --- one number in, one out -------------------------------------------------------------------

def _unary(names, fn, domain=None, np_fn=None, deriv=None, exact=False):
    def impl(x):
        if domain is not None and not domain(x):
            raise CellError("#NUM!")
        try:
            return finite(fn(x))
        except (OverflowError, ValueError):
            raise CellError("#NUM!") from None
    function(names, "n")(impl)
    if np_fn is not None:
        path(names)(elementwise(np_fn, None if deriv is None else (lambda i, out, x: deriv(x, out)), exact=exact))


_unary("SQRT", math.sqrt, lambda x: x >= 0, np.sqrt, lambda x, out: 0.5 / out, exact=True)
_unary("EXP", math.exp, None, np.exp, lambda x, out: out)
_unary("LN", math.log, lambda x: x > 0, np.log, lambda x, out: 1.0 / x)
_unary("LOG10", math.log10, lambda x: x > 0, np.log10, lambda x, out: 1.0 / (x * math.log(10)))
_unary("ABS", abs, None, np.abs, lambda x, out: np.sign(x), exact=True)
_unary("SIGN", lambda x: float((x > 0) - (x < 0)), None, np.sign, lambda x, out: 0.0)
_unary("TANH", math.tanh, None, np.tanh, lambda x, out: 1.0 - out * out)
_unary("SIN", math.sin, None, np.sin, lambda x, out: np.cos(x))
_unary("COS", math.cos, None, np.cos, lambda x, out: -np.sin(x))
_unary("TAN", math.tan, None, np.tan, lambda x, out: 1.0 + out * out)
_unary("ATAN", math.atan, None, np.arctan, lambda x, out: 1.0 / (1.0 + x * x))
_unary("ASIN", math.asin, lambda x: -1 <= x <= 1, np.arcsin, lambda x, out: 1.0 / np.sqrt(1.0 - x * x))
_unary("ACOS", math.acos, lambda x: -1 <= x <= 1, np.arccos, lambda x, out: -1.0 / np.sqrt(1.0 - x * x))
_unary("SINH", math.sinh, None, np.sinh, lambda x, out: np.cosh(x))
_unary("COSH", math.cosh, None, np.cosh, lambda x, out: np.sinh(x))
_unary("DEGREES", math.degrees, None, np.degrees, lambda x, out: 180 / math.pi)
_unary("RADIANS", math.radians, None, np.radians, lambda x, out: math.pi / 180)
_unary("INT", lambda x: float(math.floor(x)), None, np.floor, lambda x, out: 0.0, exact=True)
_unary("FACT", lambda x: float(math.factorial(int(x))), lambda x: 0 <= x < 171)
_unary("EVEN", lambda x: math.copysign(2 * math.ceil(abs(x) / 2), x))
_unary("ODD", lambda x: math.copysign(max(1, 2 * math.ceil((abs(x) + 1) / 2) - 1), x))


@function("PI", "")
def _pi():
    return math.pi


@function("POWER", "nn")
def _power(a, b):
    return power(a, b)


path("POWER")(elementwise(np.power, _d_pow))


@function("LOG", "nn")
def _log(x, base):
    base = 10.0 if base is None else base
    if x <= 0 or base <= 0 or base == 1:
        raise CellError("#NUM!")
    return math.log(x) / math.log(base)


@path("LOG")
def _p_log(b, args, N):
    if len(args) == 1:
        return elementwise(np.log10, lambda i, out, x: 1.0 / (x * math.log(10)))(b, args, N)
    return elementwise(lambda x, k: np.log(x) / np.log(k),
                       lambda i, out, x, k: 1.0 / (x * np.log(k)) if i == 0 else -out / (k * np.log(k)))(b, args, N)


@function("ATAN2", "nn")
def _atan2(x, y):
    if x == 0 and y == 0:
        raise CellError("#DIV/0!")
    return math.atan2(y, x)


@function("MOD", "nn")
def _mod(a, b):
    if b == 0:
        raise CellError("#DIV/0!")
    return a - b * math.floor(a / b)


path("MOD")(elementwise(lambda a, m: a - m * np.floor(a / m),
                        lambda i, out, a, m: 1.0 if i == 0 else -np.floor(a / m), exact=True))


@function("QUOTIENT", "nn")
def _quotient(a, b):
    if b == 0:
        raise CellError("#DIV/0!")
    return float(math.trunc(a / b))


def _digits(d):
    return 0 if d is None else int(d)


@function("ROUND", "nn")
def _round(x, d=None):
    return round_half_away(x, _digits(d))


path("ROUND")(elementwise(lambda x, d: np.sign(x) * np.floor(np.abs(x) * 10.0 ** d + 0.5) / 10.0 ** d,
                          lambda i, out, x, d: 0.0))        # not exact: Excel rounds the decimal shown


@function("ROUNDUP", "nn")
def _roundup(x, d=None):
    q = 10.0 ** _digits(d)
    return math.copysign(math.ceil(float(f"{abs(x) * q:.15g}")) / q, x)


@function("ROUNDDOWN TRUNC", "nn")
def _rounddown(x, d=None):
    q = 10.0 ** _digits(d)
    return math.copysign(math.floor(float(f"{abs(x) * q:.15g}")) / q, x)


@function("MROUND", "nn")
def _mround(x, m):
    if m == 0:
        return 0.0
    if x * m < 0:
        raise CellError("#NUM!")
    return round_half_away(x / m, 0) * m


@function("CEILING CEILING.MATH CEILING.PRECISE ISO.CEILING", "nnn")
def _ceiling(x, sig=None, mode=None):
    sig = 1.0 if sig is None else abs(sig) if x < 0 or sig > 0 else sig
    if sig == 0:
        return 0.0
    if x < 0 and mode:
        return -math.ceil(float(f"{-x / sig:.15g}")) * sig
    return math.ceil(float(f"{x / sig:.15g}")) * sig


@function("FLOOR FLOOR.MATH FLOOR.PRECISE", "nnn")
def _floor(x, sig=None, mode=None):
    sig = 1.0 if sig is None else abs(sig)
    if sig == 0:
        if x == 0:
            return 0.0
        raise CellError("#DIV/0!")
    if x < 0 and mode:
        return -math.floor(float(f"{-x / sig:.15g}")) * sig
    return math.floor(float(f"{x / sig:.15g}")) * sig


@function("COMBIN", "nn")
def _combin(n, k):
    n, k = int(n), int(k)
    if n < 0 or k < 0 or k > n:
        raise CellError("#NUM!")
    return float(math.comb(n, k))


@function("GCD", "N*")
def _gcd(xs):
    return float(math.gcd(*(int(x) for x in xs))) if len(xs) else 0.0


# --- sums of ranges ---------------------------------------------------------------------------

@function("SUM", "N*")
def _sum(xs):
    return math.fsum(xs)


@function("SUMSQ", "N*")
def _sumsq(xs):
    return math.fsum(xs * xs)


@function("PRODUCT", "N*")
def _product(xs):
    return finite(float(np.prod(xs))) if len(xs) else 0.0


@path("SUM")
def _p_sum(b, args, N):
    x, m = b.flat_numbers(args)                        # (N, 1, K) numbers, non-numbers held as 0
    return b.dyn(lambda v: v.sum(axis=(-2, -1), keepdims=True),
                 lambda g, out, v: (np.broadcast_to(g, g.shape[:-3] + v.shape[-3:]),), [x], (N, 1, 1),
                 affine=b.affine(x))


@path("SUMSQ")
def _p_sumsq(b, args, N):
    x, m = b.flat_numbers(args)
    return b.dyn(lambda v: (v * v).sum(axis=(-2, -1), keepdims=True), lambda g, out, v: (g * 2 * v,), [x], (N, 1, 1))


def _paired(a, b_):
    """Pairs where both sides are numbers (Excel's rule for SUMXMY2, SUMX2MY2, SUMX2PY2)."""
    if a.shape != b_.shape:
        raise CellError("#N/A")
    xs, ys = [], []
    for x, y in zip(a.ravel(), b_.ravel()):
        for v in (x, y):
            if isinstance(v, str) and type(v).__name__ == "XlError":
                raise CellError(v)
        if is_number(x) and is_number(y):
            xs.append(float(x))
            ys.append(float(y))
    return np.array(xs), np.array(ys)


@function("SUMXMY2", "aa")
def _sumxmy2(a, b):
    x, y = _paired(a, b)
    return math.fsum((x - y) ** 2)


@function("SUMX2MY2", "aa")
def _sumx2my2(a, b):
    x, y = _paired(a, b)
    return math.fsum(x * x - y * y)


@function("SUMX2PY2", "aa")
def _sumx2py2(a, b):
    x, y = _paired(a, b)
    return math.fsum(x * x + y * y)


def _p_paired(term, dterm):
    def build(b, args, N):
        (x, mx), (y, my) = (b.numbers(a) for a in args)
        if b.shape(x) != b.shape(y):
            raise FormulaError("a paired sum of ranges of different shapes")
        both = (mx & my).astype(float)                  # pairs with a non-number are skipped

        def fwd(u, v):
            return (term(u, v) * both).sum(axis=(-2, -1), keepdims=True)

        def vjp(g, out, u, v):
            du, dv = dterm(u, v)
            return g * du * both, g * dv * both
        return b.dyn(fwd, vjp, [x, y], (N, 1, 1))
    return build


path("SUMXMY2")(_p_paired(lambda u, v: (u - v) ** 2, lambda u, v: (2 * (u - v), -2 * (u - v))))
path("SUMX2MY2")(_p_paired(lambda u, v: u * u - v * v, lambda u, v: (2 * u, -2 * v)))
path("SUMX2PY2")(_p_paired(lambda u, v: u * u + v * v, lambda u, v: (2 * u, 2 * v)))


@function("SUMPRODUCT", "a*")
def _sumproduct(*arrs):
    if any(a.shape != arrs[0].shape for a in arrs):
        raise CellError("#VALUE!")
    prod = None
    for a in arrs:
        xs = a.ravel().tolist()
        if not all(type(v) is float for v in xs):       # text, logicals and empty cells count as 0
            for v in xs:
                if isinstance(v, str) and type(v).__name__ == "XlError":
                    raise CellError(v)
            xs = [float(v) if is_number(v) else 0.0 for v in xs]
        x = np.array(xs, dtype=float)
        prod = x if prod is None else prod * x
    return math.fsum(prod.tolist())


@path("SUMPRODUCT")
def _p_sumproduct(b, args, N):
    parts = [b.numbers(a)[0] for a in args]
    if len({b.shape(p) for p in parts}) != 1:
        raise FormulaError("SUMPRODUCT of ranges of different shapes")

    def fwd(*vs):
        p = vs[0]
        for v in vs[1:]:
            p = p * v
        return p.sum(axis=(-2, -1), keepdims=True)

    def vjp(g, out, *vs):
        grads = []
        for i in range(len(vs)):
            p = np.ones_like(vs[0])
            for j, v in enumerate(vs):
                if j != i:
                    p = p * v
            grads.append(g * p)
        return tuple(grads)
    n_dyn = sum(not b.is_const(p) for p in parts)
    return b.dyn(fwd, vjp, parts, (N, 1, 1), affine=n_dyn <= 1 and all(b.affine(p) for p in parts))


def matrix_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b over the last two axes, each element the math.fsum of its products, as every sum
    here: BLAS sums in an order that depends on the CPU, and the values cached in a workbook
    must be the same bytes on every machine. NaN where the sum has no finite value."""
    with np.errstate(over="ignore", invalid="ignore"):   # an overflow: inf or NaN, then #NUM!
        prod = np.swapaxes(a[..., :, :, None] * b[..., None, :, :], -2, -1)    # (..., I, J, K)
    out = []
    for products in prod.reshape(-1, prod.shape[-1]).tolist():
        try:
            out.append(math.fsum(products))
        except (ValueError, OverflowError):     # inf - inf, or a sum past the float range
            out.append(math.nan)
    return np.array(out, dtype=float).reshape(prod.shape[:-1])


@function("MMULT", "aa")
def _mmult(a, b):
    if a.shape[1] != b.shape[0] or not all(is_number(v) for v in np.concatenate([a.ravel(), b.ravel()])):
        raise CellError("#VALUE!")
    out = matrix_product(a.astype(float), b.astype(float))
    if not np.isfinite(out).all():
        raise CellError("#NUM!")
    return out.astype(object)


@path("MMULT")
def _p_mmult(b, args, N):
    x, y = (b.num(a, strict=True) for a in args)
    sa, sb = b.shape(x), b.shape(y)
    if sa[2] != sb[1]:
        raise FormulaError(f"MMULT of a {sa[1]}x{sa[2]} and a {sb[1]}x{sb[2]} range")
    return b.dyn(np.matmul, lambda g, out, u, v: (g @ np.swapaxes(v, -1, -2), np.swapaxes(u, -1, -2) @ g),
                 [x, y], (N, sa[1], sb[2]),
                 affine=(b.is_const(x) and b.affine(y)) or (b.affine(x) and b.is_const(y)))


@function("TRANSPOSE", "a")
def _transpose(a):
    return a.T.copy()


@path("TRANSPOSE")
def _p_transpose(b, args, N):
    x = b.num(args[0])
    s = b.shape(x)
    return b.dyn(lambda u: np.swapaxes(u, -1, -2), lambda g, out, u: (np.swapaxes(g, -1, -2),), [x],
                 (N, s[2], s[1]), affine=b.affine(x), numeric=b.numeric_mask(args[0]).transpose(0, 2, 1))

