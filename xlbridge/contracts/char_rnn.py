"""The char-RNN workbook's names (xlbridge/builders/char_rnn.py; models/char_rnn.py).

V vocabulary, F embedding size, H hidden size, T steps, N = sequences x T rows. Each param
names the state_dict key of the model the sheet computes, so parity loads the blocks straight
into the model.
"""

from __future__ import annotations

from xlbridge.contracts import Name, SheetContract, WorkbookContract

VOCAB = (  # workbook scope, on the vocab sheet
    Name("vocab_chars", "V x 1", "data", "the characters; index 0 (the padding character) is empty"),
    Name("vocab_codes", "V x 1", "data", "Unicode code of each character (0 for padding): exact, case-sensitive lookups"),
    Name("vocab_glyphs", "V x 1", "data", "the characters as shown in headers (space, newline and padding made visible)"),
)

_OUTPUT_LAYER = (
    Name("l_out_weight", "V x H", "param", "l_out.weight", torch="l_out.weight"),
    Name("l_out_bias", "V x 1", "param", "l_out.bias", torch="l_out.bias"),
)

# char3, char loop and concat: one sequence of characters, an output after the last step
LOOP = SheetContract("loop", (
    Name("model_class", "1 x 1", "data", "which class of models/char_rnn.py this sheet computes"),
    Name("embedding", "V x F", "param", "e.weight", torch="e.weight"),
    Name("l_in_weight", "H x F", "param", "l_in.weight (H x (H + F) on concat)", torch="l_in.weight"),
    Name("l_in_bias", "H x 1", "param", "l_in.bias", torch="l_in.bias"),
    Name("l_hidden_weight", "H x H", "param", "l_hidden.weight", torch="l_hidden.weight"),
    Name("l_hidden_bias", "H x 1", "param", "l_hidden.bias", torch="l_hidden.bias"),
    *_OUTPUT_LAYER,
    Name("chars", "T x 1", "data", "the input characters, one per step"),
    Name("indices", "T x 1", "output", "each character's index in the vocabulary: vocab.stoi[c]"),
    Name("concat", "T x (H + F)", "output", "cat(h, e(c)) for each step (concat sheet only)", optional=True),
    Name("embedded", "T x F", "output", "e(c) for each step"),
    Name("inputs", "T x H", "output", "relu(l_in(e(c))), on concat relu(l_in(cat(h, e(c)))), for each step"),
    Name("hidden", "T x H", "output", "the hidden state after each step"),
    Name("logits", "1 x V", "output", "l_out(h) after the last step"),
    Name("logsumexp", "1 x 1", "output", "log(sum(exp(logits))), computed from the maximum as torch does"),
    Name("log_probs", "1 x V", "output", "log_softmax(logits): what forward() returns"),
    Name("probs", "1 x V", "output", "softmax(logits)"),
    Name("prediction", "1 x 1", "output", "the most likely next character"),
    Name("prediction_glyph", "1 x 1", "output", "that character as the headers show it"),
    Name("target", "1 x 1", "data", "the character that really follows"),
    Name("loss", "1 x 1", "loss", "F.nll_loss(log_probs, target)"),
))

# nn.RNN: several sequences, an output at every step, the sequence loss
RNN = SheetContract("rnn", (
    Name("model_class", "1 x 1", "data", "CharSeqRnn"),
    Name("embedding", "V x F", "param", "e.weight", torch="e.weight"),
    Name("weight_ih", "H x F", "param", "rnn.weight_ih_l0", torch="rnn.weight_ih_l0"),
    Name("bias_ih", "H x 1", "param", "rnn.bias_ih_l0", torch="rnn.bias_ih_l0"),
    Name("weight_hh", "H x H", "param", "rnn.weight_hh_l0", torch="rnn.weight_hh_l0"),
    Name("bias_hh", "H x 1", "param", "rnn.bias_hh_l0", torch="rnn.bias_hh_l0"),
    *_OUTPUT_LAYER,
    Name("sequence", "N x 1", "data", "which sequence each row belongs to (1, 2, ...)"),
    Name("chars", "N x 1", "data", "input characters, T rows per sequence"),
    Name("indices", "N x 1", "output", "each character's index in the vocabulary"),
    Name("embedded", "N x F", "output", "e(c) for each row"),
    Name("hidden", "N x H", "output", "nn.RNN's output: the hidden state after each step"),
    Name("logits", "N x V", "output", "l_out(h) at every step"),
    Name("logsumexp", "N x 1", "output", "log(sum(exp(logits))) at every step"),
    Name("probs", "N x V", "output", "softmax(logits) at every step"),
    Name("prediction", "N x 1", "output", "the most likely next character at every step"),
    Name("prediction_glyphs", "N x 1", "output", "those characters as the headers show them"),
    Name("targets", "N x 1", "label", "the next character: the next row's input, typed after a sequence's last step"),
    Name("nll", "N x 1", "output", "-log_softmax(logits)[target] at every step"),
    Name("loss", "1 x 1", "loss", "nll_loss_seq: the mean of nll"),
))

VOCAB_SHEET = SheetContract("vocab", ())

CHAR_RNN = WorkbookContract("char_rnn", VOCAB, (VOCAB_SHEET, LOOP, RNN))
