"""SASRec reference runs (issue: foundation).

* ``games``: the SASRec paper's "Games" file (``sasrec-games``) with the paper's setup: max length 50,
  d = 50, 2 blocks, 1 head, dropout 0.5, BCE with one negative, Adam(1e-3, 0.9/0.98), batch 128;
  reported with 100 uniformly sampled negatives (paper: HR@10 0.7410 / NDCG@10 0.5360) and with
  full-catalogue ranking.
* ``beauty-bce`` / ``beauty-ce``: the S3-Rec Beauty file, full ranking, BCE and full softmax CE, with the
  peers' benchmark sizes (max length 50, hidden 64, 2 blocks, 2 heads, dropout 0.2, batch 256).

Each run writes one record per protocol; ``--runs`` chooses runs; results merge into
``results/sasrec_reference.{json,md}`` (records of other runs are kept).

    python benchmarks/sasrec_reference.py --runs games beauty-bce beauty-ce --threads 2
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.common import RESULTS, merge_records, mirror, train_and_evaluate, write_results
from seqrec import RuntimeOptions

PAPER = {"games": {"sampled-100-uniform": {"HR@10": 0.7410, "NDCG@10": 0.5360}}}

RUNS: dict[str, dict[str, Any]] = {
    "games": {
        "data": {"dataset": "sasrec-games"},
        "model": {"name": "sasrec", "max_len": 50, "hidden": 50, "blocks": 2, "heads": 1, "dropout": 0.5},
        "training": {
            "loss": "bce",
            "epochs": 200,
            "batch_size": 128,
            "lr": 0.001,
            "eval_every": 10,
            "patience": 3,
        },
    },
    "beauty-bce": {
        "data": {"dataset": "s3rec-beauty"},
        "model": {"name": "sasrec", "max_len": 50, "hidden": 64, "blocks": 2, "heads": 2, "dropout": 0.2},
        "training": {
            "loss": "bce",
            "epochs": 200,
            "batch_size": 256,
            "lr": 0.001,
            "eval_every": 10,
            "patience": 3,
        },
    },
    "beauty-ce": {
        "data": {"dataset": "s3rec-beauty"},
        "model": {"name": "sasrec", "max_len": 50, "hidden": 64, "blocks": 2, "heads": 2, "dropout": 0.2},
        "training": {
            "loss": "ce",
            "epochs": 100,
            "batch_size": 256,
            "lr": 0.001,
            "eval_every": 2,
            "patience": 3,
        },
    },
}

COLUMNS = [
    "run",
    "dataset",
    "protocol",
    "loss",
    "HR@10",
    "NDCG@10",
    "paper HR@10",
    "paper NDCG@10",
    "epochs",
    "best_epoch",
    "seconds_per_epoch",
    "eval_seconds",
    "peak_rss_mb",
    "seed",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=sorted(RUNS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    mirror()
    runtime = RuntimeOptions(threads=args.threads, seed=args.seed, progress=False)
    for name in args.runs:
        new = train_and_evaluate(name, RUNS[name], runtime, PAPER.get(name))
        records = merge_records(RESULTS / "sasrec_reference.json", name, new)
        write_results(
            "sasrec_reference",
            records,
            COLUMNS,
            "SASRec reference runs",
            notes=NOTES,
        )


NOTES = """
Produced by `python -m benchmarks.sasrec_reference` on the project's 2-core CPU machine (torch CPU).
`sampled-100-uniform`: the target ranked against 100 uniformly drawn items the user never interacted
with (the SASRec paper's protocol). `full`: ranked against the whole catalogue with the user's history
removed (`filter_seen`). seconds_per_epoch is the median over epochs; validation every `eval_every`
epochs on full ranking (NDCG@10) with early stopping, test metrics from the best validation epoch.
"""


if __name__ == "__main__":
    main()
