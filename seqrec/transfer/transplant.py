"""Moving pre-trained weights into a model built for another dataset's vocabularies.

Rows of id-indexed tables (``SequenceModel.vocab_indexed``) are never copied by position: a target row
takes a source row only when the two vocabularies share that external id *and* the caller asked for
that kind of id to be mapped (``map_ids``), because two datasets' ids usually mean different things
(MovieLens item "1" is a film, Wikipedia item "1" a page). Unmapped rows keep the target model's fresh
initialisation; how many ids matched, and how many overlapped without being mapped, is reported.
Everything else must match in name and shape, except adapter weights that only the target has (they
start as the identity), and buffers derived from the target's own data (text vectors).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import torch
from torch import Tensor

from seqrec.data.vocab import Vocabulary
from seqrec.models.base import SequenceModel
from seqrec.nn.adapters import SLOTS

MapIds = Literal["none", "items", "users", "both"]


@dataclass
class IdMapping:
    """For each target internal id, the source internal id whose row it takes (0: a new row)."""

    kind: str
    source_rows: np.ndarray  # [n_target + 1], int64; entry 0 (padding) is 0
    source_size: int
    target_size: int
    overlap: int
    """External ids present in both vocabularies (mapped or not)."""
    applied: bool
    """Whether shared ids were mapped (``map_ids`` asked for this kind)."""

    @property
    def matched(self) -> int:
        return int((self.source_rows > 0).sum())

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "source_rows"}
        out["matched"] = self.matched
        out["new"] = self.target_size - self.matched
        return out

    def describe(self) -> str:
        if self.applied:
            return f"{self.kind}s: {self.matched:,} of {self.target_size:,} mapped to pre-trained rows"
        note = (
            f" ({self.overlap:,} external ids also exist in the source, left unmapped)"
            if self.overlap
            else ""
        )
        return f"{self.kind}s: all {self.target_size:,} rows new{note}"


def map_vocabularies(source: Vocabulary, target: Vocabulary, *, kind: str, apply: bool) -> IdMapping:
    """Match target ids to source ids by external id (compared as strings when the types differ)."""
    src, tgt = source.external, target.external
    if src.dtype != tgt.dtype:
        src, tgt = src.cast(pl.String), tgt.cast(pl.String)
    joined = pl.DataFrame({"external": tgt}).join(
        pl.DataFrame({"external": src, "row": np.arange(1, len(src) + 1, dtype=np.int64)}),
        on="external",
        how="left",
        maintain_order="left",
    )
    rows = joined["row"].fill_null(0).to_numpy().astype(np.int64)
    overlap = int((rows > 0).sum())
    source_rows = np.zeros(len(tgt) + 1, dtype=np.int64)
    if apply:
        source_rows[1:] = rows
    return IdMapping(kind, source_rows, len(src), len(tgt), overlap, apply)


def _is_adapter(key: str) -> bool:
    return any(f".{slot}." in key for slot in SLOTS)


def transplant(
    source_state: dict[str, Tensor],
    target: SequenceModel,
    mappings: dict[str, IdMapping],
) -> dict[str, Any]:
    """Load ``source_state`` into ``target`` as described above; returns what was copied and kept.

    ``mappings``: ``{"item": ..., "user": ...}`` for every id kind the target's tables use. Raises one
    ``ValueError`` listing every key that cannot be moved (missing, unexpected or of another shape).
    """
    target_state = target.state_dict()
    indexed = target.vocab_indexed()
    errors: list[str] = []
    new_state: dict[str, Tensor] = {}
    report: dict[str, Any] = {"copied": 0, "mapped_rows": {}, "kept_initialisation": []}
    for key, value in target_state.items():
        kind = indexed.get(key)
        if kind == "derived":
            new_state[key] = value
            continue
        if key not in source_state:
            if _is_adapter(key):
                new_state[key] = value
                report["kept_initialisation"].append(key)
            else:
                errors.append(f"{key}: not in the pre-trained model")
            continue
        src = source_state[key].to(value.device, value.dtype)
        if kind in ("item", "user"):
            mapping = mappings.get(kind)
            if mapping is None:
                errors.append(f"{key}: indexed by {kind} ids, but no {kind} mapping was given")
                continue
            core = mapping.target_size + 1
            extra_target, extra_source = value.shape[0] - core, src.shape[0] - (mapping.source_size + 1)
            if src.shape[1:] != value.shape[1:] or extra_target != extra_source:
                errors.append(f"{key}: pre-trained shape {tuple(src.shape)} vs {tuple(value.shape)}")
                continue
            out = value.clone()
            rows = torch.from_numpy(mapping.source_rows).to(value.device)  # [n_target + 1]
            hit = rows > 0
            out[:core][hit] = src[rows[hit]]
            if extra_target:  # special rows after the catalogue (e.g. BERT4Rec's [MASK])
                out[core:] = src[mapping.source_size + 1 :]
            new_state[key] = out
            report["mapped_rows"][key] = int(hit.sum())
            continue
        if src.shape != value.shape:
            errors.append(f"{key}: pre-trained shape {tuple(src.shape)} vs {tuple(value.shape)}")
            continue
        new_state[key] = src
        report["copied"] += 1
    derived = {k for k, v in indexed.items() if v == "derived"}
    unexpected = [k for k in source_state if k not in target_state and k not in derived]
    errors += [f"{k}: in the pre-trained model but not in the target" for k in unexpected]
    if errors:
        raise ValueError("cannot transfer the pre-trained weights:\n  " + "\n  ".join(errors))
    target.load_state_dict(new_state)
    return report
