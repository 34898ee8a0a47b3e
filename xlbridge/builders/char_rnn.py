"""The char-RNN workbook: the forward pass of small trained character models, as live formulas.

Mirrors models/char_rnn.py. A user types characters into the blue cells and watches them
become embeddings, hidden states, probabilities and a predicted next character:

    vocab       the characters, their indices and codes (index 0 is the padding character)
    char3       Char3Model: three characters -> the fourth
    char loop   CharLoopModel: the same step over 8 characters
    concat      CharLoopConcatModel: l_in reads cat(h, x) instead of h + inp being added
    nn.RNN      CharSeqRnn / CharRnn: nn.RNN's equations, an output at every step, and the
                sequence loss on a few sequences

Each model sheet holds its own trained weights (orange) under sheet-scoped names that match
the PyTorch parameter names (NAMES below); xlbridge/parity/char_rnn.py reads them back,
runs the models in float64 and compares every hidden state, probability and loss.
Vectors run along rows (one row per step, as torch's (B, T, H) tensors); weight matrices
keep torch's (out, in) layout, so unit j of a layer is SUMPRODUCT(INDEX(weight, j, 0), x).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import numpy as np
from openpyxl import Workbook

from xlbridge import text as textlib
from xlbridge.builders.common import loss_cell, name_block, sheet_kind, sheet_title, write_block
from xlbridge.errors import XlbridgeInputError
from xlbridge.files import atomic_path
from xlbridge.params import POSITIVE, SEED, Interval, validate
from xlbridge.contracts.char_rnn import CHAR_RNN
from xlbridge.styles import TITLE_FONT, header, intro_sheet, label, note, paint, widths
from xlbridge.xlsx import a1, add_name, range_ref, save_atomic, set_text, set_workbook_kind

SHEETS = {"vocab": "vocab", "char3": "char3", "loop": "char loop", "concat": "concat", "rnn": "nn.RNN"}

@dataclass(frozen=True)
class CharRnnConfig:
    text_path: Path | None = None  # None: the offline default text, xlbridge/texts/default.txt
    max_chars: int = 10_000  # of the text used at build time: keeps the build in seconds
    n_fac: int = 5  # embedding size: an embedding row reads at a glance
    n_hidden: int = 8  # hidden size: a hidden state fits on one screen
    context: int = 8  # characters per input, the lesson's cs = 8
    n_sequences: int = 3  # sequences on the nn.RNN sheet (its loss is their mean NLL)
    epochs: int = 40  # a few seconds on the default text; 0 keeps PyTorch's seeded random start weights
    lr: float = 1e-2  # the lesson's Adam learning rate
    batch_size: int = 64
    identity_init: bool = True  # nn.RNN's W_hh starts at the identity, the lesson's last step
    seed: int = 0  # start weights and batch order: the same build gives the same workbook
    decimals: int = 4  # weights are rounded so the sheet reads at a glance; parity uses the rounded ones
    char3_text: str | None = None  # 4 characters: 3 inputs and the target; None: from the text
    loop_text: str | None = None  # context + 1 characters, on char loop and concat; None: from the text
    sequences: tuple[str, ...] | None = None  # n_sequences strings of context + 1 characters

    RULES: ClassVar[dict] = {
        "max_chars": Interval(int, 100), "n_fac": Interval(int, 1, 32), "n_hidden": Interval(int, 1, 32),
        "context": Interval(int, 2, 32), "n_sequences": Interval(int, 1, 20), "epochs": Interval(int, 0, 200),
        "lr": POSITIVE, "batch_size": Interval(int, 1), "seed": SEED, "decimals": Interval(int, 1, 15),
    }

    def validate(self) -> "CharRnnConfig":
        validate(self)
        for field, s, n in (("char3_text", self.char3_text, 4), ("loop_text", self.loop_text, self.context + 1)):
            if s is not None and len(s) != n:
                raise XlbridgeInputError(f"{field} must have {n} characters (inputs and the target); got {len(s)}")
        if self.sequences is not None:
            if len(self.sequences) != self.n_sequences:
                raise XlbridgeInputError(f"sequences: expected {self.n_sequences} strings; got {len(self.sequences)}")
            for i, s in enumerate(self.sequences):
                if len(s) != self.context + 1:
                    raise XlbridgeInputError(
                        f"sequences[{i}] must have {self.context + 1} characters (context + 1); got {len(s)}"
                    )
        return self


# ---------------------------------------------------------------------------------------------
# Training the small models the sheets show (at build time, seeded, on the CPU)


def train_models(config: CharRnnConfig, vocab: textlib.Vocab, ids) -> dict:
    """Train Char3Model, CharLoopModel, CharLoopConcatModel and CharSeqRnn briefly; weights as float64 numpy."""
    import torch

    from xlbridge.models.char_rnn import CharModelConfig, build_model, loss_fn
    from xlbridge.models.training import fit

    weights = {}
    threads = torch.get_num_threads()
    # One thread: for models this small more threads only add overhead, and they stall
    # badly when the machine is busy with other work (10x slower seen on 2 busy cores).
    torch.set_num_threads(1)
    try:
        for kind in ("char3", "loop", "concat", "seq"):
            context = 3 if kind == "char3" else config.context
            mc = CharModelConfig(kind, len(vocab), config.n_fac, config.n_hidden, context,
                                 identity_init=config.identity_init and kind == "seq")
            torch.manual_seed(config.seed)  # PyTorch's own initialisation, seeded
            model = build_model(mc).double()
            if config.epochs:
                x, y = textlib.make_dataset(kind, ids, context)
                fit(model, (torch.from_numpy(x), torch.from_numpy(y)), loss_fn=loss_fn, epochs=config.epochs,
                    batch_size=config.batch_size, opt=torch.optim.Adam(model.parameters(), lr=config.lr),
                    seed=config.seed)
            weights[kind] = {k: np.round(v.detach().cpu().numpy().astype(np.float64), config.decimals)
                             for k, v in model.state_dict().items()}
    finally:
        torch.set_num_threads(threads)
    return weights


# The default workbook's weights are trained once and committed (a float64 training run gives
# different last bits on different CPUs, and chaos does the rest): a build reads them instead
# of training, so it takes a fraction of a second and gives the same bytes everywhere.
DEFAULT_WEIGHTS = textlib.TEXTS_DIR / "default_weights.json"


def _training_settings(config: CharRnnConfig, text: str) -> dict:
    """Everything that decides what training produces, including the text itself."""
    keys = ("max_chars", "n_fac", "n_hidden", "context", "epochs", "lr", "batch_size", "identity_init", "seed", "decimals")
    return {"text_sha256": hashlib.sha256(text.encode()).hexdigest(), **{k: getattr(config, k) for k in keys}}


def trained_weights(config: CharRnnConfig, vocab: textlib.Vocab, ids, text: str) -> dict:
    """The small models' weights: the committed ones when they were trained with exactly these
    settings on exactly this text, else trained now (train_models)."""
    if DEFAULT_WEIGHTS.is_file():
        saved = json.loads(DEFAULT_WEIGHTS.read_text())
        if saved["settings"] == _training_settings(config, text):
            return {kind: {k: np.asarray(v, dtype=np.float64) for k, v in w.items()} for kind, w in saved["weights"].items()}
    return train_models(config, vocab, ids)


def write_default_weights(config: CharRnnConfig = CharRnnConfig()) -> Path:
    """Train the default workbook's models and commit-ready write their weights (run after
    changing the default text or settings: python -m xlbridge.builders.char_rnn)."""
    text = textlib.load_default_text()[: config.max_chars]
    vocab = textlib.Vocab.from_text(text)
    weights = train_models(config, vocab, vocab.encode(text))
    payload = {"settings": _training_settings(config, text),
               "weights": {kind: {k: v.tolist() for k, v in w.items()} for kind, w in weights.items()}}
    with atomic_path(DEFAULT_WEIGHTS) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return DEFAULT_WEIGHTS


def _pick_windows(text: str, length: int, count: int) -> list[str]:
    """`count` windows of the text spread through it, each starting at a word and without newlines."""
    out, n = [], len(text)
    for k in range(count):
        start = (k + 1) * n // (count + 2)
        for s in list(range(start, n - length + 1)) + list(range(0, n - length + 1)):
            w = text[s : s + length]
            if (s == 0 or text[s - 1] == " ") and "\n" not in w and w not in out:
                break
        else:
            w = text[start : start + length] if start + length <= n else text[:length]
        out.append(w)
    return out


# ---------------------------------------------------------------------------------------------
# Shared pieces

def _param_block(wb, ws, r, c, title, name, values, row_labels=None, bias_name=None, bias=None):
    """A weight matrix in torch's (out, in) layout, its bias as a column beside it, a name on each."""
    label(ws.cell(r, c), title)
    c0 = c
    if row_labels is not None:
        for i, s in enumerate(row_labels):
            set_text(ws.cell(r + 2 + i, c), s)
        header(ws, f"{a1(r + 2, c)}:{a1(r + 1 + len(row_labels), c)}")
        c0 = c + 1
    for j in range(values.shape[1]):
        set_text(ws.cell(r + 1, c0 + j), str(j + 1))
    r1, c1 = write_block(ws, r + 2, c0, values, "param", "0.0000")
    name_block(wb, ws, name, r + 2, c0, r1, c1)
    if bias is not None:
        set_text(ws.cell(r + 1, c1 + 1), "bias")
        write_block(ws, r + 2, c1 + 1, bias.reshape(-1, 1), "param", "0.0000")
        name_block(wb, ws, bias_name, r + 2, c1 + 1, r1, c1 + 1)
        c1 += 1
    header(ws, f"{a1(r + 1, c0)}:{a1(r + 1, c1)}")
    return c1


