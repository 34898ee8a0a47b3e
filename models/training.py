"""One training loop for every model of the course: the collaborative filters and the char-RNNs.

    history = fit(model, train, valid, loss_fn=F.mse_loss, epochs=5, batch_size=64,
                  opt=adamw(model, wd=0.1), schedule=OneCycle(5e-3))

`train` and `valid` are tuples of tensors whose last entry is the target: (users, movies,
ratings) for a collab model, (characters, next characters) for a char-RNN. Each epoch shuffles
the training rows with a seeded generator, runs mini-batches through
`loss_fn(model(*inputs), target)`, and before each batch sets the schedule's learning rate and
momentum (fastai's fit_one_cycle, models/schedule.py). After each epoch it measures the
validation loss and reports one row of the table fastai prints: epoch, train_loss (the mean
over the epoch's batches), valid_loss, time.

The loop keeps per-batch work on the device (no .item() per batch) and never copies the data:
a batch is an index into tensors that live on the device for the whole run.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn
from tqdm import tqdm   # plain: no widget warning in a notebook without ipywidgets


@dataclass
class EpochResult:
    """One row of the training table."""

    epoch: int            # 1-based
    train_loss: float     # mean loss over the epoch's training rows
    valid_loss: float     # mean loss over the validation rows (NaN without validation data)
    seconds: float        # wall time of the epoch's training (validation not included)
    rows_per_s: float     # training rows (targets) per second

    def as_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Optimizers as the lessons build them


def _decay_groups(model: nn.Module, wd: float) -> list[dict]:
    """fastai's rule (wd_bn_bias=False): weight decay on every weight except the biases of
    layers and the parameters of batch-norm layers. Embedding tables, bias embeddings
    included, are weights."""
    no_decay: set[int] = set()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            no_decay |= {id(p) for p in m.parameters(recurse=False)}
        elif isinstance(getattr(m, "bias", None), nn.Parameter):
            no_decay.add(id(m.bias))
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if id(p) not in no_decay], "weight_decay": wd},
            {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0}]


def _fused(cls, params, **kw) -> torch.optim.Optimizer:
    """The optimizer with torch's fused kernel (one call updates every tensor: a third of the
    time of the step-by-step loop on small models), or without it where this torch has none."""
    params = list(params)
    try:
        return cls(params, fused=True, **kw)
    except (RuntimeError, TypeError):
        return cls(params, **kw)


def adamw(model: nn.Module, lr: float = 1e-3, wd: float = 0.01, betas=(0.9, 0.99), eps: float = 1e-5):
    """fastai's default optimizer: Adam with true (decoupled) weight decay, beta2 0.99, eps 1e-5.
    Its update is torch.optim.AdamW's: p *= 1 - lr*wd, then the bias-corrected Adam step."""
    return _fused(torch.optim.AdamW, _decay_groups(model, wd), lr=lr, betas=betas, eps=eps)


def sgd_momentum(model: nn.Module, lr: float = 0.1, momentum: float = 0.9, wd: float = 0.0):
    """The older lesson's optimizer: optim.SGD(params, lr, weight_decay=wd, momentum=0.9) (L2 decay)."""
    return _fused(torch.optim.SGD, model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)


def adam_l2(model: nn.Module, lr: float = 1e-3, wd: float = 0.0):
    """The older lesson's optim.Adam(params, lr, weight_decay=wd): torch's defaults, L2 decay."""
    return _fused(torch.optim.Adam, model.parameters(), lr=lr, weight_decay=wd)


def _set_hypers(opt: torch.optim.Optimizer, lr: float, mom: float | None) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
        if mom is None:
            continue
        if "betas" in group:                 # Adam's momentum is beta1
            group["betas"] = (mom, group["betas"][1])
        elif "momentum" in group:
            group["momentum"] = mom


# ---------------------------------------------------------------------------------------------
# The loop


@torch.no_grad()
def evaluate(model: nn.Module, data: Sequence[torch.Tensor], loss_fn: Callable, batch_size: int = 65536) -> float:
    """Mean loss per target over `data` (inputs..., target), in eval mode (no dropout, batch-norm
    running statistics)."""
    model.eval()
    *inputs, target = data
    total = torch.zeros((), dtype=torch.float64, device=target.device)
    n = 0
    for i in range(0, len(target), batch_size):
        yb = target[i : i + batch_size]
        loss = loss_fn(model(*(t[i : i + batch_size] for t in inputs)), yb)
        total += loss.double() * yb.numel()
        n += yb.numel()
    return float(total) / max(n, 1)


def fit(
    model: nn.Module,
    train: Sequence[torch.Tensor],
    valid: Sequence[torch.Tensor] | None = None,
    *,
    loss_fn: Callable,
    epochs: int,
    batch_size: int,
    opt: torch.optim.Optimizer,
    schedule: Callable[[float], tuple[float, float | None]] | None = None,
    seed: int = 0,
    progress: bool = False,
    on_epoch: Callable[[EpochResult], None] | None = None,
) -> list[EpochResult]:
    """Train `model` on `train` for `epochs` epochs; returns one EpochResult per epoch.

    The tensors must already be on the model's device. `schedule(pct)` gives (lr, momentum or
    None) for the batch that starts when a share pct of all batches is done; without one the
    optimizer's own lr stays. `on_epoch` is called with each row as soon as it is known.
    """
    target = train[-1]
    n = len(target)
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    gen = torch.Generator().manual_seed(seed)   # the batch order, independent of global state
    device = target.device
    history: list[EpochResult] = []
    step = 0
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen).to(device)
        # one gather per epoch, then every batch is a slice (a view): no copy per step
        shuffled = [t[order] for t in train]
        total = torch.zeros((), dtype=torch.float64, device=device)
        bar = tqdm(range(0, n, batch_size), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress,
                   leave=False, mininterval=0.5, unit="batch")
        for i in bar:
            *xb, yb = (t[i : i + batch_size] for t in shuffled)
            if schedule is not None:
                _set_hypers(opt, *schedule(step / total_steps))
            loss = loss_fn(model(*xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total.add_(loss.detach(), alpha=yb.numel())
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        n_targets = target.numel()
        valid_loss = evaluate(model, valid, loss_fn) if valid is not None else math.nan
        row = EpochResult(epoch + 1, float(total) / n_targets, valid_loss, seconds, n_targets / seconds)
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return history
