"""Every registered model trains through the public API, and survives save / load unchanged."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from seqrec import SeqRec, SequenceDataset
from seqrec.config import build_config
from seqrec.data.objectives import CausalNextItem, CoInteractionPairs, DemographicPairs, MaskedItem
from seqrec.models import BUILDERS, build_model
from seqrec.training.trainer import Trainer


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_fit_save_load_round_trip(name: str, dataset, one_thread, tmp_path) -> None:
    model = SeqRec(
        model={"name": name, "max_len": 10, "hidden": 16, "heads": 2},
        training={"epochs": 1, "batch_size": 64},
        runtime=one_thread,
    ).fit(dataset)
    again = SeqRec.load(model.save(tmp_path / name), runtime=one_thread)
    assert again.config == model.config
    assert model.recommend(users=[0, 5, 7], k=5).equals(again.recommend(users=[0, 5, 7], k=5))
    # a user absent from training (internal user 0)
    guest = model.recommend(histories={"guest": [10, 11, 12]}, k=5)
    assert guest.equals(again.recommend(histories={"guest": [10, 11, 12]}, k=5))
    assert len(guest) == 5


def _trainer(name: str, data: SequenceDataset, one_thread, **model: object) -> Trainer:
    cfg = build_config({"data": {}, "model": {"name": name, "max_len": 10, "hidden": 16, **model}})
    return Trainer(build_model(cfg.model, data.num_items, data.num_users), data, cfg, one_thread)


def test_objective_options_reach_the_objective(dataset, one_thread) -> None:
    bert = _trainer("bert4rec", dataset, one_thread, mask_prob=0.3, mask_last_prob=0.5).objective
    assert isinstance(bert, MaskedItem) and bert.mask_prob == 0.3 and bert.mask_token == 61
    assert bert.mask_last_prob == 0.5
    sse = _trainer("ssept", dataset, one_thread, sse_item_prob=0.2, window_prob=0.5).objective
    assert isinstance(sse, CausalNextItem)
    assert (sse.sse_item_prob, sse.sse_user_prob, sse.window_prob) == (0.2, 0.92, 0.5)
    fpt = _trainer("sasfpt", dataset, one_thread).objective
    assert isinstance(fpt.user_pairs, CoInteractionPairs) and fpt.num_pairs == 64
    ablation = _trainer("sasfpt", dataset, one_thread, user_embedding=False, group_loss_weight=0).objective
    assert ablation.user_pairs is None


def test_sasfpt_with_demographic_pairs(log, one_thread) -> None:
    rng = np.random.default_rng(0)
    users = pl.DataFrame(
        {"user": np.arange(120), "gender": rng.choice(["F", "M"], 120), "age": rng.choice([18, 25, 35], 120)}
    )
    data = SequenceDataset.from_frame(log, users=users, name="synthetic-with-users")
    assert (
        _trainer("sasfpt", data, one_thread, pair_definition="demographic").objective.user_pairs is not None
    )
    assert isinstance(
        _trainer("sasfpt", data, one_thread, pair_definition="demographic").objective.user_pairs,
        DemographicPairs,
    )
    model = SeqRec(
        model={"name": "sasfpt", "max_len": 10, "hidden": 16, "pair_definition": "demographic"},
        training={"epochs": 1},
        runtime=one_thread,
    ).fit(data)
    assert model.fit_result is not None and np.isfinite(model.fit_result.history[0]["loss"])
