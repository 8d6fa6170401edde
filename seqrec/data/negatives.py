"""Negative sampling without Python loops per sample.

A user's "seen" items are encoded as sorted keys ``row * (num_items + 1) + item``; membership of a
batch of (row, item) draws is one ``searchsorted``. Draws that hit a seen item are redrawn, all at
once, for a bounded number of rounds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from seqrec.data.sequences import Sequences


class NegativeSampler:
    """Draw items a user has not interacted with: uniformly or in proportion to popularity."""

    def __init__(
        self,
        sequences: Sequences,
        num_items: int,
        *,
        limit: np.ndarray | None = None,
        kind: Literal["uniform", "popularity"] = "uniform",
        max_rounds: int = 50,
    ) -> None:
        """``limit[r]``: only the first ``limit[r]`` items of row ``r`` count as seen (training part)."""
        self.num_items = num_items
        self.kind = kind
        self.max_rounds = max_rounds
        rows = sequences.row_ids()
        pos = np.arange(len(sequences.items), dtype=np.int64) - sequences.offsets[rows]
        keep = pos < limit[rows] if limit is not None else np.ones(len(rows), dtype=bool)
        self._keys = np.unique(rows[keep] * (num_items + 1) + sequences.items[keep])
        self._pool: np.ndarray | None = None  # popularity: the training interactions' items
        if kind == "popularity" and keep.any():
            self._pool = sequences.items[keep].astype(np.int64)

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent draws. By popularity: the item of a uniformly drawn training interaction, so
        that item i comes with probability count(i) / M (M interactions), in O(1) per draw where a search
        of the cumulative distribution took O(log N); items without training interactions are never
        drawn."""
        if self._pool is None:
            return rng.integers(1, self.num_items + 1, size=n, dtype=np.int64)
        return self._pool[rng.integers(0, len(self._pool), size=n)]

    def log_probabilities(self) -> np.ndarray:
        """``[N + 1]``: log q(i), the log of the chance that one draw (before the redraws of seen items)
        is item ``i``, as the logQ correction of a sampled softmax needs it; -inf for an item never drawn,
        and 0 for row 0 (padding)."""
        out = np.full(self.num_items + 1, -np.log(self.num_items))
        if self._pool is not None:
            counts = np.bincount(self._pool, minlength=self.num_items + 1)[1:]
            with np.errstate(divide="ignore"):
                out[1:] = np.log(counts / len(self._pool))
        out[0] = 0.0
        return out

    def seen(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each (row, item) pair is among the seen pairs (same shapes)."""
        keys = rows * (self.num_items + 1) + items
        # PyTorch's search runs on its intra-op threads, NumPy's on one
        # (benchmarks/results/ab_sampler-search-beauty.md)
        queries = torch.from_numpy(np.ascontiguousarray(keys, dtype=np.int64))
        pos = torch.searchsorted(torch.from_numpy(self._keys), queries).numpy()  # no copies
        pos = np.minimum(pos, len(self._keys) - 1)
        return self._keys[pos] == keys if len(self._keys) else np.zeros(keys.shape, dtype=bool)

    def sample(self, rows: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """``[len(rows), k]`` negatives for the given user rows."""
        rows_k = np.repeat(rows.astype(np.int64), k)
        out = self._draw(len(rows_k), rng)
        bad = np.flatnonzero(self.seen(rows_k, out))
        for _ in range(self.max_rounds):
            if not len(bad):
                break
            out[bad] = self._draw(len(bad), rng)
            bad = bad[self.seen(rows_k[bad], out[bad])]
        return out.reshape(len(rows), k)
