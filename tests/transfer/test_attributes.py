"""User-attribute transfer: labels, stratified splits, and a classifier that learns from histories."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.transfer.attributes import attribute_labels, fit_user_attribute, stratified_split
from tests.conftest import synthetic_log


@pytest.fixture
def labelled() -> SequenceDataset:
    """Users whose walk runs through the first half of the catalogue are 'low', the others 'high'."""
    log = synthetic_log(num_users=200, num_items=60, length=12, seed=4)
    first = log.group_by("user").agg(pl.col("item").first().alias("start"))
    users = first.select(
        "user", pl.when(pl.col("start") <= 24).then(pl.lit("low")).otherwise(pl.lit("high")).alias("band")
    )
    return SequenceDataset.from_frame(log, users=users, name="labelled")


def test_labels_and_a_stratified_split(labelled: SequenceDataset) -> None:
    labels, classes = attribute_labels(labelled, "band")
    assert classes == ["high", "low"] and set(np.unique(labels)) == {0, 1}
    parts = stratified_split(labels, seed=0)
    assert sum(len(v) for v in parts.values()) == labelled.num_users
    assert not set(parts["train"]) & set(parts["test"])
    share = [labels[parts[p]].mean() for p in ("train", "test")]
    assert abs(share[0] - share[1]) < 0.05
    with pytest.raises(ValueError, match="not in the dataset's user metadata"):
        attribute_labels(labelled, "gender")


@pytest.mark.parametrize("strategy", ["freeze-encoder", "adapters", "scratch"])
def test_the_classifier_beats_the_majority_class(labelled: SequenceDataset, strategy: str) -> None:
    quiet = RuntimeOptions(progress=False, seed=1)
    parent = SeqRec(
        model={"name": "sasrec", "max_len": 12, "hidden": 16, "blocks": 1},
        training={"epochs": 3, "batch_size": 64, "eval_every": 3},
        runtime=quiet,
    ).fit(labelled)
    # lr 2e-2: every strategy beats the majority by >= 0.125 for seeds 1-6 (at 5e-3 adapters failed 4 of 6)
    result = fit_user_attribute(parent, "band", strategy, epochs=15, lr=2e-2, runtime=quiet)
    assert result["test_accuracy"] > result["majority_accuracy"] + 0.05, result
    assert (result["trainable_share"] < 1) == (strategy != "scratch")
