"""``benchmarks.inference_steps``: every step of the inference block is timed, with its arithmetic."""

from __future__ import annotations

import pytest

from benchmarks.inference_steps import time_steps


def test_every_step_is_timed_and_matrix_steps_count_their_flops() -> None:
    records = time_steps(batch=3, length=5, hidden=8, heads=2, repeats=2)
    steps = [r["step"] for r in records]
    assert steps[:2] == ["mask", "attn_norm"] and steps[-1] == "last_block"
    assert all(r["ms"] > 0 for r in records)
    assert sum(r["share"] for r in records) == pytest.approx(1.0)
    by_step = {r["step"]: r for r in records}
    for name in ("q", "k", "v", "fc1", "fc2"):
        assert by_step[name]["gflop"] == pytest.approx(2 * 3 * 5 * 8 * 8 / 1e9)
    assert by_step["attention"]["gflop"] == pytest.approx(4 * 3 * 2 * 5 * 5 * 4 / 1e9)
    assert "gflop" not in by_step["relu"]
