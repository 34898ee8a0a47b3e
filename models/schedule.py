"""The one-cycle schedules, as pure functions of where training is.

Two schedules of the course share one cosine:

- fastai's `fit_one_cycle` (the collaborative-filtering lesson): the position is the share of
  training done before a batch, pct = batches_done / total_batches. The learning rate warms up
  from lr_max/div to lr_max over the first pct_start, then anneals to lr_max/div_final; the
  momentum (Adam's beta1) moves the opposite way, 0.95 -> 0.85 -> 0.95.
- torch's `OneCycleLR` (the gradient-descent workbook's `adam onecycle` sheet): the position is
  the scheduler's step count, and its warm-up ends at step pct_start * total_steps - 1.

The workbook's formulas are the only other copy of the second; LibreOffice proves them equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def cos_anneal(start: float, end: float, pct: float) -> float:
    """Half a cosine from `start` (pct = 0) to `end` (pct = 1): torch's `_annealing_cos`,
    and fastai's `sched_cos` written the other way round."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


@dataclass(frozen=True)
class OneCycle:
    """fastai's fit_one_cycle: `OneCycle(lr_max)(pct)` is the (lr, momentum) of the batch that
    starts when a share `pct` of all batches is done."""

    lr_max: float
    div: float = 25.0                        # start at lr_max / 25
    div_final: float = 1e5                   # end at lr_max / 1e5
    pct_start: float = 0.25                  # a quarter of training warms up
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95)

    def __call__(self, pct: float) -> tuple[float, float]:
        if pct < self.pct_start:
            p = pct / self.pct_start
            return (cos_anneal(self.lr_max / self.div, self.lr_max, p), cos_anneal(self.moms[0], self.moms[1], p))
        p = (pct - self.pct_start) / (1 - self.pct_start)
        return (cos_anneal(self.lr_max, self.lr_max / self.div_final, p), cos_anneal(self.moms[1], self.moms[2], p))


@dataclass(frozen=True)
class Piecewise:
    """A constant learning rate per stretch of training, as the older lesson ran it: fit, then
    `set_lrs(opt, 1e-2)`, then fit again. `Piecewise(((0.5, 0.1), (1.0, 0.01)))(pct)` is 0.1 for
    the first half and 0.01 after; the momentum is left alone (None)."""

    stretches: tuple[tuple[float, float], ...]   # (share of training where it ends, lr)

    def __call__(self, pct: float) -> tuple[float, None]:
        for end, lr in self.stretches:
            if pct < end:
                return lr, None
        return self.stretches[-1][1], None


def one_cycle_torch(step: int, total_steps: int, *, max_lr: float, pct_start: float, div_factor: float,
                    final_div_factor: float, base_momentum: float, max_momentum: float) -> tuple[float, float, float]:
    """(lr, beta1, share of the current phase done) that torch.optim.lr_scheduler.OneCycleLR
    (cosine, two phases) gives after `step` scheduler steps out of `total_steps`."""
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    warmup_end = float(pct_start * total_steps) - 1          # OneCycleLR's first phase end_step
    if step <= warmup_end:
        pct = step / warmup_end
        return cos_anneal(initial_lr, max_lr, pct), cos_anneal(max_momentum, base_momentum, pct), pct
    pct = (step - warmup_end) / (total_steps - 1 - warmup_end)
    return cos_anneal(max_lr, min_lr, pct), cos_anneal(base_momentum, max_momentum, pct), pct


def onecycle_warmup_end(pct_start: float, total_steps: int) -> float:
    """The step at which OneCycleLR's warm-up phase ends (its first phase's end_step)."""
    return float(pct_start * total_steps) - 1
