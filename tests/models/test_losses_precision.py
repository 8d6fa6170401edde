"""bf16 autocast training on the CPU (``RuntimeOptions.precision``), every registered model and loss."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from seqrec import RuntimeOptions, SequenceDataset
from seqrec.config import build_config
from seqrec.models import BUILDERS, build_model
from seqrec.nn import losses
from seqrec.training.trainer import Trainer


def _trainer(name: str, loss: str, data: SequenceDataset, runtime: RuntimeOptions) -> Trainer:
    cfg = build_config(
        {
            "data": {},
            "model": {"name": name, "max_len": 10, "hidden": 16, "heads": 2},
            "training": {"loss": loss, "batch_size": 64, "num_negatives": 3},
        }
    )
    runtime.apply()
    return Trainer(build_model(cfg.model, data.num_items, data.num_users), data, cfg, runtime)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_bf16_epoch_runs_and_updates_weights(name: str, dataset, one_thread) -> None:
    trainer = _trainer(name, "ce", dataset, replace(one_thread, precision="bf16"))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    row = trainer.train_epoch(1)
    assert math.isfinite(row["loss"]) and row["loss"] > 0
    after = trainer.model.state_dict()
    assert all(after[k].dtype == v.dtype for k, v in before.items())  # weights stay float32
    assert any(not torch.equal(after[k], v) for k, v in before.items())


@pytest.mark.parametrize("loss", ["bce", "ce", "sampled_softmax", "gbce"])
def test_bf16_loss_close_to_fp32(loss: str, dataset, one_thread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(losses, "CE_CHUNK_BYTES", 4 * 60 * 16)  # chunk CE: 16 positions per chunk
    values = {}
    for precision in ("fp32", "bf16"):
        trainer = _trainer("sasrec", loss, dataset, replace(one_thread, precision=precision))
        trainer.model.eval()  # no dropout: the two precisions see the same computation
        batch = next(trainer.objective.epoch(64, trainer.rng))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            value = trainer.model.training_loss(batch, trainer.loss)
        value.backward()
        values[precision] = float(value.detach())
    assert values["bf16"] == pytest.approx(values["fp32"], rel=0.05)


def test_unknown_precision_is_an_error() -> None:
    with pytest.raises(ValueError, match="precision"):
        RuntimeOptions(precision="fp16")  # type: ignore[arg-type]
