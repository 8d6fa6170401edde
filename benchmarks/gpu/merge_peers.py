"""Write the GPU peers table from ``benchmarks/gpu/run_peers.sh``'s records.

    .venv/bin/python -m benchmarks.gpu.merge_peers FOLDER/peers_gpu.jsonl

One row per run and one median row per label (``seqrec-fp32``, ``seqrec-bf16``, ``RecBole``), with the
ratios peer/seqrec-fp32 and the wall time each label took to reach RecBole's best validation NDCG@10, into
``benchmarks/results/peers_gpu_<card>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import write_results  # noqa: E402
from benchmarks.peers.compare import time_to_reach  # noqa: E402

KEYS = (
    "seconds_per_epoch",
    "eval_seconds",
    "valid_seconds",
    "peak_gpu_mb",
    "peak_rss_mb",
    "HR@10",
    "NDCG@10",
)
RATIOS = ("seconds_per_epoch", "eval_seconds")
BASE = "seqrec-fp32"
TARGET = "seconds_to_RecBole_best_valid_NDCG@10"


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-label medians, ratios against ``seqrec-fp32`` and time to RecBole's best validation NDCG@10."""
    labels = list(dict.fromkeys(r["label"] for r in records))
    runs = {label: [r for r in records if r["label"] == label] for label in labels}
    target = None
    if runs.get("RecBole"):
        target = statistics.median(max(c["NDCG@10"] for c in r["valid_curve"]) for r in runs["RecBole"])
    rows = []
    for label, group in runs.items():
        row: dict[str, Any] = {"label": label, "library": group[0]["library"], "run": "median"}
        row.update(repeats=len(group), epochs=group[0]["epochs"], device=group[0].get("device"))
        row["precision"] = group[0].get("precision", "fp32")
        for key in KEYS:
            values = [r[key] for r in group if isinstance(r.get(key), int | float)]
            row[key] = statistics.median(values) if values else None
        if target is not None and not any(r.get("valid_curve") for r in group):
            row[TARGET] = "no validation curve"  # RecTools' driver validates only at the end
        elif target is not None:
            times = [time_to_reach(r.get("valid_curve", []), target) for r in group]
            known = [t for t in times if t is not None]
            row[TARGET] = statistics.median(known) if known else "not reached"
            row["RecBole_best_valid_NDCG@10"] = target
        rows.append(row)
    base = next((r for r in rows if r["label"] == BASE), None)
    for row in rows:
        for key in RATIOS:
            if base and row[key] and base[key]:
                row[f"{key} ratio (peer/seqrec)"] = row[key] / base[key]
        if base and isinstance(row.get(TARGET), float) and isinstance(base.get(TARGET), float):
            row[f"{TARGET} ratio (peer/seqrec)"] = row[TARGET] / base[TARGET]
    return rows


NOTES = """
`benchmarks/gpu/run_peers.sh` on the lent GPU: SASRec, CE loss, S3-Rec Beauty with seqrec's leave-one-out
split, maxlen 50, hidden 64, feed-forward 64, 2 layers, 2 heads, batch 256, lr 1e-3, the same file for
both libraries, one process at a time, alone on the GPU. seqrec trains more epochs than RecBole (its
epochs are cheap; its batches hold whole sequences, RecBole's one prefix each, so an seqrec epoch is ~8x
fewer optimizer steps). `seconds_per_epoch`: median over the run's epochs, then over repeats.
`eval_seconds`: full-ranking test pass (22,363 users x 12,101 items; RecBole's own evaluator for
RecBole). `seconds_to_RecBole_best_valid_NDCG@10`: wall time from the start of training (validation
passes included) until the validation NDCG@10 first reaches the median of RecBole's best. RecTools is
not run on the GPU (its dependencies are not in the machine's image). The card's torch is the image's
own (2.11 CUDA), not 2.13: nothing can be installed there.
"""


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("jsonl", type=Path)
    a = parser.parse_args()
    records = [json.loads(line) for line in a.jsonl.read_text().splitlines() if line.strip()]
    if not records:
        raise SystemExit(f"{a.jsonl}: no records")
    card = next((r["device"] for r in records if r.get("device", "cpu") != "cpu"), "gpu")
    name = "peers_gpu_" + card.split()[-1].lower()
    summary = summarise(records)
    columns = [
        "label",
        "repeats",
        "epochs",
        "device",
        "seconds_per_epoch",
        "seconds_per_epoch ratio (peer/seqrec)",
        "eval_seconds",
        "eval_seconds ratio (peer/seqrec)",
        "peak_gpu_mb",
        "peak_rss_mb",
        "HR@10",
        "NDCG@10",
        TARGET,
        f"{TARGET} ratio (peer/seqrec)",
    ]
    write_results(name, records + summary, columns, f"seqrec vs RecBole on the {card}", NOTES)
    print(f"wrote benchmarks/results/{name}.json / .md")


if __name__ == "__main__":
    main()
