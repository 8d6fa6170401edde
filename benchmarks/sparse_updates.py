"""Lazy Adam on the item table (``training.sparse_item_updates``) against Adam: what it costs in accuracy.

Adam moves every item row at every step: a row outside the batch has a zero gradient, yet its moments
decay and its momentum still moves it. Lazy Adam (``torch.optim.SparseAdam``) steps only the rows that
the batch takes (its input items, targets and sampled negatives) and leaves the others' moments as they
are, which makes a step's cost independent of the catalogue's size; the speed over catalogues of 10^4 to
10^6 items is the catalogue sweep of ``benchmarks/scaling.py`` (series ``sampled_softmax 100, sparse
updates`` and ``bce 1, sparse updates``). This script trains SASRec with a sampled loss (``--loss``,
``--negatives`` uniform negatives per position; the peers' Beauty sizes: max length 50, d 64, 2 blocks, 2
heads, dropout 0.2, batches of 256, lr 1e-3) with each optimiser and seed for a fixed number of epochs
(best validation NDCG@10 kept, validated every ``--eval-every``), and evaluates the test split by full
ranking (seen items removed) and against 100 uniformly sampled negatives. Writes
``benchmarks/results/sparse_updates_<dataset>_<loss>.{json,md}``.

    python -m benchmarks.sparse_updates --dataset s3rec-beauty --loss bce --negatives 1 --epochs 100
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.common import arm_medians, mirror, train_and_evaluate, write_results
from seqrec import RuntimeOptions

OPTIMISERS = {"adam": False, "lazy adam (sparse_item_updates)": True}
"""Run label -> ``training.sparse_item_updates``."""

COLUMNS = [
    "run",
    "seed",
    "protocol",
    "HR@10",
    "NDCG@10",
    "epochs",
    "best_epoch",
    "seconds_per_epoch",
    "train_seconds",
    "peak_rss_mb",
    "git_commit",
]


def config(a: argparse.Namespace, sparse: bool) -> dict[str, Any]:
    """The run's configuration: the same for both optimisers but ``sparse_item_updates``."""
    return {
        "data": {"dataset": a.dataset},
        "model": {"name": "sasrec", "max_len": 50, "hidden": 64, "blocks": 2, "heads": 2, "dropout": 0.2},
        "training": {
            "loss": a.loss,
            "num_negatives": a.negatives,
            "batch_size": 256,
            "lr": 1e-3,
            "epochs": a.epochs,
            "eval_every": a.eval_every,
            "patience": 10**6,  # a fixed number of epochs: the best validated state is kept
            "sparse_item_updates": sparse,
        },
        "evaluation": {"coverage": False},
    }


def summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row per optimiser and protocol: the medians over seeds."""
    keys = ("HR@10", "NDCG@10", "seconds_per_epoch", "train_seconds", "peak_rss_mb")
    return arm_medians(records, list(OPTIMISERS), keys)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="s3rec-beauty")
    p.add_argument("--loss", default="bce", choices=["bce", "sampled_softmax", "gbce"])
    p.add_argument("--negatives", type=int, default=1, help="negatives per position")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    mirror()
    records: list[dict[str, Any]] = []
    for seed in a.seeds:  # the optimisers take turns within each seed: drifts of the machine hit both
        for run, sparse in OPTIMISERS.items():
            runtime = RuntimeOptions(threads=a.threads, seed=seed, progress=False)
            records += train_and_evaluate(run, config(a, sparse), runtime)
    notes = (
        (__doc__ or "").split("\n\n    python")[0]
        + f"\n\n{a.epochs} epochs, validation every {a.eval_every}, seeds {a.seeds}, {a.threads} threads. "
        "The last rows are the medians over seeds."
    )
    write_results(
        f"sparse_updates_{a.dataset}_{a.loss}",
        records + summary(records),
        COLUMNS,
        f"Lazy Adam on the item table against Adam: SASRec, {a.loss}, {a.negatives} negatives, {a.dataset}",
        notes,
    )


if __name__ == "__main__":
    main()
