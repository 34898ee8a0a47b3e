"""The gradient-descent lesson's data: x and y = a*x + b + noise, seeded, so a workbook holds
values instead of RANDBETWEEN. Kept apart from models/linear.py (which needs torch) so that the
graddesc builder writes its data sheet without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LineData:
    """Points on a line plus noise. `y` is computed as the data sheet computes it."""

    x: np.ndarray      # (N,) integers 1..x_max, stored as float64
    noise: np.ndarray  # (N,) rounded to 2 decimals, so it is written and read back exactly
    a: float           # the true slope
    b: float           # the true intercept

    @property
    def y(self) -> np.ndarray:
        return self.a * self.x + self.b + self.noise  # (N,), same order of operations as the sheet


def make_data(n: int = 30, a: float = 2.0, b: float = 30.0, noise: float = 5.0,
              x_max: int = 100, seed: int = 42) -> LineData:
    """`n` points with x drawn from 1..x_max (the course's RANDBETWEEN(1,100)), seeded."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, x_max + 1, size=n).astype(np.float64)
    eps = np.round(rng.normal(0.0, noise, size=n), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    return LineData(x=x, noise=eps, a=float(a), b=float(b))
