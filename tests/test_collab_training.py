"""Training the collaborative-filtering lesson at full scale (xlbridge fit / interpret):
the schedule and the optimizer against fastai's formulas written out here, fastai's split,
real training on ml-100k, planted structure recovered, save/load, PCA against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import shared_path

from xlbridge.collab_data import prepare, split_rows
from xlbridge.collab_training import FitConfig, fit_collab, load_collab_model
from xlbridge.data import Ratings, load_ratings
from xlbridge.errors import XlbridgeInputError
from xlbridge.interpret import interpret, pca, pca_transposed
from xlbridge.models.collab_nn import CollabNN, EmbeddingNN, emb_sz_rule
from xlbridge.models.schedule import OneCycle
from xlbridge.models.training import _decay_groups, adamw, fit


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- fastai's schedule and optimizer, written out from fastai's definitions ----------------------

def fastai_sched_cos(start, end, pos):               # fastai.callback.schedule.sched_cos
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def fastai_one_cycle(pos, lr_max, div=25.0, div_final=1e5, pct_start=0.25, moms=(0.95, 0.85, 0.95)):
    """combined_cos(pct_start, lr_max/div, lr_max, lr_max/div_final) and the momentum's, by hand."""
    if pos < pct_start:
        p = pos / pct_start
        return fastai_sched_cos(lr_max / div, lr_max, p), fastai_sched_cos(moms[0], moms[1], p)
    p = (pos - pct_start) / (1 - pct_start)
    return fastai_sched_cos(lr_max, lr_max / div_final, p), fastai_sched_cos(moms[1], moms[2], p)


@pytest.mark.parametrize("pos", [0.0, 0.1, 0.2499, 0.25, 0.5, 0.9, 0.9999])
def test_one_cycle_equals_fastais_formulas(pos):
    lr, mom = OneCycle(5e-3)(pos)
    want_lr, want_mom = fastai_one_cycle(pos, 5e-3)
    assert lr == pytest.approx(want_lr, rel=1e-12) and mom == pytest.approx(want_mom, rel=1e-12)


def test_one_cycle_landmarks():
    s = OneCycle(1.0)
    assert s(0.0) == (pytest.approx(1 / 25), pytest.approx(0.95))            # start: lr_max/div, top momentum
    assert s(0.25) == (pytest.approx(1.0), pytest.approx(0.85))              # peak lr, lowest momentum
    lr, mom = s(1.0)
    assert lr == pytest.approx(1e-5) and mom == pytest.approx(0.95)          # lr_max/div_final


def test_the_loop_sets_the_schedule_before_every_batch():
    model = nn.Linear(1, 1)
    seen = []

    class Recording(torch.optim.AdamW):
        def step(self, closure=None):
            seen.append((self.param_groups[0]["lr"], self.param_groups[0]["betas"][0]))
            return super().step(closure)

    x, y = torch.randn(40, 1), torch.randn(40)
    opt = Recording(model.parameters(), lr=1.0)
    fit(model, (x, y), loss_fn=lambda p, t: F.mse_loss(p.squeeze(1), t), epochs=2, batch_size=8, opt=opt,
        schedule=OneCycle(0.1))
    assert len(seen) == 10                                                   # 2 epochs x 5 batches
    for step, (lr, mom) in enumerate(seen):
        want = fastai_one_cycle(step / 10, 0.1)
        assert (lr, mom) == (pytest.approx(want[0], rel=1e-12), pytest.approx(want[1], rel=1e-12))


def test_one_adamw_step_with_weight_decay_by_hand():
    """fastai's Adam (decouple_wd=True): p *= 1 - lr*wd; then the bias-corrected step with beta2 0.99, eps 1e-5."""
    emb = nn.Embedding(3, 2)
    with torch.no_grad():
        emb.weight.copy_(torch.tensor([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]]))
    p0 = emb.weight.detach().clone().double()
    opt = adamw(emb, lr=0.1, wd=0.3)
    loss = (emb(torch.tensor([0, 2])) ** 2).sum() * 0.5                    # gradient = the rows used
    opt.zero_grad()
    loss.backward()
    g = emb.weight.grad.detach().clone().double()
    opt.step()
    lr, wd, b1, b2, eps = 0.1, 0.3, 0.9, 0.99, 1e-5
    m, v = (1 - b1) * g, (1 - b2) * g * g
    want = p0 * (1 - lr * wd) - lr / (1 - b1) * m / (torch.sqrt(v / (1 - b2)) + eps)
    torch.testing.assert_close(emb.weight.detach().double(), want, rtol=1e-6, atol=1e-7)
    # row 1 had no gradient: only the decay moved it
    torch.testing.assert_close(emb.weight[1].detach().double(), p0[1] * (1 - lr * wd), rtol=1e-6, atol=1e-7)


