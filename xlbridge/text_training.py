"""Train a char-RNN on a text, save it, and write text with it: `xlbridge train` and `generate`.

The models are models/char_rnn.py's, trained by models/training.py's loop (Adam, shuffled
mini-batches, validation loss per epoch) on the datasets of xlbridge/text.py. A saved model
(models/checkpoint.py) holds the weights, the model's settings and its vocabulary; loading
checks every setting against the rules below before anything is built, so a crafted file
cannot ask for a model of 160 GB, and never runs code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from xlbridge import text as textlib
from xlbridge.errors import XlbridgeInputError
from xlbridge.files import atomic_path
from xlbridge.params import POSITIVE, SEED, AnyOf, Interval, OneOf, check, check_all

FORMAT = "xlbridge-char-rnn/2"
KINDS = ("char3", "loop", "concat", "rnn", "seq")

# What a char model may be: generous for any real text, small enough to fit in memory.
MODEL_RULES = {
    "kind": OneOf(KINDS),
    "vocab_size": Interval(int, 2, 65_536),
    "n_fac": Interval(int, 1, 1024),
    "n_hidden": Interval(int, 1, 4096),
    "context": Interval(int, 1, 1024),
}
TRAIN_RULES = {
    "epochs": Interval(int, 0, 10_000), "lr": POSITIVE, "batch_size": Interval(int, 1, 1 << 20),
    "max_chars": Interval(int, 1), "seed": SEED,
}


def check_model_config(config, source: str = "model"):
    """A models.char_rnn.CharModelConfig whose every setting is within MODEL_RULES."""
    check_all({k: getattr(config, k) for k in MODEL_RULES}, MODEL_RULES, source)
    if config.kind == "char3" and config.context != 3:
        raise XlbridgeInputError(f"{source}: context == {config.context}, Char3Model reads exactly 3 characters")
    return config


def save_char_model(model, config, vocab: textlib.Vocab, path, history=()) -> Path:
    """Write weights, settings, vocabulary and history to `path` (temporary file, then renamed)."""
    from dataclasses import asdict

    from xlbridge.models import checkpoint

    path = Path(path)
    meta = {"kind": config.kind, "context": config.context, "identity_init": config.identity_init,
            "vocab": "".join(vocab.chars), "history": [row.as_dict() for row in history]}
    ctor = {k: v for k, v in asdict(config).items() if k in ("vocab_size", "n_fac", "n_hidden")}
    with atomic_path(path) as tmp:  # nothing half-written is left under the real name
        checkpoint.save(tmp, FORMAT, model, ctor, meta)
    return path


def load_char_model(path, device=None):
    """(model, config, vocab) of a model saved by save_char_model, on `device` (default: CUDA
    when available). A file that is not one, or whose settings break a rule, is one clear error."""
    from xlbridge.models import checkpoint
    from xlbridge.models.char_rnn import MODELS, CharModelConfig
    from xlbridge.models.device import default_device

    path = Path(path)
    if not path.is_file():
        raise XlbridgeInputError(f"{path}: no such model file")
    try:
        saved = checkpoint.load(path, FORMAT)
        meta, ctor = saved["meta"], saved["config"]
        vocab_text = meta.get("vocab")
        if not isinstance(vocab_text, str):
            raise checkpoint.CheckpointError("its vocabulary is missing or not text")
        if saved["model"] != MODELS.get(meta.get("kind"), type(None)).__name__:
            raise checkpoint.CheckpointError(f"its kind {meta.get('kind')!r} does not match its class {saved['model']}")
        config = CharModelConfig(kind=meta["kind"], vocab_size=ctor.get("vocab_size"), n_fac=ctor.get("n_fac"),
                                 n_hidden=ctor.get("n_hidden"), context=meta.get("context"),
                                 identity_init=bool(meta.get("identity_init")))
        check_model_config(config, "the saved model")   # the path leads the message already
        vocab = textlib.Vocab(tuple(vocab_text))
        if len(vocab) != config.vocab_size:
            raise checkpoint.CheckpointError(f"its vocabulary has {len(vocab)} characters; the model {config.vocab_size}")
        model = checkpoint.rebuild(saved)
    except checkpoint.CheckpointError as e:
        raise XlbridgeInputError(f"{path}: {e}") from None
    except XlbridgeInputError as e:
        raise XlbridgeInputError(f"{path}: not a usable char-RNN model: {e}") from None
    return model.to(device or default_device()), config, vocab


# 0 is greedy; a temperature in (0, 1e-6) would overflow log_probs / temperature into NaN
TEMPERATURE = AnyOf((OneOf((0,)), Interval(float, 1e-6, 1e6)))


def continue_text(model, config, vocab: textlib.Vocab, text: str, n: int, *, temperature: float = 0.0,
                  seed: int = 0, source: str = "the model") -> str:
    """`text` followed by `n` generated characters (models/generate.py). A model whose output is
    not finite (weights too large for their dtype) is an error naming `source`, never garbage."""
    import torch

    from xlbridge.models.generate import next_indices

    n = check(n, Interval(int, 0, 100_000), "n")
    temperature = check(temperature, TEMPERATURE, "temperature")
    ids = vocab.encode(text, source="seed text")  # the whole seed, so an error names the right position
    if len(ids) < config.context:
        raise XlbridgeInputError(f"seed text: has {len(ids)} characters; the model reads {config.context}, "
                                 f"give at least {config.context}")

    def finite(module, inputs, output):   # argmax of NaN picks a character silently: refuse instead
        if not torch.isfinite(output).all():
            raise XlbridgeInputError(f"{source}: its output is NaN or infinite (weights too large for "
                                     f"{next(module.parameters()).dtype}); it cannot write text")

    hook = model.register_forward_hook(finite)
    try:
        return text + vocab.decode(next_indices(model, ids, n, config.context, temperature=temperature, seed=seed))
    finally:
        hook.remove()


def train_text_model(text_path=None, *, kind: str = "seq", epochs: int = 2, out="char_rnn.pt", context: int = 8,
                     n_fac: int = 42, n_hidden: int = 256, identity_init: bool = True, lr: float = 1e-2,
                     batch_size: int = 512, max_chars: int | None = None, seed: int = 0, progress: bool = True,
                     on_epoch: Callable | None = None, threads: int | None = 1):
    """Train a char model on a text file (default: the offline default text), save it to `out`,
    and return its history (one models.training.EpochResult per epoch).

    The last 10% of the text is held out for the validation loss. `threads`: torch CPU threads
    for the run (1 by default: these small steps only wait on each other with more on a busy
    machine); None leaves torch's choice."""
    import torch

    from xlbridge.models.char_rnn import CharModelConfig, build_model, loss_fn
    from xlbridge.models.device import default_device
    from xlbridge.models.training import fit

    check_all({"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed}, TRAIN_RULES)
    text = textlib.load_text(text_path) if text_path is not None else textlib.load_default_text()
    if max_chars is not None:
        text = text[: check(max_chars, TRAIN_RULES["max_chars"], "max_chars")]
    vocab = textlib.Vocab.from_text(text)
    config = check_model_config(CharModelConfig(kind, len(vocab), n_fac, n_hidden, 3 if kind == "char3" else context,
                                                identity_init))
    train_ids, valid_ids = textlib.split_text(vocab.encode(text, source=str(text_path or "default text")))
    device = default_device()
    as_tensors = lambda xy: tuple(torch.from_numpy(a).to(device) for a in xy)  # noqa: E731
    train = as_tensors(textlib.make_dataset(kind, train_ids, config.context))
    valid = as_tensors(textlib.make_dataset(kind, valid_ids, config.context)) if len(valid_ids) > config.context else None
    torch.manual_seed(seed)  # the initial weights
    model = build_model(config).to(device)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check(threads, Interval(int, 1, 1024), "threads"))
    try:
        history = fit(model, train, valid, loss_fn=loss_fn, epochs=epochs, batch_size=batch_size,
                      opt=torch.optim.Adam(model.parameters(), lr=lr), seed=seed, progress=progress,
                      on_epoch=on_epoch)
    finally:
        torch.set_num_threads(previous)
    save_char_model(model, config, vocab, out, history)
    return history


def generate_text(model_path, seed_text: str, n: int = 200, *, temperature: float = 0.0, seed: int = 0) -> str:
    """`seed_text` continued by `n` characters from a model saved by train_text_model."""
    model, config, vocab = load_char_model(model_path)
    return continue_text(model, config, vocab, seed_text, n, temperature=temperature, seed=seed, source=str(model_path))
