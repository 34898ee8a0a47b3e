"""Where the models run: CUDA when present, CPU otherwise; nothing here assumes a GPU."""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_device(name: str = "auto") -> torch.device:
    """'auto' (CUDA when available, else CPU), 'cpu' or 'cuda'. Asking for CUDA on a machine
    without it is a ValueError rather than a silent fall back to the CPU."""
    if name == "auto":
        return default_device()
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch sees no CUDA device here")
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {name!r}")
    return torch.device(name)
