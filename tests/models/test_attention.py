"""The short-sequence attention path equals PyTorch's fused kernel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqrec.nn.attention import SHORT_KEYS, attend, attention_mask


@pytest.mark.parametrize(("length", "queries", "causal"), [(7, 7, True), (12, 1, True), (9, 9, False)])
def test_short_path_matches_the_fused_kernel(length: int, queries: int, causal: bool) -> None:
    assert length <= SHORT_KEYS
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(5, 2, n, 8, generator=gen, dtype=torch.float64) for n in (queries, length, length))
    valid = torch.rand(5, length, generator=gen) > 0.3
    valid[:, -1] = True
    mask = attention_mask(valid, causal)[:, :, -queries:, :]  # [B, 1, Lq, L]
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ours = attend(*leaves, mask, 0.0)
    ours.square().sum().backward()
    ref_leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ref = F.scaled_dot_product_attention(*ref_leaves, attn_mask=mask)
    ref.square().sum().backward()
    torch.testing.assert_close(ours, ref)
    for a, b in zip(leaves, ref_leaves, strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def test_short_path_drops_attention_weights() -> None:
    """With dropout the kept weights are scaled by 1 / (1 - p), as in the fused kernel."""
    torch.manual_seed(0)
    q = torch.zeros(1, 1, 4, 8)  # uniform attention over the 4 keys
    v = torch.ones(1, 1, 4, 8)
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    out = attend(q, torch.randn(1, 1, 4, 8), v, mask, 0.5)[0, 0, :, 0]  # = (kept weights) * 2
    assert set((out * 4 / 2).round().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert not torch.equal(out, torch.ones(4))
