import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from seqrec.nn import losses
from seqrec.nn.losses import BCELoss, FullCrossEntropy, GBCELoss, SampledSoftmax


def _setup():
    table = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # 3 items + padding
    hidden = torch.tensor([[[0.0, 0.0], [2.0, 1.0]]])  # [1, 2, 2]; position 0 has no target
    targets = torch.tensor([[0, 1]])
    negatives = torch.tensor([[[0], [2]]])
    return hidden, targets, negatives, table


def test_bce_hand_computed() -> None:
    h, t, n, e = _setup()
    # s+ = (2,1).(1,0) = 2 ; s- = (2,1).(0,1) = 1
    expected = -math.log(1 / (1 + math.exp(-2))) - math.log(1 - 1 / (1 + math.exp(-1)))
    assert BCELoss()(h, t, n, e).item() == pytest.approx(expected, rel=1e-6)


def test_full_ce_hand_computed() -> None:
    h, t, _, e = _setup()
    logits = torch.tensor([2.0, 1.0, 3.0])  # items 1, 2, 3
    expected = -F.log_softmax(logits, 0)[0].item()
    assert FullCrossEntropy()(h, t, None, e).item() == pytest.approx(expected, rel=1e-6)


def test_sampled_softmax_masks_target_among_negatives() -> None:
    h, t, _, e = _setup()
    negatives = torch.tensor([[[0, 0], [2, 1]]])  # second negative equals the target: ignored
    expected = -math.log(math.exp(2) / (math.exp(2) + math.exp(1)))
    assert SampledSoftmax()(h, t, negatives, e).item() == pytest.approx(expected, rel=1e-6)


def test_gbce_beta_and_limits() -> None:
    h, t, n, e = _setup()
    # t = 0 gives plain BCE; alpha = 1/(3-1) = 0.5, beta(t=1) = alpha
    assert GBCELoss(3, 1, 0.0)(h, t, n, e).item() == pytest.approx(BCELoss()(h, t, n, e).item())
    g = GBCELoss(3, 1, 1.0)
    assert g.beta == pytest.approx(0.5)
    expected = -0.5 * math.log(1 / (1 + math.exp(-2))) - math.log(1 - 1 / (1 + math.exp(-1)))
    assert g(h, t, n, e).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("k", [1, 3, losses.ELEMENTWISE_NEGATIVES + 4])
