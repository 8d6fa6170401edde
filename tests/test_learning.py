"""Slow end-to-end checks that the models actually learn (run with ``./scripts/test -m slow``)."""

from __future__ import annotations

import pytest

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from tests.conftest import synthetic_log


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["bce", "ce"])
def test_sasrec_learns_a_sequential_pattern(loss: str) -> None:
    """Each user walks through consecutive item ids: the next item is fully determined by the last one."""
    data = SequenceDataset.from_frame(synthetic_log(num_users=300, num_items=80, length=15), name="walk")
    model = SeqRec(
        model={"name": "sasrec", "max_len": 15, "hidden": 32, "dropout": 0.1},
        training={"loss": loss, "epochs": 40, "eval_every": 10, "lr": 0.005},
        runtime=RuntimeOptions(progress=False, seed=3),
    ).fit(data)
    record = model.evaluate("test", "full")
    assert record["HR@10"] > 0.9, record
