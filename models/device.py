"""Where the models run: CUDA when present, CPU otherwise; nothing here assumes a GPU."""

import torch


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
