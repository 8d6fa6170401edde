"""``training.sparse_item_updates``: lazy Adam on the item table, Adam on the rest."""

from __future__ import annotations

import pytest
import torch

from seqrec import RuntimeOptions, SequenceDataset
from seqrec.config import ConfigError, build_config
from seqrec.models import build_model
from seqrec.training.trainer import Trainer


def _trainer(dataset: SequenceDataset, runtime: RuntimeOptions, model: str, loss: str) -> Trainer:
    cfg = build_config(
        {
            "data": {},
            "model": {"name": model, "max_len": 12, "hidden": 16, "blocks": 1},
            "training": {"loss": loss, "num_negatives": 20, "batch_size": 8, "sparse_item_updates": True},
        }
    )
    built = build_model(cfg.model, dataset.num_items, dataset.num_users).to(runtime.torch_device())
    return Trainer(built, dataset, cfg, runtime)


@pytest.mark.parametrize(("model", "loss"), [("sasrec", "sampled_softmax"), ("tisasrec", "bce")])
def test_a_step_moves_only_the_item_rows_of_its_batch(
    dataset: SequenceDataset, device: torch.device, model: str, loss: str
) -> None:
    """After an epoch of steps (rows it took have Adam moments), one more step changes exactly the table
    rows that its inputs, targets and negatives take, where Adam would also move the others with momentum;
    the other parameters take Adam's dense step."""
    torch.manual_seed(0)
    trainer = _trainer(dataset, RuntimeOptions(device=device.type, progress=False, seed=7), model, loss)
    assert [type(o).__name__ for o in trainer.optimizers] == ["Adam", "SparseAdam"]
    table = trainer.model.item_table()
    for batch in trainer.objective.epoch(8, trainer.rng):
        trainer.step(batch, 1.0)
    batch = next(iter(trainer.objective.epoch(8, trainer.rng)))
    before = table.detach().clone()
    dense = [p for group in trainer.optimizers[0].param_groups for p in group["params"]]
    others = [p.detach().clone() for p in dense]
    trainer.step(batch, 1.0)
    assert table.grad is not None and table.grad.is_sparse
    assert batch.negatives is not None
    taken = torch.cat([batch.items.flatten(), batch.targets.flatten(), batch.negatives.flatten()])
    moved = (table.detach() != before).any(1).cpu()
    expected = torch.zeros_like(moved)
    expected[taken] = True
    expected[0] = False  # padding: no gradient
    assert moved.tolist() == expected.tolist()
    assert all(not torch.equal(p, q) for p, q in zip(dense, others, strict=True) if p.grad is not None)


def test_models_scoring_through_a_derived_table_are_refused(
    dataset: SequenceDataset, quiet: RuntimeOptions
) -> None:
    with pytest.raises(ValueError, match="'bert4rec' scores items through a table derived"):
        _trainer(dataset, quiet, "bert4rec", "bce")


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"loss": "ce"}, "a sampled loss"),
        ({"loss": "bce", "weight_decay": 0.1}, "weight_decay 0"),
        ({"loss": "bce", "grad_clip": 1.0}, "no grad_clip"),
    ],
)
def test_settings_that_sparse_updates_cannot_take_are_config_errors(training: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config({"data": {}, "training": {**training, "sparse_item_updates": True}})
