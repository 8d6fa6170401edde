"""``seqrec.nn.dropout``: inverted dropout with PyTorch's distribution, its mask drawn from 16-bit lanes of
SFC64's 64-bit words (``uniform_`` floats for small rates)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqrec.nn.dropout import LANE_BITS, Dropout, dropout


def test_identity_when_not_training_or_zero_rate() -> None:
    x = torch.randn(4, 5)
    assert dropout(x, 0.3, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(Dropout(0.3).eval()(x), x)


def test_keeps_one_minus_p_and_scales_the_kept() -> None:
    torch.manual_seed(0)
    x = torch.ones(1000, 1000)
    y = dropout(x, 0.2)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.8) < 0.003  # 1M Bernoulli(0.8) draws: std 0.0004
    drawn = round(0.2 * 2**LANE_BITS) / 2**LANE_BITS  # the rate as drawn: 0.1999969
    assert torch.equal(y[kept], torch.full_like(y[kept], 1 / (1 - drawn)))
    assert abs(y.mean().item() - 1.0) < 0.005  # unbiased
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))


def test_every_lane_of_a_draw_is_an_independent_mask() -> None:
    """Four elements share one 64-bit draw: each of the four positions keeps 1 - p, and neighbours (in one
    draw or across two) are uncorrelated."""
    torch.manual_seed(2)
    kept = (dropout(torch.ones(1 << 22), 0.3) != 0).float().view(-1, 4)  # [draws, lanes]
    for lane in range(4):
        assert abs(kept[:, lane].mean().item() - 0.7) < 0.003  # 1M draws per lane: std 0.00046
    flat = kept.flatten() - 0.7
    for gap in (1, 2, 3, 4, 5):
        corr = (flat[:-gap] * flat[gap:]).mean().item() / 0.21
        assert abs(corr) < 0.003, (gap, corr)  # 4M pairs: std 0.0005


def test_small_rate_is_not_rounded() -> None:
    """Below what 16 bits resolve within 0.1% (p = 0.001 would become 0.00101), each element gets a float."""
    torch.manual_seed(3)
    y = dropout(torch.ones(1000, 1000), 0.001)
    assert torch.equal(y[y != 0], torch.full_like(y[y != 0], 1 / 0.999))
    assert abs((y == 0).float().mean().item() - 0.001) < 0.0002  # std 0.00003


def test_masks_follow_torch_manual_seed() -> None:
    """Each mask's generator is seeded from PyTorch's: the same seed gives the same masks, and two masks
    in a row differ."""
    x = torch.ones(64, 50)
    torch.manual_seed(4)
    first, second = dropout(x, 0.2), dropout(x, 0.2)
    torch.manual_seed(4)
    assert torch.equal(dropout(x, 0.2), first)
    assert torch.equal(dropout(x, 0.2), second)
    assert not torch.equal(first, second)


def test_gradient_is_the_mask() -> None:
    torch.manual_seed(1)
    x = (torch.rand(64, 32) + 0.5).requires_grad_()
    y = dropout(x, 0.5)
    y.sum().backward()
    assert x.grad is not None
    assert torch.allclose(x.grad, (y / x).detach())
    assert set(x.grad.unique().tolist()) == {0.0, 2.0}


def test_module_is_an_nn_dropout() -> None:
    assert isinstance(Dropout(0.1), nn.Dropout)
    with pytest.raises(ValueError):
        Dropout(1.5)
