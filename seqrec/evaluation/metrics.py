"""Ranking metrics from the 0-based rank of each user's held-out item.

With one relevant item per user at rank r (0 = first):
  HR@K = Recall@K = [r < K];  NDCG@K = [r < K] / log2(r + 2);  MRR = 1 / (r + 1) (no cut-off).
Catalogue coverage@K = |union of all users' top-K lists| / N.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def metrics_from_ranks(ranks: np.ndarray, ks: Iterable[int]) -> dict[str, float]:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("no users to evaluate")
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        out[f"HR@{k}"] = float(hit.mean())
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
        out[f"Recall@{k}"] = out[f"HR@{k}"]
    out["MRR"] = float((1.0 / (ranks + 1.0)).mean())
    return out


def coverage(covered: np.ndarray, num_items: int) -> float:
    """Share of the catalogue (internal ids 1..N) present in ``covered`` (a boolean [N + 1] mask)."""
    return float(covered[1:].sum() / num_items)
