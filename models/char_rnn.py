"""The char-RNN lesson's models, from three characters to a full recurrent network.

Reference: fastai 2018, lesson 6 (lesson6-rnn.ipynb), on the Nietzsche text. Every model
embeds characters, keeps a hidden state that starts at zeros, and ends with a Linear layer
and log_softmax over the vocabulary:

    Char3Model           three hand-unrolled steps: h = tanh(l_hidden(h + relu(l_in(e(c)))))
    CharLoopModel        the same step in a loop over any number of characters
    CharLoopConcatModel  l_in reads cat(h, e(c)) instead of adding h afterwards
    CharRnn              PyTorch's nn.RNN: h = tanh(W_ih x + b_ih + W_hh h + b_hh)
    CharSeqRnn           nn.RNN with an output at every step (sequence NLL loss)

xlbridge/builders/char_rnn.py writes the forward passes of Char3Model, CharLoopModel and
CharSeqRnn/CharRnn as spreadsheet formulas; xlbridge/parity/char_rnn.py checks them against
this file in float64. Shapes: B batch, T characters per input, V vocabulary, F embedding
size (n_fac), H hidden size (n_hidden).

Below the models: training (Adam, tqdm progress bar, validation loss per epoch),
generation (get_next / get_next_n), save/load, and the two functions the CLI wraps.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from models.device import default_device
from xlbridge import text as textlib
from xlbridge.files import atomic_path
from xlbridge.errors import XlbridgeInputError, check_float, check_int


# -----------------------------------------------------------------------------
# the models


class Char3Model(nn.Module):
    """Predict the fourth character from three, with the three steps written out."""

    def __init__(self, vocab_size: int, n_fac: int, n_hidden: int):
        super().__init__()
        self.n_hidden = n_hidden
        self.e = nn.Embedding(vocab_size, n_fac)
        self.l_in = nn.Linear(n_fac, n_hidden)  # input -> hidden (the lesson's green arrow)
        self.l_hidden = nn.Linear(n_hidden, n_hidden)  # hidden -> hidden (orange arrow)
        self.l_out = nn.Linear(n_hidden, vocab_size)  # hidden -> output (blue arrow)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape
        assert T == 3, f"Char3Model reads 3 characters, got {T}"
        c1, c2, c3 = x.unbind(1)  # (B,) each
        in1 = F.relu(self.l_in(self.e(c1)))  # (B, H)
        in2 = F.relu(self.l_in(self.e(c2)))
        in3 = F.relu(self.l_in(self.e(c3)))
        h = torch.zeros_like(in1)  # the hidden state starts at zeros
        h1 = torch.tanh(self.l_hidden(h + in1))
        h2 = torch.tanh(self.l_hidden(h1 + in2))
        h3 = torch.tanh(self.l_hidden(h2 + in3))
        return torch.stack([h1, h2, h3], dim=1)  # (B, 3, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden_states(x)[:, -1]  # (B, H)
        return F.log_softmax(self.l_out(h), dim=-1)  # (B, V)


class CharLoopModel(nn.Module):
    """Char3Model's step in a loop: this is an RNN."""

    def __init__(self, vocab_size: int, n_fac: int, n_hidden: int):
        super().__init__()
        self.n_hidden = n_hidden
        self.e = nn.Embedding(vocab_size, n_fac)
        self.l_in = nn.Linear(n_fac, n_hidden)
        self.l_hidden = nn.Linear(n_hidden, n_hidden)
        self.l_out = nn.Linear(n_hidden, vocab_size)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape
        h = self.e.weight.new_zeros(B, self.n_hidden)  # (B, H), starts at zeros
        hs = []
        for t in range(T):
            inp = F.relu(self.l_in(self.e(x[:, t])))  # (B, F) -> (B, H)
            h = torch.tanh(self.l_hidden(h + inp))  # (B, H)
            hs.append(h)
        return torch.stack(hs, dim=1)  # (B, T, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden_states(x)[:, -1]  # (B, H)
        return F.log_softmax(self.l_out(h), dim=-1)  # (B, V)