def _parameters_start(wb, ws, r, vocab, w):
    """The parameters' heading at row r and the embedding block under it (orange), as every
    model sheet begins them; returns (block row, embedding's last column, vocabulary glyphs)."""
    label(ws.cell(r, 1), "Parameters (trained in PyTorch, exported to these cells; torch's (out, in) layout)")
    glyphs = [textlib.glyph(ch) for ch in vocab.chars]
    c = _param_block(wb, ws, r + 1, 1, "embedding = e.weight", "embedding", w["e.weight"], glyphs)
    return r + 1, c, glyphs


def _title(ws, title, subtitle, model_class):
    sheet_title(ws, title, subtitle)
    label(ws["A3"], "model:")
    set_text(ws["B3"], model_class)


def _index_formula(char_cell: str) -> str:
    # torch: vocab.stoi[c]. UNICODE makes the match exact: MATCH on text ignores case ("a" = "A").
    return f"=MATCH(_xlfn.UNICODE({char_cell}), vocab_codes, 0) - 1"


def _embedding_formula(index_cell: str, k: int) -> str:
    # torch: self.e(c)[k] -- row index + 1 of the embedding matrix (INDEX counts from 1)
    return f"=INDEX(embedding, {index_cell} + 1, {k})"


def _softmax_rows(ws, r_logit, r_lse, r_logp, r_prob, c0, V, h_row):
    """logits, logsumexp, log_softmax and softmax of one output row (1 x V)."""
    logits = f"{a1(r_logit, c0, True, True)}:{a1(r_logit, c0 + V - 1, True, True)}"
    for v in range(V):
        # torch: self.l_out(h)[v] = l_out.weight[v] . h + l_out.bias[v]
        ws.cell(r_logit, c0 + v, f"=SUMPRODUCT(INDEX(l_out_weight, {v + 1}, 0), {h_row}) + INDEX(l_out_bias, {v + 1})")
    # logsumexp with the max subtracted first, as torch does, so EXP never overflows
    ws.cell(r_lse, c0, f"=MAX({logits}) + LN(SUMPRODUCT(EXP({logits} - MAX({logits}))))")
    lse = a1(r_lse, c0, True, True)
    for v in range(V):
        col = a1(r_logit, c0 + v)
        # torch: F.log_softmax(logits, dim=-1)[v] = logits[v] - logsumexp(logits)
        ws.cell(r_logp, c0 + v, f"={col} - {lse}")
        # softmax: exp of the log-probability
        ws.cell(r_prob, c0 + v, f"=EXP({a1(r_logp, c0 + v)})")


