"""Model registry: a config's ``name`` selects the builder that maps config fields to module arguments,
the training objective (data side) and the objective's options taken from the model config."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from seqrec.config import BERT4RecConfig, SASFPTConfig, SASRecConfig, SSEPTConfig, TiSASRecConfig
from seqrec.data.objectives import CoInteractionPairs, DemographicPairs, UserPairs
from seqrec.models.base import SequenceModel
from seqrec.models.bert4rec import BERT4Rec
from seqrec.models.sasfpt import SASFPT
from seqrec.models.sasrec import SASRec
from seqrec.models.ssept import SSEPT
from seqrec.models.tisasrec import TiSASRec

if TYPE_CHECKING:
    from seqrec.data.dataset import SequenceDataset


def _shared(cfg: Any) -> dict[str, Any]:
    """The encoder arguments every model config declares (``seqrec.config`` base fields)."""
    return {
        "max_len": cfg.max_len,
        "hidden": cfg.hidden,
        "blocks": cfg.blocks,
        "heads": cfg.heads,
        "dropout": cfg.dropout,
        "ff_hidden": cfg.ff_hidden,
    }


def _build_sasrec(cfg: SASRecConfig, num_items: int, num_users: int) -> SequenceModel:
    return SASRec(num_items, **_shared(cfg))


def _build_bert4rec(cfg: BERT4RecConfig, num_items: int, num_users: int) -> SequenceModel:
    return BERT4Rec(num_items, **_shared(cfg))


def _build_ssept(cfg: SSEPTConfig, num_items: int, num_users: int) -> SequenceModel:
    return SSEPT(num_items, num_users, user_hidden=cfg.user_hidden, **_shared(cfg))


def _build_tisasrec(cfg: TiSASRecConfig, num_items: int, num_users: int) -> SequenceModel:
    return TiSASRec(num_items, time_span=cfg.time_span, **_shared(cfg))


def _build_sasfpt(cfg: SASFPTConfig, num_items: int, num_users: int) -> SequenceModel:
    return SASFPT(
        num_items,
        num_users,
        time_span=cfg.time_span,
        week_embedding=cfg.week_embedding,
        week_buckets=cfg.week_buckets,
        user_embedding=cfg.user_embedding,
        group_loss_weight=cfg.group_loss_weight,
        group_margin=cfg.group_margin,
        **_shared(cfg),
    )


BUILDERS: dict[str, Callable[[Any, int, int], SequenceModel]] = {
    "sasrec": _build_sasrec,
    "bert4rec": _build_bert4rec,
    "ssept": _build_ssept,
    "tisasrec": _build_tisasrec,
    "sasfpt": _build_sasfpt,
}

OBJECTIVE_OF: dict[str, str] = {
    "sasrec": "causal",
    "bert4rec": "masked",
    "ssept": "causal",
    "tisasrec": "causal",
    "sasfpt": "causal",
}
"""The training objective each model is trained with (data side, ``seqrec.data.objectives``)."""


def _bert4rec_objective(cfg: BERT4RecConfig, data: SequenceDataset) -> dict[str, Any]:
    return {"mask_prob": cfg.mask_prob}


def _ssept_objective(cfg: SSEPTConfig, data: SequenceDataset) -> dict[str, Any]:
    return {
        "sse_item_prob": cfg.sse_item_prob,
        "sse_user_prob": cfg.sse_user_prob,
        "window_prob": cfg.window_prob,
    }


def _sasfpt_objective(cfg: SASFPTConfig, data: SequenceDataset) -> dict[str, Any]:
    if not cfg.user_embedding or cfg.group_loss_weight == 0:
        return {}
    pairs: UserPairs
    if cfg.pair_definition == "demographic":
        pairs = DemographicPairs.from_metadata(data.user_meta, cfg.pair_attributes)
    else:
        pairs = CoInteractionPairs(data.sequences, data.split.train_end, data.num_items)
    return {"user_pairs": pairs, "num_pairs": cfg.group_pairs}


OBJECTIVE_OPTIONS: dict[str, Callable[[Any, SequenceDataset], dict[str, Any]]] = {
    "bert4rec": _bert4rec_objective,
    "ssept": _ssept_objective,
    "sasfpt": _sasfpt_objective,
}
"""Keyword options of a model's objective, from its config and the dataset (none when absent)."""


def build_model(cfg: Any, num_items: int, num_users: int) -> SequenceModel:
    try:
        builder = BUILDERS[cfg.name]
    except KeyError:
        raise ValueError(f"unknown model {cfg.name!r}; known: {sorted(BUILDERS)}") from None
    return builder(cfg, num_items, num_users)


def objective_options(cfg: Any, data: SequenceDataset) -> dict[str, Any]:
    """The objective options of ``cfg``'s model for ``data`` (an empty dict for plain objectives)."""
    options = OBJECTIVE_OPTIONS.get(cfg.name)
    return options(cfg, data) if options is not None else {}


__all__ = [
    "BUILDERS",
    "OBJECTIVE_OF",
    "OBJECTIVE_OPTIONS",
    "SASFPT",
    "SSEPT",
    "BERT4Rec",
    "SASRec",
    "SequenceModel",
    "TiSASRec",
    "build_model",
    "objective_options",
]
