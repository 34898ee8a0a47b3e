"""Parity for the char-RNN workbook: every model sheet against models/char_rnn.py in float64.

For each sheet carrying a `model_class` name (char3, char loop, concat, nn.RNN), read the weight
blocks and the typed characters by name from the LibreOffice-recalculated workbook, load
them into the PyTorch model, run it, and compare embeddings, hidden states, logits,
probabilities and the loss (max |difference| <= 1e-9), and the predicted characters
(compared as vocabulary indices: any mismatch fails). Names: xlbridge/builders/char_rnn.py.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from xlbridge.models.char_rnn import Char3Model, CharLoopConcatModel, CharLoopModel, CharRnn, CharSeqRnn, nll_loss_seq
from xlbridge.contracts.char_rnn import LOOP, RNN
from xlbridge.engine import Book
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity import Comparison, compare, compare_labels, sheet_kind
from xlbridge.text import glyph

# workbook name -> PyTorch parameter name, per kind of sheet (the contract says which)
LOOP_PARAMS = LOOP.torch_params()
RNN_PARAMS = RNN.torch_params()
LOOP_CLASSES = {"Char3Model": Char3Model, "CharLoopModel": CharLoopModel, "CharLoopConcatModel": CharLoopConcatModel}


def _state_dict(book: Book, sheet: str, names: dict[str, str]) -> dict[str, torch.Tensor]:
    state = {}
    for name, param in names.items():
        v = book.values(name, sheet)
        if np.isnan(v).any():
            raise XlbridgeInputError(
                f"{book.source}: sheet '{sheet}', block '{name}': a weight cell is empty or not a number"
            )
        # biases are stored as a column beside their weight matrix; torch wants a vector
        state[param] = torch.from_numpy(v.ravel() if ".bias" in param else v)
    return state


def _vocab(book: Book) -> dict[str, int]:
    """Character -> index, from the vocab sheet's codes (the padding character has code 0)."""
    codes = book.values("vocab_codes")[:, 0]
    return {chr(int(c)): i for i, c in enumerate(codes)}


def _glyphs(stoi: dict[str, int], indices) -> list[str]:
    """The characters at these vocabulary indices, as the sheet's headers show them."""
    chars = {i: ch for ch, i in stoi.items()}
    return [glyph(chars[int(i)]) for i in np.asarray(indices).ravel()]


def _char(value) -> str:
    # a digit typed into a cell arrives as a number; a predicted padding character as empty
    if value is None or value == "":
        return "\0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _indices(book: Book, sheet: str, name: str, stoi: dict[str, int], computed: bool = False) -> list[int]:
    """Vocabulary indices of a column of characters. A typed character outside the vocabulary is
    bad input; a computed one (a prediction) is simply wrong: -1, which no argmax equals."""
    out = []
    for row, (v,) in enumerate(book.raw(name, sheet), start=1):
        ch = _char(v)
        if ch not in stoi and not computed:
            raise XlbridgeInputError(
                f"{book.source}: sheet '{sheet}', {name} row {row}: {ch!r} is not a character of the vocab sheet"
            )
        out.append(stoi.get(ch, -1))
    return out


def _model(cls, state: dict[str, torch.Tensor], device="cpu"):
    V, Fdim = state["e.weight"].shape
    H = state["l_out.weight"].shape[1]
    model = cls(V, Fdim, H).double()
    model.load_state_dict(state)
    return model.to(device).eval()


@torch.no_grad()
def check_loop_sheet(book: Book, sheet: str, model_class: str, stoi, device="cpu") -> list[Comparison]:
    """char3 / char loop / concat: one sequence, an output after the last step."""
    model = _model(LOOP_CLASSES[model_class], _state_dict(book, sheet, LOOP_PARAMS), device)
    ids = _indices(book, sheet, "chars", stoi)
    x = torch.tensor([ids], device=device)  # (1, T)
    target = torch.tensor(_indices(book, sheet, "target", stoi), device=device)  # (1,)

    emb = model.e(x)[0]  # (T, F)
    hidden = model.hidden_states(x)[0]  # (T, H)
    extra = []
    if model_class == "CharLoopConcatModel":
        h_prev = torch.cat([torch.zeros_like(hidden[:1]), hidden[:-1]])  # (T, H): h before each step
        cat = torch.cat((h_prev, emb), dim=1)  # (T, H + F)
        inputs = F.relu(model.l_in(cat))  # (T, H)
        extra = [compare(sheet, "cat(h, e(c))", book.values("concat", sheet), cat, names=("concat",))]
    else:
        inputs = F.relu(model.l_in(emb))  # (T, H): the lesson's relu(l_in(e(c))) at every step
    logits = model.l_out(hidden[-1])[None]  # (1, V)
    log_probs = model(x)  # (1, V)
    loss = F.nll_loss(log_probs, target)
    got_pred = _indices(book, sheet, "prediction", stoi, computed=True)
    best = int(log_probs[0].argmax())
    return [
        compare(sheet, "indices", book.values("indices", sheet), np.array(ids, float)[:, None]),
        compare(sheet, "embedded e(c)", book.values("embedded", sheet), emb, names=("embedded",)),
        *extra,
        compare(sheet, "inputs relu(l_in(x))", book.values("inputs", sheet), inputs, names=("inputs",)),
        compare(sheet, "hidden states", book.values("hidden", sheet), hidden, names=("hidden",)),
        compare(sheet, "logits", book.values("logits", sheet), logits),
        compare(sheet, "logsumexp", book.values("logsumexp", sheet), torch.logsumexp(logits, -1)[:, None]),
        compare(sheet, "log_softmax", book.values("log_probs", sheet), log_probs, names=("log_probs",)),
        compare(sheet, "probabilities", book.values("probs", sheet), log_probs.exp(), names=("probs",)),
        compare(sheet, "loss", book.values("loss", sheet), [[loss.item()]]),
        compare(sheet, "predicted character (index)", [got_pred], [[best]], names=("prediction",)),
        compare_labels(sheet, "predicted character as shown", book.raw("prediction_glyph", sheet),
                       _glyphs(stoi, [best]), ("prediction_glyph",), label=False),
    ]


