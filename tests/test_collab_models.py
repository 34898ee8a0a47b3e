"""models/collab.py: DotProduct and DotProductBias against the equations written in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch.nn.functional as F

from xlbridge.models.collab import DotProduct, DotProductBias, from_arrays, predict_all
from xlbridge.models.device import pick_device
from xlbridge.models.training import fit


@pytest.fixture
def params():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, 3)), rng.normal(size=(5, 3)), rng.normal(size=4), rng.normal(size=5)


def test_dot_product_equals_numpy(params):
    uf, mf, _, _ = params
    model = from_arrays(uf, mf)
    assert isinstance(model, DotProduct) and model.user_factors.weight.dtype == torch.float64
    np.testing.assert_allclose(predict_all(model).numpy(), uf @ mf.T, rtol=0, atol=1e-14)


@pytest.mark.parametrize("y_range", [None, (0.0, 5.5), (-1.0, 2.0)])
def test_dot_product_bias_equals_numpy(params, y_range):
    uf, mf, ub, mb = params
    model = from_arrays(uf, mf, ub, mb, y_range=y_range)
    want = uf @ mf.T + ub[:, None] + mb[None, :]
    if y_range:
        lo, hi = y_range
        want = lo + (hi - lo) / (1 + np.exp(-want))
    np.testing.assert_allclose(predict_all(model).numpy(), want, rtol=0, atol=1e-14)
    u, m = torch.tensor([0, 3, 2]), torch.tensor([4, 0, 2])
    np.testing.assert_allclose(model(u, m).detach().numpy(), want[[0, 3, 2], [4, 0, 2]], rtol=0, atol=1e-14)


def test_mismatched_factor_counts(params):
    uf, mf, _, _ = params
    with pytest.raises(ValueError, match="movie_factors has 2 columns; user_factors has 3"):
        from_arrays(uf, mf[:, :2])


def test_training_recovers_a_planted_model():
    rng = np.random.default_rng(1)
    U, M, K = 20, 15, 2
    true = rng.normal(size=(U, K)) @ rng.normal(size=(K, M)) + 3
    u, m = np.nonzero(rng.uniform(size=(U, M)) < 0.7)
    torch.manual_seed(0)
    model = DotProductBias(U, M, K).double()
    data = (torch.from_numpy(u), torch.from_numpy(m), torch.from_numpy(true[u, m]))
    history = fit(model, data, loss_fn=F.mse_loss, epochs=300, batch_size=len(u),
                  opt=torch.optim.Adam(model.parameters(), lr=0.05))
    mse = [row.train_loss for row in history]   # full batch: the loss each step starts from
    assert mse[0] > 1.0 and mse[-1] < 0.01 * mse[0]


def test_device_agnostic():
    dev = pick_device("auto")
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            pick_device("cuda")
    model = DotProduct(3, 4, 2).to(dev)
    assert model(torch.tensor([0], device=dev), torch.tensor([1], device=dev)).device.type == dev.type