@pytest.mark.parametrize("chunk_rows", [None, 3])
def test_sampled_logits_and_gradients_are_autograds_on_both_paths(
    k: int, chunk_rows: int | None, sparse: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both paths (and ``_SampledLogits`` in one chunk or in chunks of 3 positions, the last one short)
    give the dot products and the gradients that autograd forms from the gathered rows; ``sparse``: the
    table's gradient as a sparse tensor of the rows taken, the same values."""
    if chunk_rows is not None:  # the budget counts float32 rows of width 5
        monkeypatch.setattr(losses, "SAMPLED_CHUNK_BYTES", chunk_rows * 4 * k * 5)
    gen = torch.Generator().manual_seed(k)
    h = torch.randn(7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    table = torch.randn(9, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    ids = torch.randint(0, 9, (7, k), generator=gen)  # repeated ids: their gradients add up
    expected = torch.stack([table[ids[t]] @ h[t] for t in range(7)])  # [T, K]
    g = torch.randn(7, k, generator=gen, dtype=torch.float64)
    want = torch.autograd.grad(expected, (h, table), g)
    got = losses.sampled_logits(h, table, ids, sparse)
    torch.testing.assert_close(got, expected)
    grad_h, grad_table = torch.autograd.grad(got, (h, table), g)
    assert grad_table.is_sparse == sparse
    if sparse:
        assert set(grad_table.coalesce().indices()[0].tolist()) <= set(ids.flatten().tolist())
        grad_table = grad_table.to_dense()
    torch.testing.assert_close(grad_h, want[0])
    torch.testing.assert_close(grad_table, want[1])


@pytest.mark.parametrize("loss", [BCELoss(), GBCELoss(30, 20, 0.75), SampledSoftmax()])
def test_sampled_losses_take_the_same_values_and_gradients_on_both_paths(
    loss: losses.SequenceLoss, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more negatives than ``ELEMENTWISE_NEGATIVES`` the targets' and negatives' logits come from one
    ``_SampledLogits`` call (in chunks here); forcing the elementwise path gives the same loss and
    gradients, negatives equal to a target (masked by the sampled softmax) included."""
    gen = torch.Generator().manual_seed(3)
    hidden = torch.randn(3, 6, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    table = torch.randn(31, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 31, (3, 6), generator=gen)  # 0: no target
    negatives = torch.randint(1, 31, (3, 6, 20), generator=gen)
    negatives[..., 0] = targets

    def values() -> tuple[torch.Tensor, ...]:
        value = loss(hidden, targets, negatives, table)
        return (value.detach(), *torch.autograd.grad(value, (hidden, table)))

    monkeypatch.setattr(losses, "SAMPLED_CHUNK_BYTES", 4 * 4 * 21 * 8)  # 4 positions a chunk
    chunked = values()
    monkeypatch.setattr(losses, "ELEMENTWISE_NEGATIVES", 64)
    for a, b in zip(chunked, values(), strict=True):
        torch.testing.assert_close(a, b)


def test_distinct_rows_are_torch_uniques() -> None:
    gen = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 40, (6, 7), generator=gen)
    taken, places = losses.distinct_rows(ids, 40)
    want_taken, want_places = torch.unique(ids, return_inverse=True)
    assert torch.equal(taken, want_taken) and torch.equal(places, want_places)


@pytest.mark.parametrize("make", [BCELoss, lambda sparse: GBCELoss(30, 20, 0.75, sparse), SampledSoftmax])
@pytest.mark.parametrize("negatives", [3, 20])
def test_sampled_losses_with_a_sparse_table_gradient(make: Any, negatives: int) -> None:
    """``sparse_table``: the same loss and gradients, the table's as a sparse tensor of the rows that
    the batch's targets and negatives take (both logit paths: elementwise at 3 negatives, chunked at 20)."""
    gen = torch.Generator().manual_seed(4)
    hidden = torch.randn(3, 6, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    table = torch.randn(31, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 31, (3, 6), generator=gen)
    sampled = torch.randint(1, 31, (3, 6, negatives), generator=gen)
    dense, sparse = make(False), make(True)
    want = torch.autograd.grad(dense(hidden, targets, sampled, table), (hidden, table))
    value = sparse(hidden, targets, sampled, table)
    grad_h, grad_table = torch.autograd.grad(value, (hidden, table))
    torch.testing.assert_close(value, dense(hidden, targets, sampled, table))
    torch.testing.assert_close(grad_h, want[0])
    assert grad_table.is_sparse
    taken = targets[targets > 0].tolist() + sampled[targets > 0].flatten().tolist()
    assert set(grad_table.coalesce().indices()[0].tolist()) <= set(taken)
    torch.testing.assert_close(grad_table.to_dense(), want[1])


def test_sampled_logits_are_float32_under_bf16_autocast() -> None:
    """Under autocast the chunked product runs in float32 and hands back gradients in the inputs' dtypes."""
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(6, 8, generator=gen).bfloat16().requires_grad_()
    table = torch.randn(11, 8, generator=gen, requires_grad=True)
    ids = torch.randint(0, 11, (6, losses.ELEMENTWISE_NEGATIVES + 1), generator=gen)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = losses.sampled_logits(h, table, ids)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, (table[ids] * h.float().unsqueeze(1)).sum(-1))
    logits.sum().backward()
    assert h.grad is not None and h.grad.dtype == torch.bfloat16
    assert table.grad is not None and table.grad.dtype == torch.float32


@pytest.mark.parametrize(
    "loss",
    [BCELoss(), GBCELoss(3, 1, 0.75), SampledSoftmax(), FullCrossEntropy(), losses.DenseCrossEntropy()],
)
def test_every_loss_takes_a_weight_on_its_mean(loss: losses.SequenceLoss) -> None:
    h, t, n, e = _setup()
    n = torch.tensor([[[0, 0], [2, 3]]])
    plain = loss(h, t, n, e)
    assert loss(h, t, n, e, 2.5).item() == pytest.approx(2.5 * plain.item(), rel=1e-6)
    assert loss(h, t, n, e, torch.tensor(2.5)).item() == pytest.approx(2.5 * plain.item(), rel=1e-6)
