"""The collaborative-filtering lesson's dot-product models: DotProduct and DotProductBias.

Mirrors xlbridge/builders/collab.py sheet for sheet: `dotprod` is DotProduct, `bias` is
DotProductBias, `bias_sigmoid` is DotProductBias(y_range=...), `embedding lookup` is the same
forward pass written as one row per rating. Same names on both sides: user_factors,
movie_factors, user_bias, movie_bias. Shapes: N ratings, U users, M movies, K factors.
Reference: the lesson notebook's DotProduct / DotProductBias (fastbook chapter 8); fastai's
`collab_learner` builds the same DotProductBias under the name EmbeddingDotBias, and the
older lesson's EmbeddingDotBias is this model with a uniform start in (-0.01, 0.01).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def sigmoid_range(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Squash x into (low, high): sigmoid(x) * (high - low) + low."""
    return torch.sigmoid(x) * (high - low) + low


@torch.no_grad()
def init_embeddings_(model: nn.Module, init: str = "trunc_normal") -> nn.Module:
    """Start every embedding table of `model` small and random:
    'trunc_normal' as fastai's Embedding (normal, cut at 2 sd, times 0.01), or
    'uniform' as the older lesson's get_emb (uniform in (-0.01, 0.01))."""
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            if init == "trunc_normal":
                m.weight.normal_().fmod_(2).mul_(0.01)
            elif init == "uniform":
                m.weight.uniform_(-0.01, 0.01)
            else:
                raise ValueError(f"init must be 'trunc_normal' or 'uniform'; got {init!r}")
    return model


class DotProduct(nn.Module):
    """prediction = user_factors[u] . movie_factors[m], squashed into y_range when given."""

    def __init__(self, n_users: int, n_movies: int, n_factors: int = 5, y_range: tuple[float, float] | None = None,
                 init: str = "trunc_normal"):
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.movie_factors = nn.Embedding(n_movies, n_factors)
        self.y_range = None if y_range is None else tuple(y_range)
        init_embeddings_(self, init)

    def forward(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        # u, m: (N,) indices -> (N,) predictions
        res = (self.user_factors(u) * self.movie_factors(m)).sum(1)   # (N, K) -> (N,)
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)


class DotProductBias(nn.Module):
    """prediction = user_factors[u] . movie_factors[m] + user_bias[u] + movie_bias[m],
    squashed into y_range by a scaled sigmoid when y_range is given."""

    def __init__(self, n_users: int, n_movies: int, n_factors: int = 5, y_range: tuple[float, float] | None = None,
                 init: str = "trunc_normal"):
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.movie_factors = nn.Embedding(n_movies, n_factors)
        self.user_bias = nn.Embedding(n_users, 1)
        self.movie_bias = nn.Embedding(n_movies, 1)
        self.y_range = None if y_range is None else tuple(y_range)
        init_embeddings_(self, init)

    def forward(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        dot = (self.user_factors(u) * self.movie_factors(m)).sum(1)       # (N,)
        res = dot + self.user_bias(u).squeeze(1) + self.movie_bias(m).squeeze(1)
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)


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
    cls = DotProduct if user_bias is None else DotProductBias
    model = cls(n_users, n_movies, k, y_range=y_range).to(dtype=dtype, device=device)
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
