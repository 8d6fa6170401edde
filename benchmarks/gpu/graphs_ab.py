"""Training epochs with and without CUDA graphs on a GPU (``runtime.cuda_graphs``), S3-Rec Beauty.

    python benchmarks/gpu/graphs_ab.py --interactions PATH [--out DIR] [--rounds 2] [--epochs 3]

The peers table's SASRec (maxlen 50, hidden 64, 2 blocks, 2 heads, dropout 0.2, batch 256, lr 1e-3, CE
over the 12,101 items), trained by seqrec's ``Trainer`` from the same initialisation and seed in four
arms: eager / graphs, float32 / bf16, each ``--epochs`` epochs, the arms taking turns for ``--rounds``
rounds. Each arm reports its epoch seconds (the first epoch holds the warm-up and the capture), and the
full-ranking validation NDCG@10 after its last epoch, so that the graphs' learning can be compared with
eager training's. Writes ``graphs_ab.json`` under ``--out``; here ``--merge FOLDER --commit C`` writes
``benchmarks/results/graphs_ab_<card>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import write_results  # noqa: E402
from benchmarks.gpu import beauty_trainer  # noqa: E402
from seqrec import SequenceDataset  # noqa: E402

ARMS = [("eager", "fp32"), ("graphs", "fp32"), ("eager", "bf16"), ("graphs", "bf16")]


def run_arm(data: SequenceDataset, graphs: bool, precision: str, epochs: int, device: str) -> dict[str, Any]:
    trainer = beauty_trainer(data, device, precision, cuda_graphs=graphs, epochs=epochs)
    rows = [trainer.train_epoch(epoch) for epoch in range(1, epochs + 1)]
    valid = trainer.validate()
    return {
        "epoch_seconds": [r["seconds"] for r in rows],
        "losses": [r["loss"] for r in rows],
        "valid_NDCG@10": valid["NDCG@10"],
    }


def merge(folder: Path, commit: str) -> None:
    record = json.loads((folder / "graphs_ab.json").read_text())
    card = record["device"].replace("NVIDIA", "").split()[0].lower()
    rows = []
    for arm, runs in record["arms"].items():
        later = [s for run in runs for s in run["epoch_seconds"][1:]]
        rows.append(
            {
                "arm": arm,
                "rounds": len(runs),
                "median_epoch_seconds": statistics.median(later),
                "first_epoch_seconds": statistics.median(run["epoch_seconds"][0] for run in runs),
                "valid_NDCG@10": statistics.median(run["valid_NDCG@10"] for run in runs),
                "last_loss": statistics.median(run["losses"][-1] for run in runs),
                "device": record["device"],
                "torch": record["torch"],
                "commit": commit,
                "runs": runs,
            }
        )
    base = {r["arm"].split()[1]: r["median_epoch_seconds"] for r in rows if r["arm"].startswith("eager")}
    for r in rows:
        r["speed-up over eager"] = base[r["arm"].split()[1]] / r["median_epoch_seconds"]
    notes = (
        "`benchmarks/gpu/graphs_ab.py`: SASRec CE on S3-Rec Beauty (maxlen 50, hidden 64, 2 blocks, 2 heads, "
        f"dropout 0.2, batches of 256, 88 per epoch), {record['epochs']} epochs per arm from the same "
        "initialisation, the arms taking turns. `median_epoch_seconds`: epochs after the first (which "
        "holds the graphs' 3 eager warm-up steps and the capture); `valid_NDCG@10`: full ranking on the "
        "validation split after the last epoch."
    )
    columns = [
        "arm",
        "rounds",
        "median_epoch_seconds",
        "speed-up over eager",
        "first_epoch_seconds",
        "valid_NDCG@10",
        "last_loss",
        "device",
        "torch",
        "commit",
    ]
    write_results(f"graphs_ab_{card}", rows, columns, f"CUDA-graph training on the {record['device']}", notes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interactions")
    p.add_argument("--out", type=Path, default=Path("."))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", default="cuda")
    p.add_argument("--merge", type=Path, metavar="FOLDER")
    p.add_argument("--commit", default="unknown")
    a = p.parse_args()
    if a.merge:
        merge(a.merge, a.commit)
        return
    data = SequenceDataset.from_file(a.interactions, columns={"user": "user_id", "item": "item_id"})
    device = torch.device(a.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    record: dict[str, Any] = {"device": name, "torch": torch.__version__, "epochs": a.epochs, "arms": {}}
    a.out.mkdir(parents=True, exist_ok=True)
    for _ in range(a.rounds):
        for mode, precision in ARMS:
            result = run_arm(data, mode == "graphs", precision, a.epochs, a.device)
            record["arms"].setdefault(f"{mode} {precision}", []).append(result)
            (a.out / "graphs_ab.json").write_text(json.dumps(record, indent=1))
            print(mode, precision, json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
