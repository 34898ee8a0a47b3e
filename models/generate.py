"""Text from a char-RNN, one character at a time, as the lesson's get_next / get_next_n.

Works on vocabulary indices: xlbridge/text.py turns characters into indices and back. Index 0
is the padding character, which a model may score but never writes.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


@torch.no_grad()
def next_index(model: nn.Module, context: list[int], *, temperature: float = 0.0, generator=None) -> int:
    """The index of the character after `context` (the model's last `context` characters):
    the most likely one, or a sample from softmax(log_probs / temperature) when temperature > 0."""
    model.eval()
    device = next(model.parameters()).device
    log_probs = model(torch.tensor([context], device=device))               # (1, V) or (1, T, V)
    log_probs = (log_probs[0, -1] if log_probs.dim() == 3 else log_probs[0]).double().cpu()   # (V,)
    log_probs[0] = -math.inf                       # never emit the padding character
    if temperature <= 0:
        return int(torch.argmax(log_probs))        # the lesson's greedy choice
    probs = torch.softmax(log_probs / temperature, dim=0)
    return int(torch.multinomial(probs, 1, generator=generator))


def next_indices(model: nn.Module, ids: list[int], n: int, context: int, *, temperature: float = 0.0,
                 seed: int = 0) -> list[int]:
    """`n` more indices after `ids`, each read from the last `context` ones; the same seed gives
    the same characters."""
    gen = torch.Generator().manual_seed(seed)
    out = list(ids)
    for _ in range(n):
        out.append(next_index(model, out[-context:], temperature=temperature, generator=gen))
    return out[len(ids):]
