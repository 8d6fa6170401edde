"""Batched scoring helpers shared by the evaluator and the recommender, so both rank identically."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from seqrec.data.batch import SequenceBatch
from seqrec.data.batching import batch_width, windows
from seqrec.data.sequences import Sequences


def history_batch(seqs: Sequences, rows: np.ndarray, ends: np.ndarray, max_len: int) -> SequenceBatch:
    """Histories ``items[start:end]`` of user ``rows`` (``ends`` relative to each row's start)."""
    starts = seqs.offsets[rows]
    abs_ends = starts + ends
    width = batch_width(starts, abs_ends, max_len)
    return SequenceBatch(
        items=torch.from_numpy(windows(seqs.items, starts, abs_ends, width)),
        users=torch.from_numpy(rows.astype(np.int64) + 1),
        timestamps=torch.from_numpy(windows(seqs.timestamps, starts, abs_ends, width)),
    )


def full_histories(seqs: Sequences, rows: np.ndarray, ends: np.ndarray) -> Tensor:
    """Every item before ``ends`` for each row, left-padded with 0: ``[B, max history]``."""
    starts = seqs.offsets[rows]
    abs_ends = starts + ends
    width = int(max(1, (abs_ends - starts).max(initial=1)))
    return torch.from_numpy(windows(seqs.items, starts, abs_ends, width))


def mask_items(scores: Tensor, items: Tensor, item_dim: int = 1) -> Tensor:
    """Set user b's scores of ``items[b, j]`` to -inf, in place; ``scores`` is ``[B, N + 1]``, or
    ``[N + 1, B]`` with ``item_dim=0``. Index 0 is padding and already -inf."""
    index = items.to(scores.device)
    return scores.scatter_(item_dim, index if item_dim == 1 else index.T, float("-inf"))


def count_dtype(num_items: int) -> torch.dtype:
    """The float type that counts up to ``num_items`` exactly (float32 below 2^24 items)."""
    return torch.float32 if num_items < 2**24 else torch.float64


def pessimistic_rank(
    scores: Tensor, target_scores: Tensor, item_dim: int = 1, flags: Tensor | None = None
) -> Tensor:
    """0-based rank of each target: items scored higher, plus ties other than the target itself.

    ``scores`` is ``[B, N + 1]``, or ``[N + 1, B]`` with ``item_dim=0``; ``target_scores`` is ``[B]``.
    The comparison is written as 0.0 / 1.0 of ``count_dtype(N + 1)`` and summed as floats, which is exact
    and cheaper than summing a bool mask, which first copies it into integers (a ``[12k, 128]`` block on
    the 2-core CPU: 0.3-0.4 ms against 1.6 ms; end to end ``benchmarks/results/ab_float-rank-count.md``).
    ``flags``: a tensor of the scores' shape and that dtype to hold the comparison (reused across blocks,
    it saves allocating and first touching a fresh one each time)."""
    n = scores.shape[item_dim]
    dtype = count_dtype(n)
    if flags is None:
        flags = torch.empty(scores.shape, dtype=dtype, device=scores.device)
    elif flags.dtype != dtype:
        raise ValueError(f"flags must be {dtype} to count {n} items exactly, got {flags.dtype}")
    t = target_scores.unsqueeze(item_dim)  # [B, 1] or [1, B]
    # one pass: higher ones and ties, less the target itself
    return torch.ge(scores, t, out=flags).sum(item_dim).long() - 1


ITEM_BLOCK_MIN = 16
"""Fewest users and items in a block of ``item_block_scores`` (below, the BLAS may sum differently)."""

SCORE_ITEMS = 16384
"""Items scored at a time where a catalogue has more than twice as many (``uses_item_blocks``): a block of
256 users' scores then takes 16 MiB instead of 4 MB per user (1 GB at a million items, and as much again
for the comparisons). The evaluator's ranks and the recommender's top K are gathered block by block, the
same as from whole rows. The catalogue sweep of ``benchmarks/results/scaling.md`` measures both."""


def uses_item_blocks(num_items: int, users: int = ITEM_BLOCK_MIN) -> bool:
    """Whether ``users`` rows of scores over ``num_items + 1`` items are formed ``SCORE_ITEMS`` at a time."""
    return num_items + 1 > 2 * SCORE_ITEMS and users >= ITEM_BLOCK_MIN


def item_block_bounds(num: int, cols: int) -> list[tuple[int, int]]:
    """``[b0, b1)`` blocks of ``cols`` of ``num`` items; a remainder narrower than ``cols // 2`` joins the
    last block."""
    starts = list(range(0, num, cols))
    if len(starts) > 1 and num - starts[-1] < cols // 2:
        starts.pop()
    return list(zip(starts, [*starts[1:], num], strict=True))


def item_block_scores(
    states: Tensor, table: Tensor, seen: Tensor | None, cols: int, item_major: bool
) -> Iterator[tuple[int, Tensor]]:
    """The scores of ``states [b, D]`` against ``table [N + 1, D]``, ``cols`` items at a time
    (``item_block_bounds``): ``(b0, scores)`` with scores ``[M, b]`` (``item_major``) or ``[b, M]`` for the
    items ``b0 .. b0 + M``, the padding item and each row's ``seen [b, H]`` items (0 = padding) at -inf, as
    ``mask_items`` sets them. Every block is written into the same buffer: use it before asking for the
    next.

    Each block holds the very values that one ``[b, N + 1]`` product holds, as long as the BLAS sums each
    score's D terms the same way in both: so it does on the CPU for products of at least ~16 rows and
    columns (MKL; tiny ones take another path), checked in the tests. Hence at least ``ITEM_BLOCK_MIN``
    users and items per block, and no last block narrower than ``cols // 2``."""
    if min(len(states), cols) < ITEM_BLOCK_MIN:
        raise ValueError(f"blocks of {len(states)} users by {cols} items: at least {ITEM_BLOCK_MIN} of each")
    bounds = item_block_bounds(len(table), cols)
    if seen is not None:
        seen = seen.to(states.device)
    widest = max(b1 - b0 for b0, b1 in bounds)
    buffer = torch.empty(widest * len(states), dtype=states.dtype, device=states.device)
    axis = 0 if item_major else 1
    for b0, b1 in bounds:
        part = table[b0:b1]
        cells = buffer[: (b1 - b0) * len(states)]
        if item_major:  # [M, b]
            scores = torch.mm(part, states.T, out=cells.view(b1 - b0, len(states)))
        else:  # [b, M]
            scores = torch.mm(states, part.T, out=cells.view(len(states), b1 - b0))
        if b0 == 0:
            scores.select(axis, 0).fill_(float("-inf"))  # padding
        if seen is not None:
            _mask_block(scores, seen, b0, b1, axis)
        yield b0, scores


def merge_top_k(
    best: tuple[Tensor, Tensor] | None, values: Tensor, items: Tensor, k: int
) -> tuple[Tensor, Tensor]:
    """Each row's ``k`` best of the lists so far (``best``: scores and items ``[b, <= k]``) and of new
    ones (``values`` and ``items``, a block's own top ``k``), best first."""
    if best is None:  # the first block's lists, already its top k
        return values, items
    values, items = torch.cat([best[0], values], 1), torch.cat([best[1], items], 1)
    values, pick = values.topk(min(k, values.shape[1]), dim=1)
    return values, items.gather(1, pick)


def top_k_in_item_blocks(
    states: Tensor,
    table: Tensor,
    seen: Tensor | None,
    k: int,
    allowed: Tensor | None = None,
    cols: int | None = None,
) -> tuple[Tensor, Tensor]:
    """``scores.topk(k)`` of each row of ``states [b, D]`` against ``table [N + 1, D]`` with the padding
    and ``seen [b, H]`` items at -inf, and with ``allowed [N + 1]`` (bool) the items it forbids too; the
    scores formed ``cols`` (default ``SCORE_ITEMS``) items at a time (``item_block_scores``), so that memory
    holds ``[b, cols]`` of them however large the catalogue. Returns scores and items, ``[b, k]`` each."""
    best: tuple[Tensor, Tensor] | None = None
    for b0, scores in item_block_scores(states, table, seen, cols or SCORE_ITEMS, item_major=False):
        if allowed is not None:
            scores.masked_fill_(~allowed[b0 : b0 + scores.shape[1]], float("-inf"))
        values, index = scores.topk(min(k, scores.shape[1]), dim=1)
        best = merge_top_k(best, values, index + b0, k)
    assert best is not None
    return best


def ranks_in_item_blocks(
    states: Tensor,
    table: Tensor,
    targets: Tensor,
    seen: Tensor | None,
    top_k: int = 0,
    item_major: bool = True,
    cols: int | None = None,
) -> tuple[Tensor, Tensor | None]:
    """``pessimistic_rank`` of ``targets [b]`` among the whole ``table [N + 1, D]`` for ``states [b, D]``,
    the scores formed ``cols`` (default ``SCORE_ITEMS``) items at a time (``item_block_scores``), so that a
    block of scores stays in cache however large the catalogue (a whole row of a million items is 4 MB).
    With ``seen [b, H]`` (0 = padding) those items score -inf first, the target too where it is among them
    (as ``mask_items`` does); with ``top_k`` also each row's ``top_k`` best items (indices ``[b, top_k]``),
    merged block by block.

    Each block's cells are compared with the targets' scores as a product of that block's shape forms
    them (``target_scores_like_blocks``), so an item whose vector equals the target's ties with it, and
    each count leaves out the target's own cell as its block holds it: the ranks equal those of one
    ``[b, N + 1]`` block. ``item_major``: blocks as ``[cols, b]`` (``table @ states.T``), faster to form
    when no top K is needed."""
    num = table.shape[0]
    cols = cols or SCORE_ITEMS
    item_major = item_major and not top_k  # a top K is taken along rows
    if seen is not None:
        seen = seen.to(states.device)
    bounds = item_block_bounds(num, cols)
    target_scores = target_scores_like_blocks(
        states, table, targets, {b1 - b0 for b0, b1 in bounds}, item_major
    )
    if seen is not None:
        for t in target_scores.values():
            t[(seen == targets[:, None]).any(1)] = float("-inf")
    axis = 0 if item_major else 1
    counts = torch.zeros(len(targets), dtype=torch.long, device=states.device)
    best: tuple[Tensor, Tensor] | None = None  # each row's top K so far: scores, items
    widest = max(b1 - b0 for b0, b1 in bounds)
    flags = torch.empty(widest * len(targets), dtype=count_dtype(num), device=states.device)  # reused
    for b0, scores in item_block_scores(states, table, seen, cols, item_major):
        width = scores.shape[axis]
        cells = flags[: scores.numel()].view(scores.shape)
        counts += pessimistic_rank(scores, target_scores[width], axis, cells) + 1  # items scored at least t
        own = cells.gather(axis, (targets - b0).clamp(0, width - 1).unsqueeze(axis)).squeeze(axis)  # [b]
        counts -= (own * ((targets >= b0) & (targets < b0 + width))).long()  # the target's own cell
        if top_k:
            values, index = scores.topk(min(top_k, scores.shape[1]), dim=1)
            best = merge_top_k(best, values, index + b0, top_k)
    return counts, best[1] if best is not None else None


SHAPE_FREE_SUMS = ("cpu",)
"""Device types whose BLAS sums a score's terms in the same order in every product of at least
``ITEM_BLOCK_MIN`` rows and columns (``target_scores_like_blocks``)."""


def target_scores_like_blocks(
    states: Tensor, table: Tensor, targets: Tensor, widths: set[int], item_major: bool
) -> dict[int, Tensor]:
    """The scores of ``targets [b]`` for ``states [b, D]``, for each block width M of
    ``item_block_scores``: as a product of that block's shape (``[M, b]``, or ``[b, M]``) forms them.

    A BLAS picks its kernel, and with it the order in which a score's D terms are summed, by the
    product's shape: cuBLAS gave a ``[b, b]`` product's diagonal one ulp off a ``[16, 256]`` block's cells
    on an H100, enough to lose an exact tie with an item whose vector equals the target's. On the CPU
    (MKL) every product of at least ``ITEM_BLOCK_MIN`` rows and columns sums alike (``SHAPE_FREE_SUMS``):
    one ``[b, b]`` product serves every width. Elsewhere the targets' vectors take the place of a block's
    items (groups of up to M users, zero rows after them), one product per width and group."""
    b = len(states)
    vectors = table[targets]  # [b, D]
    if states.device.type in SHAPE_FREE_SUMS:
        diagonal = torch.mm(states, vectors.T).diagonal().clone()  # [b]
        return dict.fromkeys(widths, diagonal)
    out: dict[int, Tensor] = {}
    for m in widths:
        t = states.new_empty(b)
        rows = vectors.new_zeros(m, vectors.shape[1])  # [M, D]
        for g0 in range(0, b, m):
            n = min(m, b - g0)
            rows[:n] = vectors[g0 : g0 + n]
            if item_major:
                t[g0 : g0 + n] = torch.mm(rows, states.T)[:n, g0 : g0 + n].diagonal()
            else:
                t[g0 : g0 + n] = torch.mm(states, rows.T)[g0 : g0 + n, :n].diagonal()
        out[m] = t
    return out


def _mask_block(scores: Tensor, seen: Tensor, b0: int, b1: int, axis: int) -> None:
    """``mask_items`` for the items ``[b0, b1)`` of a block of scores: -inf at the seen ones that fall in
    it. The others are clamped into the block and reduce with +inf (``amin``), which leaves any cell as
    it is, even one that a seen item of the block shares: no host sync, no lost mask."""
    inside = (seen >= b0) & (seen < b1)  # [b, H]
    index = (seen - b0).clamp_(0, b1 - b0 - 1)
    values = torch.where(inside, float("-inf"), float("inf")).to(scores.dtype)
    if axis == 0:
        index, values = index.T, values.T
    scores.scatter_reduce_(axis, index, values, reduce="amin")
