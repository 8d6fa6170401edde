"""Small hand-made inputs shared by the model tests."""

from __future__ import annotations

import numpy as np

from seqrec.data.sequences import Sequences


def uniform_sequences(users: int, length: int, num_items: int, seed: int = 0) -> tuple[Sequences, np.ndarray]:
    """``users`` rows of ``length`` random items (timestamps 0, 10, 20, ...); all of it is training."""
    rng = np.random.default_rng(seed)
    items = rng.integers(1, num_items + 1, size=users * length).astype(np.int64)
    timestamps = np.tile(np.arange(length, dtype=np.int64) * 10, users)
    offsets = np.arange(users + 1, dtype=np.int64) * length
    return Sequences(offsets, items, timestamps), np.full(users, length, dtype=np.int64)
