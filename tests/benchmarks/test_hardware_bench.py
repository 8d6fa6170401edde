"""The hardware benchmark's parts on tiny inputs: matmul timing, FLOP counting split by module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.hardware import (
    count_epoch,
    extra_flop_formulas,
    matmul_gflops,
    peaks,
    time_encoder,
    time_phases,
)
from seqrec import RuntimeOptions, SequenceDataset
from seqrec.config import build_config
from seqrec.models import BUILDERS, build_model
from seqrec.nn.linear import ONEDNN_LINEAR, linear
from seqrec.nn.losses import FullCrossEntropy
from seqrec.training.trainer import Trainer


def test_matmul_gflops_positive() -> None:
    gflops, repeats, _ = matmul_gflops(torch.device("cpu"), torch.float32, 64, repeats=3, budget_s=1.0)
    assert gflops > 0 and 1 <= repeats <= 3


def test_peaks_take_the_best_size_per_dtype() -> None:
    records = [
        {"kind": "matmul", "dtype": "fp32", "gflops": 10.0},
        {"kind": "matmul", "dtype": "fp32", "gflops": 40.0},
        {"kind": "matmul", "dtype": "bf16", "error": "unsupported"},
    ]
    assert peaks(records) == {"fp32": 40.0}
    assert records[0]["share_of_peak"] == pytest.approx(0.25)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_epoch_flops_split_encoder_and_rest(name: str, dataset: SequenceDataset) -> None:
    one_thread = RuntimeOptions(progress=False, seed=7, threads=1)
    cfg = build_config(
        {
            "data": {},
            "model": {"name": name, "max_len": 10, "hidden": 16, "heads": 2},
            "training": {"loss": "ce", "batch_size": 32},
        }
    )
    one_thread.apply()
    trainer = Trainer(build_model(cfg.model, dataset.num_items, dataset.num_users), dataset, cfg, one_thread)
    counted, capture = count_epoch(trainer)
    assert counted["batches"] == trainer.objective.num_batches(32)
    # the encoder does most of the matmuls; the rest (CE scoring against 60 items) is not zero
    assert 0 < counted["flops_rest"] < counted["flops_encoder"] < counted["flops_epoch"]
    assert time_encoder(trainer.model.encoder, capture, torch.device("cpu"), "bf16") > 0


def test_full_softmax_ce_counts_its_three_products() -> None:
    """The chunked CE forms the logits and both gradients in its forward, the table's with ``addmm_``,
    which ``FlopCounterMode`` alone does not count: all three products must be in the total."""
    targets, items, width = 64, 300, 16
    h = torch.randn(targets, width, requires_grad=True)
    table = torch.randn(items + 1, width, requires_grad=True)
    classes = torch.randint(1, items + 1, (targets,))
    counter = FlopCounterMode(display=False, custom_mapping=extra_flop_formulas())
    with counter:
        FullCrossEntropy()(h, classes, None, table).backward()
    assert counter.get_total_flops() == 3 * 2 * targets * items * width


def test_phases_add_up_to_the_epoch_and_leave_the_trainer_as_it_was(dataset: SequenceDataset) -> None:
    runtime = RuntimeOptions(progress=False, seed=7, threads=1)
    cfg = build_config(
        {
            "data": {},
            "model": {"name": "sasrec", "max_len": 10, "hidden": 16, "heads": 2},
            "training": {"loss": "ce", "batch_size": 32},
        }
    )
    runtime.apply()
    trainer = Trainer(build_model(cfg.model, dataset.num_items, dataset.num_users), dataset, cfg, runtime)
    phases = time_phases(trainer, torch.device("cpu"))
    parts = [v for k, v in phases.items() if k.startswith("phase_") and k != "phase_epoch_seconds"]
    assert all(v >= 0 for v in parts) and phases["phase_loss_seconds"] > 0
    assert sum(parts) == pytest.approx(phases["phase_epoch_seconds"])
    batches = list(trainer.objective.epoch(32, np.random.default_rng(0)))
    assert phases["targets_epoch"] == sum(int(torch.count_nonzero(b.targets)) for b in batches)
    assert "training_loss" not in vars(trainer.model) and "step" not in vars(trainer)


@pytest.mark.skipif(not ONEDNN_LINEAR, reason="this build has no oneDNN fused linear")
def test_onednn_linears_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """``seqrec.nn.linear``'s inference products on oneDNN: 2 rows in out each, with or without a post-op
    (``FlopCounterMode`` alone counts none of them)."""
    monkeypatch.setattr("seqrec.nn.linear.ONEDNN_MIN_ROWS", 1)
    layer, x, residual = torch.nn.Linear(8, 4), torch.randn(3, 5, 8), torch.randn(3, 5, 4)
    counts = []
    for mapping in (extra_flop_formulas(), {}):
        counter = FlopCounterMode(display=False, custom_mapping=mapping)
        with torch.no_grad(), counter:
            linear(x, layer)
            linear(x, layer, "gelu")
            linear(x, layer, residual=residual)
        counts.append(counter.get_total_flops())
    assert counts == [3 * 2 * 15 * 8 * 4, 0]
