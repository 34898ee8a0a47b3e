"""The gradient-descent lesson's optimizers, each step a small pure function over arrays.

    new_p, new_state, shown = STEPS[name](p, g, state, t, **hyperparameters)

p are the parameters, g their gradient, t the step number (1 on the first step), and `state`
what torch keeps in `optimizer.state[p]`, under torch's names (momentum_buffer, sum,
square_avg, exp_avg, exp_avg_sq); an empty dict before the first step. `shown` holds the
intermediate quantities the workbook gives a column of its own (Adagrad's decayed learning
rate, Adam's bias corrections, AdamW's decayed weights).

These are the hand-written reference for torch.optim (models/linear.py, train_numpy), the
source of the parity check's derived columns and of the line-fit UDFs. The workbook's formulas
are the only other copy, and LibreOffice proves the two equal. Each step follows the update
rule in torch's documentation, in torch's order of operations.
"""

from __future__ import annotations

import math

import numpy as np


# ---------------------------------------------------------------------------------------------
# The lesson's optimizers and their default hyperparameters, chosen for the line-fit workbook's
# default data (x up to 100, true a=2, b=30, start a=b=1): each optimizer visibly converges in a
# few epochs except plain SGD, whose slow progress on b is the lesson's reason for momentum and Adam.

OPTIMIZERS: dict[str, dict[str, float]] = {
    # torch.optim.SGD(params, lr)
    "sgd": {"lr": 5e-5},
    # torch.optim.SGD(params, lr, momentum, dampening)
    "momentum": {"lr": 5e-6, "momentum": 0.9, "dampening": 0.0},
    # torch.optim.Adagrad(params, lr, lr_decay, initial_accumulator_value=..., eps)
    "adagrad": {"lr": 3.0, "lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10},
    # torch.optim.RMSprop(params, lr, alpha, eps)
    "rmsprop": {"lr": 0.1, "alpha": 0.99, "eps": 1e-8},
    # torch.optim.Adam(params, lr, betas=(beta1, beta2), eps)
    "adam": {"lr": 0.5, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    # torch.optim.AdamW(params, lr, betas=(beta1, beta2), eps, weight_decay)
    "adamw": {"lr": 0.5, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
    # torch.optim.Adam + OneCycleLR(max_lr, total_steps, pct_start, div_factor,
    #                               final_div_factor, base_momentum, max_momentum)
    "adam_onecycle": {"max_lr": 3.0, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4,
                      "base_momentum": 0.85, "max_momentum": 0.95, "beta2": 0.999, "eps": 1e-8},
    # the course's "adam": no bias correction, no eps (models/linear.py, CourseAdam)
    "adam_course": {"lr": 0.3, "beta1": 0.9, "beta2": 0.999},
}

# The optimizer state each sheet shows, as torch names it in optimizer.state[p].
STATE_KEYS: dict[str, tuple[str, ...]] = {
    "sgd": (),
    "momentum": ("momentum_buffer",),
    "adagrad": ("sum",),
    "rmsprop": ("square_avg",),
    "adam": ("exp_avg", "exp_avg_sq"),
    "adamw": ("exp_avg", "exp_avg_sq"),
    "adam_onecycle": ("exp_avg", "exp_avg_sq"),
    "adam_course": ("exp_avg", "exp_avg_sq"),
}


# ---------------------------------------------------------------------------------------------
# The steps


def sgd(p, g, state, t, *, lr):
    # p.add_(g, alpha=-lr)
    return p - lr * g, state, {}


def momentum(p, g, state, t, *, lr, momentum, dampening):
    # buf = g on the first step (torch clones the gradient, no dampening), then
    # buf.mul_(momentum).add_(g, alpha=1 - dampening); p.add_(buf, alpha=-lr)
    buf = g.copy() if t == 1 else momentum * state["momentum_buffer"] + (1 - dampening) * g
    return p - lr * buf, {"momentum_buffer": buf}, {}


def adagrad(p, g, state, t, *, lr, lr_decay, initial_accumulator_value, eps):
    # clr = lr / (1 + (t - 1) * lr_decay); state_sum.addcmul_(g, g); p.addcdiv_(g, sqrt(sum) + eps, value=-clr)
    clr = lr / (1 + (t - 1) * lr_decay)
    total = state.get("sum", np.full_like(p, initial_accumulator_value)) + g * g
    return p - clr * g / (np.sqrt(total) + eps), {"sum": total}, {"clr": clr}


def rmsprop(p, g, state, t, *, lr, alpha, eps):
    # square_avg.mul_(alpha).addcmul_(g, g, value=1 - alpha); p.addcdiv_(g, sqrt(square_avg) + eps, value=-lr)
    square_avg = alpha * state.get("square_avg", np.zeros_like(p)) + (1 - alpha) * g * g
    return p - lr * g / (np.sqrt(square_avg) + eps), {"square_avg": square_avg}, {}


def adam(p, g, state, t, *, lr, beta1, beta2, eps, weight_decay=0.0):
    """torch.optim.Adam, or AdamW when weight_decay > 0 (decoupled: the weights shrink before
    the Adam step; the decay never enters the gradient or the moving averages)."""
    decayed = p * (1 - lr * weight_decay)                                   # p.mul_(1 - lr * wd)
    m = beta1 * state.get("exp_avg", np.zeros_like(p)) + (1 - beta1) * g    # exp_avg.lerp_(g, 1 - beta1)
    v = beta2 * state.get("exp_avg_sq", np.zeros_like(p)) + (1 - beta2) * g * g
    bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
    # p.addcdiv_(exp_avg, exp_avg_sq.sqrt() / sqrt(bc2) + eps, value=-lr / bc1)
    new = decayed - (lr / bc1) * m / (np.sqrt(v) / math.sqrt(bc2) + eps)
    return new, {"exp_avg": m, "exp_avg_sq": v}, {"bias_correction1": bc1, "bias_correction2": bc2, "decayed": decayed}


def adam_course(p, g, state, t, *, lr, beta1, beta2):
    """The course spreadsheet's "adam", NOT torch's: no bias correction and no eps."""
    m = beta1 * state.get("exp_avg", np.zeros_like(p)) + (1 - beta1) * g
    v = beta2 * state.get("exp_avg_sq", np.zeros_like(p)) + (1 - beta2) * g * g
    return p - lr * m / np.sqrt(v), {"exp_avg": m, "exp_avg_sq": v}, {}


# optimizer name (as models/linear.py's OPTIMIZERS) -> its step. AdamW is Adam with decoupled
# weight decay; Adam under OneCycleLR is Adam whose lr and beta1 change every step.
STEPS = {
    "sgd": sgd,
    "momentum": momentum,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adam,
    "adam_onecycle": adam,
    "adam_course": adam_course,
}
