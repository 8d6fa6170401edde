"""The sampled softmax against the full softmax: what sampling, popularity draws and the logQ correction
cost or give in accuracy, and what they save in time.

The catalogue sweep of ``benchmarks/scaling.py`` shows that a sampled softmax's epoch stays flat while
the full softmax's grows with the catalogue. This script asks what the sampled loss gives up for that. It
trains SASRec (the peers' Beauty sizes: max length 50, d 64, 2 blocks, 2 heads, dropout 0.2, batches of
256, lr 1e-3) with each arm and seed for a fixed number of epochs (best validation NDCG@10 kept, validated
every ``--eval-every``), and evaluates the test split by full ranking (seen items removed) and against 100
uniformly sampled negatives. The arms: the full-softmax CE; a sampled softmax over ``--negatives``
negatives per position drawn uniformly or by popularity (``training.negative_sampler``), each without and
with the logQ correction (``training.logq_correction``: each negative's logit minus log(K q(j)),
``seqrec.nn.losses.SampledSoftmax``). Writes
``benchmarks/results/negative_sampling_<dataset>[_<tag>].{json,md}``.

    python -m benchmarks.negative_sampling --dataset s3rec-beauty --negatives 100 --epochs 50
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.common import arm_medians, mirror, train_and_evaluate, write_results
from seqrec import RuntimeOptions

ARMS: dict[str, dict[str, Any]] = {
    "full softmax (ce)": {"loss": "ce"},
    "sampled, uniform": {"loss": "sampled_softmax", "negative_sampler": "uniform", "logq_correction": False},
    "sampled, uniform, logQ": {
        "loss": "sampled_softmax",
        "negative_sampler": "uniform",
        "logq_correction": True,
    },
    "sampled, popularity": {
        "loss": "sampled_softmax",
        "negative_sampler": "popularity",
        "logq_correction": False,
    },
    "sampled, popularity, logQ": {
        "loss": "sampled_softmax",
        "negative_sampler": "popularity",
        "logq_correction": True,
    },
}
"""Run label -> the training settings that make the arm (the rest is shared)."""

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


def config(a: argparse.Namespace, arm: dict[str, Any]) -> dict[str, Any]:
    """The run's configuration: the same for every arm but the loss and its sampling."""
    training = {
        "num_negatives": a.negatives,
        "batch_size": 256,
        "lr": 1e-3,
        "epochs": a.epochs,
        "eval_every": a.eval_every,
        "patience": 10**6,  # a fixed number of epochs: the best validated state is kept
    }
    return {
        "data": {"dataset": a.dataset},
        "model": {"name": "sasrec", "max_len": 50, "hidden": 64, "blocks": 2, "heads": 2, "dropout": 0.2},
        "training": training | arm,
        "evaluation": {"coverage": False},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="s3rec-beauty")
    p.add_argument("--negatives", type=int, default=100, help="sampled negatives per position")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tag", default="", help="suffix of the results' file name")
    a = p.parse_args()
    mirror()
    records: list[dict[str, Any]] = []
    for seed in a.seeds:  # the arms take turns within each seed: drifts of the machine hit them all
        for run in a.arms:
            runtime = RuntimeOptions(threads=a.threads, seed=seed, progress=False)
            records += train_and_evaluate(run, config(a, ARMS[run]), runtime)
    keys = ("HR@10", "NDCG@10", "seconds_per_epoch", "train_seconds", "peak_rss_mb")
    notes = (
        (__doc__ or "").split("\n\n    python")[0]
        + f"\n\n{a.negatives} negatives per position, {a.epochs} epochs, validation every {a.eval_every}, "
        f"seeds {a.seeds}, {a.threads} threads. The last rows are the medians over seeds."
    )
    write_results(
        f"negative_sampling_{a.dataset}" + (f"_{a.tag}" if a.tag else ""),
        records + arm_medians(records, a.arms, keys),
        COLUMNS,
        f"Sampled softmax against full softmax: SASRec, {a.dataset}",
        notes,
    )


if __name__ == "__main__":
    main()
