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

from benchmarks.common import ARM_COLUMNS, fixed_epochs_sasrec, mirror, run_arms, write_results

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


def config(a: argparse.Namespace, arm: dict[str, Any]) -> dict[str, Any]:
    """The run's configuration: the same for every arm but the loss and its sampling."""
    return fixed_epochs_sasrec(a.dataset, a.epochs, a.eval_every, {"num_negatives": a.negatives} | arm)


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
    records = run_arms({run: config(a, ARMS[run]) for run in a.arms}, a.seeds, a.threads)
    notes = (
        (__doc__ or "").split("\n\n    python")[0]
        + f"\n\n{a.negatives} negatives per position, {a.epochs} epochs, validation every {a.eval_every}, "
        f"seeds {a.seeds}, {a.threads} threads. The last rows are the medians over seeds."
    )
    write_results(
        f"negative_sampling_{a.dataset}" + (f"_{a.tag}" if a.tag else ""),
        records,
        ARM_COLUMNS,
        f"Sampled softmax against full softmax: SASRec, {a.dataset}",
        notes,
    )


if __name__ == "__main__":
    main()
