"""models/linear.py and models/optimizers.py: torch.optim's functional API against its classes
and against the pure NumPy steps, and all against first steps worked out here by hand."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from xlbridge.models.line import make_data
from xlbridge.models.linear import train_numpy, train_torch
from xlbridge.models.optimizers import OPTIMIZERS, STATE_KEYS


@pytest.fixture(scope="module")
def data():
    return make_data(n=12, a=2.0, b=30.0, noise=5.0, x_max=100, seed=3)


def rel(got, want):
    """max |got - want| / max |want|: the scale-relative difference parity uses."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def test_make_data_is_seeded_and_on_the_line():
    d1, d2 = make_data(seed=5), make_data(seed=5)
    np.testing.assert_array_equal(d1.x, d2.x)
    np.testing.assert_array_equal(d1.noise, d2.noise)
    assert not np.array_equal(make_data(seed=6).x, d1.x)
    assert d1.x.shape == (30,) and set(np.unique(d1.x)) <= set(range(1, 101))
    np.testing.assert_array_equal(np.round(d1.noise, 2), d1.noise)  # written and read back exactly
    np.testing.assert_allclose(d1.y - d1.noise, 2.0 * d1.x + 30.0, rtol=0, atol=1e-12)
    assert 2.0 < np.std(d1.noise) < 8.0  # noise sd 5
    assert np.all(make_data(noise=0.0).noise == 0.0)


# Non-default values exercise the options the sheets expose (dampening, lr_decay, the initial
# accumulator, weight decay) where the defaults would leave them at zero.
VARIANTS = {
    "sgd": {"lr": 2e-5},
    "momentum": {"momentum": 0.8, "dampening": 0.3},
    "adagrad": {"lr_decay": 0.05, "initial_accumulator_value": 2.0, "eps": 0.5},
    "rmsprop": {"alpha": 0.9, "eps": 0.1},
    "adam": {"beta1": 0.5, "beta2": 0.9, "eps": 0.01},
    "adamw": {"weight_decay": 0.2, "eps": 1.0},
    "adam_onecycle": {"pct_start": 0.5, "base_momentum": 0.8, "max_momentum": 0.9, "final_div_factor": 10.0},
    "adam_course": {"beta1": 0.7, "beta2": 0.9},
}


