"""The scaling benchmark's data resizing, growth fits and one in-process point."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.scaling import fit, growth, plan, resize_users, run_point, save_arrays, spread_items
from seqrec import SequenceDataset
from seqrec.data.sequences import Sequences


def _seqs() -> Sequences:
    lengths = np.array([3, 5, 2, 7])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = np.arange(1, offsets[-1] + 1, dtype=np.int64)
    return Sequences(offsets, items, items * 10)


def test_resize_users_subsamples_and_replicates_whole_users() -> None:
    seqs = _seqs()
    rng = np.random.default_rng(0)
    small = resize_users(seqs, 6, rng)
    assert 6 <= small.offsets[-1] < 6 + 7 and small.num_users < seqs.num_users
    big = resize_users(seqs, 40, rng)  # 17 interactions in all: users cycled through
    assert big.offsets[-1] >= 40 and big.num_users > seqs.num_users
    originals = {tuple(seqs.row(r)) for r in range(seqs.num_users)}
    assert all(tuple(big.row(r)) in originals for r in range(big.num_users))


@pytest.mark.parametrize("size", [5, 17, 1000])
def test_spread_items(size: int) -> None:
    seqs = _seqs()
    out = spread_items(seqs, 17, size, np.random.default_rng(0))
    assert out.items.min() >= 1 and out.items.max() <= size
    if size >= 17:  # injective: distinct items stay distinct
        assert len(np.unique(out.items)) == 17


def test_fit_reads_linear_and_quadratic_growth() -> None:
    rows = [
        {"sweep": "s", "series": "a", "x": x, "epoch_seconds": 3 * x**2, "extra_mb": 5 * x}
        for x in (1, 10, 100)
    ]
    (f,) = fit(rows)
    assert f["time_slope"] == pytest.approx(2.0) and f["time_growth"] == "quadratic"
    assert f["memory_slope"] == pytest.approx(1.0) and f["memory_growth"] == "linear"
    assert growth(0.5) == "sublinear"


def test_plans_name_every_sweep() -> None:
    for preset in ("smoke", "cpu", "gpu"):
        sweeps = {p["sweep"] for p in plan(preset, ["interactions", "max_len", "catalogue", "ce_memory"])}
        assert sweeps == {"interactions", "max_len", "catalogue", "ce_memory"}


@pytest.mark.parametrize("phase", ["train", "eval"])
def test_one_point_in_process(phase: str, dataset: SequenceDataset, tmp_path) -> None:
    path = tmp_path / "data.npz"
    save_arrays(dataset, path)
    spec = {
        "dataset": "synthetic",
        "interactions": 600,
        "num_items": 500,
        "max_len": 10,
        "hidden": 8,
        "blocks": 1,
        "heads": 1,
        "dropout": 0.1,
        "batch_size": 16,
        "loss": "ce",
        "batches": 2,
        "phase": phase,
        "eval_users": 20,
        "threads": 1,
    }
    record = run_point(spec, path)
    assert record["num_items"] == 500 and record["interactions"] >= 600
    assert record["epoch_seconds"] > 0 and record["peak_rss_mb"] > 0
    assert record["extrapolated"]
