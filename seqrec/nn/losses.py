"""Next-item losses over encoder states and an item table.

Every loss takes the encoder output ``hidden [B, L, D]``, the objective's ``targets [B, L]`` (0 = no
loss), optional sampled ``negatives [B, L, K]`` and the output item table ``[N + 1, D]``. Only the
positions with a target are gathered before any scoring, so padding costs nothing.

With s+ the target's logit and s-_k the negatives' logits at one position:

* ``bce``   (SASRec):  -log sigma(s+) - sum_k log(1 - sigma(s-_k))
* ``ce``    (full softmax): -log softmax(h E^T)[target], over all N items (padding column excluded);
  computed in chunks of positions whose ``[chunk, N]`` logits stay under ``CE_CHUNK_BYTES``, each chunk
  recomputed in the backward pass, so memory no longer grows as ``[T, N]`` (same loss and gradients)
* ``sampled_softmax``: -log( exp(s+) / (exp(s+) + sum_k exp(s-_k)) ), negatives equal to the target masked
* ``gbce``  (Petrov & Macdonald, RecSys 2023): -beta log sigma(s+) - sum_k log(1 - sigma(s-_k)),
  beta = alpha (t (1 - 1/alpha) + 1/alpha), alpha = K / (N - 1) the negative sampling rate.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

CE_CHUNK_BYTES = 64 << 20
"""Full-softmax CE: most bytes one chunk's float32 ``[chunk, N]`` logits may take (64 MiB). A batch whose
logits fit is scored in one piece; a larger one is cut into chunks of positions, and each chunk's logits
are recomputed in the backward pass instead of being kept (one extra matmul per chunk)."""


class SequenceLoss(Protocol):
    needs_negatives: bool

    def __call__(
        self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor
    ) -> Tensor: ...


def _gather(
    hidden: Tensor, targets: Tensor, negatives: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    pos = targets > 0  # [B, L]
    h = hidden[pos]  # [T, D]
    t = targets[pos]  # [T]
    n = negatives[pos] if negatives is not None else None  # [T, K]
    return h, t, n


def _require(negatives: Tensor | None, name: str) -> Tensor:
    if negatives is None:
        raise ValueError(f"loss {name!r} needs sampled negatives in the batch")
    return negatives


class BCELoss:
    needs_negatives = True

    def __call__(self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor) -> Tensor:
        h, t, n = _gather(hidden, targets, negatives)
        n = _require(n, "bce")
        pos = (h * table[t]).sum(-1)  # [T]
        neg = torch.einsum("td,tkd->tk", h, table[n])  # [T, K]
        return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


class GBCELoss:
    needs_negatives = True

    def __init__(self, num_items: int, num_negatives: int, t: float) -> None:
        alpha = num_negatives / max(num_items - 1, 1)
        self.beta = alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)

    def __call__(self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor) -> Tensor:
        h, t, n = _gather(hidden, targets, negatives)
        n = _require(n, "gbce")
        pos = (h * table[t]).sum(-1)  # [T]
        neg = torch.einsum("td,tkd->tk", h, table[n])  # [T, K]
        return -(self.beta * F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


class FullCrossEntropy:
    """Softmax over the whole catalogue, chunked over positions (see ``CE_CHUNK_BYTES``)."""

    needs_negatives = False

    def __init__(self, chunk_bytes: int | None = None) -> None:
        """``chunk_bytes``: the logits budget per chunk; ``None`` reads ``CE_CHUNK_BYTES`` at call time."""
        self.chunk_bytes = chunk_bytes

    def chunk_rows(self, num_items: int) -> int:
        """Positions per chunk: as many ``[rows, N]`` float32 logits as fit the budget (at least 1)."""
        budget = CE_CHUNK_BYTES if self.chunk_bytes is None else self.chunk_bytes
        return max(1, budget // (4 * num_items))

    def __call__(self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor) -> Tensor:
        h, t, _ = _gather(hidden, targets, None)  # [T, D], [T]
        items = table[1:]  # [N, D]  (padding row 0 is not a class)
        rows = self.chunk_rows(items.shape[0])
        if h.shape[0] <= rows:
            return F.cross_entropy(h @ items.T, t - 1)  # logits [T, N]
        total = h.new_zeros((), dtype=torch.float32)
        # split (not slicing): its backward concatenates the chunks' gradients once
        for h_chunk, t_chunk in zip(h.split(rows), (t - 1).split(rows), strict=True):
            part = checkpoint(
                _ce_sum,
                h_chunk,  # [C, D]
                items,
                t_chunk,  # [C]
                use_reentrant=False,
                preserve_rng_state=False,  # nothing random inside
            )
            total = total + part
        return total / h.shape[0]


class SampledSoftmax:
    needs_negatives = True

    def __call__(self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor) -> Tensor:
        h, t, n = _gather(hidden, targets, negatives)
        n = _require(n, "sampled_softmax")
        pos = (h * table[t]).sum(-1, keepdim=True)  # [T, 1]
        neg = torch.einsum("td,tkd->tk", h, table[n])  # [T, K]
        neg = neg.masked_fill(n == t[:, None], float("-inf"))
        logits = torch.cat([pos, neg], dim=1)  # [T, 1 + K]
        return F.cross_entropy(logits, torch.zeros_like(t))


def _ce_sum(h: Tensor, items: Tensor, classes: Tensor) -> Tensor:
    """Summed CE of one chunk: ``h [C, D]``, ``items [N, D]``, ``classes [C]`` in ``0..N-1``."""
    return F.cross_entropy(h @ items.T, classes, reduction="sum")  # logits [C, N]


def make_loss(name: str, *, num_items: int, num_negatives: int, gbce_t: float = 0.75) -> SequenceLoss:
    if name == "bce":
        return BCELoss()
    if name == "ce":
        return FullCrossEntropy()
    if name == "sampled_softmax":
        return SampledSoftmax()
    if name == "gbce":
        return GBCELoss(num_items, num_negatives, gbce_t)
    raise ValueError(f"unknown loss {name!r}: expected bce, ce, sampled_softmax or gbce")


def group_cosine_loss(first: Tensor, second: Tensor, labels: Tensor, margin: float = 0.0) -> Tensor:
    """SAS-FPT's group-wise loss over user pairs: ``sum_pos (1 - cos) + sum_neg max(0, cos - margin)``.

    ``first``, ``second``: ``[P, D]`` embeddings of each pair's two users; ``labels``: ``[P]``, +1 for a
    positive pair (same group), -1 for a negative one. PyTorch's ``cosine_embedding_loss`` with
    ``reduction="sum"``; a zero vector has cosine 0 with anything.
    """
    cos = F.cosine_similarity(first, second, dim=-1, eps=1e-8)  # [P]
    positive = (1.0 - cos) * (labels > 0)  # [P]
    negative = (cos - margin).clamp(min=0.0) * (labels < 0)  # [P]
    return (positive + negative).sum()
