"""SAS-FPT: week buckets of known dates, the group loss, user pairs, ablation switches."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch
import torch.nn.functional as F

from seqrec.config import ConfigError, build_config
from seqrec.data.batch import SequenceBatch
from seqrec.data.objectives import CausalNextItem, CoInteractionPairs, DemographicPairs, PairedTrainBatch
from seqrec.data.sequences import Sequences
from seqrec.models import SASFPT, TiSASRec
from seqrec.nn.losses import FullCrossEntropy, group_cosine_loss
from seqrec.nn.time_aware import day_of_year, week_buckets


def _ts(*date: int) -> int:
    return int(datetime(*date, tzinfo=UTC).timestamp())


def test_week_buckets_of_known_dates() -> None:
    # bucket = min(day_of_year // 7, 51) + 1 (0 is padding)
    dates = {
        (1970, 1, 1): 1,
        (2000, 1, 7, 23, 59, 59): 1,  # days 0..6: bucket 1
        (2000, 1, 8): 2,
        (2000, 2, 29, 12): 9,  # leap day: day 59 -> 8
        (2000, 3, 1): 9,  # day 60 (leap year) -> 8
        (2001, 3, 1): 9,  # day 59 (common year) -> 8
        (2000, 12, 16): 51,  # day 350 -> 50
        (2000, 12, 23): 52,  # day 357 -> 51
        (2000, 12, 30): 52,  # day 364 -> 52, folded into 51
        (2000, 12, 31): 52,  # day 365 (leap year) -> 52, folded into 51
        (2003, 2, 27, 23, 31, 15): 9,  # the last ML-1M-head timestamp: day 57 -> 8
        (2100, 3, 1): 9,  # 2100 is not a leap year: day 59 -> 8
    }
    ts = torch.tensor([[_ts(*d) for d in dates]])
    valid = torch.ones_like(ts, dtype=torch.bool)
    assert week_buckets(ts, valid).tolist() == [list(dates.values())]
    assert week_buckets(ts, torch.zeros_like(valid)).eq(0).all()  # padding
    # 12 buckets of 365 // 12 = 30 days
    assert week_buckets(
        torch.tensor([[_ts(2001, 1, 30), _ts(2001, 1, 31), _ts(2001, 12, 31)]]), valid[:, :3], 12
    ).tolist() == [[1, 2, 12]]


def test_day_of_year_agrees_with_the_calendar() -> None:
    rng = np.random.default_rng(0)
    seconds = rng.integers(0, _ts(2200, 1, 1), size=2000)
    expected = [
        (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=int(s))).timetuple().tm_yday - 1
        for s in seconds
    ]
    assert day_of_year(torch.from_numpy(seconds)).tolist() == expected


def test_group_loss_on_hand_computed_cosines() -> None:
    first = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [1.0, 0.0], [3.0, 4.0]])
    second = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [-1.0, 0.0], [4.0, 3.0]])
    labels = torch.tensor([1.0, -1.0, -1.0, -1.0, 1.0])
    # cosines: 1, 1/sqrt(2), 1/sqrt(2), -1, 24/25
    # positives: (1 - 1) + (1 - 0.96); negatives with margin 0.1: 2 * (0.7071 - 0.1) + max(0, -1.1)
    expected = 0.04 + 2 * (1 / math.sqrt(2) - 0.1)
    got = group_cosine_loss(first, second, labels, margin=0.1)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    assert got.item() == pytest.approx(
        F.cosine_embedding_loss(first, second, labels, 0.1, reduction="sum").item()
    )


def test_demographic_pairs() -> None:
    meta = pl.DataFrame(
        {
            "user": [1, 2, 3, 4, 5, 6, 7],
            "gender": ["F", "F", "M", "M", "M", "F", None],
            "age": [18, 18, 25, 25, 25, 56, 18],
        }
    )
    sampler = DemographicPairs.from_metadata(meta, ["gender", "age"])
    groups = sampler.groups
    assert groups[0] == groups[1] and groups[2] == groups[3] == groups[4] and groups[6] == -1
    assert len({groups[0], groups[2], groups[5]}) == 3
    rng = np.random.default_rng(0)
    anchors = np.repeat(np.arange(7), 200)
    a, b = sampler.positives(anchors, rng)
    assert set(a.tolist()) == {0, 1, 2, 3, 4}  # row 5 is alone in its group, row 6 has no gender
    assert (groups[a] == groups[b]).all() and (a != b).all()
    assert set(b[a == 2].tolist()) == {3, 4}
    a, b = sampler.negatives(anchors, rng)
    assert 6 not in a and (groups[b] >= 0).all() and (groups[a] != groups[b]).all()
    pairs, labels = sampler.sample(np.arange(7), 50, rng)
    assert pairs.shape[1] == 2 and pairs.min() >= 1 and set(labels.tolist()) == {1.0, -1.0}
    with pytest.raises(ValueError, match="co_interaction"):
        DemographicPairs.from_metadata(None, ["gender"])
    with pytest.raises(ValueError, match="zip_code"):
        DemographicPairs.from_metadata(meta, ["zip_code"])


def _sequences() -> tuple[Sequences, np.ndarray]:
    # users (rows) 0: [1, 2], 1: [2, 3], 2: [4, 5], 3: [1, 6, 9]; item 9 is outside row 3's training part
    items = np.array([1, 2, 2, 3, 4, 5, 1, 6, 9])
    offsets = np.array([0, 2, 4, 6, 9])
    return Sequences(offsets, items, np.arange(9)), np.array([2, 2, 2, 2])


def test_co_interaction_pairs() -> None:
    seqs, train_end = _sequences()
    sampler = CoInteractionPairs(seqs, train_end, num_items=9)
    history = [set(seqs.row(r)[: train_end[r]].tolist()) for r in range(4)]
    rng = np.random.default_rng(0)
    anchors = np.repeat(np.arange(4), 100)
    a, b = sampler.positives(anchors, rng)
    assert (a != b).all() and all(history[x] & history[y] for x, y in zip(a, b, strict=True))
    assert 2 not in a  # row 2 shares nothing
    assert set(b[a == 0].tolist()) == {1, 3}
    a, b = sampler.negatives(anchors, rng)
    assert set(b[a == 0].tolist()) <= {1, 2, 3} and 0 not in b[a == 0]
    assert set(b[a == 2].tolist()) == {0, 1, 3}  # nobody else had 4 or 5


def test_objective_attaches_pairs() -> None:
    seqs, train_end = _sequences()
    objective = CausalNextItem(
        seqs,
        train_end,
        max_len=4,
        num_items=9,
        user_pairs=CoInteractionPairs(seqs, train_end, 9),
        num_pairs=8,
    )
    batch = objective.make_batch(np.arange(4), np.random.default_rng(0))
    assert isinstance(batch, PairedTrainBatch)
    assert batch.user_pairs is not None and batch.pair_labels is not None
    assert batch.user_pairs.shape == (len(batch.pair_labels), 2)


def _model(**switches: bool) -> SASFPT:
    torch.manual_seed(0)
    options = {"week_embedding": True, "user_embedding": True} | switches
    return SASFPT(
        20,
        4,
        max_len=8,
        hidden=8,
        blocks=1,
        heads=2,
        dropout=0.0,
        time_span=16,
        week_buckets=52,
        group_loss_weight=0.01,
        group_margin=0.0,
        **options,
    ).eval()


def test_tisasrec_plus_ablation_is_tisasrec() -> None:
    plain = _model(week_embedding=False, user_embedding=False)
    assert plain.week_emb is None and plain.user_emb is None and plain.input_proj is None
    tisasrec = TiSASRec(20, max_len=8, hidden=8, blocks=1, heads=2, dropout=0.0, time_span=16).eval()
    tisasrec.load_state_dict(plain.state_dict())
    batch = SequenceBatch(torch.tensor([[0, 3, 4, 5]]), torch.tensor([1]), torch.tensor([[0, 10, 30, 35]]))
    with torch.no_grad():
        assert torch.allclose(plain.encode(batch), tisasrec.encode(batch))


def test_week_and_user_enter_the_states() -> None:
    items = torch.tensor([[0, 3, 4, 5]])
    january = torch.tensor([[0, _ts(2001, 1, 2), _ts(2001, 1, 3), _ts(2001, 1, 5)]])
    july = january + 26 * 7 * 86_400 * (items > 0)  # same intervals, other weeks

    def states(model: SASFPT, ts: torch.Tensor, user: int) -> torch.Tensor:
        with torch.no_grad():
            return model.encode(SequenceBatch(items, torch.tensor([user]), ts))

    full = _model()
    assert not torch.allclose(states(full, january, 1), states(full, july, 1), atol=1e-4)
    assert not torch.allclose(states(full, january, 1), states(full, january, 2), atol=1e-4)
    no_week = _model(week_embedding=False, user_embedding=False)
    assert torch.allclose(states(no_week, january, 1), states(no_week, july, 1), atol=1e-5)


def test_training_loss_adds_the_weighted_group_loss() -> None:
    model = _model()
    items = torch.tensor([[1, 2, 3], [4, 5, 6]])
    fields = {
        "items": items,
        "users": torch.tensor([1, 2]),
        "timestamps": torch.cumsum(torch.ones_like(items), 1) * 86_400,
        "targets": torch.tensor([[2, 3, 4], [5, 6, 7]]),
    }
    pairs, labels = torch.tensor([[1, 2], [3, 4], [1, 3]]), torch.tensor([1.0, -1.0, -1.0])
    batch = PairedTrainBatch(**fields, user_pairs=pairs, pair_labels=labels)
    loss = FullCrossEntropy()
    main = loss(model.encode(batch), batch.targets, None, model.item_table())
    e = model.user_emb.weight  # type: ignore[union-attr]
    group = group_cosine_loss(e[pairs[:, 0]], e[pairs[:, 1]], labels)
    assert model.training_loss(batch, loss).item() == pytest.approx((main + 0.01 * group).item(), rel=1e-6)


def test_config_switches() -> None:
    with pytest.raises(ConfigError, match="user_embedding"):
        build_config({"data": {}, "model": {"name": "sasfpt", "user_embedding": False}})
    cfg = build_config(
        {
            "data": {},
            "model": {
                "name": "sasfpt",
                "user_embedding": False,
                "group_loss_weight": 0,
                "week_embedding": False,
            },
        }
    )
    assert cfg.model.name == "sasfpt" and cfg.model.time_span == 1024
