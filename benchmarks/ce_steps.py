"""Where the full-softmax CE spends its time: each step of one chunk, timed on its own, against the
matrix-multiply peak.

    python -m benchmarks.ce_steps [--targets 1500] [--items 12101 23715] [--hidden 64] [--dtype float32]
                                  [--budgets 4 8 16 32] [--repeats 30] [--name ce_steps]

``seqrec.nn.losses._chunked_ce`` forms a chunk's logits, their softmax, the loss terms of the targets,
P - onehot in place, and the two gradient products (for the states and for the item table). This times
those steps on one full chunk (``FullCrossEntropy.chunk_rows`` positions, the CPU budget) of ``--targets``
random states against a catalogue of ``--items`` (S3-Rec Beauty has 12,101, the SASRec Games file
23,715; a Beauty batch of 256 users holds about 1,500 targets), scales them to the batch's number of
chunks, and times the whole call on the batch next to them (the difference is the loop's own overhead),
then the whole call with chunks of each of ``--budgets`` MiB of logits.
Matrix steps report GFLOP/s (multiply-adds counted twice) and their share of a ``torch.mm`` peak measured
in the same run (``benchmarks.hardware.matmul_gflops``, in ``--dtype``). Writes
``benchmarks/results/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor

from benchmarks.common import environment, median_seconds, write_results
from benchmarks.hardware import matmul_gflops
from seqrec.nn.losses import (
    CE_CHUNK_BYTES,
    FullCrossEntropy,
    _chunked_ce,
    _target_terms,
    quantized_chunk_rows,
)
from seqrec.runtime import RuntimeOptions


def _batch(targets: int, items: int, hidden: int, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """Random states ``[T, D]``, item table ``[N, D]`` and target classes ``[T]``."""
    g = torch.Generator().manual_seed(0)
    h = (0.1 * torch.randn(targets, hidden, generator=g)).to(dtype)
    table = (0.1 * torch.randn(items, hidden, generator=g)).to(dtype)
    return h, table, torch.randint(0, items, (targets,), generator=g)


def _rows(items: int, dtype: torch.dtype, budget: int | None = None) -> int:
    """Positions per chunk as ``_chunked_ce`` takes them from ``FullCrossEntropy`` (a batch with fewer
    targets is one chunk)."""
    return quantized_chunk_rows(
        FullCrossEntropy(chunk_bytes=budget).chunk_rows(items, itemsize=dtype.itemsize)
    )


def time_budgets(
    targets: int, items: int, hidden: int, dtype: torch.dtype, repeats: int, budgets: list[int]
) -> list[dict[str, Any]]:
    """The whole call (both gradients) with each chunk budget in ``budgets`` (bytes of logits)."""
    h, table, classes = _batch(targets, items, hidden, dtype)
    records = []
    for budget in budgets:
        rows = _rows(items, dtype, budget)
        seconds = median_seconds(partial(_chunked_ce, h, table, classes, rows, dtype, True, True), repeats)
        records.append(
            {
                "step": f"whole call, {budget >> 20} MiB",
                "ms": 1e3 * seconds,
                "rows_per_chunk": min(rows, targets),
                "chunks": math.ceil(targets / rows),
            }
        )
    return records


def time_steps(
    targets: int, items: int, hidden: int, dtype: torch.dtype, repeats: int
) -> list[dict[str, Any]]:
    """One record per step (milliseconds per batch of ``targets``, GFLOP/s for the products), then the
    whole call (``step`` = ``whole call``)."""
    h, table, classes = _batch(targets, items, hidden, dtype)
    full = _rows(items, dtype)
    chunks = math.ceil(targets / full)
    rows = min(full, targets)  # the chunk timed: a full one, or the whole batch
    acc = torch.float32
    chunk, target = h[:rows], classes[:rows, None]  # [C, D], [C, 1]
    logits = chunk @ table.T  # [C, N]
    probs = torch.softmax(logits, dim=1)
    arange = torch.arange(rows)
    grad_items = torch.zeros(items, hidden, dtype=acc)
    p_minus_1 = _target_terms(probs, target, acc)[1].to(dtype)
    product = 2.0 * rows * items * hidden
    # the gradient for the items accumulates in float32: a mixed-dtype addmm_ is not available on the CPU
    steps: list[tuple[str, float, Callable[[], Any]]] = [
        ("logits", product, lambda: chunk @ table.T),
        ("softmax", 0.0, lambda: torch.softmax(logits, dim=1)),
        ("target terms", 0.0, lambda: _target_terms(probs, target, acc)),
        ("P - onehot", 0.0, lambda: probs.index_put_((arange, target[:, 0]), p_minus_1)),
        ("grad states", product, lambda: probs @ table),
        (
            "grad items",
            product,
            (lambda: grad_items.addmm_(probs.T, chunk))
            if dtype == acc
            else (lambda: grad_items.add_(probs.T @ chunk)),
        ),
    ]
    records: list[dict[str, Any]] = []
    with torch.no_grad():
        for name, flops, step in steps:
            seconds = chunks * median_seconds(step, repeats)
            record: dict[str, Any] = {"step": name, "ms": 1e3 * seconds}
            if flops:
                record["gflop"] = chunks * flops / 1e9
                record["gflops_per_s"] = chunks * flops / seconds / 1e9
            records.append(record)
        whole = median_seconds(partial(_chunked_ce, h, table, classes, full, dtype, True, True), repeats)
    total = sum(r["ms"] for r in records)
    for r in records:
        r["share"] = r["ms"] / total
    gflop = 3 * 2.0 * targets * items * hidden / 1e9
    records.append({"step": "whole call", "ms": 1e3 * whole, "gflop": gflop, "gflops_per_s": gflop / whole})
    for r in records:
        r.update(rows_per_chunk=rows, chunks=chunks)
    return records


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", type=int, default=1500)
    p.add_argument("--items", type=int, nargs="+", default=[12101, 23715])
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument(
        "--budgets",
        type=int,
        nargs="*",
        default=[4, 8, 16, 32],
        help="MiB of logits per chunk to time the whole call at",
    )
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--name", default="ce_steps", help="results file name under benchmarks/results")
    a = p.parse_args()
    RuntimeOptions(threads=a.threads).apply()  # as a fit runs: threads, malloc's retained memory
    dtype = getattr(torch, a.dtype)
    peak, _, _ = matmul_gflops(torch.device("cpu"), dtype, 1024, 10, 5.0)
    env = environment()
    records: list[dict[str, Any]] = []
    for items in a.items:
        for r in time_steps(a.targets, items, a.hidden, dtype, a.repeats):
            r.update(env, items=items, targets=a.targets, hidden=a.hidden, dtype=a.dtype, repeats=a.repeats)
            if "gflops_per_s" in r:
                r["share_of_peak"] = r["gflops_per_s"] / peak
            records.append(r)
        for r in time_budgets(a.targets, items, a.hidden, dtype, a.repeats, [mb << 20 for mb in a.budgets]):
            records.append(dict(r, **env, items=items, targets=a.targets, hidden=a.hidden, dtype=a.dtype))
    records.append(dict(env, step=f"matmul peak (torch.mm 1024, {a.dtype})", gflops_per_s=peak))
    columns = [
        "items",
        "step",
        "ms",
        "share",
        "gflop",
        "gflops_per_s",
        "share_of_peak",
        "rows_per_chunk",
        "chunks",
    ]
    notes = (
        f"{a.targets} targets, hidden {a.hidden}, {a.dtype}, {a.threads} threads; medians of {a.repeats} "
        "calls. "
        "`ms`: per batch (a chunk's time times the batch's chunks). `share`: of the steps' total. "
        "`whole call`: `_chunked_ce` on the whole batch with both gradients, its GFLOP/s counting the three "
        "products. `whole call, M MiB`: the same with chunks of M MiB of logits (the module's budget: "
        f"{CE_CHUNK_BYTES >> 20} MiB)."
    )
    write_results(a.name, records, columns, "Full-softmax CE, step by step", __doc__ + notes)


if __name__ == "__main__":
    main()
