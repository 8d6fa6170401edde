"""The CPU attention paths (short sequences, inference blocks, one query) equal the general ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from seqrec.nn import attention
from seqrec.nn.attention import SHORT_KEYS, MultiHeadSelfAttention, attend, attention_mask


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


def _reference_and_inference(
    attn: MultiHeadSelfAttention, query: Tensor, keys: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """The module's output on its general path (gradients on: what training runs, with dropout 0 in eval
    mode) and on its inference paths (no gradients)."""
    attn.eval()
    reference = attn(query, keys, mask).detach()
    with torch.no_grad():
        return reference, attn(query, keys, mask)


@pytest.mark.parametrize(("length", "causal"), [(9, True), (40, False)])
def test_one_query_inference_matches_projecting_the_keys(length: int, causal: bool) -> None:
    """The last position alone, with W_K and W_V moved to the query's side, gives the same output."""
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(16, 4, dropout=0.3).double()
    keys = torch.randn(6, length, 16, dtype=torch.float64)
    valid = torch.rand(6, length) > 0.3
    valid[:, -1] = True
    keys = keys * valid.unsqueeze(-1)
    mask = attention_mask(valid, causal)[:, :, -1:, :]  # [B, 1, 1, L]
    reference, fast = _reference_and_inference(attn, torch.randn(6, 1, 16, dtype=torch.float64), keys, mask)
    torch.testing.assert_close(fast, reference)


def test_blocked_inference_matches_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of histories (here of 3 rows, so the last block is short) and heads read in place."""
    monkeypatch.setattr(attention, "SCORE_BLOCK", 3 * 5 * 12)
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(16, 2, dropout=0.3).double()
    x = torch.randn(8, 12, 16, dtype=torch.float64)
    valid = torch.rand(8, 12) > 0.4
    valid[:, -1] = True
    mask = attention_mask(valid, causal=True)[:, :, -5:, :]  # the last 5 queries read all 12 keys
    reference, fast = _reference_and_inference(attn, x[:, -5:], x, mask)
    torch.testing.assert_close(fast, reference)