class CharLoopConcatModel(nn.Module):
    """Concatenate the hidden state and the input instead of adding them, so neither is drowned."""

    def __init__(self, vocab_size: int, n_fac: int, n_hidden: int):
        super().__init__()
        self.n_hidden = n_hidden
        self.e = nn.Embedding(vocab_size, n_fac)
        self.l_in = nn.Linear(n_hidden + n_fac, n_hidden)  # reads cat(h, e(c))
        self.l_hidden = nn.Linear(n_hidden, n_hidden)
        self.l_out = nn.Linear(n_hidden, vocab_size)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape
        h = self.e.weight.new_zeros(B, self.n_hidden)
        hs = []
        for t in range(T):
            inp = torch.cat((h, self.e(x[:, t])), dim=1)  # (B, H + F)
            inp = F.relu(self.l_in(inp))  # (B, H)
            h = torch.tanh(self.l_hidden(inp))  # (B, H)
            hs.append(h)
        return torch.stack(hs, dim=1)  # (B, T, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden_states(x)[:, -1]
        return F.log_softmax(self.l_out(h), dim=-1)  # (B, V)


class CharRnn(nn.Module):
    """The loop handed to PyTorch: nn.RNN computes h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    Note nn.RNN has no ReLU input layer: x_t (the embedding) goes straight into the tanh.
    """

    def __init__(self, vocab_size: int, n_fac: int, n_hidden: int):
        super().__init__()
        self.n_hidden = n_hidden
        self.e = nn.Embedding(vocab_size, n_fac)
        self.rnn = nn.RNN(n_fac, n_hidden, batch_first=True)
        self.l_out = nn.Linear(n_hidden, vocab_size)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape
        h0 = self.e.weight.new_zeros(1, B, self.n_hidden)  # (layers, B, H)
        outp, _ = self.rnn(self.e(x), h0)  # (B, T, F) -> (B, T, H)
        return outp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden_states(x)[:, -1]  # only the last step predicts
        return F.log_softmax(self.l_out(h), dim=-1)  # (B, V)


class CharSeqRnn(CharRnn):
    """CharRnn with an output at every step: predicts each next character at once."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden_states(x)  # (B, T, H)
        return F.log_softmax(self.l_out(h), dim=-1)  # (B, T, V)


def nll_loss_seq(log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over every step of every sequence: (B, T, V), (B, T) -> ()."""
    V = log_probs.size(-1)
    return F.nll_loss(log_probs.reshape(-1, V), targets.reshape(-1))


def hidden_to_hidden(model: nn.Module) -> torch.Tensor:
    """The hidden-to-hidden weight matrix (H, H) of any model above."""
    return model.rnn.weight_hh_l0 if isinstance(model, CharRnn) else model.l_hidden.weight


@torch.no_grad()
def identity_init_(model: nn.Module) -> nn.Module:
    """Start the hidden-to-hidden weights at the identity matrix (the lesson's last trick).

    With W_hh = I the hidden state is passed on unchanged at first, so early characters
    are not squashed away before training has learned what to keep.
    """
    w = hidden_to_hidden(model)
    w.copy_(torch.eye(w.size(0), dtype=w.dtype, device=w.device))
    return model


MODELS = {
    "char3": Char3Model,
    "loop": CharLoopModel,
    "concat": CharLoopConcatModel,
    "rnn": CharRnn,
    "seq": CharSeqRnn,
}


@dataclass(frozen=True)
class CharModelConfig:
    kind: str = "seq"  # one of MODELS
    vocab_size: int = 85  # the Nietzsche text's 84 characters plus the padding character
    n_fac: int = 42  # embedding size, as in the lesson
    n_hidden: int = 256  # as in the lesson
    context: int = 8  # characters per input (Char3Model: always 3)
    identity_init: bool = False  # hidden-to-hidden weights start at the identity

    def validated(self) -> "CharModelConfig":
        if self.kind not in MODELS:
            raise XlbridgeInputError(f"model kind must be one of {', '.join(MODELS)}; got {self.kind!r}")
        check_int(self.vocab_size, "vocab_size", min_val=2)
        check_int(self.n_fac, "n_fac", min_val=1)
        check_int(self.n_hidden, "n_hidden", min_val=1)
        check_int(self.context, "context", min_val=1)
        if self.kind == "char3" and self.context != 3:
            raise XlbridgeInputError(f"context == {self.context}, Char3Model reads exactly 3 characters")
        return self