# ---------------------------------------------------------------------------------------------
# vocab


def _vocab_sheet(wb, vocab: textlib.Vocab, source: str):
    ws = wb.create_sheet(SHEETS["vocab"])
    sheet_kind(wb, ws, "vocab")
    label(ws["A1"], f"Vocabulary: {len(vocab) - 1} characters of the training text, plus padding at index 0")
    ws["A1"].font = TITLE_FONT
    label(ws["A2"], f"Source: {source}. Lookups match the code column, so they are exact and case-sensitive.", bold=False)
    for j, h in enumerate(("index", "char", "code", "shown as"), start=1):
        set_text(ws.cell(4, j), h)
    header(ws, "A4:D4")
    r0 = 5
    for i, ch in enumerate(vocab.chars):
        ws.cell(r0 + i, 1, i)
        if ch != textlib.PAD:  # the padding character cannot be stored in a cell: left empty
            set_text(ws.cell(r0 + i, 2), ch)
        ws.cell(r0 + i, 3, ord(ch))
        set_text(ws.cell(r0 + i, 4), textlib.glyph(ch))
    r1 = r0 + len(vocab) - 1
    paint(ws, f"A{r0}:D{r1}", "data")
    note(ws.cell(r0, 3), "Unicode code of the character (UNICODE() in a formula). Index 0 is the padding character \\0.")
    for name, col in (("vocab_chars", 2), ("vocab_codes", 3), ("vocab_glyphs", 4)):
        add_name(wb, name, range_ref(ws.title, r0, col, r1, col))
    widths(ws, {"A": 8, "B": 8, "C": 8, "D": 10})
    ws.freeze_panes = "A5"
    return ws


# ---------------------------------------------------------------------------------------------
# char3 and char loop: h = tanh(l_hidden(h + relu(l_in(e(c)))))


