"""Batch containers shared by the data side (objectives, evaluation) and the models."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor


@dataclass(frozen=True)
class SequenceBatch:
    """Left-padded histories. Internal ids; 0 is padding."""

    items: Tensor  # [B, L] long
    users: Tensor  # [B] long, internal user ids (0 = unknown user)
    timestamps: Tensor  # [B, L] long, 0 on padding

    def to(self, device: torch.device) -> SequenceBatch:
        moved: dict[str, Any] = {f.name: _move(getattr(self, f.name), device) for f in fields(self)}
        return replace(self, **moved)


@dataclass(frozen=True)
class TrainBatch(SequenceBatch):
    """A history plus what the objective asks the model to predict at each position."""

    targets: Tensor  # [B, L] long, 0 = no loss at this position
    negatives: Tensor | None = None  # [B, L, K] long, sampled negatives per position

    def to(self, device: torch.device) -> TrainBatch:
        moved: dict[str, Any] = {f.name: _move(getattr(self, f.name), device) for f in fields(self)}
        return replace(self, **moved)


def _move(value: Tensor | None, device: torch.device) -> Tensor | None:
    return None if value is None else value.to(device, non_blocking=True)