def build_model(config: CharModelConfig) -> nn.Module:
    config = config.validated()
    model = MODELS[config.kind](config.vocab_size, config.n_fac, config.n_hidden)
    if config.identity_init:
        identity_init_(model)
    model.config = config  # travels with the model to save_model
    return model


# -----------------------------------------------------------------------------
# data and training


def make_dataset(kind: str, ids, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The lesson's dataset for each model kind, as tensors: x (N, T), y (N,) or (N, T)."""
    if kind == "char3":
        x, y = textlib.char3_dataset(ids)
    elif kind == "seq":
        x, y = textlib.sequence_dataset(ids, context)
    else:
        x, y = textlib.window_dataset(ids, context)
    return torch.from_numpy(x), torch.from_numpy(y)


def loss_fn(log_probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # sequence models give (B, T, V) and need every step's target; the others give (B, V)
    return nll_loss_seq(log_probs, y) if log_probs.dim() == 3 else F.nll_loss(log_probs, y)


@dataclass
class TrainResult:
    """What a training run did, epoch by epoch (train_loss and valid_loss are means per target)."""

    train_loss: list[float]
    valid_loss: list[float]
    chars_per_s: list[float]  # predicted characters (targets) per second of training
    n_train: int  # training targets per epoch
    n_valid: int
    seconds: float


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Mean NLL per target character over (x, y)."""
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        total += loss_fn(model(xb), yb).item() * yb.numel()
        count += yb.numel()
    return total / count


def train(
    model: nn.Module,
    train_data: tuple[torch.Tensor, torch.Tensor],
    valid_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    epochs: int = 1,
    lr: float = 1e-2,  # the lesson's Adam learning rate
    batch_size: int = 512,
    seed: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Train with Adam on shuffled mini-batches; report train and validation loss per epoch."""
    epochs = check_int(epochs, "epochs", min_val=0)
    batch_size = check_int(batch_size, "batch_size", min_val=1)
    lr = check_float(lr, "lr", min_val=0, min_inclusive=False)
    device = next(model.parameters()).device
    x, y = train_data
    gen = torch.Generator().manual_seed(seed)  # the batch order, independent of global state
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_valid = 0 if valid_data is None else valid_data[1].numel()
    result = TrainResult([], [], [], n_train=y.numel(), n_valid=n_valid, seconds=0.0)
    t_start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        bar = tqdm(range(0, len(x), batch_size), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for i in bar:
            idx = order[i : i + batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * yb.numel()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        result.train_loss.append(total / y.numel())
        result.chars_per_s.append(y.numel() / elapsed)
        result.valid_loss.append(evaluate(model, *valid_data) if valid_data is not None else math.nan)
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}: train loss {result.train_loss[-1]:.4f}, "
                f"valid loss {result.valid_loss[-1]:.4f}, {result.chars_per_s[-1]:,.0f} chars/s"
            )
    result.seconds = time.perf_counter() - t_start
    return result


# -----------------------------------------------------------------------------
# generation


def _context_ids(model: nn.Module, vocab: textlib.Vocab, text: str) -> torch.Tensor:
    context = model.config.context
    if len(text) < context:
        raise XlbridgeInputError(
            f"seed text: has {len(text)} characters; the model reads {context}, give at least {context}"
        )
    ids = vocab.encode(text[-context:], source="seed text", start=len(text) - context)
    return torch.tensor([ids], device=next(model.parameters()).device)  # (1, T)


@torch.no_grad()
def get_next(model: nn.Module, vocab: textlib.Vocab, text: str, *, temperature: float = 0.0, generator=None) -> str:
    """The next character after `text`: the most likely one, or a sample when temperature > 0."""
    model.eval()
    log_probs = model(_context_ids(model, vocab, text))
    log_probs = log_probs[0, -1] if log_probs.dim() == 3 else log_probs[0]  # (V,) for the last step
    log_probs = log_probs.cpu()
    log_probs[0] = -math.inf  # never emit the padding character
    if temperature <= 0:
        i = int(torch.argmax(log_probs))  # the lesson's greedy choice
    else:
        probs = torch.softmax(log_probs.double() / temperature, dim=0)
        i = int(torch.multinomial(probs, 1, generator=generator))
    return vocab.chars[i]


def get_next_n(
    model: nn.Module, vocab: textlib.Vocab, text: str, n: int, *, temperature: float = 0.0, seed: int = 0
) -> str:
    """`text` followed by `n` generated characters; the same seed gives the same characters."""
    n = check_int(n, "n", min_val=0)
    temperature = check_float(temperature, "temperature", min_val=0)
    vocab.encode(text, source="seed text")  # the whole seed, so an error names the right position
    gen = torch.Generator().manual_seed(seed)
    res = text
    for _ in range(n):
        res += get_next(model, vocab, res, temperature=temperature, generator=gen)
    return res


# -----------------------------------------------------------------------------
# save and load: weights, vocabulary and config in one file


def save_model(model: nn.Module, vocab: textlib.Vocab, path) -> Path:
    """Write weights, vocabulary and config to `path` (temporary file, then renamed into place)."""
    if not isinstance(getattr(model, "config", None), CharModelConfig):
        raise XlbridgeInputError("save_model: the model has no config; create it with build_model(CharModelConfig(...))")
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:  # nothing half-written is left under the real name
        torch.save({"format": "xlbridge-char-rnn/1", "config": asdict(model.config),
                    "vocab": "".join(vocab.chars), "state_dict": state}, tmp)
    return path


def load_model(path, device=None) -> tuple[nn.Module, textlib.Vocab]:
    """A model saved by save_model, on `device` (default: CUDA when available), and its vocabulary."""
    path = Path(path)
    if not path.is_file():
        raise XlbridgeInputError(f"{path}: no such model file")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise XlbridgeInputError(f"{path}: not a saved char-RNN model ({type(e).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != "xlbridge-char-rnn/1":
        raise XlbridgeInputError(f"{path}: not a saved char-RNN model (no xlbridge-char-rnn/1 header)")
    model = build_model(CharModelConfig(**saved["config"]))
    state = saved["state_dict"]
    model.to(next(iter(state.values())).dtype).load_state_dict(state)
    return model.to(device or default_device()), textlib.Vocab(tuple(saved["vocab"]))


# -----------------------------------------------------------------------------
# the CLI's two commands, as plain functions


def train_text_model(
    text_path=None,
    *,
    kind: str = "seq",
    epochs: int = 2,
    out="char_rnn.pt",
    context: int = 8,
    n_fac: int = 42,
    n_hidden: int = 256,
    identity_init: bool = True,
    lr: float = 1e-2,
    batch_size: int = 512,
    max_chars: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Train a char model on a text file (default: the offline default text) and save it to `out`.

    The last 10% of the text is held out for the validation loss.
    """
    text = textlib.load_text(text_path) if text_path is not None else textlib.load_default_text()
    if max_chars is not None:
        text = text[: check_int(max_chars, "max_chars", min_val=1)]
    vocab = textlib.Vocab.from_text(text)
    if kind == "char3":
        context = 3
    config = CharModelConfig(kind, len(vocab), n_fac, n_hidden, context, identity_init).validated()
    train_ids, valid_ids = textlib.split_text(vocab.encode(text, source=str(text_path or "default text")))
    torch.manual_seed(seed)  # the initial weights
    model = build_model(config).to(default_device())
    train_data = make_dataset(kind, train_ids, config.context)
    valid_data = make_dataset(kind, valid_ids, config.context) if len(valid_ids) > config.context else None
    result = train(model, train_data, valid_data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress)
    save_model(model, vocab, out)
    return result


def generate_text(model_path, seed_text: str, n: int = 200, *, temperature: float = 0.0, seed: int = 0) -> str:
    """`seed_text` continued by `n` characters from a model saved by train_text_model."""
    model, vocab = load_model(model_path)
    return get_next_n(model, vocab, seed_text, n, temperature=temperature, seed=seed)


__all__ = [
    "Char3Model", "CharLoopModel", "CharLoopConcatModel", "CharRnn", "CharSeqRnn", "CharModelConfig",
    "MODELS", "build_model", "identity_init_", "hidden_to_hidden", "nll_loss_seq", "make_dataset",
    "train", "evaluate", "TrainResult", "get_next", "get_next_n", "save_model", "load_model",
    "default_device", "train_text_model", "generate_text",
]