def _loop_sheet(wb, title, model_class, w, vocab, text: str, subtitle: str, concat: bool = False):
    """One step per row: char -> index -> embedding -> relu input layer -> tanh hidden layer;
    then the output layer after the last step, and the loss on the typed target.

    concat=True is CharLoopConcatModel: the row shows cat(h, x), l_in reads it, and l_hidden
    reads only inp. Otherwise (Char3Model, CharLoopModel) l_in reads x and l_hidden reads h + inp.
    """
    ws = wb.create_sheet(title)
    sheet_kind(wb, ws, "loop")
    V, F = w["e.weight"].shape
    H = w["l_hidden.weight"].shape[0]
    inputs, target = text[:-1], text[-1]
    T = len(inputs)
    _title(ws, f"{model_class}: {T} characters -> the next one", subtitle, model_class)
    name_block(wb, ws, "model_class", 3, 2)

    c_char, c_idx = 2, 3
    c_cat = 4  # concat only: the previous h (H columns), then x
    c_x = c_cat + H if concat else 4
    c_inp = c_x + F + 1
    c_h = c_inp + H + 1
    c_out = 4  # the output rows below start here
    r_grp, r_hdr, r_h0 = 5, 6, 7
    r1 = r_h0 + 1  # first step
    rT = r_h0 + T  # last step

    if concat:
        label(ws.cell(r_grp, c_cat), "cat(h, x): the previous hidden state, then the embedding e(c)")
        label(ws.cell(r_grp, c_inp), "inp = relu(l_in(cat(h, x)))")
        label(ws.cell(r_grp, c_h), "h = tanh(l_hidden(inp))")
    else:
        label(ws.cell(r_grp, c_x), "x = e(c): the character's embedding row")
        label(ws.cell(r_grp, c_inp), "inp = relu(l_in(x))")
        label(ws.cell(r_grp, c_h), "h = tanh(l_hidden(h + inp))")
    for j, s in enumerate(["step", "char", "index"]):
        set_text(ws.cell(r_hdr, 1 + j), s)
    for j in range(H if concat else 0):
        set_text(ws.cell(r_hdr, c_cat + j), f"h{j + 1}")
    for k in range(F):
        set_text(ws.cell(r_hdr, c_x + k), f"x{k + 1}")
    for j in range(H):
        set_text(ws.cell(r_hdr, c_inp + j), f"inp{j + 1}")
        set_text(ws.cell(r_hdr, c_h + j), f"h{j + 1}")
    header(ws, f"{a1(r_hdr, 1)}:{a1(r_hdr, c_h + H - 1)}")

    # torch: h = torch.zeros(B, n_hidden) -- the hidden state starts at zeros
    ws.cell(r_h0, 1, 0)
    set_text(ws.cell(r_h0, 2), "start")
    for j in range(H):
        ws.cell(r_h0, c_h + j, 0.0)
    note(ws.cell(r_h0, c_h), "The hidden state starts at zeros: torch.zeros(B, n_hidden).")

    for t in range(T):
        r = r1 + t
        ws.cell(r, 1, t + 1)
        set_text(ws.cell(r, c_char), inputs[t])
        ws.cell(r, c_idx, _index_formula(a1(r, c_char)))
        for j in range(H if concat else 0):
            # torch: torch.cat((h, self.e(c)), 1) -- first the previous hidden state
            ws.cell(r, c_cat + j, f"={a1(r - 1, c_h + j)}")
        for k in range(F):
            ws.cell(r, c_x + k, _embedding_formula(a1(r, c_idx), k + 1))
        x_row = f"{a1(r, c_cat if concat else c_x)}:{a1(r, c_x + F - 1)}"  # concat: the whole cat(h, x)
        for j in range(H):
            # torch: inp = F.relu(self.l_in(x))[j], x = e(c) or cat(h, e(c))
            ws.cell(r, c_inp + j, f"=MAX(0, SUMPRODUCT(INDEX(l_in_weight, {j + 1}, 0), {x_row}) + INDEX(l_in_bias, {j + 1}))")
        h_prev = f"{a1(r - 1, c_h)}:{a1(r - 1, c_h + H - 1)}"
        inp_row = f"{a1(r, c_inp)}:{a1(r, c_inp + H - 1)}"
        for j in range(H):
            if concat:
                # torch: h = F.tanh(self.l_hidden(inp))[j]
                f = f"=TANH(SUMPRODUCT(INDEX(l_hidden_weight, {j + 1}, 0), {inp_row}) + INDEX(l_hidden_bias, {j + 1}))"
            else:
                # torch: h = F.tanh(self.l_hidden(h + inp))[j]
                f = (f"=TANH(SUMPRODUCT(INDEX(l_hidden_weight, {j + 1}, 0), {h_prev} + {inp_row})"
                     f" + INDEX(l_hidden_bias, {j + 1}))")
            ws.cell(r, c_h + j, f)
    paint(ws, f"{a1(r1, c_char)}:{a1(rT, c_char)}", "data")
    paint(ws, f"{a1(r1, c_idx)}:{a1(rT, c_idx)}", "output", "0")
    for c0, c1 in ((c_cat if concat else c_x, c_x + F - 1), (c_inp, c_inp + H - 1), (c_h, c_h + H - 1)):
        paint(ws, f"{a1(r1, c0)}:{a1(rT, c1)}", "output", "0.0000")  # the spacer columns stay white
    note(ws.cell(r1, c_char), "Type any character of the vocab sheet (one per cell). Everything below follows.")
    note(ws.cell(r1, c_idx), "MATCH(UNICODE(char), vocab_codes, 0) - 1: the character's index, case-sensitive.")
    note(ws.cell(r1, c_x), "INDEX(embedding, index + 1, k): the embedding lookup, self.e(c).")
    if concat:
        note(ws.cell(r1, c_cat), "A copy of the previous row's h: torch.cat((h, self.e(c)), 1) puts it first.")
        note(ws.cell(r1, c_h), "tanh(l_hidden_weight row j . inp + l_hidden_bias j): h reaches this step only through cat.")
    else:
        note(ws.cell(r1, c_h), "tanh(l_hidden_weight row j . (h_prev + inp) + l_hidden_bias j): one RNN step.")
    name_block(wb, ws, "chars", r1, c_char, rT, c_char)
    name_block(wb, ws, "indices", r1, c_idx, rT, c_idx)
    if concat:
        name_block(wb, ws, "concat", r1, c_cat, rT, c_x + F - 1)
    name_block(wb, ws, "embedded", r1, c_x, rT, c_x + F - 1)
    name_block(wb, ws, "inputs", r1, c_inp, rT, c_inp + H - 1)
    name_block(wb, ws, "hidden", r1, c_h, rT, c_h + H - 1)

    # the output layer, after the last step: one column per vocabulary character
    r_out = rT + 2
    label(ws.cell(r_out, 1), "next char")
    for v, ch in enumerate(vocab.chars):
        set_text(ws.cell(r_out, c_out + v), textlib.glyph(ch))
    header(ws, f"{a1(r_out, c_out)}:{a1(r_out, c_out + V - 1)}")
    r_logit, r_lse, r_logp, r_prob = r_out + 1, r_out + 2, r_out + 3, r_out + 4
    for r, s in ((r_logit, "logits = l_out(h)"), (r_lse, "logsumexp"), (r_logp, "log_softmax"), (r_prob, "softmax")):
        label(ws.cell(r, 1), s)
    h_last = f"{a1(rT, c_h, True, True)}:{a1(rT, c_h + H - 1, True, True)}"
    _softmax_rows(ws, r_logit, r_lse, r_logp, r_prob, c_out, V, h_last)
    for r in (r_logit, r_logp, r_prob):
        paint(ws, f"{a1(r, c_out)}:{a1(r, c_out + V - 1)}", "output", "0.0000")
    paint(ws, a1(r_lse, c_out), "output", "0.0000")
    note(ws.cell(r_lse, c_out), "log(sum(exp(logits))), computed as max + log(sum(exp(logits - max))) like torch.")
    name_block(wb, ws, "logits", r_logit, c_out, r_logit, c_out + V - 1)
    name_block(wb, ws, "logsumexp", r_lse, c_out)
    name_block(wb, ws, "log_probs", r_logp, c_out, r_logp, c_out + V - 1)
    name_block(wb, ws, "probs", r_prob, c_out, r_prob, c_out + V - 1)

    probs = f"{a1(r_prob, c_out, True, True)}:{a1(r_prob, c_out + V - 1, True, True)}"
    r_pred, r_tgt, r_loss = r_prob + 2, r_prob + 3, r_prob + 4
    label(ws.cell(r_pred, 1), "prediction")
    # torch: vocab.chars[log_probs.argmax()] -- the first largest probability, as torch.argmax;
    # & "" keeps the padding character's empty cell as empty text (a bare INDEX would give 0)
    ws.cell(r_pred, c_out, f'=INDEX(vocab_chars, MATCH(MAX({probs}), {probs}, 0)) & ""')
    ws.cell(r_pred, c_out + 1, f"=INDEX(vocab_glyphs, MATCH(MAX({probs}), {probs}, 0))")
    paint(ws, f"{a1(r_pred, c_out)}:{a1(r_pred, c_out + 1)}", "output", "General")
    note(ws.cell(r_pred, c_out + 1), "The predicted character as the headers show it (space as ␣, newline as ⏎).")
    label(ws.cell(r_tgt, 1), "target")
    set_text(ws.cell(r_tgt, c_out), target)
    paint(ws, a1(r_tgt, c_out), "data")
    note(ws.cell(r_tgt, c_out), "The character that really follows the input in the text. Type another to see its loss.")
    label(ws.cell(r_loss, 1), "loss")
    lp = f"{a1(r_logp, c_out, True, True)}:{a1(r_logp, c_out + V - 1, True, True)}"
    # torch: F.nll_loss(log_probs, target) = -log_probs[target]
    loss_cell(wb, ws, r_loss, c_out, f"=-INDEX({lp}, 1, MATCH(_xlfn.UNICODE({a1(r_tgt, c_out)}), vocab_codes, 0))",
              "loss", "Negative log-probability of the target: F.nll_loss(log_probs, target).")
    name_block(wb, ws, "prediction", r_pred, c_out)
    name_block(wb, ws, "prediction_glyph", r_pred, c_out + 1)
    name_block(wb, ws, "target", r_tgt, c_out)

    r_blk, c, glyphs = _parameters_start(wb, ws, r_loss + 3, vocab, w)
    c = _param_block(wb, ws, r_blk, c + 2, "l_in", "l_in_weight", w["l_in.weight"], None, "l_in_bias", w["l_in.bias"])
    c = _param_block(wb, ws, r_blk, c + 2, "l_hidden", "l_hidden_weight", w["l_hidden.weight"], None,
                     "l_hidden_bias", w["l_hidden.bias"])
    _param_block(wb, ws, r_blk, c + 2, "l_out", "l_out_weight", w["l_out.weight"], glyphs, "l_out_bias", w["l_out.bias"])

    widths(ws, {"A": 14, "B": 8, "C": 7})
    ws.freeze_panes = ws.cell(r_hdr + 1, 4)
    return ws


