"""A stop requested during training ends it after that epoch and keeps the best validated state."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from seqrec import RuntimeOptions, SequenceDataset
from seqrec.config import build_config
from seqrec.data.batch import TrainBatch
from seqrec.models import build_model
from seqrec.training.trainer import Trainer


def test_requested_stop_ends_training_after_the_epoch(
    dataset: SequenceDataset, quiet: RuntimeOptions
) -> None:
    cfg = build_config(
        {
            "data": {},
            "model": {"name": "sasrec", "max_len": 12, "hidden": 16, "blocks": 1},
            "training": {"epochs": 10, "eval_every": 1, "batch_size": 64},
        }
    )

    class StopAtThree(Trainer):
        def train_epoch(self, epoch: int) -> dict[str, Any]:
            row = super().train_epoch(epoch)
            if epoch == 3:
                self.stop_requested = "test"
            return row

    result = StopAtThree(
        build_model(cfg.model, dataset.num_items, dataset.num_users), dataset, cfg, quiet
    ).fit()
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert result.stop_requested == "test" and not result.stopped_early
    assert 1 <= result.best_epoch <= 3


def test_a_loss_that_stops_being_finite_ends_training_with_the_epoch(
    dataset: SequenceDataset, quiet: RuntimeOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loss is read once per epoch: a NaN in any step of it stops training there, naming the epoch."""
    cfg = build_config(
        {
            "data": {},
            "model": {"name": "sasrec", "max_len": 12, "hidden": 16, "blocks": 1},
            "training": {"epochs": 5, "eval_every": 1, "batch_size": 64},
        }
    )
    model = build_model(cfg.model, dataset.num_items, dataset.num_users)
    trainer = Trainer(model, dataset, cfg, quiet)
    steps = []
    real_loss = model.training_loss

    def poisoned(batch: Any, loss: Any, weight: Any = 1.0) -> torch.Tensor:
        steps.append(None)
        value = real_loss(batch, loss, weight)
        return value * float("nan") if len(steps) == 3 else value  # epoch 2's first step (2 per epoch)

    monkeypatch.setattr(model, "training_loss", poisoned)
    assert trainer.objective.num_batches(64) == 2
    with pytest.raises(FloatingPointError, match="epoch 2: training loss became nan"):
        trainer.fit()


def test_each_target_weighs_the_same_whatever_its_batch(
    dataset: SequenceDataset, quiet: RuntimeOptions
) -> None:
    """A batch's mean loss is scaled by its targets over the mean number per batch so far, this batch
    included; with ``training.equal_target_weights: false``, or for a batch without targets, by 1."""
    cfg = build_config({"data": {}, "model": {"name": "sasrec", "max_len": 12, "hidden": 16}, "training": {}})
    trainer = Trainer(build_model(cfg.model, dataset.num_items, dataset.num_users), dataset, cfg, quiet)

    def batch(targets: int) -> TrainBatch:
        t = torch.zeros(4, 12, dtype=torch.long)
        t.view(-1)[:targets] = 1
        return TrainBatch(items=t, users=torch.zeros(4, dtype=torch.long), timestamps=t, targets=t)

    assert [trainer.batch_weight(batch(n)) for n in (10, 30, 0, 20)] == [1.0, 1.5, 1.0, 1.0]
    off = cfg.model_copy(update={"training": cfg.training.model_copy(update={"equal_target_weights": False})})
    trainer = Trainer(build_model(cfg.model, dataset.num_items, dataset.num_users), dataset, off, quiet)
    assert [trainer.batch_weight(batch(n)) for n in (10, 30)] == [1.0, 1.0]