@torch.no_grad()
def check_rnn_sheet(book: Book, sheet: str, stoi, device="cpu") -> list[Comparison]:
    """nn.RNN: S sequences of T characters, an output at every step, the sequence loss."""
    state = _state_dict(book, sheet, RNN_PARAMS)
    seq_model, last_model = _model(CharSeqRnn, state, device), _model(CharRnn, state, device)
    seq_ids = book.values("sequence", sheet)[:, 0]
    S = len(np.unique(seq_ids))
    if len(seq_ids) % S:
        raise XlbridgeInputError(f"{book.source}: sheet '{sheet}': {len(seq_ids)} rows do not split into {S} equal sequences")
    T = len(seq_ids) // S
    ids = _indices(book, sheet, "chars", stoi)
    x = torch.tensor(ids, device=device).view(S, T)  # rows are sequence-major
    # a target is typed after a sequence's last step and repeats the next input before it: a
    # repeated one outside the vocabulary is a wrong label (-1, checked below), not bad input
    y_cells = _indices(book, sheet, "targets", stoi, computed=True)
    if any(y_cells[i] < 0 for i in range(T - 1, len(y_cells), T)):
        _indices(book, sheet, "targets", stoi)   # the typed ones: one clear error
    y = torch.tensor(y_cells, device=device).view(S, T).clamp(min=0)
    # the targets repeat the next row's input inside a sequence; a sequence's last one is typed
    next_in = torch.cat((x[:, 1:], y[:, -1:]), dim=1)                       # (S, T)

    emb = seq_model.e(x)  # (S, T, F)
    hidden = seq_model.hidden_states(x)  # (S, T, H)
    logits = seq_model.l_out(hidden)  # (S, T, V)
    log_probs = seq_model(x)  # (S, T, V)
    nll = -log_probs.gather(2, y[..., None])  # (S, T, 1)
    loss = nll_loss_seq(log_probs, y)
    last = last_model(x).exp()  # (S, V): CharRnn, which predicts from the last step only
    V = logits.size(-1)
    probs = book.values("probs", sheet)
    got_pred = _indices(book, sheet, "prediction", stoi, computed=True)
    best = log_probs.argmax(-1).reshape(S * T)
    return [
        compare(sheet, "indices", book.values("indices", sheet), np.array(ids, float)[:, None]),
        compare_labels(sheet, "targets (the next input)", np.array(y_cells),
                       next_in.reshape(-1).cpu().numpy(), ("targets",)),
        compare(sheet, "embedded e(c)", book.values("embedded", sheet), emb.reshape(S * T, -1), names=("embedded",)),
        compare(sheet, "hidden states (nn.RNN output)", book.values("hidden", sheet), hidden.reshape(S * T, -1),
                names=("hidden",)),
        compare(sheet, "logits", book.values("logits", sheet), logits.reshape(S * T, V)),
        compare(sheet, "logsumexp", book.values("logsumexp", sheet), torch.logsumexp(logits, -1).reshape(S * T, 1)),
        compare(sheet, "probabilities", probs, log_probs.exp().reshape(S * T, V), names=("probs",)),
        compare(sheet, "CharRnn probabilities (last steps)", probs[T - 1 :: T], last, names=()),
        compare(sheet, "nll per step", book.values("nll", sheet), nll.reshape(S * T, 1), names=("nll",)),
        compare(sheet, "sequence loss", book.values("loss", sheet), [[loss.item()]], names=("loss",)),
        compare_labels(sheet, "predicted characters as shown", book.raw("prediction_glyphs", sheet),
                       _glyphs(stoi, best.cpu()), ("prediction_glyphs",), label=False),
        compare(sheet, "predicted characters (index)", np.array(got_pred)[:, None], best[:, None],
                names=("prediction",)),
    ]


def check_char_rnn(book: Book, device="cpu") -> list[Comparison]:
    stoi = _vocab(book)
    out = []
    for sheet in book.sheets_with("model_class"):
        model_class = _char(book.raw("model_class", sheet)[0][0])
        kind = sheet_kind(book, sheet)
        if kind == "loop" and model_class in LOOP_CLASSES:
            out += check_loop_sheet(book, sheet, model_class, stoi, device)
        elif kind == "rnn" and model_class == "CharSeqRnn":
            out += check_rnn_sheet(book, sheet, stoi, device)
        else:
            raise XlbridgeInputError(f"{book.source}: sheet '{sheet}': a {kind!r} sheet of unknown model class {model_class!r}")
    if not out:
        raise XlbridgeInputError(f"{book.source}: no char-RNN model sheet (no 'model_class' name)")
    return out
