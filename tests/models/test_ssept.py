"""SSE-PT: SSE replacement rates and semantics, SSE-PT++ windows, the user half of the prediction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqrec.config import SSEPTConfig
from seqrec.data.batch import SequenceBatch
from seqrec.data.objectives import CausalNextItem
from seqrec.models import SSEPT
from tests.models.helpers import uniform_sequences

NUM_ITEMS = 1000


def test_sse_item_and_user_replacement_rates() -> None:
    seqs, train_end = uniform_sequences(users=500, length=41, num_items=NUM_ITEMS)
    objective = CausalNextItem(
        seqs, train_end, max_len=40, num_items=NUM_ITEMS, sse_item_prob=0.1, sse_user_prob=0.92
    )
    rng = np.random.default_rng(0)
    rows = np.arange(500)
    original = seqs.items.reshape(500, 41)
    changed_inputs = changed_users = 0
    for _ in range(4):  # 80,000 positions, 2,000 user draws
        batch = objective.make_batch(rows, rng)
        inputs, targets = batch.items.numpy(), batch.targets.numpy()
        hit = inputs != original[:, :-1]  # a random draw equal to the original (0.1 %) counts as kept
        changed_inputs += hit.sum()
        changed_users += (batch.users.numpy() != rows + 1).sum()
        # the window stays one shifted sequence: an un-hit position's target is the next input
        # (or the held-out last item), a hit position's target is a fresh random item (a hit that
        # redrew its own item looks un-hit here, hence 0.999)
        nxt = np.concatenate([inputs[:, 1:], original[:, -1:]], axis=1)
        assert (targets[~hit] == nxt[~hit]).mean() > 0.999
        assert (targets[hit] != nxt[hit]).mean() > 0.99
    assert changed_inputs / 80_000 == pytest.approx(0.1 * (1 - 1 / NUM_ITEMS), abs=0.006)
    assert changed_users / 2_000 == pytest.approx(0.92 * (1 - 1 / 500), abs=0.02)


def test_no_sse_keeps_sasrec_batches() -> None:
    seqs, train_end = uniform_sequences(users=20, length=8, num_items=50)
    plain = CausalNextItem(seqs, train_end, max_len=10, num_items=50)
    batch = plain.make_batch(np.arange(20), np.random.default_rng(0))
    original = seqs.items.reshape(20, 8)
    assert (batch.items.numpy()[:, -7:] == original[:, :-1]).all()
    assert (batch.targets.numpy()[:, -7:] == original[:, 1:]).all()
    assert (batch.users.numpy() == np.arange(1, 21)).all()


def test_ssept_plus_plus_random_windows() -> None:
    """Histories longer than the window end at a uniform random position with probability p."""
    seqs, train_end = uniform_sequences(users=2000, length=30, num_items=NUM_ITEMS)
    objective = CausalNextItem(seqs, train_end, max_len=9, num_items=NUM_ITEMS, window_prob=0.5)
    batch = objective.make_batch(np.arange(2000), np.random.default_rng(0))
    original = seqs.items.reshape(2000, 30)
    # the last target tells where the window ends: index e - 1 of the history, e in [10, 30]
    last = batch.targets.numpy()[:, -1]
    end = np.array([np.flatnonzero(row == t)[-1] + 1 for row, t in zip(original, last, strict=True)])
    assert (end >= 10).all() and (end <= 30).all()
    assert (end == 30).mean() == pytest.approx(0.5 + 0.5 / 21, abs=0.04)  # cut at the end: not picked
    assert np.bincount(end[end < 30], minlength=30)[10:30].min() > 25  # others spread over 10..29
    # short histories are never cut
    short, short_end = uniform_sequences(users=50, length=8, num_items=NUM_ITEMS)
    kept = CausalNextItem(short, short_end, max_len=9, num_items=NUM_ITEMS, window_prob=1.0)
    out = kept.make_batch(np.arange(50), np.random.default_rng(0))
    assert (out.targets.numpy()[:, -1] == short.items.reshape(50, 8)[:, -1]).all()


def test_config_maps_authors_thresholds() -> None:
    cfg = SSEPTConfig()
    assert (cfg.sse_user_prob, cfg.sse_item_prob) == (pytest.approx(1 - 0.08), pytest.approx(1 - 0.9))


def test_user_is_concatenated_in_input_and_prediction() -> None:
    torch.manual_seed(0)
    model = SSEPT(20, 3, max_len=6, hidden=4, user_hidden=2, blocks=1, heads=1, dropout=0.0).eval()
    items = torch.tensor([[0, 3, 4, 5], [0, 3, 4, 5]])
    batch = SequenceBatch(items, torch.tensor([1, 2]), torch.zeros_like(items))
    with torch.no_grad():
        state = model.encode(batch)  # [2, 4, 4 + 1]
        x = torch.cat(
            [
                model.item_emb(items) * 2.0,
                model.user_emb(batch.users)[:, None].expand(-1, 4, -1) * math.sqrt(2),
            ],
            dim=-1,
        ) + model.pos_emb(torch.tensor([[0, 3, 2, 1]]))
        f = model.encoder(x * (items > 0).unsqueeze(-1), items > 0)  # [2, 4, 6]
        user = model.user_emb(batch.users) * math.sqrt(2)  # [2, 2]
        # r = F . [M[i]; U[u] sqrt(d_u)]
        expected = f[:, -1, :4] @ model.item_emb.weight.T + (f[:, -1, 4:] * user).sum(-1, keepdim=True)
        assert torch.allclose(state[:, -1] @ model.item_table().T, expected, atol=1e-5)
        scores = model.score_all(batch)
    # the same items for two users: different states and rankings can differ
    assert not torch.allclose(scores[0, 1:], scores[1, 1:])
