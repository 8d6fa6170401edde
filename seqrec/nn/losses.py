"""Next-item losses over encoder states and an item table.

Every loss takes the encoder output ``hidden [B, L, D]``, the objective's ``targets [B, L]`` (0 = no
loss), optional sampled ``negatives [B, L, K]`` and the output item table ``[N + 1, D]``. Only the
positions with a target are gathered before any scoring, so padding costs nothing.

With s+ the target's logit and s-_k the negatives' logits at one position:

* ``bce``   (SASRec):  -log sigma(s+) - sum_k log(1 - sigma(s-_k))
* ``ce``    (full softmax): -log softmax(h E^T)[target], over all N items (padding column excluded);
  computed in chunks of positions whose ``[chunk, N]`` logits stay under ``CE_CHUNK_BYTES``, gradients
  formed chunk by chunk in the forward pass, so memory no longer grows as ``[T, N]`` (same loss and
  gradients, same FLOPs); over a catalogue too large for whole rows of logits, in blocks of positions
  by items with the logits formed twice (``CE_TILE_ROWS``)
* ``sampled_softmax``: -log( exp(s+) / (exp(s+) + sum_k exp(s-_k)) ), negatives equal to the target masked
* ``gbce``  (Petrov & Macdonald, RecSys 2023): -beta log sigma(s+) - sum_k log(1 - sigma(s-_k)),
  beta = alpha (t (1 - 1/alpha) + 1/alpha), alpha = K / (N - 1) the negative sampling rate.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from seqrec.nn.embeddings import take_rows

CE_CHUNK_BYTES = 8 << 20
"""Full-softmax CE: bytes one chunk's ``[chunk, N]`` logits should take (float32, or bf16 under autocast:
twice the rows). A chunk of logits stays in cache while it is normalised, turned into probabilities and
multiplied back. 8 MiB, measured on the 2-core Xeon with AMX (one SASRec batch of 1,800 targets, N = 12k
/ 24k): float32 59 / 110 ms against 59 / 123 ms at 4 MiB and 82 / 155 ms at 32 MiB; bf16 30 / 58 ms
against 36 / 76 ms at 4 MiB. (On the earlier 2-core AMD EPYC, 4 MiB took 111 ms per batch at N = 12k,
64 MiB 178 ms.) Never fewer than ``CE_MIN_ROWS`` positions, so that a huge catalogue still gets matrix
products, not vector products."""

CE_CHUNK_BYTES_GPU = 64 << 20
"""The same budget on an accelerator, where fewer, larger chunks mean fewer kernel launches (64 MiB: the
budget of the H200 peers table, 0.48 s per Beauty epoch)."""

CE_MIN_ROWS = 16
"""Fewest positions per CE chunk (at N = 1M items: 16 x 4 MB = 64 MB of float32 logits)."""

CE_TILE_ROWS = 512
"""Full-softmax CE over a catalogue so large that the budget holds fewer than ``CE_MIN_ROWS`` float32 rows
of logits (N > 131k items at 8 MiB): blocks of 512 positions by (budget / 2 KiB) items, two passes over
the items (``_tiled_ce``), in float32 even under autocast. SASRec epochs on Beauty's sequences spread
over N items, 2-core Xeon (``benchmarks/results/scaling.md``): 150 s at 300k items against 192 s with
16-row chunks, 500 s at 1M against 993 s. Below the threshold (100k items: 20 rows a chunk) whole rows
were as fast per batch, and bf16 chunks of 16-32 rows slower than float32 ones. 0: never."""

CE_ROW_QUANTUM = 32
"""CE chunks hold a multiple of this many rows (of ``rows``, where fewer), the last one padded with zero
rows: a handful of matrix shapes per catalogue, whatever the number of targets in a batch. oneDNN caches
one bf16 kernel per shape with ~2 MB of state each; with a shape per batch's target count, a 15-epoch
bf16 SASRec CE run on Beauty peaked at 1.6-2.4 GB against 0.67 GB in float32."""


CE_SYNC_FREE: bool | None = None
"""Full-softmax CE: whether a chunk's likely targets are found without a host sync, by summing every
row's other probabilities (``_target_terms_sync_free``) instead of only the likely rows'. ``None``: on
every device but the CPU."""


Weight = float | Tensor
"""A factor on a loss's mean (``training.equal_target_weights``): a number, or a device scalar (CUDA
graphs)."""


class SequenceLoss(Protocol):
    """``weight`` times the mean loss over the positions with a target."""

    def __call__(
        self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor, weight: Weight = 1.0
    ) -> Tensor: ...


def _weighted(value: Tensor, weight: Weight) -> Tensor:
    return value if isinstance(weight, float | int) and weight == 1.0 else value * weight


def _gather(
    hidden: Tensor, targets: Tensor, negatives: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The positions with a target, in row-major order: ``h [T, D]``, ``t [T]``, ``n [T, K]``.

    ``index_select`` on flat positions rather than a boolean mask: its backward adds rows into the
    gradient (``index_add_``) where a mask's scatters through ``index_put_`` with accumulation."""
    flat = targets.reshape(-1)  # [B L]
    rows = (flat > 0).nonzero().squeeze(1)  # [T]
    h = hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows)  # [T, D]
    n = negatives.reshape(-1, negatives.shape[-1]).index_select(0, rows) if negatives is not None else None
    return h, flat.index_select(0, rows), n


