"""Money over time: NPV, PV, FV, PMT, IRR (capital-budgeting models use them)."""

from __future__ import annotations

import math

import numpy as np

from xlbridge.calc.functions import function
from xlbridge.calc.values import CellError


@function("NPV", "nN*")
def _npv(rate, flows):
    if rate == -1:
        raise CellError("#DIV/0!")
    return math.fsum(v / (1 + rate) ** (i + 1) for i, v in enumerate(flows))


def _annuity(rate, n):
    return n if rate == 0 else (1 - (1 + rate) ** -n) / rate


@function("PV", "nnnnn")
def _pv(rate, n, pmt, fv=None, when=None):
    fv, when = fv or 0.0, 1.0 if when else 0.0
    if rate == 0:
        return -(fv + pmt * n)
    g = (1 + rate) ** n
    return -(fv + pmt * (1 + rate * when) * (g - 1) / rate) / g


@function("FV", "nnnnn")
def _fv(rate, n, pmt, pv=None, when=None):
    pv, when = pv or 0.0, 1.0 if when else 0.0
    if rate == 0:
        return -(pv + pmt * n)
    g = (1 + rate) ** n
    return -(pv * g + pmt * (1 + rate * when) * (g - 1) / rate)


@function("PMT", "nnnnn")
def _pmt(rate, n, pv, fv=None, when=None):
    fv, when = fv or 0.0, 1.0 if when else 0.0
    if n == 0:
        raise CellError("#NUM!")
    if rate == 0:
        return -(pv + fv) / n
    g = (1 + rate) ** n
    return -(pv * g + fv) * rate / ((1 + rate * when) * (g - 1))


@function("IRR", "an")
def _irr(values, guess=None):
    flows = np.array([float(v) for v in values.ravel() if isinstance(v, float | int) and not isinstance(v, bool)])
    if not (flows > 0).any() or not (flows < 0).any():
        raise CellError("#NUM!")
    r = 0.1 if guess is None else guess
    t = np.arange(len(flows))
    for _ in range(100):                          # Newton's method, as Excel (20 tries there; we allow more)
        f = np.sum(flows / (1 + r) ** t)
        d = np.sum(-t * flows / (1 + r) ** (t + 1))
        if d == 0:
            break
        step = f / d
        r -= step
        if abs(step) < 1e-12:
            return float(r)
    raise CellError("#NUM!")
