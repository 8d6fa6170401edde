"""Training objectives live on the data side: each turns user rows into a ``TrainBatch``.

An objective decides which positions carry a loss and what their targets are; the model only encodes
and scores. Everything here is vectorised NumPy over the whole batch (no loop per sample).

* ``CausalNextItem`` (SASRec, SSE-PT, TiSASRec, SAS-FPT): at every position t of the (left-padded)
  training window, predict item t+1, so one sequence gives up to ``max_len`` training positions in one
  pass. Options: Stochastic Shared Embeddings on items and users and random windows (SSE-PT / SSE-PT++).
* ``MaskedItem`` (BERT4Rec): the cloze objective, predict the items at randomly chosen positions.
* Any objective can attach user pairs for a group-wise user loss (SAS-FPT): ``UserPairs``.
* An epoch is a set of windows (``Objective.examples``): by default one per user, ending at its last
  training item (as in the SASRec and BERT4Rec papers); ``window_stride`` adds earlier windows so that
  long histories are trained on in full (BERT4Rec's released code slides a window the same way).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch

from seqrec.data.batch import TrainBatch
from seqrec.data.batching import batch_width, windows
from seqrec.data.negatives import NegativeSampler
from seqrec.data.sequences import Sequences


@dataclass(frozen=True)
class PairedTrainBatch(TrainBatch):
    """A training batch plus user pairs for a group-wise user-embedding loss (SAS-FPT)."""

    user_pairs: torch.Tensor | None = None  # [P, 2] long, internal user ids
    pair_labels: torch.Tensor | None = None  # [P] float, +1 = positive pair, -1 = negative pair


class UserPairs(ABC):
    """Draws, for anchor user rows, a positive and a negative partner (user rows, vectorised)."""

    max_rounds = 20
    """Redraw rounds for partners that break the definition; anchors still without one get no pair."""

    @abstractmethod
    def positives(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(anchors, partners)`` for the anchors that have a positive partner."""

    @abstractmethod
    def negatives(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(anchors, partners)`` for the anchors that have a negative partner."""

    def sample(self, rows: np.ndarray, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` anchors drawn from ``rows``: pairs ``[P, 2]`` (internal user ids) and labels ``[P]``."""
        anchors = rows[rng.integers(0, len(rows), size=n)]
        pos_a, pos_b = self.positives(anchors, rng)
        neg_a, neg_b = self.negatives(anchors, rng)
        pairs = np.stack([np.concatenate([pos_a, neg_a]), np.concatenate([pos_b, neg_b])], axis=1) + 1
        labels = np.concatenate([np.ones(len(pos_a)), -np.ones(len(neg_a))]).astype(np.float32)
        return torch.from_numpy(pairs.astype(np.int64)), torch.from_numpy(labels)


class DemographicPairs(UserPairs):
    """Positive: a user of the same group (e.g. same gender and age band); negative: another group.

    ``groups[r]`` is the group code of user row ``r`` (``-1``: unknown, never paired).
    """

    def __init__(self, groups: np.ndarray) -> None:
        self.groups = groups.astype(np.int64)
        known = np.flatnonzero(self.groups >= 0)
        self.order = known[np.argsort(self.groups[known], kind="stable")]  # rows sorted by group
        ordered = self.groups[self.order]
        self.start = np.searchsorted(ordered, self.groups, side="left")  # [U] first slot of the group
        self.size = np.searchsorted(ordered, self.groups, side="right") - self.start  # [U]
        self.slot = np.zeros(len(self.groups), dtype=np.int64)  # [U] own slot in ``order``
        self.slot[self.order] = np.arange(len(self.order))

    @classmethod
    def from_metadata(cls, user_meta: pl.DataFrame | None, attributes: Sequence[str]) -> DemographicPairs:
        """Group codes from user metadata aligned with internal ids (row i = user i + 1)."""
        if user_meta is None:
            raise ValueError(
                "pair_definition 'demographic' needs user metadata (e.g. MovieLens users.dat); this "
                "dataset has none: use pair_definition 'co_interaction'"
            )
        missing = [a for a in attributes if a not in user_meta.columns]
        if missing:
            raise ValueError(
                f"pair_attributes {missing} are not user metadata columns (columns: {user_meta.columns})"
            )
        cols = [pl.col(a) for a in attributes]
        key = pl.concat_str([c.cast(pl.String) for c in cols], separator="\x1f")
        codes = user_meta.select(
            pl.when(pl.any_horizontal([c.is_null() for c in cols])).then(None).otherwise(key).alias("k")
        )["k"]
        groups = codes.rank("dense").fill_null(0).to_numpy().astype(np.int64) - 1
        return cls(groups)

    def positives(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        a = anchors[(self.groups[anchors] >= 0) & (self.size[anchors] >= 2)]
        j = (rng.random(len(a)) * (self.size[a] - 1)).astype(np.int64)  # [0, size - 2]
        j += j >= self.slot[a] - self.start[a]  # skip the anchor itself
        return a, self.order[self.start[a] + j]

    def negatives(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        a = anchors[self.groups[anchors] >= 0]
        if not len(self.order):
            return a[:0], a[:0]
        b = self.order[rng.integers(0, len(self.order), size=len(a))]
        bad = np.flatnonzero(self.groups[b] == self.groups[a])
        for _ in range(self.max_rounds):
            if not len(bad):
                break
            b[bad] = self.order[rng.integers(0, len(self.order), size=len(bad))]
            bad = bad[self.groups[b[bad]] == self.groups[a[bad]]]
        ok = self.groups[b] != self.groups[a]
        return a[ok], b[ok]


class CoInteractionPairs(UserPairs):
    """Relative to a random training item x of the anchor: positive = another user who had x,
    negative = a user who never had x (training prefixes only)."""

    def __init__(self, sequences: Sequences, train_end: np.ndarray, num_items: int) -> None:
        rows = sequences.row_ids()
        position = np.arange(len(sequences.items), dtype=np.int64) - sequences.offsets[rows]
        keep = position < train_end[rows]
        items, rows = sequences.items[keep], rows[keep]
        order = np.lexsort((rows, items))  # by item, then user row
        self.holders = rows[order]  # [nnz] user rows, grouped by item
        self.item_start = np.searchsorted(items[order], np.arange(num_items + 2))  # [N + 2]
        self.sequences = sequences
        self.train_end = train_end
        self.num_items = num_items
        self.num_users = sequences.num_users
        self._keys = np.unique(rows * (num_items + 1) + items)

    def _had(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = rows * (self.num_items + 1) + items
        pos = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        return self._keys[pos] == keys

    def _anchor_items(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        a = anchors[self.train_end[anchors] >= 1]
        pick = (rng.random(len(a)) * self.train_end[a]).astype(np.int64)
        return a, self.sequences.items[self.sequences.offsets[a] + pick]

    def positives(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        a, x = self._anchor_items(anchors, rng)
        start, count = self.item_start[x], self.item_start[x + 1] - self.item_start[x]

        def draw(idx: np.ndarray) -> np.ndarray:
            return self.holders[start[idx] + (rng.random(len(idx)) * count[idx]).astype(np.int64)]

        b = draw(np.arange(len(a)))
        bad = np.flatnonzero(b == a)
        for _ in range(self.max_rounds):
            if not len(bad):
                break
            b[bad] = draw(bad)
            bad = bad[b[bad] == a[bad]]
        ok = b != a
        return a[ok], b[ok]

    def negatives(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        a, x = self._anchor_items(anchors, rng)
        b = rng.integers(0, self.num_users, size=len(a))
        bad = np.flatnonzero(self._had(b, x))
        for _ in range(self.max_rounds):
            if not len(bad):
                break
            b[bad] = rng.integers(0, self.num_users, size=len(bad))
            bad = bad[self._had(b[bad], x[bad])]
        ok = ~self._had(b, x)
        return a[ok], b[ok]


class Objective(ABC):
    """Builds training batches from the training prefix of each user's sequence."""

    name: str = ""

    def __init__(
        self,
        sequences: Sequences,
        train_end: np.ndarray,
        *,
        max_len: int,
        num_items: int,
        sampler: NegativeSampler | None = None,
        num_negatives: int = 0,
        user_pairs: UserPairs | None = None,
        num_pairs: int = 0,
        window_stride: int | None = None,
    ) -> None:
        """``user_pairs`` / ``num_pairs``: attach ``num_pairs`` anchors' user pairs to every batch.

        ``window_stride``: ``None`` gives one training window per user, ending at its last training item;
        ``N`` adds windows ending ``N``, ``2N``, ... items earlier (down to a prefix of two items), so a
        long history is trained on in full every epoch (``N = max_len``: each item is a target once).
        """
        if window_stride is not None and window_stride < 1:
            raise ValueError(f"window_stride must be a positive number of items, got {window_stride}")
        self.sequences = sequences
        self.train_end = train_end
        self.max_len = max_len
        self.num_items = num_items
        self.sampler = sampler
        self.num_negatives = num_negatives if sampler is not None else 0
        self.user_pairs = user_pairs if num_pairs > 0 else None
        self.num_pairs = num_pairs
        self.window_stride = window_stride

    def make_batch(
        self, rows: np.ndarray, rng: np.random.Generator, prefix: np.ndarray | None = None
    ) -> TrainBatch:
        """The batch of windows that end after the first ``prefix[i]`` items of user row ``rows[i]``
        (``None``: after each row's last training item)."""
        return self._windows_batch(rows, self.train_end[rows] if prefix is None else prefix, rng)

    @abstractmethod
    def _windows_batch(self, rows: np.ndarray, prefix: np.ndarray, rng: np.random.Generator) -> TrainBatch:
        """``make_batch`` with every window's prefix length given."""

    def eligible_rows(self) -> np.ndarray:
        """Rows with at least two training interactions (one input, one target)."""
        return np.flatnonzero(self.train_end >= 2)

    def examples(self) -> tuple[np.ndarray, np.ndarray]:
        """One epoch's windows as (user row, prefix length): each eligible row's whole training prefix,
        and with ``window_stride`` N also the prefixes N, 2N, ... items shorter that keep two items."""
        rows = self.eligible_rows()
        prefix = self.train_end[rows]
        if self.window_stride is None:
            return rows, prefix
        count = (prefix - 2) // self.window_stride + 1  # windows per row
        first = np.cumsum(count) - count  # index of each row's first window
        k = np.arange(int(count.sum())) - np.repeat(first, count)  # 0, 1, ... within each row
        return np.repeat(rows, count), np.repeat(prefix, count) - k * self.window_stride

    def epoch(
        self, batch_size: int, rng: np.random.Generator, *, bucket_pool: int = 0
    ) -> Iterator[TrainBatch]:
        """Every window of ``examples()`` once, in shuffled batches.

        With ``bucket_pool > 1``, rows are shuffled, cut into pools of ``bucket_pool`` batches, sorted by
        training length inside each pool, cut into batches, and the batches are shuffled: a batch holds
        histories of similar length, so it pads (and computes) far less.
        """
        rows, prefix = self.examples()
        order = rng.permutation(len(rows))
        if bucket_pool > 1:
            lengths = np.minimum(prefix[order], self.max_len + 1)
            pool = np.arange(len(order)) // (batch_size * bucket_pool)
            order = order[np.lexsort((lengths, pool))]
        starts = np.arange(0, len(order), batch_size)
        if bucket_pool > 1:
            starts = rng.permutation(starts)
        for i in starts:
            pick = order[i : i + batch_size]
            yield self.make_batch(rows[pick], rng, prefix[pick])

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self.examples()[0]) // batch_size)

    def _negatives(
        self, rows: np.ndarray, targets: np.ndarray, rng: np.random.Generator
    ) -> torch.Tensor | None:
        if self.sampler is None or self.num_negatives == 0:
            return None
        b, length = targets.shape
        has_target = targets.reshape(-1) > 0  # [B*L]: draws only where a loss reads them
        neg = np.zeros((b * length, self.num_negatives), dtype=np.int64)
        owners = np.repeat(rows, length)[has_target]  # [T]: the user row of each target
        neg[has_target] = self.sampler.sample(owners, self.num_negatives, rng)  # [T, K]
        return torch.from_numpy(neg.reshape(b, length, self.num_negatives))  # [B, L, K], 0 elsewhere

    def _finish(
        self,
        rows: np.ndarray,
        rng: np.random.Generator,
        *,
        items: np.ndarray,
        users: np.ndarray,
        timestamps: np.ndarray,
        targets: np.ndarray,
    ) -> TrainBatch:
        """Negatives for every target, then the batch (with user pairs when configured)."""
        batch = TrainBatch(
            items=torch.from_numpy(items),
            users=torch.from_numpy(users),
            timestamps=torch.from_numpy(timestamps),
            targets=torch.from_numpy(targets),
            negatives=self._negatives(rows, targets, rng),
        )
        if self.user_pairs is None:
            return batch
        pairs, labels = self.user_pairs.sample(rows, self.num_pairs, rng)
        return PairedTrainBatch(**vars(batch), user_pairs=pairs, pair_labels=labels)


class CausalNextItem(Objective):
    """Next item at every position (SASRec): inputs s_1..s_{n-1}, targets s_2..s_n.

    Options (all off by default, SSE-PT's regularisers when on):

    * ``sse_item_prob`` (SSE on items): each real input position is hit with this probability; its
      input item and its target are replaced by independent uniform random items. The new input is
      also the target of the position before, so the window stays one shifted sequence. This is the
      authors' sampler (wuliwei9278/SSE-PT ``sampler.py`` lines 33-35, keep probability
      ``threshold_item`` = 1 - ``sse_item_prob``).
    * ``sse_user_prob`` (SSE on users): the batch's user id is replaced by a uniform random user
      (``sampler.py`` lines 44-45, ``threshold_user`` = 1 - ``sse_user_prob``).
    * ``window_prob`` (SSE-PT++): a history longer than the window (``max_len + 1`` items with the last
      target) ends at a uniformly random position instead of its last training item.
    Negatives are drawn against the real user's items either way.
    """

    name = "causal"

    def __init__(
        self,
        sequences: Sequences,
        train_end: np.ndarray,
        *,
        sse_item_prob: float = 0.0,
        sse_user_prob: float = 0.0,
        window_prob: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(sequences, train_end, **options)
        self.sse_item_prob = sse_item_prob
        self.sse_user_prob = sse_user_prob
        self.window_prob = window_prob

    def _window_ends(self, rows: np.ndarray, length: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Absolute end of each window of ``length`` items (SSE-PT++: random for long histories)."""
        starts = self.sequences.offsets[rows]
        if self.window_prob <= 0:
            return starts + length
        full = self.max_len + 1
        pick = (length > full) & (rng.random(len(rows)) < self.window_prob)
        random_end = full + (rng.random(len(rows)) * (length - full + 1)).astype(np.int64)
        return starts + np.where(pick, random_end, length)

    def _windows_batch(self, rows: np.ndarray, prefix: np.ndarray, rng: np.random.Generator) -> TrainBatch:
        starts = self.sequences.offsets[rows]
        ends = self._window_ends(rows, prefix, rng)
        width = batch_width(starts, ends - 1, self.max_len)
        seq = windows(self.sequences.items, starts, ends, width + 1)  # [B, L+1]
        ts = windows(self.sequences.timestamps, starts, ends, width + 1)  # [B, L+1]
        inputs, targets = seq[:, :-1], seq[:, 1:]  # [B, L] each
        if self.sse_item_prob > 0:
            hit = (rng.random(inputs.shape) < self.sse_item_prob) & (inputs > 0)  # [B, L]
            inputs = np.where(hit, rng.integers(1, self.num_items + 1, size=inputs.shape), inputs)
            targets = np.concatenate([inputs[:, 1:], seq[:, -1:]], axis=1)  # [B, L] shifted, after SSE
            targets = np.where(hit, rng.integers(1, self.num_items + 1, size=inputs.shape), targets)
        targets = np.where(inputs > 0, targets, 0)
        users = rows + 1
        if self.sse_user_prob > 0:
            hit_user = rng.random(len(rows)) < self.sse_user_prob  # [B]
            users = np.where(hit_user, rng.integers(1, self.sequences.num_users + 1, size=len(rows)), users)
        return self._finish(rows, rng, items=inputs, users=users, timestamps=ts[:, :-1], targets=targets)


class MaskedItem(Objective):
    """The cloze objective of BERT4Rec (Sun et al., CIKM 2019) over the last ``max_len`` training items.

    Each real position is chosen with probability ``mask_prob`` (rows where none is chosen get one
    uniformly random real position). A chosen position's input becomes the mask token
    (``num_items + 1``) with probability 0.8, a uniform random item with 0.1, and stays as it is with
    0.1; its target is the original item. Unchosen positions carry no loss (target 0).

    With probability ``mask_last_prob`` a window is instead one of the paper's samples "that only mask
    the last item in the input sequences" (section 3.6: training that matches next-item prediction,
    where inference appends [MASK] after the history): its last item becomes [MASK] and is its only
    target. The authors' data generation adds one such copy of each window to ten cloze copies
    (``dupe_factor`` 10, so 1/11 of the samples); RecBole 1.2.1 makes a batch one of them with
    probability ``ft_ratio`` = 0.5.
    """

    name = "masked"

    def __init__(
        self,
        sequences: Sequences,
        train_end: np.ndarray,
        *,
        mask_prob: float = 0.15,
        mask_last_prob: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(sequences, train_end, **options)
        if not 0 < mask_prob <= 1:
            raise ValueError(f"mask_prob must lie in (0, 1], got {mask_prob}")
        if not 0 <= mask_last_prob <= 1:
            raise ValueError(f"mask_last_prob must lie in [0, 1], got {mask_last_prob}")
        self.mask_prob = mask_prob
        self.mask_last_prob = mask_last_prob
        self.mask_token = self.num_items + 1

    def _windows_batch(self, rows: np.ndarray, prefix: np.ndarray, rng: np.random.Generator) -> TrainBatch:
        starts = self.sequences.offsets[rows]
        ends = starts + prefix
        width = batch_width(starts, ends, self.max_len)
        seq = windows(self.sequences.items, starts, ends, width)  # [B, L]
        ts = windows(self.sequences.timestamps, starts, ends, width)  # [B, L]
        valid = seq > 0  # [B, L]
        # windows that mask only their last item (left-padded: the last column); no draw when off, so
        # that a pure cloze run keeps its random stream
        last = np.zeros(len(rows), dtype=bool)
        if self.mask_last_prob > 0:
            last = (rng.random(len(rows)) < self.mask_last_prob) & valid[:, -1]  # [B]
        chosen = (rng.random(seq.shape) < self.mask_prob) & valid & ~last[:, None]  # [B, L]
        lengths = valid.sum(1)  # [B]
        fallback = width - 1 - (rng.random(len(rows)) * lengths).astype(np.int64)  # a real position
        empty = np.flatnonzero(~chosen.any(1) & (lengths > 0) & ~last)
        chosen[empty, fallback[empty]] = True
        action = rng.random(seq.shape)  # [B, L]
        inputs = np.where(chosen & (action < 0.8), self.mask_token, seq)
        replace = chosen & (action >= 0.8) & (action < 0.9)
        inputs = np.where(replace, rng.integers(1, self.num_items + 1, size=seq.shape), inputs)
        inputs[last, -1] = self.mask_token  # always [MASK], as at inference
        chosen[last, -1] = True
        targets = np.where(chosen, seq, 0)
        return self._finish(rows, rng, items=inputs, users=rows + 1, timestamps=ts, targets=targets)


OBJECTIVES: dict[str, type[Objective]] = {CausalNextItem.name: CausalNextItem, MaskedItem.name: MaskedItem}
