"""Inverted dropout whose mask comes from vectorised random bits on the CPU.

    y = x * m / (1 - p),   m_i ~ Bernoulli(1 - p) independently      (train);   y = x   (eval)

The same distribution as ``torch.nn.functional.dropout``, drawn differently. PyTorch's CPU dropout fills
its mask with ``bernoulli_``, which was 21% of a SASRec BCE training epoch on the ML-1M head (profile:
16.8 ms for a ``[256, 50, 64]`` mask). Here each 64-bit draw of PyTorch's generator (``random_``) gives
four masks from four 15-bit lanes: ``m_i = [b_i >= round(p 2^15)]`` with ``b_i`` uniform on
``0 .. 2^15 - 1``, so the rate is ``p`` rounded to a multiple of ``2^-15`` (0.2 becomes 0.2000122) and the
kept elements are scaled by the exact inverse of that rounded keep rate: the layer stays unbiased. A
rate that the rounding would move by more than ``RATE_TOLERANCE`` of itself (below about 0.015) draws one
``uniform_`` float per element instead. On other devices PyTorch's fused dropout is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LANE_BITS = 15
"""Random bits per mask element: the low 15 bits of each 16-bit lane of a 63-bit draw (the top lane has
only 15). Against one ``uniform_`` float per element: a SASRec BCE epoch 1.14x faster on the ML-1M head
and 1.05x on Beauty (``benchmarks/results/ab_dropout-bits-*.md``)."""

RATE_TOLERANCE = 1e-3
"""Largest relative change of ``p`` that rounding it to ``LANE_BITS`` bits may make."""


def keep_scale(like: Tensor, p: float) -> Tensor:
    """A tensor shaped and typed like ``like``: 0 where an element is dropped, ``1 / (1 - p)`` where kept
    (``p`` as drawn: see the module's note)."""
    levels = 1 << LANE_BITS
    threshold = round(p * levels)
    if threshold == 0 or abs(threshold / levels - p) > RATE_TOLERANCE * p:
        return torch.empty_like(like).uniform_().ge_(p).mul_(1.0 / (1.0 - p))
    n = like.numel()
    draws = torch.empty((n + 3) // 4, dtype=torch.int64, device=like.device).random_()  # 63 random bits each
    lanes = draws.view(torch.int16)[:n].view(like.shape).bitwise_and_(levels - 1)  # uniform on 0 .. 2^15 - 1
    return torch.where(lanes >= threshold, levels / (levels - threshold), 0.0).to(like.dtype)


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``x`` with each element zeroed with probability ``p`` and the rest scaled by ``1 / (1 - p)``."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    if p >= 1.0:
        return x * 0.0
    return x * keep_scale(x, p)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same argument check, no state) computed by ``dropout``."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)
