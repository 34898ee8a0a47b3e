"""The collaborative-filtering models of the lesson: DotProduct and DotProductBias.

Mirrors xlbridge/builders/collab.py sheet for sheet: `dotprod` is DotProduct, `bias` is
DotProductBias, `bias_sigmoid` is DotProductBias(y_range=...), `embedding lookup` is the same
forward pass written as one row per rating. Same names on both sides: user_factors,
movie_factors, user_bias, movie_bias.
Reference: the lesson notebook's DotProduct / DotProductBias, built on nn.Embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.device import default_device


def sigmoid_range(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Squash x into (low, high): sigmoid(x) * (high - low) + low."""
    return torch.sigmoid(x) * (high - low) + low


class DotProduct(nn.Module):
    """prediction = user_factors[u] . movie_factors[m]."""

    def __init__(self, n_users: int, n_movies: int, n_factors: int = 5):
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.movie_factors = nn.Embedding(n_movies, n_factors)

    def forward(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        # u, m: (N,) indices -> (N,) predictions
        return (self.user_factors(u) * self.movie_factors(m)).sum(1)   # (N, K) -> (N,)


class DotProductBias(nn.Module):
    """prediction = user_factors[u] . movie_factors[m] + user_bias[u] + movie_bias[m],
    squashed into y_range by a scaled sigmoid when y_range is given."""

    def __init__(self, n_users: int, n_movies: int, n_factors: int = 5, y_range: tuple[float, float] | None = None):
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.movie_factors = nn.Embedding(n_movies, n_factors)
        self.user_bias = nn.Embedding(n_users, 1)
        self.movie_bias = nn.Embedding(n_movies, 1)
        self.y_range = y_range

    def forward(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        dot = (self.user_factors(u) * self.movie_factors(m)).sum(1)       # (N,)
        res = dot + self.user_bias(u).squeeze(1) + self.movie_bias(m).squeeze(1)
        if self.y_range is None:
            return res
        return sigmoid_range(res, *self.y_range)


def from_arrays(user_factors, movie_factors, user_bias=None, movie_bias=None, y_range=None,
                dtype=torch.float64, device=None) -> nn.Module:
    """A model whose weights are exactly these arrays (U x K, M x K, U, M), e.g. read from a
    workbook's parameter blocks. With no biases it is a DotProduct."""
    uf = torch.as_tensor(np.asarray(user_factors, dtype=float), dtype=dtype)
    mf = torch.as_tensor(np.asarray(movie_factors, dtype=float), dtype=dtype)
    n_users, k = uf.shape
    n_movies = mf.shape[0]
    if mf.shape[1] != k:
        raise ValueError(f"movie_factors has {mf.shape[1]} columns; user_factors has {k}")
    if user_bias is None:
        model = DotProduct(n_users, n_movies, k)
    else:
        model = DotProductBias(n_users, n_movies, k, y_range=y_range)
    model = model.to(dtype=dtype, device=device)
    with torch.no_grad():
        model.user_factors.weight.copy_(uf)
        model.movie_factors.weight.copy_(mf)
        if user_bias is not None:
            model.user_bias.weight.copy_(torch.as_tensor(np.asarray(user_bias, float).reshape(-1, 1), dtype=dtype))
            model.movie_bias.weight.copy_(torch.as_tensor(np.asarray(movie_bias, float).reshape(-1, 1), dtype=dtype))
    return model


def predict_all(model: nn.Module) -> torch.Tensor:
    """Predictions for every (user, movie) pair: a (U, M) grid, as the crosstab sheets show."""
    n_users = model.user_factors.num_embeddings
    n_movies = model.movie_factors.num_embeddings
    dev = model.user_factors.weight.device
    u = torch.arange(n_users, device=dev).repeat_interleave(n_movies)
    m = torch.arange(n_movies, device=dev).repeat(n_users)
    with torch.no_grad():
        return model(u, m).reshape(n_users, n_movies)


def rmse(model: nn.Module, u: torch.Tensor, m: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Root mean squared error over the rated (u, m, r) triples."""
    return torch.sqrt(F.mse_loss(model(u, m), r))


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 200          # small data: many cheap full-batch epochs
    lr: float = 0.05           # Adam step size that converges on a 15x15 crosstab in seconds
    weight_decay: float = 0.0  # the sheets have no weight decay term, so none by default
    seed: int = 0


def fit(model: nn.Module, u, m, r, config: TrainConfig = TrainConfig(), device=None) -> list[float]:
    """Full-batch Adam on MSE; returns the RMSE of each epoch, measured before its step."""
    device = device or default_device()
    torch.manual_seed(config.seed)
    model.to(device)
    dtype = model.user_factors.weight.dtype
    u, m = torch.as_tensor(u, device=device), torch.as_tensor(m, device=device)
    r = torch.as_tensor(r, dtype=dtype, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history = []
    for _ in range(config.epochs):
        opt.zero_grad()
        loss = F.mse_loss(model(u, m), r)
        loss.backward()
        opt.step()
        history.append(float(loss.detach().sqrt()))
    return history