ELEMENTWISE_NEGATIVES = 16
"""Up to this many sampled items per position, their logits are an elementwise product of the gathered
rows summed over the width; above it, ``_SampledLogits`` (chunks of positions, nothing ``[T, K, D]``
kept). Forward and backward for 1,540 targets and 12k items on the 2-core Xeon
(``benchmarks/results/sampled_logits_xeon.md``): 0.78 against 1.62 ms at K = 1, 6.69 against 7.07 ms at
K = 16, 12.1 against 11.6 ms at K = 32, 88.2 against 29.6 ms at K = 100."""

SAMPLED_CHUNK_BYTES = 2 << 20
"""``_SampledLogits``: bytes of gathered item rows per chunk of positions (float32 ``[rows, K, D]``), so
that a chunk's rows are still in cache when they are multiplied and, in the backward pass, when their
gradient is added into the table. 2 MiB was the fastest of 1, 2 and 4 MiB or within 5% of it from K = 16
up (``benchmarks/results/sampled_logits_xeon.md``)."""


class _SampledLogits(torch.autograd.Function):
    """``logits[t, k] = h[t] . table[ids[t, k]]`` for ``h [T, D]``, ``ids [T, K]``: ``[T, K]``.

    Gathering all ``T K`` item rows at once (``take_rows``) wrote a ``[T, K, D]`` tensor that autograd
    kept for the backward pass, where its gradient, another ``[T, K, D]``, was formed and then added into
    the table: three passes over memory of that size (39 MB each for Beauty's 1,540 targets a batch at K =
    100 negatives; forward and backward took 78.6 ms there, against 29.6 ms in chunks of 2 MiB, and 112
    against 72 ms from a table of 300k items: ``benchmarks/results/sampled_logits_xeon.md``). Here
    positions go ``rows`` at a time:
    the chunk's rows are gathered into a cache-sized block (``SAMPLED_CHUNK_BYTES``) and multiplied with
    the chunk's states; the backward pass gathers them again and forms, chunk by chunk,

        dL/dh[t]     = sum_k g[t, k] table[ids[t, k]]       (one batched product)
        dL/dtable[i] += g[t, k] h[t]   for every (t, k) with ids[t, k] = i   (``index_add_``)

    Only ``h``, ``ids`` and the table (no copy) are saved. Same sums as autograd's, in float32 even under
    autocast (the product is ``T K D``: nothing for bf16 to win). ``sparse``: the table's gradient is a
    sparse tensor of the distinct rows in ``ids`` (``training.sparse_item_updates``; ``distinct_rows``),
    the same sums added into those rows alone."""

    @staticmethod
    def forward(ctx: Any, h: Tensor, table: Tensor, ids: Tensor, rows: int, sparse: bool) -> Tensor:
        dtype = torch.promote_types(torch.float32, torch.promote_types(h.dtype, table.dtype))
        hc, tc = h.to(dtype), table.to(dtype)
        out = hc.new_empty(ids.shape)  # [T, K]
        with torch.autocast(h.device.type, enabled=False):
            for s in range(0, ids.shape[0], rows):
                e = min(s + rows, ids.shape[0])
                block = take_rows(tc, ids[s:e])  # [r, K, D]
                torch.bmm(block, hc[s:e].unsqueeze(-1), out=out[s:e].unsqueeze(-1))
        ctx.save_for_backward(hc, tc, ids)
        ctx.rows, ctx.dtypes, ctx.sparse = rows, (h.dtype, table.dtype), sparse
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None, None]:
        h, table, ids = ctx.saved_tensors
        need_h, need_table = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad = grad.to(h.dtype)
        grad_h = torch.empty_like(h) if need_h else None
        grad_rows, slots, taken = None, ids, None  # the gradient's rows, and each id's row among them
        if need_table and ctx.sparse:
            taken, slots = distinct_rows(ids, table.shape[0])  # [R], [T, K]
            grad_rows = table.new_zeros(len(taken), table.shape[1])  # [R, D]
        elif need_table:
            grad_rows = torch.zeros_like(table)  # [N + 1, D]
        with torch.autocast(h.device.type, enabled=False):
            for s in range(0, ids.shape[0], ctx.rows):
                e = min(s + ctx.rows, ids.shape[0])
                if grad_h is not None:
                    block = take_rows(table, ids[s:e])  # [r, K, D]
                    torch.bmm(grad[s:e].unsqueeze(1), block, out=grad_h[s:e].unsqueeze(1))
                if grad_rows is not None:
                    added = grad[s:e].unsqueeze(-1) * h[s:e].unsqueeze(1)  # [r, K, D]: g[t, k] h[t]
                    grad_rows.index_add_(0, slots[s:e].reshape(-1), added.view(-1, h.shape[1]))
        grad_table = grad_rows
        if grad_rows is not None and taken is not None:
            grad_table = torch.sparse_coo_tensor(  # distinct rows in ascending order: coalesced
                taken.unsqueeze(0), grad_rows, table.shape, is_coalesced=True, check_invariants=False
            )
        return (
            None if grad_h is None else grad_h.to(ctx.dtypes[0]),
            None if grad_table is None else grad_table.to(ctx.dtypes[1]),
            None,
            None,
            None,
        )


