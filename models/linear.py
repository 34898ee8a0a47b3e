"""The gradient-descent lesson's model: fit y = a*x + b by SGD, one data point per step.

Mirrors xlbridge/builders/graddesc.py sheet for sheet: each optimizer there is a sheet whose
rows are the steps below, and the names of the trajectory's quantities (`a`, `grad_a`,
`exp_avg_a`, ...) are the sheet's defined names. Three references, run on the same data in
the same order (batch size 1, no shuffling, several epochs):

1. `train_torch`: parameters a, b as float64 tensors, `loss.backward()` and the real
   `torch.optim` classes (plus `torch.optim.lr_scheduler.OneCycleLR` for "adam_onecycle").
   This is what the workbook is proven equal to.
2. `train_numpy`: the same optimizers written out by hand with the derivatives derived on
   paper, a second opinion on the first.
3. `CourseAdam`: the course spreadsheet's own "adam" (no bias correction, no eps), kept as a
   clearly labelled variant with its own sheet and its own reference; it is NOT torch's Adam.

The loss is the course's: the squared error of one point, e = (a*x + b - y)**2, so
    de/db = 2*(a*x + b - y)        de/da = x * de/db
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from models.device import default_device
from xlbridge.errors import XlbridgeInputError, check_float, check_int

# ---------------------------------------------------------------------------------------------
# Data: x and y = a*x + b + noise, seeded, so a workbook holds values instead of RANDBETWEEN.


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
    n = check_int(n, "n_points", min_val=2)
    a = check_finite(a, "true_a")
    b = check_finite(b, "true_b")
    noise = check_finite(noise, "noise", min_val=0.0)
    x_max = check_int(x_max, "x_max", min_val=1)
    seed = check_int(seed, "seed", min_val=0)
    rng = np.random.default_rng(seed)
    x = rng.integers(1, x_max + 1, size=n).astype(np.float64)
    eps = np.round(rng.normal(0.0, noise, size=n), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    return LineData(x=x, noise=eps, a=a, b=b)


# ---------------------------------------------------------------------------------------------
# Optimizers and their hyperparameters. Defaults are chosen for the default data (x up to 100,
# true a=2, b=30, start a=b=1): each optimizer visibly converges in a few epochs except plain
# SGD, whose slow progress on b is the lesson's reason for momentum and Adam.

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
    # the course's "adam": no bias correction, no eps (CourseAdam below)
    "adam_course": {"lr": 0.3, "beta1": 0.9, "beta2": 0.999},
}

# (min, max, min_inclusive, max_inclusive) for each hyperparameter; the rule is data, one
# checker turns it into a message (sklearn's constraints-as-data).
_BOUNDS: dict[str, tuple] = {
    "lr": (0.0, None, True, True),
    "max_lr": (0.0, None, False, True),
    "momentum": (0.0, 1.0, True, False),
    "dampening": (0.0, 1.0, True, True),
    "lr_decay": (0.0, None, True, True),
    "initial_accumulator_value": (0.0, None, True, True),
    "eps": (0.0, None, False, True),
    "alpha": (0.0, 1.0, True, False),
    "beta1": (0.0, 1.0, True, False),
    "beta2": (0.0, 1.0, True, False),
    "weight_decay": (0.0, None, True, True),
    "pct_start": (0.0, 1.0, False, False),
    "div_factor": (0.0, None, False, True),
    "final_div_factor": (0.0, None, False, True),
    "base_momentum": (0.0, 1.0, True, False),
    "max_momentum": (0.0, 1.0, True, False),
}


def check_finite(value, name: str, **bounds) -> float:
    """`check_float` that also refuses inf: a workbook cell cannot hold it, and a run with it
    only produces NaN."""
    x = check_float(value, name, **bounds)
    if not math.isfinite(x):
        raise XlbridgeInputError(f"{name} == {x:g}, must be a finite number")
    return x


def check_optimizer(optimizer: str) -> str:
    """Return `optimizer` if it is one of OPTIMIZERS, else raise one clear error."""
    if optimizer not in OPTIMIZERS:
        raise XlbridgeInputError(f"optimizer {optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    return optimizer


def check_hparams(optimizer: str, hparams: Mapping[str, float] | None = None,
                  total_steps: int | None = None) -> dict[str, float]:
    """The optimizer's defaults updated with `hparams`, each checked against its bounds.

    Unknown keys are an error (a typo must not silently fall back to a default). With
    `total_steps`, also checks that OneCycleLR's phases are not empty.
    """
    defaults = OPTIMIZERS[check_optimizer(optimizer)]
    hparams = dict(hparams or {})
    unknown = sorted(set(hparams) - set(defaults))
    if unknown:
        raise XlbridgeInputError(
            f"{optimizer}: unknown hyperparameter {unknown[0]!r} (known: {', '.join(defaults)})"
        )
    out = {}
    for key, default in defaults.items():
        lo, hi, lo_inc, hi_inc = _BOUNDS[key]
        out[key] = check_finite(hparams.get(key, default), f"{optimizer} {key}", min_val=lo, max_val=hi,
                                min_inclusive=lo_inc, max_inclusive=hi_inc)
    if optimizer == "adam_onecycle" and total_steps is not None:
        end = onecycle_warmup_end(out["pct_start"], total_steps)
        # OneCycleLR divides by the warm-up length and by what is left after it
        if not 0 < end < total_steps - 1:
            raise XlbridgeInputError(
                f"adam_onecycle pct_start == {out['pct_start']:g} with {total_steps} steps puts the end "
                f"of warm-up at step {end:g}; it must fall strictly between 0 and {total_steps - 1}"
            )
    return out


def onecycle_warmup_end(pct_start: float, total_steps: int) -> float:
    """The step at which OneCycleLR's warm-up phase ends (its first phase's `end_step`)."""
    return float(pct_start * total_steps) - 1


def _check_run(x, y, epochs, a_init, b_init, optimizer, hparams):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 1:
        raise XlbridgeInputError(f"x and y must be two equal-length 1-D arrays; got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise XlbridgeInputError("x and y must be finite numbers")
    epochs = check_int(epochs, "epochs", min_val=1)
    a_init = check_finite(a_init, "a_init")
    b_init = check_finite(b_init, "b_init")
    hp = check_hparams(optimizer, hparams, total_steps=epochs * x.size)
    return x, y, epochs, a_init, b_init, hp


class Trajectory(dict):
    """Per-step arrays keyed by the sheet's defined names, with attribute access
    (`traj.a`, `traj["exp_avg_a"]`). Row i is step i+1: `a`, `b` are the parameters the
    step starts from, `new_a`, `new_b` where it leaves them, state columns are after the step.
    `epoch_loss` is the mean loss of each epoch."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# ---------------------------------------------------------------------------------------------
