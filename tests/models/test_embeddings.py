"""seqrec's ``Embedding``: the CPU lookup's gradients are ``F.embedding``'s, padding row included."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqrec.nn.embeddings import Embedding, ItemEmbedding, UserEmbedding


@pytest.mark.parametrize("padding_idx", [0, None])
def test_cpu_lookup_matches_f_embedding(padding_idx: int | None) -> None:
    torch.manual_seed(0)
    table = Embedding(30, 8, padding_idx=padding_idx)
    with torch.no_grad():
        table.weight[0] = torch.randn(8)  # a non-zero padding row: the forward must still return it
    ids = torch.randint(0, 30, (6, 7))
    ids[:, :2] = 0  # padding positions that receive a gradient
    grad = torch.randn(6, 7, 8)
    out = table(ids)
    out.backward(grad)
    reference = table.weight.detach().clone().requires_grad_(True)
    expected = F.embedding(ids, reference, padding_idx=padding_idx)
    expected.backward(grad)
    assert torch.equal(out, expected)
    assert reference.grad is not None and table.weight.grad is not None
    torch.testing.assert_close(table.weight.grad, reference.grad)
    if padding_idx is not None:
        assert (table.weight.grad[padding_idx] == 0).all()
    else:
        assert (table.weight.grad[0] != 0).any()


def test_id_tables_use_it_and_options_fall_back_to_pytorch() -> None:
    assert issubclass(ItemEmbedding, Embedding) and issubclass(UserEmbedding, Embedding)
    torch.manual_seed(0)
    table = Embedding(10, 4, max_norm=1.0)
    ids = torch.tensor([[1, 2, 3]])
    out = table(ids)
    assert out.grad_fn is not None and "Embedding" in type(out.grad_fn).__name__
    assert out.norm(dim=-1).max() <= 1.0 + 1e-6
    plain = Embedding(10, 4)
    assert "Lookup" in type(plain(ids).grad_fn).__name__
    with torch.no_grad():  # inference: PyTorch's lookup, no autograd Function
        assert torch.equal(plain(ids), F.embedding(ids, plain.weight))
