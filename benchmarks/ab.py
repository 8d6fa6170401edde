"""A/B timing of two revisions of seqrec on the same machine, in alternating processes.

    python -m benchmarks.ab BASE_REV NEW_REV [--rounds 4] [--name NAME] [--dataset s3rec-beauty]

Each revision is checked out into a temporary git worktree; ``benchmarks/ab_probe.py`` then runs in a
fresh process per round, taking turns (BASE, NEW, BASE, NEW, ...), so slow drifts of a shared machine hit
both alike. A probe times, on S3-Rec Beauty (or ``--dataset``; the peers' exported file), the
full-ranking test pass of an untrained SASRec and BERT4Rec (maxlen 50, hidden 64, 2 layers, 2 heads; no
coverage, and SASRec once more with it) and the median of two training epochs each of SASRec with BCE
(where the encoder, not the catalogue softmax, is most of the epoch; one window per user, windows every
50 items as in the ML-1M head peer runs, and max length 200), of SASRec with the full-softmax CE
(batches of 128, as in the Beauty peer runs), of SASRec with a sampled softmax over 100 negatives per
target (batches of 256) and of BERT4Rec (its default masked-item objective).
Writes ``benchmarks/results/ab_<name>.{json,md}``: every probe and the medians per revision. The metrics
of the two revisions must agree (the same untrained model scores the same), so a speed-up that changes
results is flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import mirror, write_results  # noqa: E402
from benchmarks.peers.compare import WORK  # noqa: E402
from benchmarks.peers.export import export  # noqa: E402

TIMES = (
    "sasrec_eval_seconds",
    "sasrec_eval_coverage_seconds",
    "bert4rec_eval_seconds",
    "sasrec_bce_epoch_seconds",
    "sasrec_bce_stride50_epoch_seconds",
    "sasrec_ce_epoch_seconds",
    "bert4rec_epoch_seconds",
    "sasrec_bce_maxlen200_epoch_seconds",
    "sasrec_sampled_softmax_epoch_seconds",
)


def _rev(rev: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base")
    p.add_argument("new")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--name", default="", help="results name (default: BASE_NEW)")
    p.add_argument("--dataset", default="s3rec-beauty", help="a dataset the peers' export knows")
    a = p.parse_args()
    mirror()
    csv = export(a.dataset, WORK / "peerdata") / "interactions.csv"
    revs = {"base": _rev(a.base), "new": _rev(a.new)}
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="seqrec-ab-") as tmp:
        trees = {}
        for arm, rev in revs.items():
            trees[arm] = Path(tmp) / arm
            add = ["git", "worktree", "add", "-q", "--detach", str(trees[arm]), rev]
            subprocess.run(add, cwd=ROOT, check=True)
        try:
            for round_ in range(a.rounds):
                for arm in ("base", "new"):
                    env = dict(os.environ, PYTHONPATH=str(trees[arm]))
                    out = (
                        subprocess.run(
                            [sys.executable, str(ROOT / "benchmarks" / "ab_probe.py"), str(csv)],
                            env=env,
                            check=True,
                            capture_output=True,
                            text=True,
                        )
                        .stdout.strip()
                        .splitlines()[-1]
                    )
                    record = dict(json.loads(out), arm=arm, rev=revs[arm], round=round_, dataset=a.dataset)
                    records.append(record)
                    print(records[-1], flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    summary = []
    for arm, rev in revs.items():
        mine = [r for r in records if r["arm"] == arm]
        row: dict[str, Any] = {"arm": arm, "rev": rev, "round": "median", "rounds": len(mine)}
        row["dataset"] = a.dataset
        for key in TIMES:
            row[key] = statistics.median(r[key] for r in mine)
        summary.append(row)
    for key in TIMES:
        summary[1][f"{key} base/new"] = summary[0][key] / summary[1][key]
    same = all(
        records[i]["sasrec_ndcg"] == records[i + 1]["sasrec_ndcg"]
        and records[i]["bert4rec_ndcg"] == records[i + 1]["bert4rec_ndcg"]
        for i in range(0, len(records), 2)
    )
    for row in summary:
        row["metrics_equal"] = same
    columns = ["arm", "rev", "round", *TIMES, *(f"{k} base/new" for k in TIMES), "metrics_equal"]
    name = "ab_" + (a.name or f"{revs['base']}_{revs['new']}")
    notes = f"{NOTES}\nDataset: {a.dataset}. 2 torch threads; medians over {a.rounds} rounds."
    write_results(name, records + summary, columns, f"A/B: {revs['base']} vs {revs['new']}", notes)


NOTES = """
Each revision runs in a fresh process per round, taking turns (base, new, base, new, ...), so slow drifts
of the shared machine hit both alike. A probe (`benchmarks/ab_probe.py`) times, on the dataset below, the
full-ranking test pass of an untrained SASRec and BERT4Rec (maxlen 50, hidden 64, 2 layers, 2 heads; no
coverage; SASRec also with the Coverage@K pass, `sasrec_eval_coverage_seconds`) and the median of two
training epochs each of SASRec with BCE (one window per user, `sasrec_bce_epoch_seconds`, and windows
every 50 items, `sasrec_bce_stride50_epoch_seconds`), of SASRec with the full-softmax CE in batches of
128 (`sasrec_ce_epoch_seconds`, from 2026-11-27 on), of BERT4Rec (`bert4rec_epoch_seconds`) and of
SASRec BCE at max length 200 (`sasrec_bce_maxlen200_epoch_seconds`, the SASRec paper's MovieLens
setting; the stride-50, BERT4Rec and max-length-200 columns from this file's 2026-11-26 versions on) and
of SASRec with a sampled softmax over 100 negatives per target in batches of 256
(`sasrec_sampled_softmax_epoch_seconds`, from 2026-11-28 on).
`metrics_equal`: the two revisions' metrics agree in every round.
"""


if __name__ == "__main__":
    main()