# 1. PyTorch: the real torch.optim classes.


class CourseAdam(torch.optim.Optimizer):
    """The course spreadsheet's "adam" variant, NOT torch.optim.Adam: no bias correction and
    no eps, both moving averages starting at 0:

        m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g**2;  p = p - lr*m/sqrt(v)
    """

    def __init__(self, params, lr=1.0, betas=(0.9, 0.999)):
        super().__init__(params, dict(lr=lr, betas=betas))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                m, v, g = state["exp_avg"], state["exp_avg_sq"], p.grad
                m.mul_(beta1).add_((1 - beta1) * g)
                v.mul_(beta2).add_((1 - beta2) * g * g)
                p.sub_(group["lr"] * m / v.sqrt())


def _torch_optimizer(optimizer: str, params, hp: dict, total_steps: int):
    """(optimizer, scheduler or None) exactly as a course notebook would construct them.
    foreach=False picks torch's documented one-tensor-at-a-time loop on every device."""
    O = torch.optim
    if optimizer == "sgd":
        return O.SGD(params, lr=hp["lr"], foreach=False), None
    if optimizer == "momentum":
        return O.SGD(params, lr=hp["lr"], momentum=hp["momentum"], dampening=hp["dampening"],
                     foreach=False), None
    if optimizer == "adagrad":
        return O.Adagrad(params, lr=hp["lr"], lr_decay=hp["lr_decay"], eps=hp["eps"],
                         initial_accumulator_value=hp["initial_accumulator_value"], foreach=False), None
    if optimizer == "rmsprop":
        return O.RMSprop(params, lr=hp["lr"], alpha=hp["alpha"], eps=hp["eps"], foreach=False), None
    if optimizer == "adam":
        return O.Adam(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                      foreach=False), None
    if optimizer == "adamw":
        return O.AdamW(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                       weight_decay=hp["weight_decay"], foreach=False), None
    if optimizer == "adam_onecycle":
        opt = O.Adam(params, lr=hp["max_lr"], betas=(hp["max_momentum"], hp["beta2"]), eps=hp["eps"],
                     foreach=False)
        sched = O.lr_scheduler.OneCycleLR(
            opt, max_lr=hp["max_lr"], total_steps=total_steps, pct_start=hp["pct_start"],
            anneal_strategy="cos", cycle_momentum=True, base_momentum=hp["base_momentum"],
            max_momentum=hp["max_momentum"], div_factor=hp["div_factor"],
            final_div_factor=hp["final_div_factor"])
        return opt, sched
    if optimizer == "adam_course":
        return CourseAdam(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"])), None
    raise AssertionError(optimizer)  # check_optimizer already refused anything else


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


def train_torch(x, y, optimizer: str = "adam", hparams: Mapping[str, float] | None = None, *,
                epochs: int = 5, a_init: float = 1.0, b_init: float = 1.0,
                device: str | torch.device | None = None) -> Trajectory:
    """Fit y = a*x + b with a torch.optim optimizer, one point per step, data in order.

    Returns the trajectory per step (see `Trajectory`). Runs in float64, on CUDA when
    available unless `device` says otherwise (the sequence of steps is the same either way).
    """
    x, y, epochs, a_init, b_init, hp = _check_run(x, y, epochs, a_init, b_init, optimizer, hparams)
    if device is None:
        device = default_device()
    f64 = dict(dtype=torch.float64, device=device)
    n, steps = x.size, epochs * x.size
    a = torch.tensor(a_init, requires_grad=True, **f64)
    b = torch.tensor(b_init, requires_grad=True, **f64)
    opt, sched = _torch_optimizer(optimizer, [a, b], hp, steps)
    xs, ys = torch.tensor(x, **f64), torch.tensor(y, **f64)

    rec = {k: [] for k in ("a", "b", "pred", "loss", "grad_a", "grad_b", "new_a", "new_b")}
    for key in STATE_KEYS[optimizer]:
        rec[f"{key}_a"], rec[f"{key}_b"] = [], []
    if sched is not None:
        rec["lr_t"], rec["beta1_t"] = [], []
    for t in range(steps):
        i = t % n  # data in order, epoch after epoch
        rec["a"].append(a.item()); rec["b"].append(b.item())
        pred = a * xs[i] + b
        loss = (pred - ys[i]) ** 2
        opt.zero_grad()
        loss.backward()
        rec["pred"].append(pred.item()); rec["loss"].append(loss.item())
        rec["grad_a"].append(a.grad.item()); rec["grad_b"].append(b.grad.item())
        if sched is not None:  # the lr and beta1 this step uses, set by the scheduler
            rec["lr_t"].append(opt.param_groups[0]["lr"]); rec["beta1_t"].append(opt.param_groups[0]["betas"][0])
        opt.step()
        if sched is not None:
            sched.step()
        rec["new_a"].append(a.item()); rec["new_b"].append(b.item())
        for key in STATE_KEYS[optimizer]:
            rec[f"{key}_a"].append(opt.state[a][key].item()); rec[f"{key}_b"].append(opt.state[b][key].item())
    return _finish(rec, epochs, n)


def _finish(rec: dict, epochs: int, n: int) -> Trajectory:
    out = Trajectory({k: np.asarray(v, dtype=np.float64) for k, v in rec.items()})
    out["epoch_loss"] = out["loss"].reshape(epochs, n).mean(axis=1)  # (epochs,)
    return out


# ---------------------------------------------------------------------------------------------
# 2. NumPy with the derivatives worked out by hand: the same steps, written as equations.


def train_numpy(x, y, optimizer: str = "adam", hparams: Mapping[str, float] | None = None, *,
                epochs: int = 5, a_init: float = 1.0, b_init: float = 1.0) -> Trajectory:
    """`train_torch` without torch: hand-derived gradients and each optimizer's update rule
    as its documentation states it. Agrees with `train_torch` to rounding."""
    x, y, epochs, a_init, b_init, hp = _check_run(x, y, epochs, a_init, b_init, optimizer, hparams)
    n, steps = x.size, epochs * x.size
    p = np.array([a_init, b_init])      # (2,) = [a, b]
    s1 = np.zeros(2)                    # first state: momentum buffer / sum / square_avg / exp_avg
    s2 = np.zeros(2)                    # second state: exp_avg_sq
    if optimizer == "adagrad":
        s1[:] = hp["initial_accumulator_value"]
    keys = STATE_KEYS[optimizer]
    rec = {k: [] for k in ("a", "b", "pred", "loss", "grad_a", "grad_b", "new_a", "new_b")}
    for key in keys:
        rec[f"{key}_a"], rec[f"{key}_b"] = [], []
    if optimizer == "adam_onecycle":
        rec["lr_t"], rec["beta1_t"] = [], []
        initial_lr = hp["max_lr"] / hp["div_factor"]
        min_lr = initial_lr / hp["final_div_factor"]
        warm = onecycle_warmup_end(hp["pct_start"], steps)

    for t in range(1, steps + 1):
        i = (t - 1) % n
        a, b = p
        pred = a * x[i] + b
        err = pred - y[i]
        loss = err ** 2
        g_b = 2 * err                   # de/db
        g = np.array([g_b * x[i], g_b])  # [de/da, de/db]
        rec["a"].append(a); rec["b"].append(b); rec["pred"].append(pred); rec["loss"].append(loss)
        rec["grad_a"].append(g[0]); rec["grad_b"].append(g[1])

        if optimizer == "sgd":
            p = p - hp["lr"] * g
        elif optimizer == "momentum":
            # the buffer starts as the first gradient itself (no dampening on step 1)
            s1 = g.copy() if t == 1 else hp["momentum"] * s1 + (1 - hp["dampening"]) * g
            p = p - hp["lr"] * s1
        elif optimizer == "adagrad":
            clr = hp["lr"] / (1 + (t - 1) * hp["lr_decay"])
            s1 = s1 + g * g
            p = p - clr * g / (np.sqrt(s1) + hp["eps"])
        elif optimizer == "rmsprop":
            s1 = hp["alpha"] * s1 + (1 - hp["alpha"]) * g * g
            p = p - hp["lr"] * g / (np.sqrt(s1) + hp["eps"])
        elif optimizer in ("adam", "adamw", "adam_onecycle"):
            lr, beta1 = hp.get("lr"), hp.get("beta1")
            if optimizer == "adam_onecycle":
                s = t - 1  # the scheduler's step count when this optimizer step runs
                if s <= warm:
                    pct = s / warm
                    lr, beta1 = _cos(initial_lr, hp["max_lr"], pct), _cos(hp["max_momentum"], hp["base_momentum"], pct)
                else:
                    pct = (s - warm) / (steps - 1 - warm)
                    lr, beta1 = _cos(hp["max_lr"], min_lr, pct), _cos(hp["base_momentum"], hp["max_momentum"], pct)
                rec["lr_t"].append(lr); rec["beta1_t"].append(beta1)
            if optimizer == "adamw":  # decoupled: shrink p before the Adam step, not via g
                p = p * (1 - lr * hp["weight_decay"])
            beta2 = hp["beta2"]
            s1 = beta1 * s1 + (1 - beta1) * g
            s2 = beta2 * s2 + (1 - beta2) * g * g
            m_hat_scale = lr / (1 - beta1 ** t)
            v_hat_sqrt = np.sqrt(s2) / math.sqrt(1 - beta2 ** t)
            p = p - m_hat_scale * s1 / (v_hat_sqrt + hp["eps"])
        elif optimizer == "adam_course":
            s1 = hp["beta1"] * s1 + (1 - hp["beta1"]) * g
            s2 = hp["beta2"] * s2 + (1 - hp["beta2"]) * g * g
            p = p - hp["lr"] * s1 / np.sqrt(s2)
        rec["new_a"].append(p[0]); rec["new_b"].append(p[1])
        for key, s in zip(keys, (s1, s2)):
            rec[f"{key}_a"].append(s[0]); rec[f"{key}_b"].append(s[1])
    return _finish(rec, epochs, n)


def _cos(start: float, end: float, pct: float) -> float:
    """OneCycleLR's cosine anneal from `start` (pct=0) to `end` (pct=1)."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
