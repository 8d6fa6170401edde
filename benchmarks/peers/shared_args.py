"""Command-line arguments shared by the three drivers (seqrec, RecBole, RecTools).

Standard library only: each driver runs as a script in its own virtual environment and imports this
file from its own folder.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def add_training_args(p: argparse.ArgumentParser) -> None:
    """Model size, optimisation and runtime: the settings every library gets identically."""
    p.add_argument(
        "--epochs", type=int, default=1, help="0: no training; the initialised model's test pass is timed"
    )
    p.add_argument(
        "--eval-passes", type=int, default=1, help="time the full-ranking test pass this many times (median)"
    )
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--inner", type=int, default=64, help="feed-forward width (RecTools: fixed to hidden)")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    add_masking_args(p)


def add_masking_args(p: argparse.ArgumentParser) -> None:
    """BERT4Rec's cloze masking, given to every library (``benchmarks.peers.compare`` passes it on)."""
    p.add_argument(
        "--mask-prob",
        type=float,
        default=0.2,
        help="BERT4Rec: chance that a position is masked for the cloze loss (RecBole 1.2.1's mask_ratio)",
    )
    p.add_argument(
        "--mask-last-prob",
        type=float,
        default=0.5,
        help="BERT4Rec: probability of a sample that masks only the last item (RecBole 1.2.1's ft_ratio, "
        "per batch; seqrec's mask_last_prob, per window; RecTools 0.19 has no such samples)",
    )


def timed_passes(evaluate: Callable[[], T], passes: int) -> tuple[T, list[float]]:
    """Run ``evaluate`` ``passes`` times (at least once); its last result and the seconds of every pass.

    Every driver times its full-ranking test pass with this, so that ``--eval-passes`` means the same for
    each library: the first pass of a process is included (heap growth, caches) and the caller reports
    the median."""
    seconds: list[float] = []
    for _ in range(max(passes, 1)):
        t0 = time.perf_counter()
        result = evaluate()
        seconds.append(time.perf_counter() - t0)
    return result, seconds