# ---------------------------------------------------------------------------------------------
# nn.RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), an output at every step


def _rnn_sheet(wb, w, vocab, sequences: list[str]):
    ws = wb.create_sheet(SHEETS["rnn"])
    sheet_kind(wb, ws, "rnn")
    V, F = w["e.weight"].shape
    H = w["rnn.weight_hh_l0"].shape[0]
    T = len(sequences[0]) - 1
    S = len(sequences)
    _title(ws, f"nn.RNN: CharSeqRnn on {S} sequences of {T} characters, predicting every next character",
           "torch: outp, h = self.rnn(self.e(x), h0); F.log_softmax(self.l_out(outp), dim=-1); "
           "loss = nll_loss_seq. The last step of each sequence is CharRnn's prediction.", "CharSeqRnn")
    name_block(wb, ws, "model_class", 3, 2)

    c_char, c_idx, c_x = 3, 4, 5
    c_h = c_x + F + 1
    c_logit = c_h + H + 1
    c_lse = c_logit + V
    c_prob = c_lse + 2
    c_pred = c_prob + V + 1
    c_glyph, c_tgt, c_nll = c_pred + 1, c_pred + 2, c_pred + 3
    r_grp, r_hdr, r_h0 = 5, 6, 7
    r1 = r_h0 + 1
    rN = r_h0 + S * T

    label(ws.cell(r_grp, c_x), "x_t = e(c)")
    label(ws.cell(r_grp, c_h), "h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)")
    label(ws.cell(r_grp, c_logit), "logits = l_out(h_t)")
    label(ws.cell(r_grp, c_prob), "softmax(logits)")
    for c, s in ((1, "sequence"), (2, "step"), (c_char, "char"), (c_idx, "index"), (c_lse, "logsumexp"),
                 (c_pred, "prediction"), (c_glyph, "shown"), (c_tgt, "target"), (c_nll, "nll")):
        set_text(ws.cell(r_hdr, c), s)
    for k in range(F):
        set_text(ws.cell(r_hdr, c_x + k), f"x{k + 1}")
    for j in range(H):
        set_text(ws.cell(r_hdr, c_h + j), f"h{j + 1}")
    for v, ch in enumerate(vocab.chars):
        set_text(ws.cell(r_hdr, c_logit + v), textlib.glyph(ch))
        set_text(ws.cell(r_hdr, c_prob + v), textlib.glyph(ch))
    header(ws, f"{a1(r_hdr, 1)}:{a1(r_hdr, c_nll)}")

    # torch: h0 = torch.zeros(1, B, n_hidden) -- every sequence starts from zeros
    set_text(ws.cell(r_h0, 2), "h0")
    for j in range(H):
        ws.cell(r_h0, c_h + j, 0.0)
    note(ws.cell(r_h0, c_h), "h0: every sequence starts from a zero hidden state, torch.zeros(1, B, n_hidden).")
    h0 = f"{a1(r_h0, c_h, True, True)}:{a1(r_h0, c_h + H - 1, True, True)}"

    for s, seq in enumerate(sequences):
        for t in range(T):
            r = r1 + s * T + t
            ws.cell(r, 1, s + 1)
            ws.cell(r, 2, t + 1)
            set_text(ws.cell(r, c_char), seq[t])
            ws.cell(r, c_idx, _index_formula(a1(r, c_char)))
            for k in range(F):
                ws.cell(r, c_x + k, _embedding_formula(a1(r, c_idx), k + 1))
            x_row = f"{a1(r, c_x)}:{a1(r, c_x + F - 1)}"
            h_prev = h0 if t == 0 else f"{a1(r - 1, c_h)}:{a1(r - 1, c_h + H - 1)}"
            for j in range(H):
                # torch: nn.RNN, h_t[j] = tanh(W_ih[j] . x_t + b_ih[j] + W_hh[j] . h_{t-1} + b_hh[j])
                ws.cell(r, c_h + j, f"=TANH(SUMPRODUCT(INDEX(weight_ih, {j + 1}, 0), {x_row}) + INDEX(bias_ih, {j + 1})"
                                    f" + SUMPRODUCT(INDEX(weight_hh, {j + 1}, 0), {h_prev}) + INDEX(bias_hh, {j + 1}))")
            h_row = f"{a1(r, c_h)}:{a1(r, c_h + H - 1)}"
            logits = f"{a1(r, c_logit)}:{a1(r, c_logit + V - 1)}"
            for v in range(V):
                # torch: self.l_out(outp)[v] = l_out.weight[v] . h_t + l_out.bias[v]
                ws.cell(r, c_logit + v, f"=SUMPRODUCT(INDEX(l_out_weight, {v + 1}, 0), {h_row}) + INDEX(l_out_bias, {v + 1})")
            # logsumexp with the max subtracted first, as torch's log_softmax does
            ws.cell(r, c_lse, f"=MAX({logits}) + LN(SUMPRODUCT(EXP({logits} - MAX({logits}))))")
            for v in range(V):
                # torch: F.softmax(logits)[v] = exp(log_softmax(logits)[v])
                ws.cell(r, c_prob + v, f"=EXP({a1(r, c_logit + v)} - {a1(r, c_lse)})")
            probs = f"{a1(r, c_prob)}:{a1(r, c_prob + V - 1)}"
            # torch: log_probs.argmax(-1), as a character (& "": padding stays empty text, not 0)
            ws.cell(r, c_pred, f'=INDEX(vocab_chars, MATCH(MAX({probs}), {probs}, 0)) & ""')
            ws.cell(r, c_glyph, f"=INDEX(vocab_glyphs, MATCH(MAX({probs}), {probs}, 0))")
            if t < T - 1:
                ws.cell(r, c_tgt, f"={a1(r + 1, c_char)}")  # targets are the inputs shifted by one
            else:
                set_text(ws.cell(r, c_tgt), seq[T])  # the character after the sequence: typed
                paint(ws, a1(r, c_tgt), "data")
            # torch: -F.log_softmax(logits)[target] = logsumexp - logits[target]
            ws.cell(r, c_nll, f"={a1(r, c_lse)} - INDEX({logits}, 1, MATCH(_xlfn.UNICODE({a1(r, c_tgt)}), vocab_codes, 0))")
    paint(ws, f"{a1(r1, 1)}:{a1(rN, 2)}", "data", "0")
    paint(ws, f"{a1(r1, c_char)}:{a1(rN, c_char)}", "data")
    paint(ws, f"{a1(r1, c_idx)}:{a1(rN, c_idx)}", "output", "0")
    for c0, c1 in ((c_x, c_x + F - 1), (c_h, c_h + H - 1), (c_logit, c_lse), (c_prob, c_prob + V - 1)):
        paint(ws, f"{a1(r1, c0)}:{a1(rN, c1)}", "output", "0.0000")  # the spacer columns stay white
    paint(ws, f"{a1(r1, c_pred)}:{a1(rN, c_glyph)}", "output", "General")
    for s in range(S):
        paint(ws, f"{a1(r1 + s * T, c_tgt)}:{a1(r1 + s * T + T - 2, c_tgt)}", "output", "General")
        paint(ws, a1(r1 + s * T + T - 1, c_tgt), "data")
    paint(ws, f"{a1(r1, c_nll)}:{a1(rN, c_nll)}", "output", "0.0000")
    note(ws.cell(r1, c_char), "Type any characters of the vocab sheet. Each block of rows is one sequence.")
    note(ws.cell(r1, c_h), "nn.RNN's equation. No ReLU input layer here: x_t goes straight into the tanh.")
    note(ws.cell(r1, c_tgt), "Targets are the inputs shifted by one; the last one of a sequence is typed.")
    name_block(wb, ws, "sequence", r1, 1, rN, 1)
    name_block(wb, ws, "chars", r1, c_char, rN, c_char)
    name_block(wb, ws, "indices", r1, c_idx, rN, c_idx)
    name_block(wb, ws, "embedded", r1, c_x, rN, c_x + F - 1)
    name_block(wb, ws, "hidden", r1, c_h, rN, c_h + H - 1)
    name_block(wb, ws, "logits", r1, c_logit, rN, c_logit + V - 1)
    name_block(wb, ws, "logsumexp", r1, c_lse, rN, c_lse)
    name_block(wb, ws, "probs", r1, c_prob, rN, c_prob + V - 1)
    name_block(wb, ws, "prediction", r1, c_pred, rN, c_pred)
    name_block(wb, ws, "prediction_glyphs", r1, c_glyph, rN, c_glyph)
    name_block(wb, ws, "targets", r1, c_tgt, rN, c_tgt)
    name_block(wb, ws, "nll", r1, c_nll, rN, c_nll)

    r_loss = rN + 2
    label(ws.cell(r_loss, c_tgt), "loss")
    # torch: nll_loss_seq(log_probs, targets) -- the mean NLL over every step of every sequence
    loss_cell(wb, ws, r_loss, c_nll, f"=AVERAGE({a1(r1, c_nll)}:{a1(rN, c_nll)})", "loss",
              "Sequence loss: mean of nll over every step of every sequence (F.nll_loss on the flattened steps).")

    r_blk, c, glyphs = _parameters_start(wb, ws, r_loss + 3, vocab, w)
    c = _param_block(wb, ws, r_blk, c + 2, "W_ih, b_ih = rnn.weight_ih_l0, rnn.bias_ih_l0", "weight_ih",
                     w["rnn.weight_ih_l0"], None, "bias_ih", w["rnn.bias_ih_l0"])
    c = _param_block(wb, ws, r_blk, c + 2, "W_hh, b_hh = rnn.weight_hh_l0, rnn.bias_hh_l0", "weight_hh",
                     w["rnn.weight_hh_l0"], None, "bias_hh", w["rnn.bias_hh_l0"])
    _param_block(wb, ws, r_blk, c + 2, "l_out", "l_out_weight", w["l_out.weight"], glyphs, "l_out_bias", w["l_out.bias"])

    widths(ws, {"A": 9, "B": 6, "C": 6, "D": 7})
    ws.freeze_panes = ws.cell(r_h0, c_x)
    return ws


