"""Train and evaluate RecTools 0.19 SASRec / BERT4Rec; runs inside the RecTools virtual environment.

Driven by ``benchmarks/peers/compare.py``; prints one JSON record. The split is seqrec's: the input file
holds each user's sequence with ``timestamp`` = position, the last item is the test target, the one
before it the validation item (held out of training, as in seqrec and RecBole). Epoch times come from a
Lightning callback; RecTools deep-copies the trainer, so the times live in a module-level list.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import statistics
import time

import numpy as np
import pandas as pd
import torch
from pytorch_lightning import Callback, Trainer
from rectools import Columns
from rectools.dataset import Dataset
from rectools.models import BERT4RecModel, SASRecModel
from shared_args import add_training_args, timed_passes
from torch.utils.flop_counter import FlopCounterMode

EPOCH_SECONDS: list[float] = []
EPOCH_FLOPS: list[int] = []
"""With ``--count-flops``: each training epoch's FLOPs (module-level for the same reason as the times)."""


class EpochTimer(Callback):
    def on_train_epoch_start(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        EPOCH_SECONDS.append(time.perf_counter() - self._t0)


class EpochFlops(Callback):
    """Counts each training epoch's FLOPs (forward, backward; the optimizer does no matmuls) with
    ``FlopCounterMode``, entered when the epoch starts and left when it ends."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        self._counter = FlopCounterMode(display=False)
        self._counter.__enter__()

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        self._counter.__exit__(None, None, None)
        EPOCH_FLOPS.append(int(self._counter.get_total_flops()))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--interactions", required=True)
    p.add_argument("--model", default="SASRec", choices=["SASRec", "BERT4Rec"])
    p.add_argument("--loss", default="softmax", choices=["softmax", "BCE", "gBCE", "sampled_softmax"])
    p.add_argument("--device", default="cpu", help="cpu or cuda (training and recommending)")
    p.add_argument("--count-flops", action="store_true", help="only count one training epoch's FLOPs")
    add_training_args(p)
    a = p.parse_args()
    if a.count_flops:
        a.epochs = 1
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    df = pd.read_csv(a.interactions)
    n = df.groupby("user_id")["timestamp"].transform("size")
    test = (df["timestamp"] == n - 1) & (n >= 3)
    valid = (df["timestamp"] == n - 2) & (n >= 3)
    frame = pd.DataFrame(
        {
            Columns.User: df["user_id"],
            Columns.Item: df["item_id"],
            Columns.Weight: 1.0,
            Columns.Datetime: pd.to_datetime(df["timestamp"], unit="s"),
        }
    )
    train_ds = Dataset.construct(frame[~test & ~valid])
    history_ds = Dataset.construct(frame[~test])

    def trainer() -> Trainer:
        return Trainer(
            max_epochs=a.epochs,
            min_epochs=a.epochs,
            deterministic=True,
            enable_checkpointing=False,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[EpochFlops() if a.count_flops else EpochTimer()],
            accelerator="gpu" if a.device.startswith("cuda") else "cpu",
            devices=1,
        )

    cls = SASRecModel if a.model == "SASRec" else BERT4RecModel
    bert = {"mask_prob": a.mask_prob} if a.model == "BERT4Rec" else {}  # no last-item samples in RecTools
    model = cls(
        **bert,
        n_blocks=a.layers,
        n_heads=a.heads,
        n_factors=a.hidden,
        dropout_rate=a.dropout,
        session_max_len=a.max_len,
        loss=a.loss,
        lr=a.lr,
        batch_size=a.batch_size,
        epochs=a.epochs,
        deterministic=True,
        get_trainer_func=trainer,
        recommend_torch_device=a.device,
    )
    t0 = time.perf_counter()
    model.fit(train_ds)
    train_seconds = time.perf_counter() - t0
    if a.count_flops:
        print(json.dumps({"library": "RecTools", "flops_epoch": EPOCH_FLOPS[0]}))
        return
    targets = df[test][["user_id", "item_id"]]
    records = {}
    for filter_viewed in (False, True):
        # users RecTools' preparation dropped (too few training items) get no list: counted as misses
        recommend = functools.partial(
            model.recommend,
            users=targets["user_id"].to_numpy(),
            dataset=history_ds,
            k=10,
            filter_viewed=filter_viewed,
            on_unsupported_targets="warn",
        )
        recos, seconds = timed_passes(recommend, a.eval_passes if not filter_viewed else 1)
        hit = recos.merge(targets, left_on=[Columns.User, Columns.Item], right_on=["user_id", "item_id"])
        ranks = hit[Columns.Rank].to_numpy() - 1
        users = len(targets)
        records[filter_viewed] = {
            "eval_seconds": statistics.median(seconds),
            **({"eval_pass_seconds": seconds} if not filter_viewed else {}),
            "HR@10": len(ranks) / users,
            "NDCG@10": float((1.0 / np.log2(ranks + 2.0)).sum() / users),
            "MRR": float((1.0 / (ranks + 1.0)).sum() / users),
            "unscored_users": users - recos[Columns.User].nunique(),
        }
    out = {
        "library": "RecTools",
        "library_version": "0.19.0",
        "model": a.model,
        "loss": a.loss,
        "epochs": a.epochs,
        **(
            {
                "seconds_per_epoch": statistics.median(EPOCH_SECONDS),
                "epoch_seconds": EPOCH_SECONDS,
                "train_seconds": train_seconds,
            }
            if EPOCH_SECONDS
            else {}
        ),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": a.threads,
        "device": torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
    }
    out.update({f"{k}": v for k, v in records[False].items()})
    out.update({f"{k} (filter_seen)": v for k, v in records[True].items()})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
