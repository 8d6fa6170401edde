"""Train and evaluate a RecBole 1.2.1 sequential model; runs inside the RecBole virtual environment.

Driven by ``benchmarks/peers/compare.py``; prints one JSON record. The shims for RecBole 1.2.1 on
numpy 2 / torch >= 2.6 are those of ``shared/reference/PEERS-INSTALL.md`` (no edits to RecBole).
Training uses RecBole's own ``Trainer._train_epoch`` / ``_valid_epoch`` so that each epoch and each
validation pass is timed on its own; the best validation state is kept in memory.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import tempfile
import time
from typing import Any

import numpy as np

for _old, _new in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
    if not hasattr(np, _old):
        setattr(np, _old, _new)
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

import torch  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.trainer import Trainer  # noqa: E402
from recbole.utils import get_model, init_seed  # noqa: E402
from shared_args import add_training_args, timed_passes  # noqa: E402


def parser() -> argparse.ArgumentParser:
    """The driver's arguments (``benchmarks.peers.compare`` gives them; ``recbole_flops`` adds its own)."""
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--model", default="SASRec")
    p.add_argument("--loss", default="CE", choices=["CE", "BPR"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    add_training_args(p)
    return p


def identity(a: argparse.Namespace) -> dict[str, Any]:
    """The fields that open each record this folder's RecBole scripts print."""
    return {"library": "RecBole", "library_version": "1.2.1", "model": a.model, "loss": a.loss}


def build(a: argparse.Namespace) -> tuple[Any, Any, Any, Any, Any, Trainer]:
    """RecBole's config, train / valid / test loaders, model and trainer for the arguments ``a``."""
    torch.set_num_threads(a.threads)
    work = tempfile.mkdtemp(prefix="recbole-")
    config = Config(
        model=a.model,
        dataset=a.dataset,
        config_dict={
            "data_path": a.data_dir,
            "checkpoint_dir": work,
            "USER_ID_FIELD": "user_id",
            "ITEM_ID_FIELD": "item_id",
            "TIME_FIELD": "timestamp",
            "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "MAX_ITEM_LIST_LENGTH": a.max_len,
            "hidden_size": a.hidden,
            "inner_size": a.inner,
            "n_layers": a.layers,
            "n_heads": a.heads,
            "hidden_dropout_prob": a.dropout,
            "attn_dropout_prob": a.dropout,
            "loss_type": a.loss,
            "train_neg_sample_args": None if a.loss == "CE" else {"distribution": "uniform", "sample_num": 1},
            "epochs": a.epochs,
            "train_batch_size": a.batch_size,
            "eval_batch_size": 256,
            "learning_rate": a.lr,
            "eval_args": {
                "split": {"LS": "valid_and_test"},
                "order": "TO",
                "mode": "full",
                "group_by": "user",
            },
            "metrics": ["Hit", "NDCG", "MRR"],
            "topk": [10],
            "valid_metric": "NDCG@10",
            "seed": a.seed,
            "reproducibility": True,
            "show_progress": False,
            "use_gpu": a.device == "cuda",
            "gpu_id": "0",
            "worker": 0,
            "state": "WARNING",
            **({"mask_ratio": a.mask_prob, "ft_ratio": a.mask_last_prob} if a.model == "BERT4Rec" else {}),
        },
    )
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train._dataset).to(config["device"])
    trainer = Trainer(config, model)
    return config, train, valid, test, model, trainer


def main() -> None:
    a = parser().parse_args()
    _, train, valid, test, model, trainer = build(a)
    epoch_seconds, valid_seconds, curve = [], [], []
    best, best_state, best_epoch = -1.0, copy.deepcopy(model.state_dict()), 0
    t_start = time.perf_counter()
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        trainer._train_epoch(train, epoch)
        epoch_seconds.append(time.perf_counter() - t0)
        if (epoch + 1) % a.eval_every == 0 or epoch + 1 == a.epochs:
            t0 = time.perf_counter()
            score, _ = trainer._valid_epoch(valid)
            valid_seconds.append(time.perf_counter() - t0)
            curve.append(
                {"epoch": epoch + 1, "NDCG@10": float(score), "elapsed": time.perf_counter() - t_start}
            )
            if score > best:
                best, best_state, best_epoch = float(score), copy.deepcopy(model.state_dict()), epoch + 1
    model.load_state_dict(best_state)
    result, test_seconds = timed_passes(
        lambda: trainer.evaluate(test, load_best_model=False, show_progress=False), a.eval_passes
    )
    trained = (
        {
            "best_epoch": best_epoch,
            "seconds_per_epoch": statistics.median(epoch_seconds),
            "epoch_seconds": epoch_seconds,
            "valid_seconds": statistics.median(valid_seconds),
            "valid_curve": curve,
        }
        if a.epochs
        else {}
    )
    print(
        json.dumps(
            {
                **identity(a),
                "epochs": a.epochs,
                **trained,
                "eval_seconds": statistics.median(test_seconds),
                "eval_pass_seconds": test_seconds,
                "HR@10": float(result["hit@10"]),
                "NDCG@10": float(result["ndcg@10"]),
                "MRR": float(result["mrr@10"]),
                "filter_seen": False,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                "threads": a.threads,
                "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
