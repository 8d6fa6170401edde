"""``benchmarks.sparse_updates``: the two arms differ in the optimiser alone; ``benchmarks.common``'s medians
of an accuracy benchmark's arms are per arm and protocol."""

from __future__ import annotations

import argparse

from benchmarks.common import ARM_MEDIANS, arm_medians
from benchmarks.sparse_updates import OPTIMISERS, config
from seqrec.config import build_config


def test_the_arms_differ_only_in_sparse_item_updates() -> None:
    a = argparse.Namespace(dataset="s3rec-beauty", loss="bce", negatives=1, epochs=3, eval_every=1)
    dense, sparse = (build_config(config(a, flag)) for flag in OPTIMISERS.values())
    assert (dense.training.sparse_item_updates, sparse.training.sparse_item_updates) == (False, True)
    assert dense.model_copy(update={"training": sparse.training}) == sparse
    assert (dense.training.epochs, dense.training.eval_every, dense.training.loss) == (3, 1, "bce")


def test_arm_medians_take_the_median_of_each_arm_and_protocol() -> None:
    records = [
        {"run": run, "protocol": protocol, "HR@10": hr, "NDCG@10": hr / 2, "seconds_per_epoch": 1.0}
        | {"train_seconds": 3.0, "peak_rss_mb": 100.0}
        for run in OPTIMISERS
        for protocol in ("full", "sampled")
        for hr in (0.1, 0.2, 0.6)
    ]
    rows = arm_medians(records, list(OPTIMISERS), ARM_MEDIANS)
    assert [(r["run"], r["protocol"], r["seed"], r["HR@10"]) for r in rows] == [
        (run, protocol, "median of 3", 0.2) for run in OPTIMISERS for protocol in ("full", "sampled")
    ]