def test_no_weight_decay_on_layer_biases_and_batch_norm():
    model = EmbeddingNN(5, 6, layers=(4,))
    decay, no_decay = _decay_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in no_decay["params"]} == {"layers.0.2.weight", "layers.0.2.bias", "layers.1.bias"}
    assert "user_factors.weight" in {names[id(p)] for p in decay["params"]} and no_decay["weight_decay"] == 0.0


# --- the models' shapes, as fastai builds them -----------------------------------------------

def test_embedding_sizes_follow_fastais_rule():
    assert (emb_sz_rule(944), emb_sz_rule(1665)) == (74, 102)             # the fastai book's ml-100k
    model = CollabNN(944, 1665)
    assert model.user_factors.weight.shape == (944, 74) and model.movie_factors.weight.shape == (1665, 102)
    assert model.layers[0].in_features == 176 and model.layers[0].out_features == 100


def test_embedding_nn_has_fastais_layers_in_fastais_order():
    m = EmbeddingNN(944, 1665, layers=(100, 50))
    kinds = [[type(x).__name__ for x in block] if isinstance(block, nn.Sequential) else type(block).__name__
             for block in m.layers]
    assert kinds == [["Linear", "ReLU", "BatchNorm1d"], ["Linear", "ReLU", "BatchNorm1d"], "Linear"]
    assert m.layers[0][0].bias is None and m.layers[2].bias is not None     # batch norm carries the bias
    out = m.eval()(torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6]))
    assert out.shape == (3,) and ((0 < out) & (out < 5.5)).all()            # SigmoidRange(0, 5.5)


# --- data: fastai's split, numbering ---------------------------------------------------------

def test_split_is_fastais_random_splitter_and_the_older_lessons_get_cv_idxs():
    n = 1000
    torch.manual_seed(42)                                                    # RandomSplitter(0.2, seed=42)
    rand = torch.randperm(n).numpy()
    train, valid = split_rows(n, 0.2, 42, "random")
    np.testing.assert_array_equal(valid, rand[:200])
    np.testing.assert_array_equal(train, rand[200:])
    np.random.seed(42)                                                       # get_cv_idxs(n, val_pct=0.2, seed=42)
    old = np.random.permutation(n)[:200]
    train, valid = split_rows(n, 0.2, 42, "random-2018")
    np.testing.assert_array_equal(valid, old)
    assert sorted(np.concatenate([train, valid]).tolist()) == list(range(n)) and np.all(np.diff(train) > 0)


def test_ml_100k_numbered_as_fastai_numbers_it():
    d = prepare(load_ratings(shared_path("data", "ml-100k")), item="title")
    assert (d.n_users, d.n_movies) == (944, 1665)                            # the fastai book's classes
    assert d.users[0] == d.movies[0] == "#na#" and d.movies[1:] == sorted(d.movies[1:])
    assert (len(d.train[0]), len(d.valid[0])) == (80_000, 20_000)
    d = prepare(load_ratings(shared_path("data", "ml-latest-small-2016")), split="random-2018")
    assert (d.n_users, d.n_movies) == (671, 9066)                            # the older lesson's Embedding(671, 50)


# --- training on real data ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def ml100k():
    return load_ratings(shared_path("data", "ml-100k"))


