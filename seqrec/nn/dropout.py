"""Inverted dropout whose mask comes from vectorised random bits on the CPU.

    y = x * m / (1 - p),   m_i ~ Bernoulli(1 - p) independently      (train);   y = x   (eval)

The same distribution as ``torch.nn.functional.dropout``, drawn differently. PyTorch's CPU dropout fills
its mask with ``bernoulli_``, which was 21% of a SASRec BCE training epoch on the ML-1M head (profile:
16.8 ms for a ``[256, 50, 64]`` mask). Here the bits come from NumPy's SFC64 generator (``random_raw``,
64-bit words), seeded for each mask from PyTorch's generator so that ``torch.manual_seed`` still fixes
every mask, and each word gives four masks from its four 16-bit lanes: ``m_i = [b_i >= round(p 2^16)]``
with ``b_i`` uniform on ``0 .. 2^16 - 1``, so the rate is ``p`` rounded to a multiple of ``2^-16`` (0.2
becomes 0.1999969) and the kept elements are scaled by the exact inverse of that rounded keep rate: the
layer stays unbiased. A rate that the rounding would move by more than ``RATE_TOLERANCE`` of itself
(below about 0.008) draws one ``uniform_`` float per element instead. On other devices PyTorch's fused
dropout is kept.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

LANE_BITS = 16
"""Random bits per mask element: one 16-bit lane of a 64-bit word of SFC64. Against one ``uniform_`` float
per element, 15-bit lanes of PyTorch's own ``random_`` made a SASRec BCE epoch 1.14x faster on the ML-1M
head and 1.05x on Beauty (``benchmarks/results/ab_dropout-bits-*.md``); SFC64's words against those:
``benchmarks/results/ab_dropout-sfc64-*.md``."""

RATE_TOLERANCE = 1e-3
"""Largest relative change of ``p`` that rounding it to ``LANE_BITS`` bits may make."""

SEED_BOUND = 1 << 62
"""Each mask's SFC64 seed is drawn uniformly below this from PyTorch's default generator."""


@torch.compiler.disable  # NumPy's generator runs eagerly; Dynamo's NumPy tracing mistakes the dtype view
def random_lanes(shape: tuple[int, ...]) -> Tensor:
    """A CPU ``int16`` tensor of ``shape`` whose values are uniform on ``-2^15 .. 2^15 - 1`` and independent:
    four per 64-bit word of a fresh SFC64 generator seeded from PyTorch's default generator."""
    n = math.prod(shape)
    seed = int(torch.randint(SEED_BOUND, (), dtype=torch.int64))
    words = np.random.SFC64(seed).random_raw((n + 3) // 4)  # uint64
    return torch.from_numpy(words.view(np.int16)[:n]).view(shape)


def keep_scale(like: Tensor, p: float) -> Tensor:
    """A CPU tensor shaped and typed like ``like``: 0 where an element is dropped, ``1 / (1 - p)`` where
    kept (``p`` as drawn: see the module's note)."""
    levels = 1 << LANE_BITS
    threshold = round(p * levels)
    if threshold == 0 or abs(threshold / levels - p) > RATE_TOLERANCE * p:
        return torch.empty_like(like).uniform_().ge_(p).mul_(1.0 / (1.0 - p))
    # P(kept) = (levels - threshold) / levels; the comparison writes 1 / 0 straight into like's dtype
    # (``out=``): one pass, where a bool mask and its conversion took two (a SASRec BCE epoch 1.02x faster:
    # benchmarks/results/ab_dropout-ge-out-ml-1m-head.md)
    kept = torch.ge(random_lanes(tuple(like.shape)), threshold - levels // 2, out=torch.empty_like(like))
    return kept.mul_(levels / (levels - threshold))


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
