"""Vectorised window extraction from CSR sequences (no Python loop per sample)."""

from __future__ import annotations

import numpy as np


def windows(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """Left-padded windows: row b is ``values[max(starts[b], ends[b] - length):ends[b]]``, 0 before it.

    ``starts`` / ``ends`` are absolute indices into ``values``; the result is ``[B, length]``.
    """
    idx = ends[:, None] - length + np.arange(length, dtype=np.int64)[None, :]  # [B, L]
    valid = idx >= starts[:, None]
    out = (
        values[np.clip(idx, 0, max(len(values) - 1, 0))] if len(values) else np.zeros(idx.shape, values.dtype)
    )
    return np.where(valid, out, 0)


def batch_width(starts: np.ndarray, ends: np.ndarray, max_len: int) -> int:
    """Pad a batch only to its longest history (capped at ``max_len``), at least 1."""
    return int(max(1, min(max_len, int((ends - starts).max(initial=1)))))
