"""CPU inference attention: the heads-last blocks against PyTorch's fused kernel, on the same inputs.

    python -m benchmarks.attention_kernels [--repeats 40] [--threads 2] [--name attention_kernels]

Times ``seqrec.nn.attention.attend_heads_last`` (the projections' ``[B, L, H, d_h]`` layout read in place,
cache-sized blocks of histories, head by head) and ``attend_views`` (PyTorch's fused kernel on transposed
views of the same tensors, its output copied back to ``[B, L, D]``: ``MultiHeadSelfAttention``'s general
path), without gradients, for causal (SASRec) and bidirectional (BERT4Rec) masks, several
batch sizes and lengths, 2 heads of 32, a quarter of the histories a third padding. Each case reports
both medians, their ratio (heads-last / fused: above 1, the fused kernel is faster) and the largest
absolute difference of the outputs. ``seqrec.nn.attention.HEADS_LAST_INFERENCE`` picks the path from
the CPU's capability; this is the measurement behind it. Writes ``benchmarks/results/<name>.{json,md}``.
"""

from __future__ import annotations

from typing import Any

import torch

from benchmarks.common import kernel_benchmark, median_seconds
from seqrec.nn.attention import attend_heads_last, attend_views, attention_mask

CASES = [(512, 50), (256, 50), (64, 50), (512, 10), (512, 20), (512, 64), (128, 200)]
"""(histories, length) per case; 512 histories of 50 is the evaluator's batch on the ML-1M head."""


def _median_ms(fn: Any, args: tuple[Any, ...], repeats: int) -> float:
    return 1e3 * median_seconds(lambda: fn(*args), repeats, warmup=5)


def time_cases(repeats: int, heads: int = 2, head_dim: int = 32) -> list[dict[str, Any]]:
    records = []
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for causal in (True, False):
            for batch, length in CASES:
                q, k, v = (torch.randn(batch, length, heads, head_dim, generator=gen) for _ in range(3))
                valid = torch.ones(batch, length, dtype=torch.bool)
                valid[: batch // 4, : length // 3] = False  # left padding, as histories are
                mask = attention_mask(valid, causal)
                blocks = _median_ms(attend_heads_last, (q, k, v, mask), repeats)
                kernel = _median_ms(attend_views, (q, k, v, mask, 0.0), repeats)
                diff = (
                    (attend_heads_last(q, k, v, mask) - attend_views(q, k, v, mask, 0.0)).abs().max().item()
                )
                records.append(
                    {
                        "causal": causal,
                        "histories": batch,
                        "length": length,
                        "heads_last_ms": blocks,
                        "fused_ms": kernel,
                        "heads_last / fused": blocks / kernel,
                        "max_abs_diff": diff,
                    }
                )
    return records


def main() -> None:
    kernel_benchmark(
        __doc__,
        name="attention_kernels",
        repeats=40,
        time_cases=time_cases,
        columns=[
            "causal",
            "histories",
            "length",
            "heads_last_ms",
            "fused_ms",
            "heads_last / fused",
            "max_abs_diff",
        ],
        title="CPU inference attention: heads-last blocks vs fused kernel",
        timed="calls",
        sizes="2 heads of 32",
    )


if __name__ == "__main__":
    main()
