"""Saving and loading a trained model: weights, the settings that rebuild it, and what it knows.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, saved by torch.save
and read back with torch.load(weights_only=True): loading a file never runs code from it. Its
`format` names the kind of model ("xlbridge-collab/1", "xlbridge-char-rnn/1"); `model` the
class; `config` the keyword arguments that rebuild it; `state_dict` its weights; `meta`
whatever else the model needs to be used again (id maps, vocabulary, history).

Only the shape of the file is checked here; whether its settings are sensible is the caller's
to check before building anything from them (xlbridge.saved_models).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .char_rnn import MODELS as CHAR_MODELS
from .collab import DotProduct, DotProductBias
from .collab_nn import CollabNN, EmbeddingNet, EmbeddingNN

# class name -> class, for every model a checkpoint may hold
CLASSES: dict[str, type[nn.Module]] = {
    "DotProduct": DotProduct, "DotProductBias": DotProductBias,
    "CollabNN": CollabNN, "EmbeddingNN": EmbeddingNN, "EmbeddingNet": EmbeddingNet,
    **{cls.__name__: cls for cls in CHAR_MODELS.values()},
}


class CheckpointError(ValueError):
    """The file is not a checkpoint this code wrote, or it is damaged."""


def save(path, fmt: str, model: nn.Module, config: dict, meta: dict) -> Path:
    """Write `model`'s weights (on the CPU) with its class, config and meta to `path`."""
    torch.save({"format": fmt, "model": type(model).__name__, "config": dict(config),
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "meta": dict(meta)}, path)
    return Path(path)


def load(path, fmt: str) -> dict:
    """The checkpoint dict in `path`, or CheckpointError saying why it is not one of ours."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise CheckpointError(f"not a saved xlbridge model ({type(e).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != fmt:
        found = saved.get("format") if isinstance(saved, dict) else None
        raise CheckpointError(f"not a saved {fmt} model (format {found!r})")
    for key, kind in (("model", str), ("config", dict), ("state_dict", dict), ("meta", dict)):
        if not isinstance(saved.get(key), kind):
            raise CheckpointError(f"the checkpoint's '{key}' is missing or not a {kind.__name__}")
    if saved["model"] not in CLASSES:
        raise CheckpointError(f"unknown model class {saved['model']!r}")
    if not saved["state_dict"] or not all(isinstance(v, torch.Tensor) for v in saved["state_dict"].values()):
        raise CheckpointError("the checkpoint holds no weights")
    return saved


def rebuild(saved: dict) -> nn.Module:
    """The model a checkpoint describes, with its weights, in the dtype they were saved in.

    The shapes are compared on torch's "meta" device first, where a model takes no memory: a
    file whose config asks for a huge model but holds small weights is refused before
    anything is allocated."""
    cls, state = CLASSES[saved["model"]], saved["state_dict"]
    try:
        with torch.device("meta"):
            skeleton = cls(**saved["config"])
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"the checkpoint's config does not fit {saved['model']} ({e})") from None
    want = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if set(want) != set(got):
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        raise CheckpointError(f"the weights do not fit {saved['model']}: "
                              + (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"))
    for k, shape in want.items():
        if got[k] != shape:
            raise CheckpointError(f"the weights do not fit {saved['model']}: {k} is {list(got[k])}, expected {list(shape)}")
    dtype = next(iter(state.values())).dtype
    if not dtype.is_floating_point:
        raise CheckpointError(f"the checkpoint's weights are {dtype}, not floating point")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"the weights hold NaN or infinity (in {bad[0]})")
    model = cls(**saved["config"]).to(dtype)
    model.load_state_dict(state)
    return model
