"""Write the GPU peers table from ``benchmarks/gpu/run_peers.sh``'s records.

    .venv/bin/python -m benchmarks.gpu.merge_peers CALL.jsonl [CALL.jsonl ...]

One file per device call (its name is the records' ``call``). One row per run and one median row per
label (``seqrec-fp32``, ``seqrec-bf16``, ``RecBole``, ``RecTools``), with the ratios peer/seqrec-fp32 and
the wall time each label took to reach RecBole's best validation NDCG@10, into
``benchmarks/results/peers_gpu_<card>.{json,md}`` (SASRec CE; other pairs add ``_<model>_<loss>``). A
label's ratios divide by the median of the ``seqrec-fp32`` runs of the same calls (the same warm
machine), as machines of one kind differ.
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
    for row in rows:
        calls = {r.get("call") for r in runs[row["label"]]}
        same = [r for r in runs.get(BASE, []) if r.get("call") in calls]
        row["baseline"] = f"{BASE} of the same calls ({len(same)} runs)" if same else "none in its calls"
        for key in RATIOS:
            base = [r[key] for r in same if isinstance(r.get(key), int | float)]
            if base and row[key]:
                row[f"{key} ratio (peer/seqrec)"] = row[key] / statistics.median(base)
        if target is not None and isinstance(row.get(TARGET), float):
            base_times = [time_to_reach(r.get("valid_curve", []), target) for r in same]
            known_base = [t for t in base_times if t is not None]
            if known_base:
                row[f"{TARGET} ratio (peer/seqrec)"] = row[TARGET] / statistics.median(known_base)
    return rows


NOTES = """
`benchmarks/gpu/run_peers.sh` on the lent GPU: {model}, {loss} loss, S3-Rec Beauty with seqrec's leave-one-out
split, maxlen 50, hidden 64, feed-forward 64, 2 layers, 2 heads, batch 256, lr 1e-3, the same file for
every library, one process at a time, alone on the GPU. seqrec trains 20 epochs, RecBole and RecTools 3
(seqrec's epochs are cheap; its batches hold whole sequences, RecBole's one prefix each, so an seqrec
epoch is ~8x fewer optimizer steps). `seconds_per_epoch`: median over the run's epochs, then over
repeats. `eval_seconds`: full-ranking test pass (22,363 users x 12,101 items; each library's own
evaluator; RecTools: `recommend` top-10 on the GPU). `seconds_to_RecBole_best_valid_NDCG@10`: wall time
from the start of training (validation passes included) until the validation NDCG@10 first reaches the
median of RecBole's best; RecTools' driver validates only after training, so it has no curve. `call`:
the device call (one machine start) a run came from; ratios divide by the seqrec-fp32 runs of the same
calls (`baseline`), because two machines of the same kind differ by up to ~40% here. RecTools 0.19 runs
with pandas 2.3.2 and implicit 0.7.3 carried to the machine (the image has pandas 3, which RecTools 0.19
does not support); with BPR, RecTools trains its `BCE` loss, as on the CPU. The card's torch is the
image's own (2.11 CUDA), not 2.13: nothing can be installed there.
"""


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("jsonl", type=Path, nargs="+", help="one file of records per device call")
    parser.add_argument("--note", default="", help="a paragraph added to the table's notes (the code run)")
    a = parser.parse_args()
    records = [
        dict(json.loads(line), call=path.stem)
        for path in a.jsonl
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    if not records:
        raise SystemExit(f"{', '.join(map(str, a.jsonl))}: no records")
    card = next((r["device"] for r in records if r.get("device", "cpu") != "cpu"), "gpu")
    model, loss = records[0]["model"], records[0]["loss"]
    if any((r["model"], r["loss"]) != (model, loss) for r in records if r["library"] != "RecTools"):
        raise SystemExit("records of more than one model / loss: merge each pair on its own")
    pair = "" if (model, loss) == ("SASRec", "CE") else f"_{model}_{loss}"
    # the card's model: h100 of "NVIDIA H100 80GB HBM3"
    name = "peers_gpu_" + card.replace("NVIDIA", "").split()[0].lower() + pair
    summary = summarise(records)
    columns = [
        "label",
        "call",
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
        "baseline",
    ]
    notes = NOTES.format(model=model, loss=loss) + ("\n" + a.note if a.note else "")
    write_results(name, records + summary, columns, f"seqrec vs RecBole and RecTools on the {card}", notes)
    print(f"wrote benchmarks/results/{name}.json / .md")


if __name__ == "__main__":
    main()