@pytest.fixture(scope="module")
def trained(ml100k, tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "model.pt"
    config = FitConfig(model="DotProductBias", epochs=2, bs=512, lr=0.01, wd=0.1)
    return fit_collab(ml100k, config, path), path


def test_training_on_ml_100k_lowers_the_validation_loss(trained):
    result, _ = trained
    valid = [row.valid_loss for row in result.history]
    # predicting each rating by the training mean scores about 1.27 here; two short epochs beat it by far
    assert valid[-1] < 0.93 and valid[-1] < valid[0] and result.history[-1].train_loss < result.history[0].train_loss


def test_training_is_deterministic_on_the_cpu(ml100k):
    config = FitConfig(model="CollabNN", epochs=1, bs=2048, seed=7)
    a, b = fit_collab(ml100k, config), fit_collab(ml100k, config)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k


def test_save_load_gives_the_same_predictions(trained):
    result, path = trained
    saved = load_collab_model(path)
    u, m = (torch.from_numpy(a[:500]) for a in result.data.valid[:2])
    torch.testing.assert_close(saved.model(u, m), result.model.eval()(u, m), rtol=0, atol=0)
    assert saved.users == [None, *range(1, 944)] and saved.titles[saved.movie_index(50)] == "Star Wars (1977)"
    assert sum(saved.train_counts) == 80_000
    assert [row["epoch"] for row in saved.meta["history"]] == [1, 2] and saved.meta["split"]["seed"] == 42


@pytest.mark.parametrize("content, message", [
    (b"not a checkpoint", "not a saved xlbridge model"),
    (None, "not a saved xlbridge-collab/1 model"),
])
def test_foreign_files_are_refused(tmp_path, content, message):
    path = tmp_path / "foreign.pt"
    if content is None:
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(XlbridgeInputError, match=message):
        load_collab_model(path)


def test_crafted_checkpoints_are_refused(trained, tmp_path):
    _, path = trained
    good = torch.load(path, weights_only=True)
    cases = {
        "huge": ({**good, "config": {**good["config"], "n_factors": 200_000}}, "n_factors"),
        "shape": ({**good, "state_dict": {**good["state_dict"], "user_bias.weight": torch.zeros(3, 1)}},
                  "user_bias.weight is \\[3, 1\\]"),
        "nan": ({**good, "state_dict": {**good["state_dict"], "movie_bias.weight": good["state_dict"]["movie_bias.weight"] * float("nan")}},
                "NaN or infinity"),
        "maps": ({**good, "meta": {**good["meta"], "titles": good["meta"]["titles"][:5]}}, "id maps"),
    }
    for name, (payload, message) in cases.items():
        bad = tmp_path / f"{name}.pt"
        torch.save(payload, bad)
        with pytest.raises(XlbridgeInputError, match=message):
            load_collab_model(bad)


# --- interpretation recovers what was planted ----------------------------------------------------

def planted(seed=0, n_users=300, n_movies=120, per_user=60):
    """Ratings from a known model: biases in a known order, two known factor directions."""
    rng = np.random.default_rng(seed)
    ub = rng.normal(0, 0.3, n_users)
    mb = np.linspace(-1.0, 1.0, n_movies)[rng.permutation(n_movies)]     # the planted bias order
    uf, mf = rng.normal(0, 0.8, (n_users, 2)), rng.normal(0, 0.8, (n_movies, 2))
    rows = []
    for u in range(n_users):
        for m in rng.choice(n_movies, per_user, replace=False):
            r = 3.5 + ub[u] + mb[m] + uf[u] @ mf[m] + rng.normal(0, 0.2)
            rows.append((u + 1, m + 1, float(np.clip(r, 0.5, 5.0)), len(rows)))
    df = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    titles = pd.Series({m + 1: f"movie {m + 1}" for m in range(n_movies)})
    return Ratings(df, titles, "planted"), mb, mf


def test_interpretation_recovers_planted_biases_and_directions(tmp_path):
    ratings, mb, mf = planted()
    config = FitConfig(model="DotProductBias", factors=8, epochs=12, bs=256, lr=0.02, wd=0.05, seed=1)
    result = fit_collab(ratings, config, tmp_path / "p.pt")
    found = interpret(load_collab_model(tmp_path / "p.pt"), min_ratings=1, top=120, n_pca=120)
    order = found.bias_lowest["title"].str.split().str[1].astype(int).to_numpy() - 1   # lowest bias first
    rho = pd.Series(mb[order]).corr(pd.Series(np.arange(len(order))), method="spearman")
    assert rho > 0.95, rho                                                   # the planted order, recovered
    # the first two components span the planted factor plane: regress the planted factors on them
    index = [int(t.split()[1]) - 1 for t in found.pca_movies["title"]]
    scores = found.pca.scores[:, :2]
    coef, *_ = np.linalg.lstsq(np.c_[scores, np.ones(len(scores))], mf[index], rcond=None)
    resid = mf[index] - np.c_[scores, np.ones(len(scores))] @ coef
    r2 = 1 - (resid ** 2).sum(0) / ((mf[index] - mf[index].mean(0)) ** 2).sum(0)
    assert (r2 > 0.9).all(), r2
    assert result.valid_mse < 0.2


def test_pca_readings_against_scikit_learn():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(3).normal(size=(60, 6)) @ np.diag([3, 2, 1.5, 1, 0.5, 0.2])
    ours = pca(x, 3)
    sk = PCA(3).fit(x)
    for j in range(3):   # the same directions and coordinates, up to each component's sign
        s = np.sign(ours.components[j] @ sk.components_[j])
        np.testing.assert_allclose(ours.components[j], s * sk.components_[j], atol=1e-10)
        np.testing.assert_allclose(ours.scores[:, j], s * sk.transform(x)[:, j], atol=1e-10)
    np.testing.assert_allclose(ours.explained, sk.explained_variance_ratio_, rtol=1e-10)
    old = pca_transposed(x, 3)                                              # the older lesson's reading
    np.testing.assert_allclose(np.abs(old), np.abs(PCA(3).fit(x.T).components_.T), atol=1e-10)


def test_the_two_pca_readings_are_one_svd():
    """They centre along different axes; on a matrix centred both ways they agree up to the sign
    and the scale (the singular value) of each component."""
    x = np.random.default_rng(4).normal(size=(40, 5)) @ np.diag([4, 3, 2, 1, 0.5])
    x = x - x.mean(0) - x.mean(1, keepdims=True) + x.mean()                 # centred along both axes
    ours, old = pca(x, 3), pca_transposed(x, 3)
    s = np.linalg.svd(x, compute_uv=False)
    for j in range(3):
        np.testing.assert_allclose(np.abs(ours.scores[:, j] / s[j]), np.abs(old[:, j]), atol=1e-10)
    y = np.random.default_rng(5).normal(size=(40, 5)) + 3.0                  # not centred: they differ
    assert not np.allclose(np.abs(pca(y, 1).scores[:, 0]) / np.linalg.norm(pca(y, 1).scores[:, 0]),
                           np.abs(pca_transposed(y, 1)[:, 0]), atol=1e-3)


# --- the CUDA path, when there is one --------------------------------------------------------------

@pytest.mark.cuda
def test_training_on_cuda_matches_the_cpu(ml100k):
    config = FitConfig(model="DotProductBias", epochs=1, bs=1024, lr=0.01)
    cpu = fit_collab(ml100k, config)
    gpu = fit_collab(ml100k, FitConfig(**{**config.__dict__, "device": "cuda"}))
    assert gpu.device == "cuda"
    assert abs(gpu.valid_mse - cpu.valid_mse) < 0.01   # float32 on different hardware: close, not equal bits


# --- the learned model back in a workbook ------------------------------------------------------

@pytest.mark.libreoffice
def test_trained_models_in_workbooks_equal_their_own_forward_pass(trained, ml100k, tmp_path):
    """build --model: the trained DotProductBias fills the model sheets and the embedding lookup;
    a trained CollabNN gets the `collab nn` sheet. LibreOffice's recalculation passes parity (the
    model class in float64 on the sheet's cells) and equals the saved model's own predictions."""
    from xlbridge.builders.collab import CollabConfig, build_collab
    from xlbridge.engine import recalculate_many
    from xlbridge.parity.collab import check_collab

    _, dpb_path = trained
    nn_path = tmp_path / "nn.pt"
    fit_collab(ml100k, FitConfig(model="CollabNN", epochs=1, bs=2048, lr=0.01), nn_path)
    config = CollabConfig(n_users=8, n_movies=8, nn_rows=12)
    books = recalculate_many([build_collab(ml100k, tmp_path / f"{p.stem}.xlsx", config, load_collab_model(p))
                              for p in (dpb_path, nn_path)])
    for book, path, sheet in zip(books, (dpb_path, nn_path), ("trained DotProductBias", "collab nn")):
        results = check_collab(book)
        assert results and all(c.passed for c in results), [c for c in results if not c.passed]
        assert sheet in {c.sheet for c in results}
        saved = load_collab_model(path)                              # the float32 model as trained
        if sheet == "collab nn":
            u = [saved.users.index(int(x)) for x in book.values("rating_user", sheet).ravel()]
            m = [saved.movies.index(int(x)) for x in book.values("rating_movie", sheet).ravel()]
            got = book.values("predictions", sheet).ravel()
        else:
            ratings = book.values("ratings", sheet)
            rated = ~np.isnan(ratings)
            uid = [int(x) for x in book.values("user_ids", "crosstab").ravel()]
            mid = [int(x) for x in book.values("movie_ids", "crosstab").ravel()]
            u = [saved.users.index(uid[i]) for i, _ in zip(*np.nonzero(rated))]
            m = [saved.movies.index(mid[j]) for _, j in zip(*np.nonzero(rated))]
            got = book.values("predictions", sheet)[rated]
        with torch.no_grad():
            want = saved.model(torch.tensor(u), torch.tensor(m)).double().numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)     # float32 training weights, float64 sheet
