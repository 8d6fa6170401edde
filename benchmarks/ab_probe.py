"""One probe of ``benchmarks/ab.py``: times whichever seqrec is first on ``PYTHONPATH``; one JSON line.

PYTHONPATH=WORKTREE python benchmarks/ab_probe.py interactions.csv
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import torch

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.config import BERT4RecConfig, EvaluationConfig, ModelConfig, SASRecConfig
from seqrec.evaluation.evaluator import evaluate
from seqrec.models import build_model

SIZES = {"max_len": 50, "hidden": 64, "ff_hidden": 64, "blocks": 2, "heads": 2, "dropout": 0.2}


def timed_evaluation(
    model_cfg: ModelConfig, data: SequenceDataset, cfg: EvaluationConfig
) -> tuple[float, dict[str, Any]]:
    """Median seconds of 3 full-ranking test passes of an untrained model (seed 0), and its record."""
    torch.manual_seed(0)
    model = build_model(model_cfg, data.num_items, data.num_users).eval()
    seconds = []
    for _ in range(3):
        t0 = time.perf_counter()
        record = evaluate(model, data, cfg, part="test")
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), record


def median_epoch_seconds(model: str, training: dict[str, Any], data: SequenceDataset, max_len: int) -> float:
    """Median seconds of two training epochs (no validation in between), batches of 256 unless
    ``training`` says otherwise."""
    rec = SeqRec(
        model={"name": model, **SIZES, "max_len": max_len},
        training={"batch_size": 256, **training, "epochs": 2, "eval_every": 100},
        evaluation={"ks": [10], "coverage": False},
        runtime=RuntimeOptions(threads=2, seed=1, progress=False),
    ).fit(data)
    assert rec.fit_result is not None
    return statistics.median(h["seconds"] for h in rec.fit_result.history)


def main() -> None:
    RuntimeOptions(threads=2).apply()  # what a fit applies: threads, seeds, memory settings
    data = SequenceDataset.from_file(sys.argv[1], columns={"user": "user_id", "item": "item_id"})
    out: dict[str, float] = {}
    cfg = EvaluationConfig(ks=(10,), filter_seen=False, coverage=False)
    for name, model_cfg in (("sasrec", SASRecConfig(**SIZES)), ("bert4rec", BERT4RecConfig(**SIZES))):
        seconds, record = timed_evaluation(model_cfg, data, cfg)
        out[f"{name}_eval_seconds"] = seconds
        out[f"{name}_ndcg"] = record["NDCG@10"]
    with_coverage = cfg.model_copy(update={"coverage": True})  # SASRec again, with the top-K pass
    out["sasrec_eval_coverage_seconds"] = timed_evaluation(SASRecConfig(**SIZES), data, with_coverage)[0]
    for key, name, training, max_len in (
        ("sasrec_bce_epoch_seconds", "sasrec", {"loss": "bce"}, 50),
        ("sasrec_bce_stride50_epoch_seconds", "sasrec", {"loss": "bce", "window_stride": 50}, 50),
        ("sasrec_ce_epoch_seconds", "sasrec", {"loss": "ce", "batch_size": 128}, 50),
        ("bert4rec_epoch_seconds", "bert4rec", {"loss": "ce"}, 50),
        ("sasrec_bce_maxlen200_epoch_seconds", "sasrec", {"loss": "bce"}, 200),
        (
            "sasrec_sampled_softmax_epoch_seconds",
            "sasrec",
            {"loss": "sampled_softmax", "num_negatives": 100},
            50,
        ),
    ):
        out[key] = median_epoch_seconds(name, training, data, max_len)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
