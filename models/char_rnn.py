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
size (n_fac), H hidden size (n_hidden). Training is models/training.py's loop; generation
models/generate.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


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


def build_model(config: CharModelConfig) -> nn.Module:
    """The model `config` describes, with PyTorch's own (seeded by the caller) start weights."""
    model = MODELS[config.kind](config.vocab_size, config.n_fac, config.n_hidden)
    if config.identity_init:
        identity_init_(model)
    return model


def loss_fn(log_probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss of every model above: sequence models give (B, T, V) and need every
    step's target; the others give (B, V)."""
    return nll_loss_seq(log_probs, y) if log_probs.dim() == 3 else F.nll_loss(log_probs, y)
