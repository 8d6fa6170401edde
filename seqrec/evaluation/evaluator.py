"""Leave-one-out / temporal evaluation, full-catalogue or sampled, batched and without per-user loops.

Protocols:
* ``full``: the held-out item is ranked against the whole catalogue. With ``filter_seen`` every item of
  the user's input history is removed from the ranking first, exactly as ``recommend`` does.
* ``sampled``: the held-out item is ranked against ``num_negatives`` items the user never interacted with,
  drawn uniformly (SASRec paper) or by popularity (BERT4Rec paper), from a fixed seed.
Ties count against the model (a constant scorer gets no credit).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from seqrec.config import EvaluationConfig
from seqrec.data.dataset import SequenceDataset
from seqrec.data.negatives import NegativeSampler
from seqrec.evaluation.metrics import coverage, metrics_from_ranks
from seqrec.evaluation.ranking import (
    ITEM_BLOCK_MIN,
    count_dtype,
    full_histories,
    history_batch,
    mask_items,
    pessimistic_rank,
    ranks_in_item_blocks,
    uses_item_blocks,
)
from seqrec.models.base import SequenceModel
from seqrec.runtime import bar_disable

Protocol = Literal["full", "sampled"]

SCORE_ROWS = 256
"""Users scored against the whole catalogue at a time: their ``[256, N + 1]`` float32 scores (12 MB at
N = 12k) stay in cache while they are masked, ranked and (for coverage) cut to the top K. On the 2-core
Xeon (2 MB of L2 per core, a large shared L3), S3-Rec Beauty, 4 alternating rounds: a SASRec full-ranking
pass 0.440 s against 0.496 s with 128 rows (1.13x; with coverage 1.05x; BERT4Rec 1.13x;
``benchmarks/results/ab_score-rows-256-beauty.md``). 128 had been chosen on the earlier AMD EPYC."""


@torch.no_grad()
def evaluate(
    model: SequenceModel,
    data: SequenceDataset,
    cfg: EvaluationConfig,
    *,
    part: str = "test",
    protocol: Protocol = "full",
    device: torch.device | None = None,
    progress: bool = False,
    max_len: int | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on the validation or test targets of ``data``; returns a flat record."""
    device = device or next(model.parameters()).device
    max_len = max_len or int(getattr(model, "max_len", 200))
    positions = data.split.targets(part)
    rows = np.flatnonzero(positions >= 0)
    if len(rows) == 0:
        raise ValueError(f"no users have a {part} target")
    was_training = model.training
    model.eval()
    seqs = data.sequences
    ks = sorted(set(cfg.ks))
    ranks = np.empty(len(rows), dtype=np.int64)
    covered = {k: np.zeros(data.num_items + 1, dtype=bool) for k in ks}
    sampler = NegativeSampler(seqs, data.num_items, kind=cfg.sampler) if protocol == "sampled" else None
    rng = np.random.default_rng(cfg.seed)
    # users in order of history length: a batch pads (and encodes) only to its own longest history
    order = np.argsort(np.minimum(positions[rows], max_len), kind="stable")
    table = model.item_table() if sampler is None else None  # [N + 1, D], built once
    axis = 1 if cfg.coverage else 0  # the item axis of a block of scores
    item_blocks = table is not None and uses_item_blocks(data.num_items)
    if table is not None:  # one block of scores and of comparisons, reused (views for the last, short one)
        rows_at_once = ITEM_BLOCK_MIN - 1 if item_blocks else SCORE_ROWS  # the few users left whole
        block_scores = torch.empty(len(table) * rows_at_once, dtype=table.dtype, device=table.device)
        block_flags = torch.empty(
            len(table) * rows_at_once, dtype=count_dtype(len(table)), device=table.device
        )
    top_k = min(ks[-1], data.num_items) if cfg.coverage else 0
    batches = range(0, len(rows), cfg.batch_size)
    for i in tqdm(batches, desc=f"eval {part} ({protocol})", disable=bar_disable(progress), leave=False):
        at = order[i : i + cfg.batch_size]  # positions in ``rows`` / ``ranks``
        chunk = rows[at]
        ends = positions[chunk]
        batch = history_batch(seqs, chunk, ends, max_len).to(device)
        targets = torch.from_numpy(seqs.items[seqs.offsets[chunk] + ends]).to(device)  # [B]
        if table is not None:
            states = model.user_state(batch)  # [B, D]
            seen = full_histories(seqs, chunk, ends) if cfg.filter_seen else None
            for j in range(0, len(chunk), SCORE_ROWS):  # a block of scores stays in cache
                block = slice(j, j + SCORE_ROWS)
                b = len(chunk[block])
                top: torch.Tensor | None = None  # [b, K] with coverage
                if item_blocks and b >= ITEM_BLOCK_MIN:
                    user_seen = seen[block] if seen is not None else None
                    r, top = ranks_in_item_blocks(
                        states[block], table, targets[block], user_seen, top_k, axis == 0
                    )
                else:
                    # [b, N + 1] when the top K is needed (topk along rows), else [N + 1, b]: faster to make
                    shape = (b, len(table)) if axis == 1 else (len(table), b)
                    cells = b * len(table)  # of the reused blocks, this block's leading part
                    out = block_scores[:cells].view(shape)
                    scores = model.score_states(states[block], table, item_major=axis == 0, out=out).float()
                    if seen is not None:
                        mask_items(scores, seen[block], item_dim=axis)
                    target_scores = scores.gather(axis, targets[block].unsqueeze(axis)).squeeze(axis)  # [b]
                    r = pessimistic_rank(scores, target_scores, axis, block_flags[:cells].view(shape))
                    if cfg.coverage:
                        top = scores.topk(top_k, dim=1).indices
                ranks[at[block]] = r.cpu().numpy()
                if top is not None:
                    best = top.cpu().numpy()
                    for k in ks:
                        covered[k][best[:, :k].ravel()] = True
        else:
            assert sampler is not None
            negatives = torch.from_numpy(sampler.sample(chunk, cfg.num_negatives, rng)).to(device)  # [B, C]
            candidates = torch.cat([targets[:, None], negatives], dim=1)  # [B, 1 + C]
            scores = model.score_candidates(batch, candidates).float()  # [B, 1 + C]
            ranks[at] = pessimistic_rank(scores, scores[:, 0]).cpu().numpy()
    model.train(was_training)

    record: dict[str, Any] = {
        "split": part,
        "protocol": protocol,
        "filter_seen": cfg.filter_seen if protocol == "full" else "negatives exclude all of the user's items",
        "users": len(rows),
    }
    if protocol == "sampled":
        record.update(num_negatives=cfg.num_negatives, sampler=cfg.sampler, eval_seed=cfg.seed)
    record.update(metrics_from_ranks(ranks, ks))
    if protocol == "full" and cfg.coverage:
        for k in ks:
            record[f"Coverage@{k}"] = coverage(covered[k], data.num_items)
    return record
