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


class DotProductBiasEnsemble(nn.Module):
    """`n_members` DotProductBias models trained side by side, each on its own loss, then averaged.

    In training mode forward gives every member's prediction, (N, E), so each member learns alone
    (mse_members below); in eval mode the members' logits are averaged before the sigmoid, which
    is exactly `combined()`: one DotProductBias with all members' factors side by side, scaled
    by 1/sqrt(E), and the mean of their biases. Averaging independent fits cancels part of each
    one's error; training them in one loop costs little more than training one.
    """

    def __init__(self, n_users: int, n_movies: int, n_factors: int = 50, n_members: int = 8,
                 y_range: tuple[float, float] | None = (0.0, 5.5)):
        super().__init__()
        self.n_factors, self.n_members = n_factors, n_members
        self.user_factors = nn.Embedding(n_users, n_members * n_factors)     # member e: columns e*K .. (e+1)*K
        self.movie_factors = nn.Embedding(n_movies, n_members * n_factors)
        self.user_bias = nn.Embedding(n_users, n_members)
        self.movie_bias = nn.Embedding(n_movies, n_members)
        self.y_range = None if y_range is None else tuple(y_range)
        init_embeddings_(self)

    def logits(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        E, K = self.n_members, self.n_factors
        uf, mf = self.user_factors(u).view(-1, E, K), self.movie_factors(m).view(-1, E, K)
        return (uf * mf).sum(2) + self.user_bias(u) + self.movie_bias(m)    # (N, E)

    def forward(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        z = self.logits(u, m) if self.training else self.logits(u, m).mean(1)   # (N, E) or (N,)
        return z if self.y_range is None else sigmoid_range(z, *self.y_range)

    @torch.no_grad()
    def combined(self) -> DotProductBias:
        """The one DotProductBias that predicts what the averaged ensemble predicts."""
        E, K = self.n_members, self.n_factors
        one = DotProductBias(self.user_factors.num_embeddings, self.movie_factors.num_embeddings, E * K,
                             y_range=self.y_range).to(self.user_factors.weight)
        scale = E ** -0.5            # (u / sqrt(E)) . (m / sqrt(E)) summed over members = mean of the dot products
        one.user_factors.weight.copy_(self.user_factors.weight * scale)
        one.movie_factors.weight.copy_(self.movie_factors.weight * scale)
        one.user_bias.weight.copy_(self.user_bias.weight.mean(1, keepdim=True))
        one.movie_bias.weight.copy_(self.movie_bias.weight.mean(1, keepdim=True))
        return one


def mse_members(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """F.mse_loss, and for an ensemble's (N, E) predictions the mean of every member's MSE."""
    return F.mse_loss(pred, target[:, None].expand_as(pred) if pred.dim() == 2 else target)


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
