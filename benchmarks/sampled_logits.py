"""Sampled losses' logits: every target's K item rows gathered at once, against chunks of positions.

    python -m benchmarks.sampled_logits [--repeats 20] [--threads 2] [--name sampled_logits]

Times one forward and backward pass (gradients for the states and the whole item table) of
``logits[t, k] = h[t] . table[ids[t, k]]`` for a SASRec batch on Beauty (1,540 targets, width 64) with K
items per target drawn uniformly from a table of N rows, three ways:

* ``gathered``: the code before ``_SampledLogits``: the ``[T, K, D]`` rows gathered at once
  (``take_rows``) and autograd doing the rest, with an elementwise product summed over the width up to 16
  items per target and ``einsum`` above;
* ``elementwise``: the gathered rows, elementwise product and sum at every K (what ``sampled_logits``
  does up to ``ELEMENTWISE_NEGATIVES``);
* ``chunked``: ``seqrec.nn.losses._SampledLogits`` with ``chunk_mib`` of gathered rows per chunk (what
  ``sampled_logits`` does above ``ELEMENTWISE_NEGATIVES``, at ``SAMPLED_CHUNK_BYTES``).

Each case reports the medians, ``gathered / chunked`` (above 1, the chunks are faster) and the largest
difference of the gradients between the chunks and the gathered rows. This is the measurement behind
``ELEMENTWISE_NEGATIVES`` and ``SAMPLED_CHUNK_BYTES``. Writes ``benchmarks/results/<name>.{json,md}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from benchmarks.common import kernel_benchmark, median_seconds
from seqrec.nn import losses
from seqrec.nn.embeddings import take_rows

TARGETS = 1540
"""Targets in a SASRec batch of 256 Beauty histories (128,031 an epoch over 88 batches, length-bucketed)."""

WIDTH = 64
CASES = [(k, 12102) for k in (1, 4, 8, 16, 32, 100, 256)] + [(100, 300_000), (100, 1_000_000)]
"""(items per target K, table rows N): Beauty's catalogue, and the catalogue sweep's larger ones."""

CHUNK_MIB = (1, 2, 4)


def gathered(h: Tensor, table: Tensor, ids: Tensor) -> Tensor:
    """The logits as computed before ``_SampledLogits``."""
    items = take_rows(table, ids)  # [T, K, D]
    if ids.shape[1] <= losses.ELEMENTWISE_NEGATIVES:
        return (h.unsqueeze(1) * items).sum(-1)
    return torch.einsum("td,tkd->tk", h, items)


def elementwise(h: Tensor, table: Tensor, ids: Tensor) -> Tensor:
    return (h.unsqueeze(1) * take_rows(table, ids)).sum(-1)


def chunked(mib: int) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    def logits(h: Tensor, table: Tensor, ids: Tensor) -> Tensor:
        rows = losses.sampled_chunk_rows(ids.shape[1], h.shape[1], mib << 20)
        out: Tensor = losses._SampledLogits.apply(h, table, ids, rows, False)
        return out

    return logits


def gradients(
    fn: Callable[[Tensor, Tensor, Tensor], Tensor], h: Tensor, table: Tensor, ids: Tensor, grad: Tensor
) -> tuple[Tensor, ...]:
    return torch.autograd.grad(fn(h, table, ids), (h, table), grad)


def time_cases(
    repeats: int, cases: list[tuple[int, int]] = CASES, targets: int = TARGETS, width: int = WIDTH
) -> list[dict[str, Any]]:
    records = []
    gen = torch.Generator().manual_seed(0)
    for k, n in cases:
        h = torch.randn(targets, width, generator=gen, requires_grad=True)
        table = torch.randn(n, width, generator=gen, requires_grad=True)
        ids = torch.randint(1, n, (targets, k), generator=gen)
        grad = torch.randn(targets, k, generator=gen)
        ways = {"gathered": gathered, "elementwise": elementwise}
        ways.update({f"chunked_{mib}mib": chunked(mib) for mib in CHUNK_MIB})
        record: dict[str, Any] = {"items_per_target": k, "table_rows": n, "targets": targets}
        for name, fn in ways.items():
            step = functools.partial(gradients, fn, h, table, ids, grad)
            record[f"{name}_ms"] = 1e3 * median_seconds(step, repeats, warmup=2)
        best = min(CHUNK_MIB, key=lambda mib: record[f"chunked_{mib}mib_ms"])
        record["fastest_chunk_mib"] = best
        record["gathered / chunked_2mib"] = record["gathered_ms"] / record["chunked_2mib_ms"]
        want, got = gradients(gathered, h, table, ids, grad), gradients(chunked(2), h, table, ids, grad)
        record["max_abs_diff"] = max((a - b).abs().max().item() for a, b in zip(want, got, strict=True))
        records.append(record)
        print(record, flush=True)
    return records


def main() -> None:
    kernel_benchmark(
        __doc__,
        name="sampled_logits",
        repeats=20,
        time_cases=time_cases,
        columns=[
            "items_per_target",
            "table_rows",
            "gathered_ms",
            "elementwise_ms",
            *(f"chunked_{mib}mib_ms" for mib in CHUNK_MIB),
            "fastest_chunk_mib",
            "gathered / chunked_2mib",
            "max_abs_diff",
        ],
        title="Sampled losses' logits: gathered at once vs chunks",
        timed="forward and backward passes",
        sizes=f"{TARGETS} targets of width {WIDTH}",
    )


if __name__ == "__main__":
    main()