# ---------------------------------------------------------------------------------------------
# intro and the whole workbook


def _intro(wb, config: CharRnnConfig, source: str, vocab, n_chars: int):
    trained = (f"trained for {config.epochs} epochs with Adam (lr {config.lr:g}, seed {config.seed}) on "
               f"{n_chars:,} characters of {source}" if config.epochs else
               f"left at PyTorch's seeded random start (seed {config.seed}), not trained")
    intro_sheet(wb, "Char-RNN: predicting the next character, step by step", [
        ("What this is", "The forward pass of the lesson's character models (fastai 2018, lesson 6) as live "
         "formulas. Each model sheet holds its weights, " + trained + f". Embedding size {config.n_fac}, hidden size "
         f"{config.n_hidden}, weights rounded to {config.decimals} decimals."),
        ("vocab", f"The {len(vocab) - 1} characters of the text, sorted, with the padding character \\0 at index 0. "
         "Lookups use the code column, so 'a' and 'A' are different characters, as in Python."),
        ("char3", "Char3Model: three characters in, the fourth out. Each step: inp = relu(l_in(e(c))), "
         "h = tanh(l_hidden(h + inp)); the hidden state starts at zeros. Then log_softmax(l_out(h))."),
        ("char loop", f"CharLoopModel: the same step in a loop over {config.context} characters. This is an RNN."),
        ("concat", "CharLoopConcatModel on the same characters: l_in reads cat(h, x), the previous hidden state "
         "next to the embedding, instead of adding h to the input layer's output; h = tanh(l_hidden(inp))."),
        ("nn.RNN", "CharSeqRnn: PyTorch's nn.RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (no ReLU input "
         "layer), with an output at every step and the sequence loss (mean NLL over every step). W_hh was "
         "initialised at the identity matrix" + ("" if config.identity_init else " (not in this build)") + "."),
        ("What to change", "Type characters into the blue cells (one per cell, any character listed on the vocab "
         "sheet): the embeddings, hidden states, probabilities, prediction and loss follow. Orange cells are the "
         "weights; change one and watch the prediction move."),
        ("Colours", "Orange: parameters. Blue: input characters and targets. Green: computed outputs and loss."),
        ("How Python checks it", "'xlbridge check char_rnn.xlsx' recalculates this file in LibreOffice, reads the "
         "weights and characters by their defined names, runs models/char_rnn.py in float64 and compares every "
         "hidden state, probability and loss (max difference 1e-9) and the predicted characters."),
    ])


