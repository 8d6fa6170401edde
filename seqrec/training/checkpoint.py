"""Weights as safetensors, written atomically, loaded with a strict key-and-shape check."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from seqrec.io import atomic_write


class CheckpointMismatchError(ValueError):
    """The stored tensors do not fit the model; the message lists every difference."""


def state_to_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()}


def save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    atomic_write(path, lambda p: save_file(state, str(p)))


def check_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: stored {tuple(state[k].shape)}, model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = [f"{source} does not match the model:"]
        if missing:
            parts.append(f"  missing keys: {missing}")
        if unexpected:
            parts.append(f"  unexpected keys: {unexpected}")
        if shapes:
            parts.append("  shape mismatches: " + "; ".join(shapes))
        raise CheckpointMismatchError("\n".join(parts))


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights into ``model`` after checking every key and shape."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no weights file")
    state = load_file(str(path))
    check_state(model, state, str(path))
    model.load_state_dict(state)
