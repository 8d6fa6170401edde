"""The notebook API: fit / evaluate / recommend / save / load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch

from seqrec import SeqRec, SequenceDataset
from seqrec.data.vocab import UnknownIdError
from seqrec.training.checkpoint import CheckpointMismatchError, load_weights


@pytest.fixture
def model(dataset, quiet, tmp_path) -> SeqRec:
    return SeqRec(
        model={"name": "sasrec", "max_len": 10, "hidden": 16},
        training={"epochs": 2, "eval_every": 1},
        runtime=quiet,
    ).fit(dataset, run_dir=tmp_path / "run")


def test_run_directory_contents(model: SeqRec, tmp_path) -> None:
    run = tmp_path / "run"
    for name in ("config.json", "model.safetensors", "train_log.jsonl", "curves.png", "data/items.json"):
        assert (run / name).exists(), name
    assert any((run / "tensorboard").iterdir())


def test_save_load_round_trip_gives_identical_scores(model: SeqRec, tmp_path) -> None:
    out = model.save(tmp_path / "saved")
    again = SeqRec.load(out)
    a = model.recommend(users=[0, 5, 7], k=5)
    b = again.recommend(users=[0, 5, 7], k=5)
    assert a.equals(b)
    assert model.evaluate("test") == again.evaluate("test")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fit_evaluate_save_and_load_on_each_device(dataset, device, precision: str, tmp_path) -> None:
    """The whole job on the device (CUDA where present), in float32 and under bf16 autocast: training
    learns something, and a saved model, loaded again on the CPU, ranks as it did."""
    from seqrec import RuntimeOptions

    runtime = RuntimeOptions(progress=False, seed=7, device=str(device), precision=precision)
    model = SeqRec(
        model={"name": "sasrec", "max_len": 10, "hidden": 16, "dropout": 0.1},
        training={"epochs": 6, "eval_every": 3, "loss": "ce", "lr": 0.01},
        runtime=runtime,
    ).fit(dataset)
    assert model.fit_result is not None and model.fit_result.best_metric > 0.3  # untrained: ~0.08
    record = model.evaluate("test")
    again = SeqRec.load(model.save(tmp_path / "saved"))
    assert again.evaluate("test")["HR@10"] == pytest.approx(record["HR@10"], abs=0.02)  # a near tie may flip
    assert (
        model.recommend(users=[3], k=1)["item"].to_list() == again.recommend(users=[3], k=1)["item"].to_list()
    )


def test_load_reports_shape_mismatch(model: SeqRec, tmp_path) -> None:
    out = model.save(tmp_path / "saved")
    other = SeqRec(model={"name": "sasrec", "max_len": 10, "hidden": 8}).config
    from seqrec.models import build_model

    small = build_model(other.model, model.data.num_items, model.data.num_users)  # type: ignore[union-attr]
    with pytest.raises(CheckpointMismatchError, match=r"item_emb.weight: stored \(61, 16\), model \(61, 8\)"):
        load_weights(small, out / "model.safetensors")


def test_recommend_known_and_new_users(model: SeqRec) -> None:
    known = model.recommend(users=[3], k=4)
    assert known.columns == ["user", "rank", "item", "score", "title"]
    assert known["rank"].to_list() == [1, 2, 3, 4]
    assert known["title"].to_list() == [f"Film {i}" for i in known["item"].to_list()]
    # a user absent from training, served from a history given at request time
    new = model.recommend(histories={"guest": [10, 11, 12]}, k=4)
    assert set(new["user"].to_list()) == {"guest"}
    by_title = model.recommend(histories={"guest": ["Film 10", "film 11", "Film 12"]}, k=4, titles=True)
    assert by_title.equals(new)
    with pytest.raises(UnknownIdError, match="9999"):
        model.recommend(histories={"guest": [9999]})
    with pytest.raises(KeyError, match="unknown title"):
        model.recommend(histories={"guest": ["No Such Film"]}, titles=True)


def test_filter_seen_removes_history(model: SeqRec) -> None:
    data = model.data
    assert data is not None
    users = data.users.to_external(np.arange(1, 21)).to_list()
    recs = model.recommend(users=users, k=data.num_items)
    for row, user in enumerate(users):
        seen = set(data.items.to_external(data.sequences.row(row)).to_list())
        got = set(recs.filter(pl.col("user") == user)["item"].to_list())
        assert not seen & got
        assert len(got) == data.num_items - len(seen)
    kept = model.recommend(users=users[:1], k=data.num_items, filter_seen=False)
    assert len(kept) == data.num_items


def test_include_only_and_exclude(model: SeqRec) -> None:
    recs = model.recommend(histories=[[1, 2]], k=10, include_only=[5, 6, 7], exclude=[6])
    assert sorted(recs["item"].to_list()) == [5, 7]


def test_from_pandas_with_column_mapping(log) -> None:
    frame = log.rename({"user": "uid", "item": "movie", "timestamp": "ts"}).to_pandas()
    data = SequenceDataset.from_frame(
        frame, user="uid", item="movie", timestamp="ts", min_user_interactions=5
    )
    assert isinstance(frame, pd.DataFrame)
    assert data.num_users == 120
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        SequenceDataset.from_frame(frame, user="nope", item="movie", timestamp="ts")


def test_training_is_repeatable(dataset, quiet) -> None:
    def run() -> torch.Tensor:
        m = SeqRec(
            model={"name": "sasrec", "max_len": 10, "hidden": 16}, training={"epochs": 1}, runtime=quiet
        )
        m.fit(dataset)
        assert m.model is not None
        return m.model.item_table().detach().clone()

    assert torch.equal(run(), run())


def test_from_file_with_column_mapping(tmp_path, log) -> None:
    path = tmp_path / "events.tsv"
    log.rename({"user": "uid", "item": "sku", "timestamp": "ts"}).write_csv(path, separator="\t")
    data = SequenceDataset.from_file(path, columns={"user": "uid", "item": "sku", "timestamp": "ts"})
    assert (data.num_users, data.num_items) == (120, 60)
    assert data.sequences.items.sum() > 0
