"""Model registry: a config's ``name`` selects the builder that maps config fields to module arguments,
the training objective (data side) and the objective's options taken from the model config."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch import Tensor

from seqrec.config import BERT4RecConfig, SASFPTConfig, SASRecConfig, SSEPTConfig, TiSASRecConfig
from seqrec.data.objectives import CoInteractionPairs, DemographicPairs, UserPairs
from seqrec.models.base import SequenceModel
from seqrec.models.bert4rec import BERT4Rec
from seqrec.models.sasfpt import SASFPT
from seqrec.models.sasrec import SASRec
from seqrec.models.ssept import SSEPT
from seqrec.models.tisasrec import TiSASRec
from seqrec.nn.adapters import insert_adapters
from seqrec.nn.embeddings import TextItemEmbedding

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


def _text_table(cfg: Any, text: Tensor | None) -> TextItemEmbedding | None:
    """The text-based item table when ``cfg.item_text`` is set (``text``: the catalogue's vectors)."""
    if cfg.item_text is None:
        return None
    if text is None:
        raise ValueError(f"model.item_text is set: {cfg.name} needs the catalogue's text vectors")
    t = cfg.item_text
    return TextItemEmbedding(text, cfg.hidden, experts=t.experts, dropout=t.dropout, with_ids=t.with_ids)


def _build_sasrec(cfg: SASRecConfig, num_items: int, num_users: int, text: Tensor | None) -> SequenceModel:
    return SASRec(num_items, item_embedding=_text_table(cfg, text), **_shared(cfg))


def _build_bert4rec(
    cfg: BERT4RecConfig, num_items: int, num_users: int, text: Tensor | None
) -> SequenceModel:
    return BERT4Rec(num_items, rtd_weight=cfg.rtd_weight, **_shared(cfg))


def _build_ssept(cfg: SSEPTConfig, num_items: int, num_users: int, text: Tensor | None) -> SequenceModel:
    return SSEPT(
        num_items,
        num_users,
        user_hidden=cfg.user_hidden,
        item_embedding=_text_table(cfg, text),
        **_shared(cfg),
    )


def _build_tisasrec(
    cfg: TiSASRecConfig, num_items: int, num_users: int, text: Tensor | None
) -> SequenceModel:
    return TiSASRec(num_items, time_span=cfg.time_span, item_embedding=_text_table(cfg, text), **_shared(cfg))


def _build_sasfpt(cfg: SASFPTConfig, num_items: int, num_users: int, text: Tensor | None) -> SequenceModel:
    return SASFPT(
        num_items,
        num_users,
        time_span=cfg.time_span,
        week_embedding=cfg.week_embedding,
        week_buckets=cfg.week_buckets,
        user_embedding=cfg.user_embedding,
        group_loss_weight=cfg.group_loss_weight,
        group_margin=cfg.group_margin,
        item_embedding=_text_table(cfg, text),
        **_shared(cfg),
    )


BUILDERS: dict[str, Callable[[Any, int, int, Tensor | None], SequenceModel]] = {
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
    return {"mask_prob": cfg.mask_prob, "mask_last_prob": cfg.mask_last_prob}


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


def build_model(cfg: Any, num_items: int, num_users: int, item_text: Tensor | None = None) -> SequenceModel:
    """The model of ``cfg`` for a catalogue of ``num_items`` and ``num_users`` users.

    ``item_text``: the catalogue's text vectors ``[N + 1, T]`` when ``cfg.item_text`` is set. With
    ``cfg.adapter_size`` the blocks get residual adapters (identity at initialisation).
    """
    try:
        builder = BUILDERS[cfg.name]
    except KeyError:
        raise ValueError(f"unknown model {cfg.name!r}; known: {sorted(BUILDERS)}") from None
    model = builder(cfg, num_items, num_users, item_text)
    if cfg.adapter_size is not None:
        insert_adapters(model, cfg.adapter_size)
    return model


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
