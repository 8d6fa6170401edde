"""``benchmarks.ce_steps``: every step of a CE chunk is timed, with the products' arithmetic."""

from __future__ import annotations

import pytest
import torch

from benchmarks.ce_steps import time_budgets, time_steps


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_step_is_timed_and_products_count_their_flops(dtype: torch.dtype) -> None:
    records = time_steps(targets=40, items=300, hidden=8, dtype=dtype, repeats=2)
    steps = [r["step"] for r in records]
    assert steps == [
        "logits",
        "softmax",
        "target terms",
        "P - onehot",
        "grad states",
        "grad items",
        "whole call",
    ]
    assert all(r["ms"] > 0 for r in records)
    assert sum(r["share"] for r in records[:-1]) == pytest.approx(1.0)
    by_step = {r["step"]: r for r in records}
    chunks, rows = records[0]["chunks"], records[0]["rows_per_chunk"]
    assert chunks * rows >= 40 and rows <= 40
    for name in ("logits", "grad states", "grad items"):
        assert by_step[name]["gflop"] == pytest.approx(chunks * 2 * rows * 300 * 8 / 1e9)
    assert by_step["whole call"]["gflop"] == pytest.approx(3 * 2 * 40 * 300 * 8 / 1e9)
    assert "gflop" not in by_step["softmax"]


def test_budgets_set_the_chunks() -> None:
    records = time_budgets(
        targets=100, items=1000, hidden=8, dtype=torch.float32, repeats=1, budgets=[4 << 10, 1 << 20]
    )
    assert [r["step"] for r in records] == ["whole call, 0 MiB", "whole call, 1 MiB"]
    assert records[0]["rows_per_chunk"] == 16 and records[0]["chunks"] == 7  # CE_MIN_ROWS, quantum 16
    assert records[1]["rows_per_chunk"] == 100 and records[1]["chunks"] == 1  # fewer targets than rows
    assert all(r["ms"] > 0 for r in records)
