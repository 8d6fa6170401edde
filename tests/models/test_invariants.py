"""Invariants every registered sequence model must satisfy (run over the whole registry)."""

from __future__ import annotations

import pytest
import torch

from seqrec.config import RunConfig
from seqrec.data.batch import SequenceBatch, TrainBatch
from seqrec.models import BUILDERS, OBJECTIVE_OF, build_model
from seqrec.nn.losses import make_loss

NUM_ITEMS = 30


def _model(name: str):
    cfg = RunConfig.model_validate(
        {"data": {}, "model": {"name": name, "max_len": 12, "hidden": 16, "heads": 2}}
    )
    torch.manual_seed(0)
    model = build_model(cfg.model, NUM_ITEMS, num_users=5)
    return model.eval()


CAUSAL = {name for name in BUILDERS if _model(name).causal}


def test_registry_is_consistent() -> None:
    assert set(OBJECTIVE_OF) == set(BUILDERS)
    assert set(BUILDERS) - {"bert4rec"} == CAUSAL


def _batch(items: list[list[int]]) -> SequenceBatch:
    x = torch.tensor(items)
    return SequenceBatch(
        items=x, users=torch.arange(1, len(items) + 1), timestamps=torch.cumsum((x > 0).long(), 1) * 86400
    )


@pytest.mark.parametrize("name", sorted(CAUSAL))
def test_causality(name: str) -> None:
    """Changing items after position t leaves the output at positions <= t unchanged."""
    model = _model(name)
    a = _batch([[0, 0, 3, 4, 5, 6, 7, 8]])
    b = _batch([[0, 0, 3, 4, 5, 9, 1, 2]])
    with torch.no_grad():
        ha, hb = model.encode(a), model.encode(b)
    assert torch.allclose(ha[:, :5], hb[:, :5], atol=1e-5)
    assert not torch.allclose(ha[:, 5:], hb[:, 5:], atol=1e-5)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_padding_invariance(name: str) -> None:
    """Extra left padding does not change the states of real positions or any score."""
    model = _model(name)
    short = _batch([[3, 4, 5, 6]])
    long = _batch([[0, 0, 0, 3, 4, 5, 6]])
    with torch.no_grad():
        hs, hl = model.encode(short), model.encode(long)
        assert torch.allclose(hs, hl[:, 3:], atol=1e-5)
        assert torch.allclose(model.score_all(short), model.score_all(long), atol=1e-5)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_scores_agree(name: str) -> None:
    model = _model(name)
    batch = _batch([[0, 1, 2, 3], [4, 5, 6, 7]])
    with torch.no_grad():
        full = model.score_all(batch)
        cand = torch.tensor([[5, 9, 1], [2, 3, 30]])
        assert torch.allclose(model.score_candidates(batch, cand), full.gather(1, cand), atol=1e-5)
    assert full.shape == (2, NUM_ITEMS + 1)  # items 0..N only: no extra (e.g. mask) token is scored
    assert torch.isinf(full[:, 0]).all()
    assert torch.isfinite(full[:, 1:]).all()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_unknown_user_is_served(name: str) -> None:
    """User 0 (absent from training) gets finite scores from the history alone."""
    model = _model(name)
    batch = _batch([[0, 1, 2, 3]])
    unknown = SequenceBatch(batch.items, torch.zeros(1, dtype=torch.long), batch.timestamps)
    with torch.no_grad():
        assert torch.isfinite(model.score_all(unknown)[:, 1:]).all()


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("loss", ["bce", "ce", "sampled_softmax", "gbce"])
def test_losses_are_finite_and_backpropagate(name: str, loss: str) -> None:
    model = _model(name).train()
    items = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    batch = TrainBatch(
        items=items,
        users=torch.tensor([1, 2]),
        timestamps=torch.cumsum((items > 0).long(), 1),
        targets=torch.tensor([[0, 2, 3, 4], [5, 6, 7, 8]]),
        negatives=torch.randint(1, NUM_ITEMS + 1, (2, 4, 3)),
    )
    fn = make_loss(loss, num_items=NUM_ITEMS, num_negatives=3)
    value = model.training_loss(batch, fn)
    assert torch.isfinite(value)
    value.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
