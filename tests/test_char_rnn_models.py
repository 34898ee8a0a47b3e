"""models/char_rnn.py: shapes, each model against its equations written out in numpy,
identity initialisation; training through models/training.py; save/load, generation and the
CLI's two functions (xlbridge/text_training.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xlbridge import text as T
from xlbridge.errors import XlbridgeInputError
from xlbridge.models.char_rnn import (
    MODELS, Char3Model, CharLoopConcatModel, CharLoopModel, CharModelConfig, CharRnn, CharSeqRnn,
    build_model, hidden_to_hidden, identity_init_, loss_fn, nll_loss_seq,
)
from xlbridge.models.training import evaluate, fit
from xlbridge.text_training import (
    check_model_config, continue_text, generate_text, load_char_model, save_char_model, train_text_model,
)


def make_dataset(kind, ids, context):
    return tuple(torch.from_numpy(a) for a in T.make_dataset(kind, ids, context))


def train(model, data, valid=None, *, epochs, batch_size, seed=0):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return fit(model, data, valid, loss_fn=loss_fn, epochs=epochs, batch_size=batch_size, opt=opt, seed=seed)

V, Fdim, H = 11, 4, 6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _x(B=5, steps=8, seed=0):
    return torch.randint(0, V, (B, steps), generator=torch.Generator().manual_seed(seed))


def _np(model):
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.mark.parametrize("kind", list(MODELS))
def test_output_shapes(kind):
    torch.manual_seed(0)
    steps = 3 if kind == "char3" else 8
    model = build_model(CharModelConfig(kind, V, Fdim, H, steps))
    out = model(_x(steps=steps))
    assert model.hidden_states(_x(steps=steps)).shape == (5, steps, H)
    assert out.shape == ((5, steps, V) if kind == "seq" else (5, V))
    assert torch.allclose(out.exp().sum(-1), torch.ones(out.shape[:-1]))  # log-probabilities


def test_char_loop_model_equals_a_hand_written_loop():
    torch.manual_seed(1)
    model = CharLoopModel(V, Fdim, H).double()
    w, x = _np(model), _x()
    h = np.zeros((5, H))
    for t in range(8):
        e = w["e.weight"][x[:, t].numpy()]  # (B, F)
        inp = np.maximum(0, e @ w["l_in.weight"].T + w["l_in.bias"])
        h = np.tanh((h + inp) @ w["l_hidden.weight"].T + w["l_hidden.bias"])
    want = _log_softmax(h @ w["l_out.weight"].T + w["l_out.bias"])
    got = model(x).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_char3_model_is_the_loop_model_on_three_characters():
    torch.manual_seed(2)
    loop = CharLoopModel(V, Fdim, H).double()
    char3 = Char3Model(V, Fdim, H).double()
    char3.load_state_dict(loop.state_dict())  # the same parameter names and shapes
    x = _x(steps=3)
    torch.testing.assert_close(char3(x), loop(x), rtol=0, atol=1e-14)
    with pytest.raises(AssertionError, match="3 characters, got 4"):
        char3(_x(steps=4))


def test_concat_model_equals_a_hand_written_loop():
    torch.manual_seed(3)
    model = CharLoopConcatModel(V, Fdim, H).double()
    w, x = _np(model), _x()
    h = np.zeros((5, H))
    for t in range(8):
        cat = np.concatenate([h, w["e.weight"][x[:, t].numpy()]], axis=1)  # (B, H + F)
        inp = np.maximum(0, cat @ w["l_in.weight"].T + w["l_in.bias"])
        h = np.tanh(inp @ w["l_hidden.weight"].T + w["l_hidden.bias"])
    want = _log_softmax(h @ w["l_out.weight"].T + w["l_out.bias"])
    np.testing.assert_allclose(model(x).detach().numpy(), want, rtol=0, atol=1e-12)


def test_char_rnn_equals_the_rnn_equations():
    torch.manual_seed(4)
    model = CharRnn(V, Fdim, H).double()
    w, x = _np(model), _x()
    h, hs = np.zeros((5, H)), []
    for t in range(8):
        xt = w["e.weight"][x[:, t].numpy()]
        # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        h = np.tanh(xt @ w["rnn.weight_ih_l0"].T + w["rnn.bias_ih_l0"] + h @ w["rnn.weight_hh_l0"].T + w["rnn.bias_hh_l0"])
        hs.append(h)
    np.testing.assert_allclose(model.hidden_states(x).detach().numpy(), np.stack(hs, 1), rtol=0, atol=1e-12)
    want = _log_softmax(h @ w["l_out.weight"].T + w["l_out.bias"])
    np.testing.assert_allclose(model(x).detach().numpy(), want, rtol=0, atol=1e-12)


def test_char_seq_rnn_outputs_every_step_and_its_last_step_is_char_rnn():
    torch.manual_seed(5)
    seq = CharSeqRnn(V, Fdim, H).double()
    last = CharRnn(V, Fdim, H).double()
    last.load_state_dict(seq.state_dict())
    x = _x()
    out = seq(x)
    torch.testing.assert_close(out[:, -1], last(x), rtol=0, atol=1e-14)
    for t in range(8):  # a prefix gives the same outputs: nothing looks ahead
        torch.testing.assert_close(out[:, t], last(x[:, : t + 1]), rtol=0, atol=1e-14)


def test_nll_loss_seq_is_the_mean_over_every_step():
    torch.manual_seed(6)
    log_probs = torch.log_softmax(torch.randn(3, 4, V, dtype=torch.float64), -1)
    y = torch.randint(0, V, (3, 4))
    want = -np.mean([log_probs[b, t, y[b, t]].item() for b in range(3) for t in range(4)])
    assert nll_loss_seq(log_probs, y).item() == pytest.approx(want, abs=1e-14)


@pytest.mark.parametrize("kind", ["loop", "concat", "rnn", "seq"])
def test_identity_init(kind):
    torch.manual_seed(7)
    model = build_model(CharModelConfig(kind, V, Fdim, H, identity_init=True))
    assert torch.equal(hidden_to_hidden(model), torch.eye(H))
    plain = build_model(CharModelConfig(kind, V, Fdim, H))
    assert not torch.equal(hidden_to_hidden(plain), torch.eye(H))
    assert identity_init_(plain) is plain and torch.equal(hidden_to_hidden(plain), torch.eye(H))


def test_rnn_with_identity_and_zero_input_weights_carries_the_state():
    # with W_hh = I and no input, h stays where it was: the reason for the identity start
    torch.manual_seed(8)
    model = identity_init_(CharRnn(V, Fdim, H).double())
    with torch.no_grad():
        model.rnn.weight_ih_l0.zero_()
        model.rnn.bias_ih_l0.zero_()
        model.rnn.bias_hh_l0.fill_(0.1)
    h = model.hidden_states(_x()).detach().numpy()
    want, hs = 0.0, []
    for _ in range(8):
        want = np.tanh(want + 0.1)
        hs.append(want)
    np.testing.assert_allclose(h[0, :, 0], hs, rtol=0, atol=1e-14)


def test_bad_config_is_a_clear_error():
    with pytest.raises(XlbridgeInputError, match="the 'kind' parameter of model must be one of 'char3'"):
        check_model_config(CharModelConfig("lstm", V, Fdim, H))
    with pytest.raises(XlbridgeInputError, match="Char3Model reads exactly 3"):
        check_model_config(CharModelConfig("char3", V, Fdim, H, context=8))
    with pytest.raises(XlbridgeInputError, match=r"n_hidden' parameter of model must be an integer in \[1, 4096\]"):
        check_model_config(CharModelConfig("seq", V, Fdim, 200_000))


@pytest.fixture(scope="module")
def default_ids():
    text = T.load_default_text()
    vocab = T.Vocab.from_text(text)
    return vocab, np.array(vocab.encode(text))


@pytest.mark.parametrize("kind", ["char3", "loop", "seq"])
def test_short_training_lowers_the_loss(kind, default_ids):
    vocab, ids = default_ids
    train_ids, valid_ids = T.split_text(ids)
    context = 3 if kind == "char3" else 8
    torch.manual_seed(0)
    model = build_model(CharModelConfig(kind, len(vocab), 8, 32, context))
    tr, va = make_dataset(kind, train_ids, context), make_dataset(kind, valid_ids, context)
    before = evaluate(model, va, loss_fn)
    res = train(model, tr, va, epochs=3, batch_size=64)
    assert before == pytest.approx(np.log(len(vocab)), rel=0.15)  # a random start guesses uniformly
    assert res[-1].valid_loss < before - 0.4
    assert res[-1].train_loss < res[0].train_loss
    assert len(res) == 3 and min(r.rows_per_s for r in res) > 0


def test_training_is_deterministic_with_a_seed(default_ids):
    vocab, ids = default_ids
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(CharModelConfig("rnn", len(vocab), 4, 8))
        train(model, make_dataset("rnn", ids[:800], 8), epochs=1, batch_size=32, seed=3)
        runs.append(model.state_dict())
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k])


def test_save_load_round_trip(tmp_path, default_ids):
    vocab, _ = default_ids
    torch.manual_seed(9)
    config = CharModelConfig("seq", len(vocab), 4, 8, identity_init=True)
    model = build_model(config).double()
    path = save_char_model(model, config, vocab, tmp_path / "m.pt")
    loaded, config2, vocab2 = load_char_model(path, device="cpu")
    assert vocab2 == vocab and config2 == config
    assert isinstance(loaded, CharSeqRnn)
    x = torch.tensor([vocab.encode("the river")])
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*tmp"))  # written atomically


def test_load_rejects_other_files(tmp_path, default_ids):
    with pytest.raises(XlbridgeInputError, match="no such model file"):
        load_char_model(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(XlbridgeInputError, match="not a saved xlbridge model"):
        load_char_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(XlbridgeInputError, match="not a saved xlbridge-char-rnn/2 model"):
        load_char_model(other)


@pytest.fixture(scope="module")
def small_model(default_ids):
    vocab, ids = default_ids
    torch.manual_seed(0)
    model = build_model(CharModelConfig("seq", len(vocab), 8, 32, identity_init=True))
    train(model, make_dataset("seq", ids, 8), epochs=5, batch_size=32)
    return model, CharModelConfig("seq", len(vocab), 8, 32, identity_init=True), vocab


def test_generation_greedy_and_seeded_sampling(small_model):
    model, config, vocab = small_model
    greedy = continue_text(model, config, vocab, "the river", 40)
    assert greedy.startswith("the river") and len(greedy) == 49
    assert continue_text(model, config, vocab, "the river", 40) == greedy
    assert greedy[:10] == continue_text(model, config, vocab, "the river", 1)
    a = continue_text(model, config, vocab, "the river", 60, temperature=1.0, seed=1)
    b = continue_text(model, config, vocab, "the river", 60, temperature=1.0, seed=1)
    c = continue_text(model, config, vocab, "the river", 60, temperature=1.0, seed=2)
    assert a == b and a != c
    assert "\0" not in a + c


def test_generation_bad_seed_text(small_model):
    model, config, vocab = small_model
    with pytest.raises(XlbridgeInputError, match="has 3 characters; the model reads 8"):
        continue_text(model, config, vocab, "the", 5)
    with pytest.raises(XlbridgeInputError, match=r"seed text: character 7: 'Z' is not in the vocabulary"):
        continue_text(model, config, vocab, "the rivZr", 5)
    with pytest.raises(XlbridgeInputError, match="temperature must be 0 or a number in"):
        continue_text(model, config, vocab, "the river", 5, temperature=float("inf"))


def test_train_and_generate_functions_for_the_cli(tmp_path):
    out = tmp_path / "m.pt"
    res = train_text_model(None, kind="loop", epochs=1, out=out, n_fac=4, n_hidden=16, batch_size=64, progress=False)
    assert out.is_file() and len(res) == 1 and np.isfinite(res[0].valid_loss)
    text = generate_text(out, "The river that", 20)
    assert text.startswith("The river that") and len(text) == 34
    assert generate_text(out, "The river that", 20) == text


@pytest.mark.parametrize("content, message", [("", "the text is empty"), ("abc", "at least 9")])
def test_train_function_rejects_bad_text(tmp_path, content, message):
    path = tmp_path / "t.txt"
    path.write_text(content)
    with pytest.raises(XlbridgeInputError, match=message):
        train_text_model(path, kind="rnn", epochs=1, out=tmp_path / "m.pt", progress=False)
