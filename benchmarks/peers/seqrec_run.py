"""Train and evaluate seqrec on a peer-exported dataset, with the peer drivers' arguments; one JSON record.

Runs in its own process (as the peers do) so that peak RSS is comparable.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
from pathlib import Path
from typing import Any

import torch
from shared_args import add_training_args, timed_passes
from torch.utils.flop_counter import FlopCounterMode

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.training.trainer import Trainer

LOSS = {"CE": "ce", "BPR": "bce", "softmax": "ce", "BCE": "bce"}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "--interactions", required=True, help="interactions.csv written by benchmarks.peers.export"
    )
    p.add_argument("--model", default="SASRec", choices=["SASRec", "BERT4Rec"])
    p.add_argument("--loss", default="CE", choices=sorted(LOSS))
    p.add_argument("--device", default="cpu", help="cpu or cuda (seqrec only: the peers run on the CPU here)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--cuda-graphs", action="store_true", help="runtime.cuda_graphs (CUDA only)")
    p.add_argument(
        "--per-batch-means",
        action="store_true",
        help="training.equal_target_weights: false (each batch's mean loss as it is; seqrec only)",
    )
    p.add_argument("--window-stride", type=int, default=None, help="training.window_stride (seqrec only)")
    p.add_argument(
        "--count-flops",
        action="store_true",
        help="only count the FLOPs of one training epoch and of one test pass, and print them",
    )
    add_training_args(p)
    a = p.parse_args()
    data = SequenceDataset.from_file(a.interactions, columns={"user": "user_id", "item": "item_id"})
    model_cfg = {"name": a.model.lower(), "max_len": a.max_len, "hidden": a.hidden, "ff_hidden": a.inner}
    model_cfg.update(blocks=a.layers, heads=a.heads, dropout=a.dropout)
    if a.model == "BERT4Rec":
        model_cfg.update(mask_prob=a.mask_prob, mask_last_prob=a.mask_last_prob)
    rec = SeqRec(
        model=model_cfg,
        training={
            "loss": LOSS[a.loss],
            "epochs": max(a.epochs, 1),  # 0: the model is built, not trained
            "eval_every": a.eval_every,
            "patience": 10**6,
            "batch_size": a.batch_size,
            "lr": a.lr,
            "window_stride": a.window_stride,
            "equal_target_weights": not a.per_batch_means,
        },
        evaluation={"ks": [10], "filter_seen": False, "coverage": False},  # the peers report no coverage
        runtime=RuntimeOptions(
            device=a.device,
            threads=a.threads,
            seed=a.seed,
            progress=False,
            precision=a.precision,
            cuda_graphs=a.cuda_graphs,
        ),
    )
    if a.count_flops:
        print(json.dumps(count_flops(rec, data)))
        return
    out: dict[str, Any] = {"library": "seqrec", "model": a.model, "loss": a.loss, "epochs": a.epochs}
    if a.epochs:
        rec.fit(data)
        assert rec.fit_result is not None
        history = rec.fit_result.history
        out.update(
            best_epoch=rec.fit_result.best_epoch,
            seconds_per_epoch=statistics.median(h["seconds"] for h in history),
            epoch_seconds=[h["seconds"] for h in history],
            valid_curve=[
                {"epoch": h["epoch"], "NDCG@10": h["valid"]["NDCG@10"], "elapsed": h["elapsed"]}
                for h in history
                if "valid" in h
            ],
        )
    else:
        rec.runtime.apply()
        rec.model, rec.data = rec.build_model(data).to(rec.runtime.torch_device()), data
    out.update(
        threads=a.threads,
        device=torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu",
        precision=a.precision,
        cuda_graphs=a.cuda_graphs,
        equal_target_weights=not a.per_batch_means,
        torch=torch.__version__,
    )
    for filter_seen in (False, True):
        rec.config = rec.config.model_copy(
            update={"evaluation": rec.config.evaluation.model_copy(update={"filter_seen": filter_seen})}
        )
        metrics, seconds = timed_passes(
            lambda: rec.evaluate("test", "full"), a.eval_passes if not filter_seen else 1
        )
        suffix = " (filter_seen)" if filter_seen else ""
        out[f"eval_seconds{suffix}"] = statistics.median(seconds)
        if not filter_seen:
            out["eval_pass_seconds"] = seconds
        for key in ("HR@10", "NDCG@10", "MRR"):
            out[f"{key}{suffix}"] = metrics[key]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if a.device.startswith("cuda"):
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


def count_flops(rec: SeqRec, data: SequenceDataset) -> dict[str, Any]:
    """The FLOPs of one training epoch of ``rec``'s model on ``data`` (``benchmarks.hardware.count_epoch``)
    and of one full-ranking test pass as the runs time it, under ``FlopCounterMode`` with the formulas it
    lacks for seqrec's ops (``benchmarks.hardware.extra_flop_formulas``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: benchmarks.hardware
    from benchmarks.hardware import count_epoch, extra_flop_formulas

    rec.runtime.apply()
    trainer = Trainer(rec.build_model(data).to(rec.runtime.torch_device()), data, rec.config, rec.runtime)
    counted, _ = count_epoch(trainer)
    rec.model, rec.data = trainer.model, data
    with FlopCounterMode(display=False, custom_mapping=extra_flop_formulas()) as counter:
        rec.evaluate("test", "full")
    return {
        "library": "seqrec",
        "flops_epoch": counted["flops_epoch"],
        "flops_encoder": counted["flops_encoder"],
        "epoch_batches": counted["batches"],
        "flops_eval": int(counter.get_total_flops()),
    }


if __name__ == "__main__":
    main()