def distinct_rows(ids: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """``torch.unique(ids, return_inverse=True)`` for ids below ``rows``: the distinct ids in ascending
    order ``[R]`` and each id's place among them (``ids``' shape), by marking a ``[rows]`` table instead of
    sorting the ids: a sampled softmax's batch holds over a million (256 x 50 positions, 100 negatives
    each). The catalogue sweep of ``benchmarks/results/scaling.md`` times it (``sparse updates``)."""
    seen = torch.zeros(rows, dtype=torch.bool, device=ids.device)
    seen[ids.reshape(-1)] = True
    taken = seen.nonzero().squeeze(1)  # [R], ascending
    place = torch.empty(rows, dtype=torch.long, device=ids.device)
    place[taken] = torch.arange(len(taken), device=ids.device)
    return taken, place[ids]


def sampled_chunk_rows(items_per_position: int, width: int, budget: int) -> int:
    """Positions per ``_SampledLogits`` chunk: as many float32 ``[rows, K, D]`` blocks as fit ``budget``
    bytes, at least one."""
    return max(1, budget // (4 * items_per_position * width))


def sampled_logits(h: Tensor, table: Tensor, ids: Tensor, sparse: bool = False) -> Tensor:
    """``h [T, D]`` dotted with the table rows ``ids [T, K]`` of each position: ``[T, K]``; ``sparse``: the
    table's gradient as a sparse tensor of the rows taken (``training.sparse_item_updates``)."""
    if ids.shape[1] <= ELEMENTWISE_NEGATIVES:
        return (h.unsqueeze(1) * take_rows(table, ids, sparse)).sum(-1)
    if h.device.type == "cpu":
        rows = sampled_chunk_rows(ids.shape[1], h.shape[1], SAMPLED_CHUNK_BYTES)
    else:  # one chunk: fewer kernel launches
        rows = max(1, ids.shape[0])
    return cast(Tensor, _SampledLogits.apply(h, table, ids, rows, sparse))


def _target_and_sampled_logits(
    h: Tensor, t: Tensor, n: Tensor, table: Tensor, sparse: bool
) -> tuple[Tensor, Tensor]:
    """The gathered states' logits for their targets ``[T]`` and their sampled items ``[T, K]``.

    Above ``ELEMENTWISE_NEGATIVES`` the targets go through ``sampled_logits`` with the negatives, as a
    first column: one table-sized gradient per batch instead of two added together."""
    if n.shape[1] <= ELEMENTWISE_NEGATIVES:
        return (h * take_rows(table, t, sparse)).sum(-1), sampled_logits(h, table, n, sparse)
    logits = sampled_logits(h, table, torch.cat([t.unsqueeze(1), n], dim=1), sparse)  # [T, 1 + K]
    return logits[:, 0], logits[:, 1:]


def _require(negatives: Tensor | None, name: str) -> Tensor:
    if negatives is None:
        raise ValueError(f"loss {name!r} needs sampled negatives in the batch")
    return negatives


class _SampledLoss:
    """A loss over each target and its sampled negatives. ``sparse_table``: the item table's gradient is a
    sparse tensor of the rows the batch takes (``training.sparse_item_updates``)."""

    def __init__(self, sparse_table: bool = False) -> None:
        self.sparse_table = sparse_table


class BCELoss(_SampledLoss):
    def __call__(
        self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor, weight: Weight = 1.0
    ) -> Tensor:
        h, t, n = _gather(hidden, targets, negatives)
        n = _require(n, "bce")
        pos, neg = _target_and_sampled_logits(h, t, n, table, self.sparse_table)  # [T], [T, K]
        return _weighted(-(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean(), weight)


class GBCELoss(_SampledLoss):
    def __init__(self, num_items: int, num_negatives: int, t: float, sparse_table: bool = False) -> None:
        super().__init__(sparse_table)
        alpha = num_negatives / max(num_items - 1, 1)
        self.beta = alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)

    def __call__(
        self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor, weight: Weight = 1.0
    ) -> Tensor:
        h, t, n = _gather(hidden, targets, negatives)
        n = _require(n, "gbce")
        pos, neg = _target_and_sampled_logits(h, t, n, table, self.sparse_table)  # [T], [T, K]
        return _weighted(-(self.beta * F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean(), weight)


class FullCrossEntropy:
    """Softmax over the whole catalogue, chunked over positions (see ``CE_CHUNK_BYTES``)."""

    def __init__(
        self, chunk_bytes: int | None = None, min_rows: int = CE_MIN_ROWS, tile_rows: int = CE_TILE_ROWS
    ) -> None:
        """``chunk_bytes``: the logits budget per chunk; ``None`` reads the module's budget for the device
        at call time.
        ``min_rows``: fewest positions per chunk, whatever the budget (at least 1).
        ``tile_rows``: positions per block where the budget holds fewer than ``min_rows`` float32 rows of
        logits, and the items are taken in blocks too (``CE_TILE_ROWS``; 0: never)."""
        self.chunk_bytes = chunk_bytes
        self.min_rows = max(1, min_rows)
        self.tile_rows = tile_rows

    def budget(self, device: torch.device | None = None) -> int:
        """Bytes of logits per chunk: ``chunk_bytes``, else ``CE_CHUNK_BYTES`` on the CPU and
        ``CE_CHUNK_BYTES_GPU`` elsewhere."""
        if self.chunk_bytes is not None:
            return self.chunk_bytes
        return CE_CHUNK_BYTES if device is None or device.type == "cpu" else CE_CHUNK_BYTES_GPU

    def chunk_rows(self, num_items: int, device: torch.device | None = None, itemsize: int = 4) -> int:
        """Positions per chunk: as many ``[rows, N]`` logits of ``itemsize`` bytes as fit the budget, at
        least ``min_rows``."""
        return max(self.min_rows, self.budget(device) // (itemsize * num_items))

    def tiles(self, num_items: int, device: torch.device | None = None) -> tuple[int, int] | None:
        """``(positions, items)`` per block where the catalogue is too large for whole rows (see
        ``CE_TILE_ROWS``), else ``None``."""
        budget = self.budget(device)
        if not self.tile_rows or budget // (4 * num_items) >= self.min_rows:
            return None
        return self.tile_rows, max(1, budget // (4 * self.tile_rows))

    def __call__(
        self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor, weight: Weight = 1.0
    ) -> Tensor:
        h, t, _ = _gather(hidden, targets, None)  # [T, D], [T]
        items = table[1:]  # [N, D]  (padding row 0 is not a class)
        device = h.device.type
        autocast = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        compute = autocast or torch.promote_types(h.dtype, items.dtype)  # the logits' dtype
        plan = self.tiles(items.shape[0], h.device) or self.chunk_rows(
            items.shape[0], h.device, compute.itemsize
        )
        if not torch.is_grad_enabled():  # e.g. a validation loss: no gradients to form
            return _weighted(
                _ce_sum(h, items, t - 1, plan, compute, False, False)[0] / max(h.shape[0], 1), weight
            )
        if isinstance(weight, Tensor):  # a device scalar (CUDA graphs): autograd multiplies
            return _ChunkedCrossEntropy.apply(h, table, t - 1, plan, compute, 1) * weight
        loss: Tensor = _ChunkedCrossEntropy.apply(h, table, t - 1, plan, compute, 1, float(weight))
        return loss


class DenseCrossEntropy:
    """``FullCrossEntropy``'s loss over every position of the batch at once, padding left out on the
    device: ``F.cross_entropy`` over ``[B L, N]`` logits with the positions without a target ignored.

        loss = (1 / T) sum_{targets t at positions i} -log softmax(h_i E^T)_t

    No host sync and no shape that depends on the data, so a CUDA graph can hold the whole training
    step (``seqrec.training.graphs``); the price is logits for padded positions too, and all of them at
    once (``logit_bytes``), which a GPU affords at these sizes and a CPU does not."""

    @staticmethod
    def logit_bytes(rows: int, width: int, num_items: int) -> int:
        """Bytes of float32 logits for batches of ``rows`` histories of ``width`` positions."""
        return 4 * rows * width * num_items

    def __call__(
        self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor, weight: Weight = 1.0
    ) -> Tensor:
        logits = hidden.reshape(-1, hidden.shape[-1]) @ table[1:].T  # [B L, N]
        return _weighted(F.cross_entropy(logits.float(), targets.reshape(-1) - 1, ignore_index=-1), weight)


def _ce_sum(
    h: Tensor,
    items: Tensor,
    classes: Tensor,
    plan: int | tuple[int, int],
    compute: torch.dtype,
    need_h: bool,
    need_items: bool,
    **gradients: Any,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``_chunked_ce`` with ``plan`` rows per chunk, or ``_tiled_ce`` with ``plan`` = (rows, items);
    ``gradients``: their ``grad_scale`` and ``items_grad``."""
    if isinstance(plan, tuple):
        return _tiled_ce(h, items, classes, *plan, need_h, need_items, **gradients)
    return _chunked_ce(h, items, classes, plan, compute, need_h, need_items, **gradients)


def quantized_chunk_rows(rows: int) -> int:
    """Positions per full chunk as ``_chunked_ce`` takes them: ``rows`` down to a multiple of
    ``CE_ROW_QUANTUM`` (of ``rows`` itself where fewer)."""
    return rows - rows % min(CE_ROW_QUANTUM, rows)


def _chunked_ce(
    h: Tensor,
    items: Tensor,
    classes: Tensor,
    rows: int,
    compute: torch.dtype,
    need_h: bool,
    need_items: bool,
    grad_scale: float = 1.0,
    items_grad: Tensor | None = None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Summed CE of ``h [T, D] @ items [N, D]^T`` against ``classes [T]``, chunk by chunk, with the
    gradients of that sum for ``h`` / ``items`` where asked (see ``_ChunkedCrossEntropy``), times
    ``grad_scale`` (the products' own scale). Logits, softmax and the two gradient products run in
    ``compute``; losses and gradients accumulate in at least float32, the items' gradient into
    ``items_grad`` where given (zeroed, ``[N, D]``, of that dtype; e.g. rows of a larger table's)."""
    acc = torch.promote_types(torch.float32, torch.promote_types(h.dtype, items.dtype))
    sync_free = CE_SYNC_FREE if CE_SYNC_FREE is not None else h.device.type != "cpu"
    terms = _target_terms_sync_free if sync_free else _target_terms
    grad_h = torch.empty_like(h, dtype=acc) if need_h else None  # [T, D]
    grad_items = _items_grad(items, acc, need_items, items_grad)  # [N, D]
    count = h.shape[0]
    nll = torch.empty(count, dtype=acc, device=h.device)  # [T]
    quantum = min(CE_ROW_QUANTUM, rows)
    rows = quantized_chunk_rows(rows)  # full chunks: one shape; the last: padded to a multiple of the quantum
    padded = -(-count // quantum) * quantum
    with torch.autocast(h.device.type, enabled=False):  # dtypes are explicit below
        h_c = F.pad(h.to(compute), (0, 0, 0, padded - count))  # [T', D], zero rows: no gradient
        items_c = items.to(compute)
        for start in range(0, count, rows):
            real = min(rows, count - start)  # rows of this chunk that are positions, not padding
            h_chunk = h_c[start : start + rows]  # [C, D]
            target = classes[start : start + real, None]  # [c, 1]
            probs = torch.softmax(h_chunk @ items_c.T, dim=1)  # [C, N]; reduced precision sums in float32
            nll[start : start + real], p_minus_1 = terms(probs[:real], target, acc)  # [c] each
            if grad_h is None and grad_items is None:
                continue
            probs[torch.arange(real, device=h.device), target[:, 0]] = p_minus_1.to(compute)  # P - onehot
            if grad_h is not None:
                grad_h[start : start + real] = (probs @ items_c)[:real] * grad_scale  # [c, D]
            if grad_items is not None and compute == acc:
                grad_items.addmm_(probs.T, h_chunk, alpha=grad_scale)  # += [N, D]
            elif grad_items is not None:  # no mixed-dtype addmm_ on the CPU
                grad_items.add_(probs.T @ h_chunk, alpha=grad_scale)
            del probs
        # Targets whose probability underflowed (a logit ~90 below the rest; -log P beyond -log of the
        # smallest normal number): their loss from the logits. One host sync per call, not per chunk.
        lost = (nll > -math.log(torch.finfo(compute).tiny)).nonzero()[:, 0]
        if len(lost):
            lost_logits = (h_c[lost] @ items_c.T).to(acc)  # [n, N], as the chunk formed them
            nll[lost] = torch.logsumexp(lost_logits, 1) - lost_logits.gather(1, classes[lost, None])[:, 0]
    return nll.sum(), grad_h, grad_items


def _tiled_ce(
    h: Tensor,
    items: Tensor,
    classes: Tensor,
    rows: int,
    cols: int,
    need_h: bool,
    need_items: bool,
    grad_scale: float = 1.0,
    items_grad: Tensor | None = None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``_chunked_ce`` for a catalogue too large for whole rows of logits: blocks of ``rows`` positions
    by ``cols`` items, two passes over the items per block of positions, in at least float32.

    With z_j = h . e_j the logits of one position, t its target, m the largest logit and
    L = log sum_{j != t} exp(z_j) the log-sum of the others (pass 1: m and sum_{j != t} exp(z_j - m)
    kept as running values over the item blocks, the sum rescaled when m grows; the target's logit read
    from its block and then excluded):

        loss = log(exp(z_t) + exp(L)) - z_t = softplus(L - z_t),   lse = z_t + loss
        dloss/dz_j = exp(z_j - m) exp(m - lse) for j != t,   dloss/dz_t = P_t - 1 = -sigmoid(L - z_t)

    Neither term subtracts numbers close to each other, for an almost certain target or one whose
    probability underflows. Pass 2 forms each block's logits again with -m added in the product
    (``addmm``), exponentiates them in place, writes (P_t - 1) exp(lse - m) at the targets and multiplies
    the block into both gradients; the factor exp(m - lse) is applied on the small ``[rows, D]`` side.
    Four products instead of three, but each of ``rows`` x ``cols``: a whole row of a million items is
    4 MB, so ``_chunked_ce`` is left with a few rows per chunk, products that run at a fraction of the
    machine's rate and rows that do not stay in cache.

    Not in bf16: pass 1's logits would be rounded before their log-sum (the shift that would keep them
    exact is known only after it), and every gradient inherits that error through exp(m - lse): on
    small cases it was several times ``_chunked_ce``'s error in bf16. ``grad_scale`` and ``items_grad``
    as in ``_chunked_ce``."""
    acc = torch.promote_types(torch.float32, torch.promote_types(h.dtype, items.dtype))
    grad_h = torch.empty_like(h, dtype=acc) if need_h else None  # [T, D]
    grad_items = _items_grad(items, acc, need_items, items_grad)  # [N, D]
    count, num_items = h.shape[0], items.shape[0]
    nll = torch.empty(count, dtype=acc, device=h.device)  # [T]
    blocks = [(b0, min(b0 + cols, num_items)) for b0 in range(0, num_items, cols)]
    with torch.autocast(h.device.type, enabled=False):
        h_c, items_c = h.to(acc), items.to(acc)
        for start in range(0, count, rows):
            h_chunk = h_c[start : start + rows]  # [C, D]
            target = classes[start : start + rows]  # [C]
            where = [_block_targets(target, b0, b1) for b0, b1 in blocks]  # (hit, column) per block
            z_t = torch.full((len(h_chunk),), -math.inf, dtype=acc, device=h.device)
            top = torch.full_like(z_t, -math.inf)  # m, so far
            rest = torch.zeros_like(z_t)  # sum_{j != t} exp(z_j - m), so far
            for (b0, b1), (hit, local) in zip(blocks, where, strict=True):  # pass 1
                logits = h_chunk @ items_c[b0:b1].T  # [C, M]
                new_top = torch.maximum(top, logits.amax(1))
                z = logits.gather(1, local[:, None])[:, 0]
                z_t = torch.where(hit, z, z_t)
                logits.scatter_(1, local[:, None], torch.where(hit, -math.inf, z)[:, None])
                rest = rest * torch.exp(top - new_top) + logits.sub_(new_top[:, None]).exp_().sum(1)
                top = new_top
            gap = rest.log() + top - z_t  # L - z_t
            loss = F.softplus(gap, threshold=30.0)  # [C]
            nll[start : start + rows] = loss
            if grad_h is None and grad_items is None:
                continue
            scale = torch.exp(top - z_t - loss)[:, None]  # [C, 1]: exp(m - lse)
            target_grad = -torch.sigmoid(gap) / scale[:, 0]  # P_t - 1 in pass 2's units
            scale *= grad_scale
            h_scaled = h_chunk * scale
            chunk_grad = torch.zeros_like(h_chunk)  # [C, D]
            for (b0, b1), (hit, local) in zip(blocks, where, strict=True):  # pass 2
                probs = torch.addmm(-top[:, None], h_chunk, items_c[b0:b1].T).exp_()  # [C, M]
                kept = probs.gather(1, local[:, None])[:, 0]
                probs.scatter_(1, local[:, None], torch.where(hit, target_grad, kept)[:, None])
                if grad_h is not None:
                    chunk_grad.addmm_(probs, items_c[b0:b1])
                if grad_items is not None:
                    grad_items[b0:b1].addmm_(probs.T, h_scaled)
            if grad_h is not None:
                grad_h[start : start + rows] = chunk_grad * scale
    return nll.sum(), grad_h, grad_items


def _items_grad(items: Tensor, acc: torch.dtype, need: bool, given: Tensor | None) -> Tensor | None:
    """The zeroed ``[N, D]`` buffer the items' gradient accumulates into: ``given``, or a new one."""
    if not need:
        return None
    return given if given is not None else torch.zeros_like(items, dtype=acc)


def _block_targets(target: Tensor, b0: int, b1: int) -> tuple[Tensor, Tensor]:
    """Which rows' targets fall in items ``[b0, b1)``, and their column there (0 where not): gather and
    scatter indices without a host sync."""
    hit = (target >= b0) & (target < b1)
    return hit, (target - b0).clamp_(0, b1 - b0 - 1)


def _target_terms(probs: Tensor, target: Tensor, acc: torch.dtype) -> tuple[Tensor, Tensor]:
    """Per row of a chunk, ``-log P[target]`` and ``P[target] - 1``, as exact as ``probs`` allows; the
    targets' entries of ``probs`` are left for the caller to overwrite.

    Where the target is likely (P >= 1/2) the loss and P - 1 come from the sum of the other
    probabilities, r = sum_{j != target} P_j (``-log1p(-r)`` and ``-r``), so that neither is the
    difference of two numbers close to 1 (in bf16, P = 0.999 carries an error larger than 1 - P). Only
    those rows are summed (a host sync per chunk, cheap on the CPU); ``_target_terms_sync_free`` sums
    every row instead."""
    p = probs.gather(1, target).to(acc)[:, 0]  # [c]
    nll = -p.log()
    p_minus_1 = p - 1.0
    likely = (p >= 0.5).nonzero()[:, 0]
    if len(likely):
        others = probs[likely].to(acc).scatter_(1, target[likely], 0.0)  # [n, N], the target zeroed
        rest = others.sum(1)  # [n]; not sum(P) - P[target], whose rounding near 1 can exceed r
        nll[likely] = -torch.log1p(-rest)
        p_minus_1[likely] = -rest
    return nll, p_minus_1


def _target_terms_sync_free(probs: Tensor, target: Tensor, acc: torch.dtype) -> tuple[Tensor, Tensor]:
    """``_target_terms`` without a host sync (for an accelerator, where a sync stalls the queue of
    kernels): the targets' entries of ``probs`` are zeroed in place and every row summed, one more pass
    over the chunk."""
    rows = torch.arange(probs.shape[0], device=probs.device)
    p = probs[rows, target[:, 0]].to(acc)  # [c]
    probs[rows, target[:, 0]] = 0.0
    rest = probs.sum(1, dtype=acc)  # [c]
    likely = p >= 0.5
    nll = torch.where(likely, -torch.log1p(-rest), -p.log())
    p_minus_1 = torch.where(likely, -rest, p - 1.0)
    return nll, p_minus_1


class _ChunkedCrossEntropy(torch.autograd.Function):
    """``weight`` times the mean softmax cross-entropy of ``h [T, D] @ items [N, D]^T`` against
    ``classes [T]``, one chunk of ``rows`` positions at a time, with the gradients computed in the forward
    pass; ``items`` are the rows of ``table`` from ``first`` on (the rows before it, e.g. padding, are not
    classes).

    For each chunk the logits are formed once and their softmax P gives both the loss, -log P[target],
    and dLoss/dlogits = P - onehot, written over P in place (both target terms from ``_target_terms``).
    Two matmuls turn it into the chunk's gradient for ``h`` and its share of the gradient for ``items``,
    with the mean's 1 / T (times ``weight``) as their scale. Only those gradients (``[T, D]``, and
    ``[N + first, D]`` for the whole table, its first rows zero: the sizes autograd would produce anyway)
    are kept for the backward pass, which hands them on as they are for an incoming gradient of 1
    (``loss.backward()`` on the CPU; a batch's weight is already in the scale) and scales them otherwise:
    no ``[T, N]`` tensor is ever alive, nothing is recomputed, and the table's
    gradient takes no pass of its own (a slice's backward would write it into a zeroed table-sized
    tensor, and a scale one more pass). Under autocast (``compute`` = bf16) the logits, softmax and
    products run in bf16 with float32 accumulation, twice as many rows per chunk, and AMX where the CPU
    has it. ``plan``: rows per chunk, or (rows, items) per block for ``_tiled_ce``.
    """

    @staticmethod
    def forward(
        ctx: Any,
        h: Tensor,
        table: Tensor,
        classes: Tensor,
        plan: int | tuple[int, int],
        compute: torch.dtype,
        first: int,
        weight: float = 1.0,
    ) -> Tensor:
        need_h, need_table = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        acc = torch.promote_types(torch.float32, torch.promote_types(h.dtype, table.dtype))
        grad_table = torch.zeros_like(table, dtype=acc) if need_table else None  # [N + first, D]
        count = max(h.shape[0], 1)
        total, grad_h, _ = _ce_sum(
            h,
            table[first:],
            classes,
            plan,
            compute,
            need_h,
            need_table,
            grad_scale=weight / count,
            items_grad=None if grad_table is None else grad_table[first:],
        )
        ctx.save_for_backward(*(g for g in (grad_h, grad_table) if g is not None))
        ctx.need = (need_h, need_table)
        ctx.dtypes = (h.dtype, table.dtype)
        return total * (weight / count)

    @staticmethod
    def backward(
        ctx: Any, grad_out: Tensor
    ) -> tuple[Tensor | None, Tensor | None, None, None, None, None, None]:
        saved = iter(ctx.saved_tensors)
        unit = grad_out.device.type == "cpu" and float(grad_out) == 1.0  # no host sync on the CPU
        grads: list[Tensor | None] = []
        for need, dtype in zip(ctx.need, ctx.dtypes, strict=True):
            g = next(saved) if need else None
            grads.append(None if g is None else (g if unit else g * grad_out).to(dtype))  # 0-dim: g's dtype
        return grads[0], grads[1], None, None, None, None, None


class SampledSoftmax(_SampledLoss):
    """Softmax cross-entropy over each target and its K sampled items; a sampled item equal to the target
    (an accidental hit) is left out. With ``log_q`` (``[N + 1]``, log q(i) of the sampler's draws, or one
    number where every item has the same: ``training.logq_correction``) each sampled item's logit is
    corrected for how often it is drawn,

        s'(j) = h . e_j - log(K q(j))   for the K sampled j;   the target's logit h . e_t as it is
        loss  = -log( exp s(t) / (exp s(t) + sum_j exp s'(j)) )

    so that ``sum_j exp s'(j)`` is the importance-sampling estimate of the other items' share of the full
    softmax's normaliser, and the loss's gradient estimates the full softmax's (Bengio & Senecal 2008;
    Blanc & Rendle, ICML 2018). Uniform draws are corrected too (by log(N / K)): without it a sampled
    softmax weighs K negatives as if they were the whole catalogue."""

    def __init__(self, sparse_table: bool = False, log_q: Tensor | float | None = None) -> None:
        super().__init__(sparse_table)
        self.log_q = log_q

    def __call__(
        self, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor, weight: Weight = 1.0
    ) -> Tensor:
        h, t, n = _gather(hidden, targets, negatives)
        n = _require(n, "sampled_softmax")
        pos, neg = _target_and_sampled_logits(h, t, n, table, self.sparse_table)  # [T], [T, K]
        if isinstance(self.log_q, Tensor):
            if self.log_q.device != h.device:
                self.log_q = self.log_q.to(h.device)
            neg = neg - (self.log_q[n] + math.log(n.shape[1]))  # s'(j) = s(j) - log(K q(j))
        elif self.log_q is not None:  # the same q for every item: no gather
            neg = neg - (self.log_q + math.log(n.shape[1]))
        neg = neg.masked_fill(n == t[:, None], float("-inf"))
        logits = torch.cat([pos[:, None], neg], dim=1)  # [T, 1 + K]
        return _weighted(F.cross_entropy(logits, torch.zeros_like(t)), weight)


def make_loss(
    name: str,
    *,
    num_items: int,
    num_negatives: int,
    gbce_t: float = 0.75,
    sparse_table: bool = False,
    log_q: Tensor | float | None = None,
) -> SequenceLoss:
    """The loss ``name``; ``sparse_table``: a sampled loss whose item-table gradient is sparse; ``log_q``:
    the sampled softmax's logQ correction (``SampledSoftmax``)."""
    if sparse_table and name not in ("bce", "sampled_softmax", "gbce"):
        raise ValueError(f"loss {name!r} scores every item: its table gradient is dense")
    if log_q is not None and name != "sampled_softmax":
        raise ValueError(f"the logQ correction is for the sampled softmax, not {name!r}")
    if name == "bce":
        return BCELoss(sparse_table)
    if name == "ce":
        return FullCrossEntropy()
    if name == "sampled_softmax":
        return SampledSoftmax(sparse_table, log_q)
    if name == "gbce":
        return GBCELoss(num_items, num_negatives, gbce_t, sparse_table)
    raise ValueError(f"unknown loss {name!r}: expected bce, ce, sampled_softmax or gbce")


def group_cosine_loss(first: Tensor, second: Tensor, labels: Tensor, margin: float = 0.0) -> Tensor:
    """SAS-FPT's group-wise loss over user pairs: ``sum_pos (1 - cos) + sum_neg max(0, cos - margin)``.

    ``first``, ``second``: ``[P, D]`` embeddings of each pair's two users; ``labels``: ``[P]``, +1 for a
    positive pair (same group), -1 for a negative one. PyTorch's ``cosine_embedding_loss`` with
    ``reduction="sum"``; a zero vector has cosine 0 with anything.
    """
    cos = F.cosine_similarity(first, second, dim=-1, eps=1e-8)  # [P]
    positive = (1.0 - cos) * (labels > 0)  # [P]
    negative = (cos - margin).clamp(min=0.0) * (labels < 0)  # [P]
    return (positive + negative).sum()