def build_char_rnn(path, config: CharRnnConfig = CharRnnConfig()) -> Path:
    """Train the small models and write the char-RNN workbook to `path` (atomic write)."""
    config = config.validate()
    if config.text_path is None:
        text, source = textlib.load_default_text(), "the offline default text (xlbridge/texts/default.txt)"
    else:
        text, source = textlib.load_text(config.text_path), Path(config.text_path).name
    text = text[: config.max_chars]
    vocab = textlib.Vocab.from_text(text)
    ids = vocab.encode(text, source=source)
    if len(ids) < 4 * (config.context + 1):
        raise XlbridgeInputError(
            f"{source}: the text has {len(ids)} characters; the workbook needs at least {4 * (config.context + 1)}"
        )

    char3_text = config.char3_text or _pick_windows(text, 4, 1)[0]
    loop_text = config.loop_text or _pick_windows(text, config.context + 1, 1)[0]
    sequences = list(config.sequences or _pick_windows(text, config.context + 1, config.n_sequences))
    for field, s in [("char3_text", char3_text), ("loop_text", loop_text)] + [
        (f"sequences[{i}]", s) for i, s in enumerate(sequences)
    ]:
        vocab.encode(s, source=field)  # one clear error for a character the models never saw

    w = trained_weights(config, vocab, ids, text)

    wb = Workbook()
    wb.remove(wb.active)
    _vocab_sheet(wb, vocab, source)
    _loop_sheet(wb, SHEETS["char3"], "Char3Model", w["char3"], vocab, char3_text,
                "torch: in_i = F.relu(self.l_in(self.e(c_i))); h = F.tanh(self.l_hidden(h + in_i)) for i = 1, 2, 3; "
                "F.log_softmax(self.l_out(h))   (models/char_rnn.py, Char3Model)")
    _loop_sheet(wb, SHEETS["loop"], "CharLoopModel", w["loop"], vocab, loop_text,
                "torch: for c in cs: inp = F.relu(self.l_in(self.e(c))); h = F.tanh(self.l_hidden(h + inp)); "
                "then F.log_softmax(self.l_out(h))   (models/char_rnn.py, CharLoopModel)")
    _loop_sheet(wb, SHEETS["concat"], "CharLoopConcatModel", w["concat"], vocab, loop_text,
                "torch: for c in cs: inp = F.relu(self.l_in(torch.cat((h, self.e(c)), 1))); h = F.tanh(self.l_hidden(inp)); "
                "then F.log_softmax(self.l_out(h))   (models/char_rnn.py, CharLoopConcatModel)", concat=True)
    _rnn_sheet(wb, w["seq"], vocab, sequences)
    _intro(wb, config, source, vocab, len(ids))
    wb.active = 0
    set_workbook_kind(wb, CHAR_RNN.kind)
    return save_atomic(wb, path)


def build_default(path) -> Path:
    """The main command's char_rnn.xlsx: the offline default text, the committed weights."""
    return build_char_rnn(path, CharRnnConfig())


if __name__ == "__main__":
    print(write_default_weights())
