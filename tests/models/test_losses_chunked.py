"""The full-softmax CE chunked over positions equals the one-piece CE, in value and gradients."""

from __future__ import annotations

import pytest
import torch

from seqrec.nn import losses
from seqrec.nn.losses import FullCrossEntropy


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(4, 9, 8, generator=g, dtype=torch.float64)  # [B, L, D]
    table = torch.randn(31, 8, generator=g, dtype=torch.float64)  # [N + 1, D], 30 items
    targets = torch.randint(1, 31, (4, 9), generator=g)  # [B, L]
    targets[:, :3] = 0  # padding positions: no loss
    targets[0] = 0  # a row without targets
    return hidden, table, targets


def _loss_and_grads(loss: FullCrossEntropy) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    hidden, table, targets = _inputs()
    hidden.requires_grad_(True)
    table.requires_grad_(True)
    value = loss(hidden, targets, None, table)
    value.backward()
    assert hidden.grad is not None and table.grad is not None
    return value.detach(), hidden.grad, table.grad


@pytest.mark.parametrize("rows", [1, 5, 7, 17])
def test_chunked_ce_matches_one_piece(rows: int) -> None:
    whole = FullCrossEntropy(chunk_bytes=1 << 40)
    chunked = FullCrossEntropy(chunk_bytes=rows * 4 * 30)  # `rows` positions of 30 float32 logits
    assert whole.chunk_rows(30) > 4 * 9 and chunked.chunk_rows(30) == rows
    ref = _loss_and_grads(whole)
    got = _loss_and_grads(chunked)
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_chunk_rows_follow_the_module_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    assert FullCrossEntropy().chunk_rows(1000) == losses.CE_CHUNK_BYTES // 4000
    monkeypatch.setattr(losses, "CE_CHUNK_BYTES", 4 * 1000 * 3)
    assert FullCrossEntropy().chunk_rows(1000) == 3
    assert FullCrossEntropy().chunk_rows(10**9) == 1  # never zero rows


def test_chunked_ce_float32_close_to_one_piece() -> None:
    hidden, table, targets = _inputs(1)
    whole = FullCrossEntropy(chunk_bytes=1 << 40)(hidden.float(), targets, None, table.float())
    chunked = FullCrossEntropy(chunk_bytes=4 * 30 * 4)(hidden.float(), targets, None, table.float())
    torch.testing.assert_close(whole, chunked)
