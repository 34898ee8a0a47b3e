"""The gradient-descent lesson's model: fit y = a*x + b by SGD, one data point per step.

Mirrors xlbridge/builders/graddesc.py sheet for sheet: each optimizer there is a sheet whose
rows are the steps below, and the names of the trajectory's quantities (`a`, `grad_a`,
`exp_avg_a`, ...) are the sheet's defined names. Two references, run on the same data in the
same order (batch size 1, no shuffling, several epochs):

1. `train_torch`: a and b as float64 tensors, `loss.backward()` and torch.optim's own update
   functions, the code its classes run (and `OneCycleLR`'s schedule for "adam_onecycle"); with
   `classes=True`, the classes themselves. This is what the workbook is proven equal to.
2. `train_numpy`: the same steps through the pure step functions of models/optimizers.py and
   the derivatives worked out on paper, a second opinion on the first. It also yields the
   quantities torch computes without keeping (bias corrections, decayed weights, ...).

"adam_course" is the course spreadsheet's own Adam (no bias correction, no eps): a clearly
labelled variant with its own sheet, `CourseAdam` below; it is NOT torch's Adam.

The loss is the course's: the squared error of one point, e = (a*x + b - y)**2, so
    de/db = 2*(a*x + b - y)        de/da = x * de/db
Inputs are taken as valid: xlbridge.params checks them where a person hands them over.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch.optim import adagrad as torch_adagrad, adam as torch_adam, rmsprop as torch_rmsprop, sgd as torch_sgd

from .device import default_device
from .optimizers import OPTIMIZERS, STATE_KEYS, STEPS
from .schedule import one_cycle_torch


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


def _record(optimizer: str, scheduled: bool) -> dict[str, list]:
    keys = ["a", "b", "pred", "loss", "grad_a", "grad_b", "new_a", "new_b"]
    keys += [f"{k}_{p}" for k in STATE_KEYS[optimizer] for p in "ab"]
    keys += ["lr_t", "beta1_t"] if scheduled else []
    return {k: [] for k in keys}


def _finish(rec: dict, epochs: int, n: int) -> Trajectory:
    out = Trajectory({k: np.asarray(v, dtype=np.float64) for k, v in rec.items()})
    out["epoch_loss"] = out["loss"].reshape(epochs, n).mean(axis=1)  # (epochs,)
    return out


def full_hparams(optimizer: str, hparams: Mapping[str, float] | None = None) -> dict[str, float]:
    """The optimizer's defaults updated with `hparams`."""
    return {**OPTIMIZERS[optimizer], **dict(hparams or {})}


# ---------------------------------------------------------------------------------------------
# 1. PyTorch: torch.optim's own update functions.
#
# Every torch.optim class's step() gathers its parameters' gradients and state tensors and hands
# them to its module's function (torch.optim.sgd.sgd, adagrad.adagrad, rmsprop.rmsprop, adam.adam),
# torch's documented functional API. `_Functional` keeps the state as the class keeps it and calls
# the same function with the class's options, so every step runs torch's own code; only the class
# around it is left out, because making an Optimizer imports torch._dynamo, which costs every
# `xlbridge check` 1-3 s on a small machine. `torch_optimizer` builds the classes as a course
# notebook writes them (`train_torch(..., classes=True)` runs them); tests/test_linear_models.py
# proves the two runs equal, bit for bit, for every optimizer.


def course_adam(params, grads, exp_avgs, exp_avg_sqs, *, lr: float, beta1: float, beta2: float) -> None:
    """The course spreadsheet's "adam", NOT torch.optim.Adam: no bias correction and no eps, both
    moving averages starting at 0:

        m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g**2;  p = p - lr*m/sqrt(v)
    """
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs):
        m.mul_(beta1).add_((1 - beta1) * g)
        v.mul_(beta2).add_((1 - beta2) * g * g)
        p.sub_(lr * m / v.sqrt())


