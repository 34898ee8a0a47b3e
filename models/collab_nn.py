"""The lesson's neural collaborative filters: embeddings concatenated, then a small network.

    CollabNN      fastbook chapter 8: cat(user, movie) -> Linear(., 100) -> ReLU -> Linear(100, 1)
                  -> sigmoid_range
    EmbeddingNN   fastai's collab_learner(use_nn=True, layers=[100, 50]): its TabularModel with no
                  continuous inputs: cat(user, movie) -> embedding dropout -> for each hidden size
                  [Linear (no bias), ReLU, BatchNorm1d, Dropout] -> Linear(., 1) -> sigmoid_range
    EmbeddingNet  the older lesson (fastai 0.7): dropout 0.05 on cat(user, movie) ->
                  Linear(., 100) -> ReLU -> dropout 0.5 -> Linear(100, 1) -> sigmoid_range

Embedding sizes follow fastai's rule of thumb (`emb_sz_rule`): ml-100k's 944 users and 1,665
movies (fastai counts an unknown "#na#" slot in each) get 74 and 102 factors. Every model
takes (users, movies) index tensors and returns one prediction per pair, as models/collab.py.
xlbridge/builders/collab_nn.py writes CollabNN's forward pass as formulas.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .collab import init_embeddings_, sigmoid_range


def emb_sz_rule(n_cat: int) -> int:
    """fastai's embedding size for a category with n_cat values: min(600, round(1.6 * n^0.56))."""
    return min(600, round(1.6 * n_cat ** 0.56))


class CollabNN(nn.Module):
    """prediction = sigmoid_range(layers(cat(user_factors[u], movie_factors[m])), *y_range)."""

    def __init__(self, n_users: int, n_movies: int, user_sz: int | None = None, movie_sz: int | None = None,
                 y_range: tuple[float, float] = (0.0, 5.5), n_act: int = 100):
        super().__init__()
        user_sz = user_sz or emb_sz_rule(n_users)
        movie_sz = movie_sz or emb_sz_rule(n_movies)
        self.user_factors = nn.Embedding(n_users, user_sz)
        self.movie_factors = nn.Embedding(n_movies, movie_sz)
        self.layers = nn.Sequential(nn.Linear(user_sz + movie_sz, n_act), nn.ReLU(), nn.Linear(n_act, 1))
        self.y_range = tuple(y_range)
        init_embeddings_(self)          # fastai's Embedding start; the Linear layers keep torch's

    def forward(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.user_factors(u), self.movie_factors(m)), dim=1)   # (N, Fu + Fm)
        return sigmoid_range(self.layers(x), *self.y_range).squeeze(1)         # (N, 1) -> (N,)


class EmbeddingNN(nn.Module):
    """fastai's EmbeddingNN (a TabularModel with two embeddings and no continuous inputs)."""

    def __init__(self, n_users: int, n_movies: int, layers: tuple[int, ...] = (100, 50),
                 user_sz: int | None = None, movie_sz: int | None = None, y_range: tuple[float, float] = (0.0, 5.5),
                 ps: tuple[float, ...] | None = None, embed_p: float = 0.0):
        super().__init__()
        user_sz = user_sz or emb_sz_rule(n_users)
        movie_sz = movie_sz or emb_sz_rule(n_movies)
        ps = tuple(ps) if ps is not None else (0.0,) * len(layers)
        self.user_factors = nn.Embedding(n_users, user_sz)
        self.movie_factors = nn.Embedding(n_movies, movie_sz)
        self.emb_drop = nn.Dropout(embed_p)
        sizes = [user_sz + movie_sz, *layers]
        blocks = []
        for n_in, n_out, p in zip(sizes[:-1], sizes[1:], ps):
            # fastai's LinBnDrop(lin_first=True): Linear without bias (batch norm has one), ReLU, BN, dropout
            block = [nn.Linear(n_in, n_out, bias=False), nn.ReLU(), nn.BatchNorm1d(n_out)]
            blocks.append(nn.Sequential(*block, *([nn.Dropout(p)] if p else [])))
        blocks.append(nn.Linear(sizes[-1], 1))    # the last layer: no batch norm, no activation
        self.layers = nn.Sequential(*blocks)
        self.y_range = tuple(y_range)
        init_embeddings_(self)

    def forward(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        x = self.emb_drop(torch.cat((self.user_factors(u), self.movie_factors(m)), dim=1))
        return sigmoid_range(self.layers(x), *self.y_range).squeeze(1)


class EmbeddingNet(nn.Module):
    """The older lesson's mini net: prediction = sigmoid(lin2(drop2(relu(lin1(drop1(cat(u, m)))))))
    * (max - min + 1) + min - 0.5, i.e. sigmoid_range into (min - 0.5, max + 0.5)."""

    def __init__(self, n_users: int, n_movies: int, n_factors: int = 50, n_hidden: int = 100,
                 p1: float = 0.05, p2: float = 0.5, y_range: tuple[float, float] = (0.0, 5.5)):
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.movie_factors = nn.Embedding(n_movies, n_factors)
        self.lin1 = nn.Linear(2 * n_factors, n_hidden)
        self.lin2 = nn.Linear(n_hidden, 1)
        self.drop1 = nn.Dropout(p1)
        self.drop2 = nn.Dropout(p2)
        self.y_range = tuple(y_range)
        init_embeddings_(self, "uniform")   # the lesson's get_emb: uniform in (-0.01, 0.01)

    def forward(self, u: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        x = self.drop1(torch.cat((self.user_factors(u), self.movie_factors(m)), dim=1))
        x = self.drop2(torch.relu(self.lin1(x)))
        return sigmoid_range(self.lin2(x), *self.y_range).squeeze(1)
