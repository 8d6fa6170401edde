"""Top-k recommendations with external ids and titles, for known users or ad-hoc histories.

Ranking uses the same helpers as the evaluator (``seqrec.evaluation.ranking``), so a metric computed
from these lists equals the evaluator's metric for the same histories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import torch

from seqrec.data.batch import SequenceBatch
from seqrec.data.batching import windows
from seqrec.data.dataset import SequenceDataset
from seqrec.data.sequences import Sequences
from seqrec.evaluation.ranking import full_histories, history_batch, mask_items
from seqrec.models.base import SequenceModel


class AmbiguousTitleError(ValueError):
    pass


class Recommender:
    """Wraps a trained model and its dataset (vocabularies, histories, item metadata)."""

    def __init__(
        self, model: SequenceModel, data: SequenceDataset, *, max_len: int, device: torch.device
    ) -> None:
        self.model = model
        self.data = data
        self.max_len = max_len
        self.device = device

    # ------------------------------------------------------------------ resolution
    def items_from_titles(self, titles: Sequence[str]) -> np.ndarray:
        """Internal ids of exact titles (case-insensitive); unknown or ambiguous titles are errors."""
        meta = self.data.item_meta
        if meta is None or "title" not in meta.columns:
            raise ValueError(f"dataset {self.data.name!r} has no item titles; give item ids instead")
        lowered = meta["title"].str.to_lowercase()
        out = []
        for title in titles:
            hits = np.flatnonzero((lowered == title.strip().lower()).fill_null(False).to_numpy())
            if len(hits) == 0:
                near = meta.filter(
                    pl.col("title").str.to_lowercase().str.contains(title.strip().lower(), literal=True)
                )
                hint = f"; did you mean one of {near['title'].head(5).to_list()}?" if len(near) else ""
                raise KeyError(f"unknown title {title!r}{hint}")
            if len(hits) > 1:
                ids = self.data.items.to_external(hits + 1).to_list()
                raise AmbiguousTitleError(f"title {title!r} matches several items {ids}; give the item id")
            out.append(int(hits[0]) + 1)
        return np.asarray(out, dtype=np.int64)

    # ------------------------------------------------------------------ ranking
    @torch.no_grad()
    def _top_k(
        self, batch: SequenceBatch, seen: torch.Tensor | None, k: int, allowed: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        scores = self.model.score_all(batch.to(self.device)).float()  # [B, N + 1]
        if seen is not None:
            mask_items(scores, seen)
        if allowed is not None:
            scores = scores.masked_fill(~allowed.to(scores.device), float("-inf"))
        k = min(k, self.data.num_items)
        top = scores.topk(k, dim=1)
        return top.values.cpu(), top.indices.cpu()

    def _allowed(
        self, exclude: Sequence[Any] | None, include_only: Sequence[Any] | None
    ) -> torch.Tensor | None:
        if exclude is None and include_only is None:
            return None
        allowed = torch.ones(self.data.num_items + 1, dtype=torch.bool)
        if include_only is not None:
            allowed[:] = False
            allowed[torch.from_numpy(self.data.items.to_internal(list(include_only)))] = True
        if exclude is not None:
            allowed[torch.from_numpy(self.data.items.to_internal(list(exclude)))] = False
        allowed[0] = False
        return allowed

    def recommend(
        self,
        users: Sequence[Any] | None = None,
        histories: Mapping[Any, Sequence[Any]] | Sequence[Sequence[Any]] | None = None,
        *,
        k: int = 10,
        filter_seen: bool = True,
        titles: bool = False,
        exclude: Sequence[Any] | None = None,
        include_only: Sequence[Any] | None = None,
        batch_size: int = 512,
    ) -> pl.DataFrame:
        """Top-``k`` items per user: columns ``user, rank, item, score`` (+ ``title`` when known).

        ``users``: external ids of known users (their whole recorded history is the input).
        ``histories``: ad-hoc histories (external item ids, or titles with ``titles=True``), as a mapping
        key -> items or a list (keys 0, 1, ...). Users absent from training are served this way.
        """
        if (users is None) == (histories is None):
            raise ValueError("give either users or histories")
        if k < 1:
            raise ValueError("k must be at least 1")
        if users is not None:
            seqs, keys = self._known_user_sequences(users)
        else:
            assert histories is not None
            seqs, keys = self._history_sequences(histories, titles)
        allowed = self._allowed(exclude, include_only)
        rows = np.arange(seqs.num_users, dtype=np.int64)
        frames = []
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            ends = seqs.lengths[chunk]
            batch = history_batch(seqs, chunk, ends, self.max_len)
            batch = SequenceBatch(
                batch.items, self._user_ids(keys[i : i + batch_size], users is not None), batch.timestamps
            )
            seen = full_histories(seqs, chunk, ends) if filter_seen else None
            values, indices = self._top_k(batch, seen, k, allowed)
            frames.append(self._frame(keys[i : i + batch_size], values.numpy(), indices.numpy()))
        return pl.concat(frames) if frames else pl.DataFrame()

    def _user_ids(self, keys: list[Any], known: bool) -> torch.Tensor:
        if not known:
            return torch.zeros(len(keys), dtype=torch.long)
        return torch.from_numpy(self.data.users.to_internal(keys))

    def _known_user_sequences(self, users: Sequence[Any]) -> tuple[Sequences, list[Any]]:
        keys = list(users)
        rows = self.data.users.to_internal(keys) - 1
        seqs = self.data.sequences
        starts, ends = seqs.offsets[rows], seqs.offsets[rows + 1]
        return _subset(seqs, starts, ends), keys

    def _history_sequences(
        self, histories: Mapping[Any, Sequence[Any]] | Sequence[Sequence[Any]], titles: bool
    ) -> tuple[Sequences, list[Any]]:
        pairs = list(histories.items()) if isinstance(histories, Mapping) else list(enumerate(histories))
        keys = [key for key, _ in pairs]
        lists = [list(h) for _, h in pairs]
        empty = [key for key, h in zip(keys, lists, strict=True) if not h]
        if empty:
            raise ValueError(f"empty history for {empty[:5]}")
        flat = [x for h in lists for x in h]
        items = self.items_from_titles(flat) if titles else self.data.items.to_internal(flat)
        offsets = np.concatenate([[0], np.cumsum([len(h) for h in lists])]).astype(np.int64)
        return Sequences(offsets, items, np.zeros(len(items), dtype=np.int64)), keys

    def _frame(self, keys: list[Any], values: np.ndarray, indices: np.ndarray) -> pl.DataFrame:
        b, k = indices.shape
        flat = indices.ravel()
        finite = np.isfinite(values.ravel())
        frame = pl.DataFrame(
            {
                "user": pl.Series(np.repeat(np.asarray(keys, dtype=object), k).tolist()),
                "rank": np.tile(np.arange(1, k + 1), b),
                "item": self.data.items.to_external(np.maximum(flat, 1)),
                "score": values.ravel(),
            }
        ).filter(pl.Series(finite))
        if self.data.item_meta is not None and "title" in self.data.item_meta.columns:
            titles = self.data.item_meta["title"].gather(np.maximum(flat, 1) - 1).filter(pl.Series(finite))
            frame = frame.with_columns(titles.alias("title"))
        return frame


def _subset(seqs: Sequences, starts: np.ndarray, ends: np.ndarray) -> Sequences:
    """A new CSR holding ``seqs`` rows given by absolute [start, end) ranges (vectorised gather)."""
    lengths = ends - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    width = int(lengths.max(initial=0))
    if width == 0:
        return Sequences(offsets, np.zeros(0, np.int64), np.zeros(0, np.int64))
    idx = windows(np.arange(len(seqs.items), dtype=np.int64), starts, ends, width)  # [B, W] left-padded
    valid = np.arange(width)[None, :] >= (width - lengths)[:, None]
    take = idx[valid]
    return Sequences(offsets, seqs.items[take], seqs.timestamps[take])


__all__ = ["AmbiguousTitleError", "Recommender"]