@pytest.mark.parametrize("variant", ["defaults", "variant"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_torch_equals_numpy(optimizer, variant, data):
    hp = VARIANTS[optimizer] if variant == "variant" else None
    t = train_torch(data.x, data.y, optimizer, hp, epochs=3, a_init=1.0, b_init=1.0, device="cpu")
    n = train_numpy(data.x, data.y, optimizer, hp, epochs=3, a_init=1.0, b_init=1.0)
    assert set(t) <= set(n)  # the NumPy steps also show what torch computes without keeping
    for key in ("a", "b", "loss", "grad_a", "grad_b", "new_a", "new_b", "epoch_loss"):
        assert t[key].shape == ((3,) if key == "epoch_loss" else (36,))
    for key in STATE_KEYS[optimizer]:
        assert f"{key}_a" in t and f"{key}_b" in t
    for key in t:
        assert rel(t[key], n[key]) < 1e-10, key


@pytest.mark.parametrize("variant", ["defaults", "variant"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_functional_api_steps_as_the_optimizer_classes(optimizer, variant, data):
    """What parity runs (torch.optim's functions, OneCycleLR's closed form) is what a notebook's
    torch.optim.Adam(...) and OneCycleLR(...) compute, to the last bit."""
    hp = VARIANTS[optimizer] if variant == "variant" else None
    functional = train_torch(data.x, data.y, optimizer, hp, epochs=3, a_init=0.5, b_init=-2.0, device="cpu")
    classes = train_torch(data.x, data.y, optimizer, hp, epochs=3, a_init=0.5, b_init=-2.0, device="cpu", classes=True)
    assert functional.keys() == classes.keys()
    for key in classes:
        np.testing.assert_array_equal(functional[key], classes[key], err_msg=key)


def test_the_functional_path_leaves_torch_dynamo_unloaded():
    """Making an Optimizer imports torch._dynamo (1-3 s); the path `xlbridge check` takes must not."""
    code = ("import sys; from xlbridge.models.line import make_data; from xlbridge.models.linear import train_torch\n"
            "from xlbridge.models.optimizers import OPTIMIZERS; d = make_data(n=4)\n"
            "for o in OPTIMIZERS: train_torch(d.x, d.y, o, epochs=1, device='cpu')\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]


def test_the_numpy_steps_show_what_the_sheets_derive(data):
    hp = {"lr": 0.2, "beta1": 0.7, "beta2": 0.9, "eps": 0.01, "weight_decay": 0.5}
    n = train_numpy(data.x, data.y, "adamw", hp, epochs=1)
    t = np.arange(1, 13)
    np.testing.assert_allclose(n.bias_correction1, 1 - 0.7 ** t, rtol=1e-15)
    np.testing.assert_allclose(n.bias_correction2, 1 - 0.9 ** t, rtol=1e-15)
    np.testing.assert_allclose(n.decayed_a, n.a * (1 - 0.2 * 0.5), rtol=1e-15)
    n = train_numpy(data.x, data.y, "adagrad", {"lr": 2.0, "lr_decay": 0.25}, epochs=1)
    np.testing.assert_allclose(n.clr, 2.0 / (1 + (t - 1) * 0.25), rtol=1e-15)
    assert "decayed_a" not in train_numpy(data.x, data.y, "adam", epochs=1)  # plain Adam decays nothing


def first_grads(x0, y0, a, b):
    r = a * x0 + b - y0
    return 2 * r * x0, 2 * r  # de/da, de/db


def test_sgd_steps_by_hand(data):
    lr = 1e-5
    t = train_torch(data.x, data.y, "sgd", {"lr": lr}, epochs=1, a_init=0.5, b_init=-1.0, device="cpu")
    a, b = 0.5, -1.0
    for i in range(len(data.x)):
        ga, gb = first_grads(data.x[i], data.y[i], a, b)
        assert t.loss[i] == pytest.approx((a * data.x[i] + b - data.y[i]) ** 2, rel=1e-12)
        assert (t.grad_a[i], t.grad_b[i]) == pytest.approx((ga, gb), rel=1e-12)
        a, b = a - lr * ga, b - lr * gb
        assert (t.new_a[i], t.new_b[i]) == pytest.approx((a, b), rel=1e-12)
    assert t.epoch_loss[0] == pytest.approx(np.mean(t.loss), rel=1e-12)


def test_momentum_buffer_starts_as_the_first_gradient(data):
    hp = {"lr": 1e-6, "momentum": 0.9, "dampening": 0.5}
    t = train_torch(data.x, data.y, "momentum", hp, epochs=1, device="cpu")
    # step 1: no dampening, the buffer is the gradient itself
    assert t.momentum_buffer_a[0] == t.grad_a[0]
    # step 2: momentum * buf + (1 - dampening) * g
    assert t.momentum_buffer_a[1] == pytest.approx(0.9 * t.grad_a[0] + 0.5 * t.grad_a[1], rel=1e-12)
    assert t.new_b[1] == pytest.approx(t.b[1] - 1e-6 * t.momentum_buffer_b[1], rel=1e-12)


def test_adagrad_and_rmsprop_first_steps(data):
    ga, gb = first_grads(data.x[0], data.y[0], 1.0, 1.0)
    t = train_torch(data.x, data.y, "adagrad",
                    {"lr": 0.5, "lr_decay": 0.1, "initial_accumulator_value": 3.0, "eps": 0.2}, epochs=1, device="cpu")
    assert t.sum_a[0] == pytest.approx(3.0 + ga * ga, rel=1e-12)
    assert t.new_a[0] == pytest.approx(1.0 - 0.5 * ga / (math.sqrt(3.0 + ga * ga) + 0.2), rel=1e-12)
    # the learning rate decays from step 2 on: lr / (1 + (t - 1) * lr_decay)
    gb2 = t.grad_b[2]
    assert t.new_b[2] == pytest.approx(t.b[2] - 0.5 / 1.2 * gb2 / (math.sqrt(t.sum_b[2]) + 0.2), rel=1e-12)

    t = train_torch(data.x, data.y, "rmsprop", {"lr": 0.1, "alpha": 0.9, "eps": 0.3}, epochs=1, device="cpu")
    assert t.square_avg_b[0] == pytest.approx(0.1 * gb * gb, rel=1e-12)
    assert t.new_b[0] == pytest.approx(1.0 - 0.1 * gb / (math.sqrt(0.1) * abs(gb) + 0.3), rel=1e-12)


def test_adam_adamw_and_the_course_variant_first_step(data):
    ga, gb = first_grads(data.x[0], data.y[0], 1.0, 1.0)
    hp = {"lr": 0.1, "beta1": 0.8, "beta2": 0.95, "eps": 0.5}
    # bias correction makes the first step's m_hat = g and v_hat = g**2
    t = train_torch(data.x, data.y, "adam", hp, epochs=1, device="cpu")
    assert t.exp_avg_a[0] == pytest.approx(0.2 * ga, rel=1e-12)
    assert t.exp_avg_sq_a[0] == pytest.approx(0.05 * ga * ga, rel=1e-12)
    assert t.new_a[0] == pytest.approx(1.0 - 0.1 * ga / (abs(ga) + 0.5), rel=1e-12)
    # AdamW: decay the weight first, by lr * weight_decay, then the same Adam step
    t = train_torch(data.x, data.y, "adamw", {**hp, "weight_decay": 0.3}, epochs=1, device="cpu")
    assert t.new_b[0] == pytest.approx(1.0 * (1 - 0.1 * 0.3) - 0.1 * gb / (abs(gb) + 0.5), rel=1e-12)
    # the course's variant: no bias correction, no eps
    t = train_torch(data.x, data.y, "adam_course", {"lr": 0.1, "beta1": 0.8, "beta2": 0.95}, epochs=1, device="cpu")
    assert t.new_a[0] == pytest.approx(1.0 - 0.1 * 0.2 * ga / math.sqrt(0.05 * ga * ga), rel=1e-12)


def test_onecycle_schedule_ends(data):
    hp = {"max_lr": 1.0, "pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0,
          "base_momentum": 0.8, "max_momentum": 0.9}
    t = train_torch(data.x, data.y, "adam_onecycle", hp, epochs=2, device="cpu")  # 24 steps
    assert t.lr_t[0] == pytest.approx(0.1, rel=1e-15)        # max_lr / div_factor
    assert t.beta1_t[0] == pytest.approx(0.9, rel=1e-15)     # max_momentum
    assert t.lr_t[5] == pytest.approx(1.0, rel=1e-15)        # warm-up ends at 0.25 * 24 - 1 = 5
    assert t.beta1_t[5] == pytest.approx(0.8, rel=1e-15)
    assert t.lr_t[-1] == pytest.approx(0.1 / 100, rel=1e-12)  # min_lr on the last step
    assert np.all(np.diff(t.lr_t[:6]) > 0) and np.all(np.diff(t.lr_t[5:]) < 0)


def test_optimizers_make_progress():
    d = make_data()
    for optimizer in OPTIMIZERS:
        t = train_numpy(d.x, d.y, optimizer, epochs=10)
        assert t.epoch_loss[-1] < t.epoch_loss[0] / 2, optimizer
    # the lesson: adaptive methods get b much closer to 30 than plain SGD in the same steps
    sgd = train_numpy(d.x, d.y, "sgd", epochs=10).new_b[-1]
    adam = train_numpy(d.x, d.y, "adam", epochs=10).new_b[-1]
    assert abs(adam - 30) < abs(sgd - 30) / 2
