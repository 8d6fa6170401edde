"""Where an inference pass spends its time: each step of SASRec's first block, timed on its own.

    python -m benchmarks.inference_steps [--batch 512] [--length 50] [--hidden 64] [--heads 2] [--repeats 30]
                                         [--name inference_steps]

At inference the last block computes one position per history (``MultiHeadSelfAttention.one_query``), so
on long histories a full-ranking pass is mostly the first block over every position. This times that
block step by step, as ``SASRecBlock.forward`` runs them in eval mode without gradients, on ``--batch``
full histories of ``--length`` (the evaluator's default batch; ML-1M head histories mostly fill 50), and
the last block's one query on the same batch. Matrix steps report GFLOP/s (multiply-adds counted twice),
next to a ``torch.mm`` peak measured in the same run (``benchmarks.hardware.matmul_gflops``). The
attention step is the one the block takes on this CPU: the heads-last blocks without AVX-512, PyTorch's
fused kernel (heads read through transposed views, the output copied back to the projections' layout) with
it (``seqrec.nn.attention.heads_last_inference``).
Writes ``benchmarks/results/<name>.{json,md}`` (``inference_steps`` unless ``--name``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import environment, median, write_results
from benchmarks.hardware import matmul_gflops
from seqrec.nn.attention import SASRecEncoder, attend_cpu_inference, attention_mask, heads_last_inference


def _attention(heads: int) -> Callable[..., torch.Tensor]:
    """The block's inference attention on ``[B, L, D]`` projections: ``[B, L, D]`` out."""

    def step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = q.shape
        return attend_cpu_inference(*(t.view(b, n, heads, d // heads) for t in (q, k, v)), mask)

    return step


def time_steps(batch: int, length: int, hidden: int, heads: int, repeats: int) -> list[dict[str, Any]]:
    """One record per step: median milliseconds over ``repeats`` and, for matrix steps, GFLOP/s."""
    torch.manual_seed(0)
    encoder = SASRecEncoder(hidden, 2, heads, 0.2, hidden).eval()
    first, last = encoder.blocks
    x = torch.randn(batch, length, hidden)
    valid = torch.ones(batch, length, dtype=torch.bool)
    b, n, d, dh = batch, length, hidden, hidden // heads
    projection = 2 * b * n * d * d
    # (name, FLOPs, the earlier steps it reads, the step): each result is freed after its last reader, as
    # in the forward pass, so that allocations and caches behave as they do there
    steps: list[tuple[str, float, tuple[str, ...], Callable[..., Any]]] = [
        ("mask", 0, (), lambda: attention_mask(valid, causal=True)),
        ("attn_norm", 0, (), lambda: first.attn_norm(x)),
        ("q", projection, ("attn_norm",), first.attn.q),
        ("k", projection, (), lambda: F.linear(x, first.attn.k.weight)),  # no bias: softmax cancels it
        ("v", projection, (), lambda: first.attn.v(x)),
        (
            "attention",
            4 * b * heads * n * n * dh,
            ("q", "k", "v", "mask"),
            _attention(heads),
        ),
        ("residual", 0, ("attn_norm", "attention"), torch.add),
        ("ffn_norm", 0, ("residual",), first.ffn_norm),
        ("fc1", projection, ("ffn_norm",), first.ffn.fc1),
        ("relu", 0, ("fc1",), F.relu),
        ("fc2", projection, ("relu",), first.ffn.fc2),
        ("ffn_residual", 0, ("ffn_norm", "fc2"), torch.add),
        ("last_block", 0, ("ffn_residual", "mask"), lambda h, m: last(h, m, queries=1)),
    ]
    last_read = {key: i for i, (_, _, reads, _) in enumerate(steps) for key in reads}
    times: dict[str, list[float]] = {name: [] for name, _, _, _ in steps}
    with torch.no_grad():
        for round_ in range(repeats + 1):  # the first round warms up
            state: dict[str, Any] = {}
            for i, (name, _, reads, step) in enumerate(steps):
                t0 = time.perf_counter()
                state[name] = step(*(state[key] for key in reads))
                if round_:
                    times[name].append(time.perf_counter() - t0)
                for key in reads:
                    if last_read[key] == i:
                        del state[key]
    records = []
    for name, flops, _, _ in steps:
        seconds = median(times[name])
        record: dict[str, Any] = {"step": name, "ms": 1e3 * seconds}
        if flops:
            record["gflop"] = flops / 1e9
            record["gflops_per_s"] = flops / seconds / 1e9
        records.append(record)
    total = sum(r["ms"] for r in records)
    for r in records:
        r["share"] = r["ms"] / total
    return records


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--length", type=int, default=50)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--name", default="inference_steps", help="results file name under benchmarks/results")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    peak, _, _ = matmul_gflops(torch.device("cpu"), torch.float32, 1024, 10, 5.0)
    records = time_steps(a.batch, a.length, a.hidden, a.heads, a.repeats)
    env = environment()
    for r in records:
        r.update(env, batch=a.batch, length=a.length, hidden=a.hidden, heads=a.heads, repeats=a.repeats)
        if "gflops_per_s" in r:
            r["share_of_peak"] = r["gflops_per_s"] / peak
    records.append(dict(env, step="matmul peak (torch.mm 1024)", gflops_per_s=peak))
    columns = ["step", "ms", "share", "gflop", "gflops_per_s", "share_of_peak"]
    notes = (
        f"{a.batch} histories of {a.length}, hidden {a.hidden}, {a.heads} heads, {a.threads} threads; "
        f"medians of {a.repeats} rounds. `share`: of the steps' total time. `last_block`: the second "
        "block on one position per history (its keys not projected). `attention`: "
        + ("the heads-last blocks." if heads_last_inference() else "PyTorch's fused kernel (AVX-512).")
    )
    write_results(a.name, records, columns, "SASRec inference, step by step", __doc__ + notes)


if __name__ == "__main__":
    main()
