"""``seqrec.nn.dropout``: inverted dropout with PyTorch's distribution, its mask drawn by ``uniform_``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqrec.nn.dropout import Dropout, dropout


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
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.8))
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))


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
