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
        self._cdf: np.ndarray | None = None
        self._probs: np.ndarray | None = None  # [N] popularity: the chance of drawing each item
        if kind == "popularity":
            counts = np.bincount(sequences.items[keep], minlength=num_items + 1)[1:].astype(np.float64)
            counts += 1e-12  # every item stays drawable
            self._probs = counts / counts.sum()
            self._cdf = np.cumsum(self._probs)

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self._cdf is None:
            return rng.integers(1, self.num_items + 1, size=n, dtype=np.int64)
        draws = np.searchsorted(self._cdf, rng.random(n), side="right") + 1
        return np.minimum(draws, self.num_items).astype(np.int64)

    def log_probabilities(self) -> np.ndarray:
        """``[N + 1]``: log q(i), the log of the chance that one draw (before the redraws of seen items)
        is item ``i``, as the logQ correction of a sampled softmax needs it; row 0 (padding, never drawn)
        is 0."""
        out = np.zeros(self.num_items + 1, dtype=np.float64)
        out[1:] = np.log(self._probs) if self._probs is not None else -np.log(self.num_items)
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
