"""The one function registry: every Excel function and operator xlbridge computes.

Each entry holds, side by side, the two ways a function is computed:

- `impl`, the interpreter's: Excel values in, an Excel value out, with Excel's rules for
  empty cells, text, logicals and errors. `args` says how each argument is prepared
  (below), so an implementation reads like the function's definition.
- `path`, the decision path's (optional): how the function is built into a vectorised
  numpy program over a block of cells whose inputs move with the Solver's changing cells,
  with its exact derivative (a vector-Jacobian product) beside its forward formula, and
  whether it is linear. Functions without one are constants for a solve: evaluated once.
- `vec` (set with the path of a function applied number by number): the path's numpy
  forward form, which the interpreter and group evaluation (vector.py) apply to a block of
  numbers at once; only where numpy gives what `impl` gives to the bit on any machine
  (IEEE arithmetic, square roots, floors: not exp or pow, whose numpy forms may differ in
  the last bit, by CPU). Without one, a block is mapped through `impl` number by number.

Argument kinds (one letter per argument; a trailing '*' repeats the last one, and in 'a|as'
the part after '|' repeats, as SUMIFS's range/criterion pairs do):
    n  a number (text and logicals coerced; a range by implicit intersection)
    i  an integer (a number truncated)       b  a logical (TRUE/FALSE, numbers)
    s  one value, as it is                   t  text
    a  a 2-D object array of values (a range, an array or one value)
    N  the numbers of all remaining arguments, as Excel's SUM sees them, one float array
    r  a reference (a Range)                 v  whatever the argument evaluates to
    L  lazy: a function of no arguments that evaluates the argument (IF, IFERROR, ...)
An omitted argument (IF(A1,,2)) arrives as None, except for kind L.

To add a function: write its impl with `@function("NAME", "args")` in the module of its
family (math, stats, conditional, lookup, logic, text, dates, finance), and, if models put
it on the decision path, its `path` beside it with `@path("NAME")`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Function:
    name: str
    impl: object                 # the interpreter: impl(*prepared args) -> value
    args: str                    # argument kinds, see above
    ctx: bool = False            # impl takes the evaluation context first (host cell, workbook)
    path: object = None          # the decision path: path(builder, args, N) -> node
    vec: object = None           # numpy form number by number: vec(*float arrays) -> array
    volatile: bool = False       # recomputed on every recalculation (TODAY, NOW)

    def kinds(self, n: int) -> str:
        spec = self.args
        if "|" in spec:                       # 'a|as': one 'a', then 'as' pairs (SUMIFS)
            head, rep = spec.split("|")
            out = head
            while len(out) < n:
                out += rep
            return out[:max(n, len(head))]
        if spec.endswith("*"):
            body, rep = spec[:-2], spec[-2]
            return (body + rep * max(0, n - len(body)))[:max(n, len(body))]
        return spec[:n]


FUNCTIONS: dict[str, Function] = {}
ALIASES: dict[str, str] = {}


def function(names: str, args: str, ctx: bool = False, volatile: bool = False):
    """Register an interpreter implementation under one or more names ('STDEV.S STDEV')."""
    def deco(fn):
        for name in names.split():
            FUNCTIONS[name] = Function(name, fn, args, ctx=ctx, volatile=volatile)
        return fn
    return deco


def path(names: str):
    """Register the decision-path builder of functions already registered with `function`
    (and, for one made by `elementwise`, its numpy form as `vec`)."""
    def deco(fn):
        for name in names.split():
            FUNCTIONS[name].path = fn
            FUNCTIONS[name].vec = getattr(fn, "vec", None)
        return fn
    return deco


# --- helpers for decision-path builders -------------------------------------------------------

def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient over the axes an input was broadcast along (it may carry leading
    batch axes for a whole Jacobian at once)."""
    nd = len(shape)
    for ax in range(1, nd + 1):
        if shape[-ax] == 1 and g.shape[-ax] != 1:
            g = g.sum(axis=-ax, keepdims=True)
    return g


def elementwise(fwd, deriv, linear: bool = False, exact: bool = False):
    """A path for a function applied cell by cell: fwd(*xs) and d fwd / d x_i = deriv(i, out, *xs).
    `exact`: fwd gives what the interpreter gives, to the bit (so it also serves as `vec`)."""
    def build(b, args, N):
        xs = [b.num(a) for a in args]
        shape = np.broadcast_shapes(*(b.shape(x) for x in xs))

        def vjp(g, out, *vals):
            return tuple(None if deriv is None else unbroadcast(_times(g, deriv(i, out, *vals)), np.shape(v))
                         for i, v in enumerate(vals))
        affine = linear and all(b.affine(x) for x in xs)
        return b.dyn(fwd, vjp, xs, shape, affine=affine)
    build.vec = fwd if exact else None
    return build


def _times(g, d):
    """g * d, where no gradient flows (g == 0) even if d is infinite there (x/0 in the branch
    IFERROR did not take)."""
    with np.errstate(invalid="ignore", over="ignore"):
        r = g * d
    if np.isfinite(r).all():
        return r
    return np.where(g == 0, 0.0, r)


# The families register themselves on import; order does not matter.
from xlbridge.calc.functions import (  # noqa: E402,F401
    conditional, dates, finance, logic, lookup, math, stats, text,
)
