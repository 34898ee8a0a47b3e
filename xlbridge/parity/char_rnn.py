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
from xlbridge.engine import Book
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity import Comparison, compare, register

# workbook name -> PyTorch parameter name, per kind of sheet
LOOP_PARAMS = {
    "embedding": "e.weight",
    "l_in_weight": "l_in.weight", "l_in_bias": "l_in.bias",
    "l_hidden_weight": "l_hidden.weight", "l_hidden_bias": "l_hidden.bias",
    "l_out_weight": "l_out.weight", "l_out_bias": "l_out.bias",
}
RNN_PARAMS = {
    "embedding": "e.weight",
    "weight_ih": "rnn.weight_ih_l0", "bias_ih": "rnn.bias_ih_l0",
    "weight_hh": "rnn.weight_hh_l0", "bias_hh": "rnn.bias_hh_l0",
    "l_out_weight": "l_out.weight", "l_out_bias": "l_out.bias",
}
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


def _char(value) -> str:
    # a digit typed into a cell arrives as a number; a predicted padding character as empty
    if value is None or value == "":
        return "\0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _indices(book: Book, sheet: str, name: str, stoi: dict[str, int]) -> list[int]:
    out = []
    for row, (v,) in enumerate(book.raw(name, sheet), start=1):
        ch = _char(v)
        if ch not in stoi:
            raise XlbridgeInputError(
                f"{book.source}: sheet '{sheet}', {name} row {row}: {ch!r} is not a character of the vocab sheet"
            )
        out.append(stoi[ch])
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
    x = torch.tensor([_indices(book, sheet, "chars", stoi)], device=device)  # (1, T)
    target = torch.tensor(_indices(book, sheet, "target", stoi), device=device)  # (1,)

    emb = model.e(x)[0]  # (T, F)
    hidden = model.hidden_states(x)[0]  # (T, H)
    extra = []
    if model_class == "CharLoopConcatModel":
        h_prev = torch.cat([torch.zeros_like(hidden[:1]), hidden[:-1]])  # (T, H): h before each step
        cat = torch.cat((h_prev, emb), dim=1)  # (T, H + F)
        inputs = F.relu(model.l_in(cat))  # (T, H)
        extra = [compare(sheet, "cat(h, e(c))", book.values("concat", sheet), cat)]
    else:
        inputs = F.relu(model.l_in(emb))  # (T, H): the lesson's relu(l_in(e(c))) at every step
    logits = model.l_out(hidden[-1])[None]  # (1, V)
    log_probs = model(x)  # (1, V)
    loss = F.nll_loss(log_probs, target)
    got_pred = _indices(book, sheet, "prediction", stoi)
    return [
        compare(sheet, "embedded e(c)", book.values("embedded", sheet), emb),
        *extra,
        compare(sheet, "inputs relu(l_in(x))", book.values("inputs", sheet), inputs),
        compare(sheet, "hidden states", book.values("hidden", sheet), hidden),
        compare(sheet, "logits", book.values("logits", sheet), logits),
        compare(sheet, "log_softmax", book.values("log_probs", sheet), log_probs),
        compare(sheet, "probabilities", book.values("probs", sheet), log_probs.exp()),
        compare(sheet, "loss", book.values("loss", sheet), [[loss.item()]]),
        compare(sheet, "predicted character (index)", [got_pred], [[int(log_probs[0].argmax())]]),
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
    x = torch.tensor(_indices(book, sheet, "chars", stoi), device=device).view(S, T)  # rows are sequence-major
    y = torch.tensor(_indices(book, sheet, "targets", stoi), device=device).view(S, T)

    emb = seq_model.e(x)  # (S, T, F)
    hidden = seq_model.hidden_states(x)  # (S, T, H)
    logits = seq_model.l_out(hidden)  # (S, T, V)
    log_probs = seq_model(x)  # (S, T, V)
    nll = -log_probs.gather(2, y[..., None])  # (S, T, 1)
    loss = nll_loss_seq(log_probs, y)
    last = last_model(x).exp()  # (S, V): CharRnn, which predicts from the last step only
    V = logits.size(-1)
    probs = book.values("probs", sheet)
    got_pred = _indices(book, sheet, "prediction", stoi)
    return [
        compare(sheet, "embedded e(c)", book.values("embedded", sheet), emb.reshape(S * T, -1)),
        compare(sheet, "hidden states (nn.RNN output)", book.values("hidden", sheet), hidden.reshape(S * T, -1)),
        compare(sheet, "logits", book.values("logits", sheet), logits.reshape(S * T, V)),
        compare(sheet, "probabilities", probs, log_probs.exp().reshape(S * T, V)),
        compare(sheet, "CharRnn probabilities (last steps)", probs[T - 1 :: T], last),
        compare(sheet, "nll per step", book.values("nll", sheet), nll.reshape(S * T, 1)),
        compare(sheet, "sequence loss", book.values("loss", sheet), [[loss.item()]]),
        compare(sheet, "predicted characters (index)", np.array(got_pred)[:, None],
                log_probs.argmax(-1).reshape(S * T, 1)),
    ]


@register("char_rnn")
def check_char_rnn(book: Book, device="cpu") -> list[Comparison]:
    stoi = _vocab(book)
    out = []
    for sheet in book.sheets_with("model_class"):
        model_class = _char(book.raw("model_class", sheet)[0][0])
        if model_class in LOOP_CLASSES:
            out += check_loop_sheet(book, sheet, model_class, stoi, device)
        elif model_class == "CharSeqRnn":
            out += check_rnn_sheet(book, sheet, stoi, device)
        else:
            raise XlbridgeInputError(f"{book.source}: sheet '{sheet}': unknown model class {model_class!r}")
    if not out:
        raise XlbridgeInputError(f"{book.source}: no char-RNN model sheet (no 'model_class' name)")
    return out