class CourseAdam(torch.optim.Optimizer):
    """`course_adam` as a torch.optim.Optimizer, for a notebook that writes the lesson's loop."""

    def __init__(self, params, lr=1.0, betas=(0.9, 0.999)):
        super().__init__(params, dict(lr=lr, betas=betas))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if not self.state[p]:
                    self.state[p].update(exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            course_adam(params, [p.grad for p in params], [self.state[p]["exp_avg"] for p in params],
                        [self.state[p]["exp_avg_sq"] for p in params], lr=group["lr"],
                        beta1=group["betas"][0], beta2=group["betas"][1])


def torch_optimizer(optimizer: str, params, hp: dict, total_steps: int):
    """(optimizer, scheduler or None) exactly as a course notebook would construct them.
    foreach=False picks torch's documented one-tensor-at-a-time loop on every device."""
    O = torch.optim
    if optimizer == "sgd":
        return O.SGD(params, lr=hp["lr"], foreach=False), None
    if optimizer == "momentum":
        return O.SGD(params, lr=hp["lr"], momentum=hp["momentum"], dampening=hp["dampening"], foreach=False), None
    if optimizer == "adagrad":
        return O.Adagrad(params, lr=hp["lr"], lr_decay=hp["lr_decay"], eps=hp["eps"],
                         initial_accumulator_value=hp["initial_accumulator_value"], foreach=False), None
    if optimizer == "rmsprop":
        return O.RMSprop(params, lr=hp["lr"], alpha=hp["alpha"], eps=hp["eps"], foreach=False), None
    if optimizer == "adam":
        return O.Adam(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"], foreach=False), None
    if optimizer == "adamw":
        return O.AdamW(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                       weight_decay=hp["weight_decay"], foreach=False), None
    if optimizer == "adam_onecycle":
        opt = O.Adam(params, lr=hp["max_lr"], betas=(hp["max_momentum"], hp["beta2"]), eps=hp["eps"], foreach=False)
        sched = O.lr_scheduler.OneCycleLR(
            opt, max_lr=hp["max_lr"], total_steps=total_steps, pct_start=hp["pct_start"],
            anneal_strategy="cos", cycle_momentum=True, base_momentum=hp["base_momentum"],
            max_momentum=hp["max_momentum"], div_factor=hp["div_factor"],
            final_div_factor=hp["final_div_factor"])
        return opt, sched
    if optimizer == "adam_course":
        return CourseAdam(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"])), None
    raise KeyError(f"unknown optimizer {optimizer!r}")


class _Classes:
    """The optimizer as `torch_optimizer` builds it, stepped as a notebook steps it."""

    def __init__(self, optimizer: str, params: list, hp: dict, total_steps: int):
        self.params = params
        self.opt, self.sched = torch_optimizer(optimizer, params, hp, total_steps)

    def lr_beta1(self) -> tuple[float, float]:
        """The lr and beta1 the next step uses, as the scheduler set them."""
        group = self.opt.param_groups[0]
        return group["lr"], group["betas"][0]

    def step(self) -> None:
        self.opt.step()
        if self.sched is not None:
            self.sched.step()

    def state(self, key: str) -> list:
        return [self.opt.state[p][key] for p in self.params]


class _Functional:
    """The same optimizer through torch.optim's functional API: the state tensors its class keeps
    in optimizer.state[p] (the same names, made as its _init_group makes them: zeros, Adagrad's
    sum at initial_accumulator_value, SGD's momentum buffer at the first step, a scalar `step`
    tensor of the default dtype), and its class's options (no weight decay, no maximize, no
    nesterov, no amsgrad, not centered, foreach=False). OneCycleLR's lr and beta1 come from
    models/schedule.py, its closed form."""

    def __init__(self, optimizer: str, params: list, hp: dict, total_steps: int):
        self.optimizer, self.params, self.hp, self.total_steps = optimizer, params, hp, total_steps
        self.t = 0   # steps taken
        zeros = lambda: [torch.zeros_like(p) for p in params]   # noqa: E731
        steps = [torch.tensor(0.0) for _ in params]
        if optimizer in ("sgd", "momentum"):   # filled by sgd() at the first step; never, without momentum
            self._state = {"momentum_buffer": [None] * len(params)}
        elif optimizer == "adagrad":
            self._state = {"sum": [torch.full_like(p, hp["initial_accumulator_value"]) for p in params], "step": steps}
        elif optimizer == "rmsprop":
            self._state = {"square_avg": zeros(), "step": steps}
        else:
            self._state = {"exp_avg": zeros(), "exp_avg_sq": zeros(), "step": steps}

    def lr_beta1(self) -> tuple[float, float]:
        hp = self.hp
        lr, beta1, _ = one_cycle_torch(self.t, self.total_steps, **{k: hp[k] for k in (
            "max_lr", "pct_start", "div_factor", "final_div_factor", "base_momentum", "max_momentum")})
        return lr, beta1

    @torch.no_grad()
    def step(self) -> None:
        hp, s, name = self.hp, self._state, self.optimizer
        params, grads = self.params, [p.grad for p in self.params]
        if name in ("sgd", "momentum"):
            torch_sgd.sgd(params, grads, s["momentum_buffer"], foreach=False, weight_decay=0.0,
                          momentum=hp.get("momentum", 0.0), lr=hp["lr"], dampening=hp.get("dampening", 0.0),
                          nesterov=False, maximize=False)
        elif name == "adagrad":
            torch_adagrad.adagrad(params, grads, s["sum"], s["step"], foreach=False, lr=hp["lr"], weight_decay=0.0,
                                  lr_decay=hp["lr_decay"], eps=hp["eps"], maximize=False)
        elif name == "rmsprop":
            torch_rmsprop.rmsprop(params, grads, s["square_avg"], [], [], s["step"], foreach=False, lr=hp["lr"],
                                  alpha=hp["alpha"], eps=hp["eps"], weight_decay=0.0, momentum=0.0, centered=False)
        elif name == "adam_course":
            course_adam(params, grads, s["exp_avg"], s["exp_avg_sq"], lr=hp["lr"], beta1=hp["beta1"], beta2=hp["beta2"])
        else:  # adam, adamw (Adam with decoupled weight decay, as torch's AdamW class runs it), adam_onecycle
            lr, beta1 = self.lr_beta1() if name == "adam_onecycle" else (hp["lr"], hp["beta1"])
            torch_adam.adam(params, grads, s["exp_avg"], s["exp_avg_sq"], [], s["step"], foreach=False,
                            decoupled_weight_decay=name == "adamw", amsgrad=False, beta1=beta1, beta2=hp["beta2"],
                            lr=lr, weight_decay=hp.get("weight_decay", 0.0), eps=hp["eps"], maximize=False)
        self.t += 1

    def state(self, key: str) -> list:
        return self._state[key]


def train_torch(x, y, optimizer: str = "adam", hparams: Mapping[str, float] | None = None, *,
                epochs: int = 5, a_init: float = 1.0, b_init: float = 1.0,
                device: str | torch.device | None = None, classes: bool = False) -> Trajectory:
    """Fit y = a*x + b with torch.optim, one point per step, data in order: through its functional
    API, or with `classes=True` through its Optimizer classes (and OneCycleLR) as a notebook
    would; the two give the same numbers.

    Returns the trajectory per step (see `Trajectory`). Runs in float64, on CUDA when
    available unless `device` says otherwise (the sequence of steps is the same either way).
    """
    hp = full_hparams(optimizer, hparams)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    f64 = dict(dtype=torch.float64, device=device or default_device())
    n, steps = x.size, epochs * x.size
    a = torch.tensor(float(a_init), requires_grad=True, **f64)
    b = torch.tensor(float(b_init), requires_grad=True, **f64)
    opt = (_Classes if classes else _Functional)(optimizer, [a, b], hp, steps)
    xs, ys = torch.tensor(x, **f64), torch.tensor(y, **f64)

    scheduled = optimizer == "adam_onecycle"
    rec = _record(optimizer, scheduled)
    for t in range(steps):
        i = t % n  # data in order, epoch after epoch
        rec["a"].append(a.item()); rec["b"].append(b.item())
        pred = a * xs[i] + b
        loss = (pred - ys[i]) ** 2
        a.grad = b.grad = None                     # optimizer.zero_grad()
        loss.backward()
        rec["pred"].append(pred.item()); rec["loss"].append(loss.item())
        rec["grad_a"].append(a.grad.item()); rec["grad_b"].append(b.grad.item())
        if scheduled:  # the lr and beta1 this step uses, set by the scheduler
            lr, beta1 = opt.lr_beta1()
            rec["lr_t"].append(lr); rec["beta1_t"].append(beta1)
        opt.step()
        rec["new_a"].append(a.item()); rec["new_b"].append(b.item())
        for key in STATE_KEYS[optimizer]:
            value_a, value_b = opt.state(key)
            rec[f"{key}_a"].append(value_a.item()); rec[f"{key}_b"].append(value_b.item())
    return _finish(rec, epochs, n)


# ---------------------------------------------------------------------------------------------
# 2. NumPy: the same steps through models/optimizers.py, the derivatives worked out by hand.


def train_numpy(x, y, optimizer: str = "adam", hparams: Mapping[str, float] | None = None, *,
                epochs: int = 5, a_init: float = 1.0, b_init: float = 1.0) -> Trajectory:
    """`train_torch` without torch. Agrees with it to rounding, and also records what the
    sheets show that torch does not keep: `clr`, `bias_correction1/2`, `decayed_a/b`, `pct_t`."""
    hp = full_hparams(optimizer, hparams)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, steps = x.size, epochs * x.size
    step = STEPS[optimizer]
    scheduled = optimizer == "adam_onecycle"
    rec = _record(optimizer, scheduled)
    p, state = np.array([float(a_init), float(b_init)]), {}        # (2,) = [a, b]
    for t in range(1, steps + 1):
        i = (t - 1) % n
        a, b = p
        pred = a * x[i] + b
        g_b = 2 * (pred - y[i])                                    # de/db
        g = np.array([g_b * x[i], g_b])                            # [de/da, de/db]
        rec["a"].append(a); rec["b"].append(b); rec["pred"].append(pred); rec["loss"].append((pred - y[i]) ** 2)
        rec["grad_a"].append(g[0]); rec["grad_b"].append(g[1])
        kw = dict(hp)
        if scheduled:  # the scheduler has stepped t - 1 times when step t runs
            lr, beta1, pct = one_cycle_torch(t - 1, steps, **{k: hp[k] for k in (
                "max_lr", "pct_start", "div_factor", "final_div_factor", "base_momentum", "max_momentum")})
            kw = {"lr": lr, "beta1": beta1, "beta2": hp["beta2"], "eps": hp["eps"]}
            rec["lr_t"].append(lr); rec["beta1_t"].append(beta1); rec.setdefault("pct_t", []).append(pct)
        p, state, shown = step(p, g, state, t, **kw)
        rec["new_a"].append(p[0]); rec["new_b"].append(p[1])
        for key in STATE_KEYS[optimizer]:
            rec[f"{key}_a"].append(state[key][0]); rec[f"{key}_b"].append(state[key][1])
        for key, value in shown.items():
            if key == "decayed":
                if optimizer != "adamw":
                    continue                       # Adam's decay by zero is no column of its own
                rec.setdefault("decayed_a", []).append(value[0]); rec.setdefault("decayed_b", []).append(value[1])
            else:
                rec.setdefault(key, []).append(value)
    return _finish(rec, epochs, n)
