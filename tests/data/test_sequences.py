"""Preprocessing, splits, windows and negative sampling."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqrec import SequenceDataset
from seqrec.config import DataConfig
from seqrec.data.batching import windows
from seqrec.data.negatives import NegativeSampler
from seqrec.data.objectives import CausalNextItem, MaskedItem
from seqrec.data.preprocess import k_core, prepare
from seqrec.data.sequences import Sequences, leave_one_out, temporal_split
from seqrec.data.vocab import UnknownIdError, Vocabulary


def test_windows_left_pad_and_truncate() -> None:
    values = np.array([1, 2, 3, 4, 5, 6])
    out = windows(values, starts=np.array([0, 3]), ends=np.array([3, 6]), length=4)
    assert out.tolist() == [[0, 1, 2, 3], [0, 4, 5, 6]]
    out = windows(values, starts=np.array([0]), ends=np.array([6]), length=2)
    assert out.tolist() == [[5, 6]]


def test_sort_is_chronological_with_stable_tie_break() -> None:
    frame = pl.DataFrame({"user": [1, 1, 1, 1], "item": [10, 20, 30, 40], "timestamp": [5, 3, 3, 1]})
    prepared = prepare(frame, DataConfig())
    ext = prepared.items.to_external(prepared.sequences.items).to_list()
    assert ext == [40, 20, 30, 10]  # time order; 20 before 30 (same time) by file order


def test_duplicate_policies() -> None:
    frame = pl.DataFrame({"user": [1] * 5, "item": [1, 1, 2, 1, 3], "timestamp": [1, 2, 3, 4, 5]})

    def items(policy: str) -> list[int]:
        p = prepare(frame, DataConfig(duplicates=policy))  # type: ignore[arg-type]
        return p.items.to_external(p.sequences.items).to_list()

    assert items("keep") == [1, 1, 2, 1, 3]
    assert items("first") == [1, 2, 3]
    assert items("last") == [2, 1, 3]
    assert items("consecutive") == [1, 2, 1, 3]


def test_k_core_is_iterative() -> None:
    # user 3 has 2 items; dropping it leaves item 30 with 1 interaction, which then goes too
    frame = pl.DataFrame(
        {
            "user": [1, 1, 2, 2, 3, 3, 4, 4],
            "item": [10, 20, 10, 20, 30, 10, 30, 20],
            "timestamp": list(range(8)),
        }
    )
    out = k_core(frame, min_user=2, min_item=2)
    assert sorted(set(out["item"].to_list())) == [10, 20, 30]
    out = k_core(frame.filter(pl.col("user") != 4), min_user=2, min_item=2)
    assert sorted(set(out["item"].to_list())) == [10, 20]


def test_min_rating_filter_requires_rating() -> None:
    frame = pl.DataFrame({"user": [1], "item": [1], "timestamp": [1]})
    with pytest.raises(ValueError, match="rating"):
        prepare(frame, DataConfig(min_rating=4))


def test_vocabulary_round_trip_and_unknown() -> None:
    vocab = Vocabulary.from_values(pl.Series(["b", "a", "c", "a"]), "item")
    assert vocab.to_internal(["a", "c"]).tolist() == [1, 3]
    assert vocab.to_external([2]).to_list() == ["b"]
    assert vocab.to_internal(["zz"], unknown="zero").tolist() == [0]
    with pytest.raises(UnknownIdError, match="zz"):
        vocab.to_internal(["a", "zz"])
    again = Vocabulary.from_json(vocab.to_json())
    assert again.external.to_list() == ["a", "b", "c"]


def _seqs(lengths: list[int]) -> Sequences:
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n = int(offsets[-1])
    return Sequences(offsets, np.arange(1, n + 1, dtype=np.int64), np.arange(n, dtype=np.int64))


def test_leave_one_out_positions() -> None:
    split = leave_one_out(_seqs([5, 2, 3]))
    assert split.train_end.tolist() == [3, 2, 1]
    assert split.valid_pos.tolist() == [3, -1, 1]
    assert split.test_pos.tolist() == [4, -1, 2]


def test_temporal_split_uses_global_cuts() -> None:
    seqs = Sequences(np.array([0, 4, 7]), np.array([1, 2, 3, 4, 5, 6, 7]), np.array([1, 2, 8, 10, 3, 9, 10]))
    split = temporal_split(seqs, valid_fraction=0.3, test_fraction=0.3)
    # cuts at the 0.4 and 0.7 quantiles ("lower"): t_valid = 3, t_test = 9
    assert split.train_end.tolist() == [2, 1]
    assert split.valid_pos.tolist() == [2, 1]  # user 2: t=9 falls in the validation window (3, 9]
    assert split.test_pos.tolist() == [3, 2]


def test_held_out_items_never_reach_training_input(dataset: SequenceDataset) -> None:
    """Every training input/target position lies strictly before the validation target."""
    seqs = dataset.sequences
    rng = np.random.default_rng(0)
    objective = CausalNextItem(seqs, dataset.split.train_end, max_len=50, num_items=dataset.num_items)
    # Mark each held-out item occurrence with a sentinel copy of the sequence array
    marked = seqs.items.copy()
    rows = np.flatnonzero(dataset.split.valid_pos >= 0)
    held = np.concatenate(
        [
            seqs.offsets[rows] + dataset.split.valid_pos[rows],
            seqs.offsets[rows] + dataset.split.test_pos[rows],
        ]
    )
    marked[held] = -1
    objective.sequences = Sequences(seqs.offsets, marked, seqs.timestamps)
    for batch in objective.epoch(32, rng):
        assert (batch.items >= 0).all()
        assert (batch.targets >= 0).all()


def test_negative_sampler_avoids_seen_items() -> None:
    seqs = Sequences(np.array([0, 3, 5]), np.array([1, 2, 3, 4, 5]), np.zeros(5, dtype=np.int64))
    sampler = NegativeSampler(seqs, num_items=6)
    draws = sampler.sample(np.array([0, 1]), 200, np.random.default_rng(0))
    assert not np.isin(draws[0], [1, 2, 3]).any()
    assert not np.isin(draws[1], [4, 5]).any()
    assert set(np.unique(draws[0])) == {4, 5, 6}
    limited = NegativeSampler(
        seqs, num_items=6, limit=np.array([1, 2])
    )  # only the first item of row 0 is seen
    assert set(np.unique(limited.sample(np.array([0]), 300, np.random.default_rng(1)))) == {2, 3, 4, 5, 6}


def test_batch_negatives_are_drawn_at_targets_only_and_unseen_by_their_user() -> None:
    """A causal batch's negatives: K per target position, none of them an item of that user's training
    part, and 0 on positions without a target (padding), where no loss reads them."""
    seqs = _seqs([9, 3, 6])
    train_end = np.array([8, 3, 5])
    sampler = NegativeSampler(seqs, num_items=30, limit=train_end)
    objective = CausalNextItem(seqs, train_end, max_len=6, num_items=30, sampler=sampler, num_negatives=7)
    batch = objective.make_batch(np.array([0, 1, 2]), np.random.default_rng(0))
    assert batch.negatives is not None
    has_target = (batch.targets > 0).numpy()
    negatives = batch.negatives.numpy()
    assert negatives.shape == (*has_target.shape, 7)
    assert (negatives[has_target] > 0).all() and (negatives[~has_target] == 0).all()
    for row in range(3):
        seen = seqs.items[seqs.offsets[row] : seqs.offsets[row] + train_end[row]]
        assert not np.isin(negatives[row][has_target[row]], seen).any()


def test_popularity_sampler_follows_counts() -> None:
    seqs = Sequences(np.array([0, 6, 7]), np.array([1, 1, 1, 1, 1, 2, 3]), np.zeros(7, dtype=np.int64))
    sampler = NegativeSampler(seqs, num_items=3, kind="popularity")
    draws = sampler.sample(np.array([1]), 20000, np.random.default_rng(0))  # row 1 has seen item 3
    share = (draws == 1).mean()
    assert share == pytest.approx(5 / 6, abs=0.02)


def test_causal_objective_targets_are_next_items() -> None:
    seqs = _seqs([6])
    objective = CausalNextItem(seqs, np.array([4]), max_len=5, num_items=6)
    batch = objective.make_batch(np.array([0]), np.random.default_rng(0))
    assert batch.items.tolist() == [[1, 2, 3]]
    assert batch.targets.tolist() == [[2, 3, 4]]


def test_length_bucketing_keeps_every_row_once_and_reduces_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 60, size=500)
    seqs = _seqs(lengths.tolist())
    objective = CausalNextItem(seqs, lengths, max_len=50, num_items=int(lengths.sum()))

    def widths_and_users(pool: int) -> tuple[int, list[int]]:
        batches = list(objective.epoch(16, np.random.default_rng(1), bucket_pool=pool))
        users = sorted(u for b in batches for u in b.users.tolist())
        return sum(b.items.numel() for b in batches), users

    plain_cells, plain_users = widths_and_users(0)
    bucket_cells, bucket_users = widths_and_users(8)
    assert plain_users == bucket_users == list(range(1, 501))
    assert bucket_cells < 0.7 * plain_cells


def test_window_stride_trains_every_target_of_a_long_history_once() -> None:
    """Stride = max_len tiles the history: each item after the first is a target exactly once per epoch,
    and a history no longer than one window still gives one window."""
    seqs = _seqs([23, 4])
    objective = CausalNextItem(seqs, np.array([23, 4]), max_len=5, num_items=27, window_stride=5)
    rows, prefix = objective.examples()
    assert rows.tolist() == [0] * 5 + [1]
    assert prefix.tolist() == [23, 18, 13, 8, 3, 4]
    batches = list(objective.epoch(4, np.random.default_rng(0), bucket_pool=2))
    assert sum(len(b.users) for b in batches) == objective.num_batches(1) == 6
    targets = np.concatenate([b.targets[b.users == 1].flatten().numpy() for b in batches])
    assert sorted(targets[targets > 0].tolist()) == list(range(2, 24))


def test_window_stride_overlaps_when_shorter_than_the_window() -> None:
    seqs = _seqs([12])
    objective = CausalNextItem(seqs, np.array([12]), max_len=5, num_items=12, window_stride=2)
    assert objective.examples()[1].tolist() == [12, 10, 8, 6, 4, 2]
    batch = objective.make_batch(np.array([0, 0]), np.random.default_rng(0), np.array([12, 4]))
    assert batch.targets.tolist() == [[8, 9, 10, 11, 12], [0, 0, 2, 3, 4]]
    with pytest.raises(ValueError, match="window_stride"):
        CausalNextItem(seqs, np.array([12]), max_len=5, num_items=12, window_stride=0)


def test_masked_objective_windows_tile_the_history() -> None:
    seqs = _seqs([11])
    objective = MaskedItem(seqs, np.array([11]), max_len=4, num_items=11, mask_prob=1.0, window_stride=4)
    rows, prefix = objective.examples()
    batch = objective.make_batch(rows, np.random.default_rng(0), prefix)
    assert batch.targets.tolist() == [[8, 9, 10, 11], [4, 5, 6, 7], [0, 1, 2, 3]]
