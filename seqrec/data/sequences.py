"""Per-user interaction sequences in CSR form, and the train / validation / test split.

``Sequences`` stores every user's items in time order as one flat array plus offsets:
user row ``r`` (internal user id ``r + 1``) owns ``items[offsets[r]:offsets[r + 1]]``.

``Split`` says, per user row, how much of the sequence training may read (``train_end``, a length
from the start of the row) and where the validation and test targets are (``valid_pos``,
``test_pos``; positions within the row, ``-1`` when the user has none). The input history of a
target at position ``p`` is everything before ``p``. Training never reads past ``train_end``, which
is at most the validation position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sequences:
    offsets: np.ndarray  # [U + 1] int64
    items: np.ndarray  # [nnz] int64, internal item ids >= 1
    timestamps: np.ndarray  # [nnz] int64

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or self.offsets[0] != 0 or self.offsets[-1] != len(self.items):
            raise ValueError("offsets must start at 0 and end at len(items)")
        if len(self.timestamps) != len(self.items):
            raise ValueError("timestamps and items must have the same length")

    @property
    def num_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def row(self, r: int) -> np.ndarray:
        return self.items[self.offsets[r] : self.offsets[r + 1]]

    def row_ids(self) -> np.ndarray:
        """The user row of every interaction, [nnz]."""
        return np.repeat(np.arange(self.num_users, dtype=np.int64), self.lengths)


@dataclass(frozen=True)
class Split:
    train_end: np.ndarray  # [U] number of leading interactions training may read
    valid_pos: np.ndarray  # [U] position of the validation target within the row, -1 if none
    test_pos: np.ndarray  # [U] position of the test target within the row, -1 if none
    kind: str

    def targets(self, which: str) -> np.ndarray:
        if which == "valid":
            return self.valid_pos
        if which == "test":
            return self.test_pos
        raise ValueError(f"unknown split part {which!r}: expected 'valid' or 'test'")


def leave_one_out(seqs: Sequences) -> Split:
    """Validation = second-to-last item, test = last item. Users with fewer than 3 items only train."""
    n = seqs.lengths
    has_eval = n >= 3
    train_end = np.where(has_eval, n - 2, n)
    valid_pos = np.where(has_eval, n - 2, -1)
    test_pos = np.where(has_eval, n - 1, -1)
    return Split(
        train_end.astype(np.int64), valid_pos.astype(np.int64), test_pos.astype(np.int64), "leave_one_out"
    )


def temporal_split(seqs: Sequences, valid_fraction: float, test_fraction: float) -> Split:
    """One global time cut for validation and one for test, at time quantiles of all interactions.

    Training reads every interaction at or before the validation cut. A user's validation target is
    their first interaction after the validation cut and at or before the test cut; the test target is
    their first interaction after the test cut. A target needs at least one earlier interaction.
    """
    ts = seqs.timestamps
    t_valid = np.quantile(ts, 1.0 - valid_fraction - test_fraction, method="lower")
    t_test = np.quantile(ts, 1.0 - test_fraction, method="lower")
    rows = seqs.row_ids()
    u = seqs.num_users
    # rows are time-ordered, so the interactions at or before a cut are a prefix of each row
    first_valid = np.bincount(rows, weights=ts <= t_valid, minlength=u).astype(np.int64)
    first_test = np.bincount(rows, weights=ts <= t_test, minlength=u).astype(np.int64)
    n = seqs.lengths
    valid_pos = np.where((first_valid < first_test) & (first_valid >= 1), first_valid, -1)
    test_pos = np.where((first_test < n) & (first_test >= 1), first_test, -1)
    return Split(first_valid, valid_pos.astype(np.int64), test_pos.astype(np.int64), "temporal")
