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

from benchmarks.common import ARM_COLUMNS, fixed_epochs_sasrec, mirror, run_arms, write_results

OPTIMISERS = {"adam": False, "lazy adam (sparse_item_updates)": True}
"""Run label -> ``training.sparse_item_updates``."""


def config(a: argparse.Namespace, sparse: bool) -> dict[str, Any]:
    """The run's configuration: the same for both optimisers but ``sparse_item_updates``."""
    training = {"loss": a.loss, "num_negatives": a.negatives, "sparse_item_updates": sparse}
    return fixed_epochs_sasrec(a.dataset, a.epochs, a.eval_every, training)


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
    records = run_arms({run: config(a, sparse) for run, sparse in OPTIMISERS.items()}, a.seeds, a.threads)
    notes = (
        (__doc__ or "").split("\n\n    python")[0]
        + f"\n\n{a.epochs} epochs, validation every {a.eval_every}, seeds {a.seeds}, {a.threads} threads. "
        "The last rows are the medians over seeds."
    )
    write_results(
        f"sparse_updates_{a.dataset}_{a.loss}",
        records,
        ARM_COLUMNS,
        f"Lazy Adam on the item table against Adam: SASRec, {a.loss}, {a.negatives} negatives, {a.dataset}",
        notes,
    )


if __name__ == "__main__":
    main()
