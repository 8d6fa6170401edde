"""Batched scoring helpers shared by the evaluator and the recommender, so both rank identically."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from seqrec.data.batch import SequenceBatch
from seqrec.data.batching import batch_width, windows
from seqrec.data.sequences import Sequences


def history_batch(seqs: Sequences, rows: np.ndarray, ends: np.ndarray, max_len: int) -> SequenceBatch:
    """Histories ``items[start:end]`` of user ``rows`` (``ends`` relative to each row's start)."""
    starts = seqs.offsets[rows]
    abs_ends = starts + ends
    width = batch_width(starts, abs_ends, max_len)
    return SequenceBatch(
        items=torch.from_numpy(windows(seqs.items, starts, abs_ends, width)),
        users=torch.from_numpy(rows.astype(np.int64) + 1),
        timestamps=torch.from_numpy(windows(seqs.timestamps, starts, abs_ends, width)),
    )


def full_histories(seqs: Sequences, rows: np.ndarray, ends: np.ndarray) -> Tensor:
    """Every item before ``ends`` for each row, left-padded with 0: ``[B, max history]``."""
    starts = seqs.offsets[rows]
    abs_ends = starts + ends
    width = int(max(1, (abs_ends - starts).max(initial=1)))
    return torch.from_numpy(windows(seqs.items, starts, abs_ends, width))


def mask_items(scores: Tensor, items: Tensor, item_dim: int = 1) -> Tensor:
    """Set user b's scores of ``items[b, j]`` to -inf, in place; ``scores`` is ``[B, N + 1]``, or
    ``[N + 1, B]`` with ``item_dim=0``. Index 0 is padding and already -inf."""
    index = items.to(scores.device)
    return scores.scatter_(item_dim, index if item_dim == 1 else index.T, float("-inf"))


def pessimistic_rank(
    scores: Tensor, target_scores: Tensor, item_dim: int = 1, mask: Tensor | None = None
) -> Tensor:
    """0-based rank of each target: items scored higher, plus ties other than the target itself.

    ``scores`` is ``[B, N + 1]``, or ``[N + 1, B]`` with ``item_dim=0``; ``target_scores`` is ``[B]``.
    ``mask``: a bool tensor of the scores' shape to hold the comparison (reused across blocks, it saves
    allocating and first touching a fresh one each time)."""
    t = target_scores.unsqueeze(item_dim)  # [B, 1] or [1, B]
    # one pass: higher ones and ties, less the target itself (int32 sums: no int64 copy of the mask)
    return torch.ge(scores, t, out=mask).sum(item_dim, dtype=torch.int32).long() - 1
