"""Model registry: a config's ``name`` selects the builder that maps config fields to module arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from seqrec.config import SASRecConfig
from seqrec.models.base import SequenceModel
from seqrec.models.sasrec import SASRec


def _build_sasrec(cfg: SASRecConfig, num_items: int, num_users: int) -> SequenceModel:
    return SASRec(
        num_items,
        max_len=cfg.max_len,
        hidden=cfg.hidden,
        blocks=cfg.blocks,
        heads=cfg.heads,
        dropout=cfg.dropout,
        ff_hidden=cfg.ff_hidden,
    )


BUILDERS: dict[str, Callable[[Any, int, int], SequenceModel]] = {"sasrec": _build_sasrec}

OBJECTIVE_OF: dict[str, str] = {"sasrec": "causal"}
"""The training objective each model is trained with (data side, ``seqrec.data.objectives``)."""


def build_model(cfg: Any, num_items: int, num_users: int) -> SequenceModel:
    try:
        builder = BUILDERS[cfg.name]
    except KeyError:
        raise ValueError(f"unknown model {cfg.name!r}; known: {sorted(BUILDERS)}") from None
    return builder(cfg, num_items, num_users)


__all__ = ["BUILDERS", "OBJECTIVE_OF", "SASRec", "SequenceModel", "build_model"]
