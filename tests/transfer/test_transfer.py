"""Transfer: id mapping, transplanting, strategies, adapters, fine-tuned runs that load and recommend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.data.batch import SequenceBatch
from seqrec.data.vocab import Vocabulary
from seqrec.models import BUILDERS
from seqrec.nn.adapters import BottleneckAdapter, insert_adapters
from seqrec.serving import Recommender
from seqrec.transfer import finetune, map_vocabularies, transplant
from tests.conftest import synthetic_log

TINY = {"max_len": 12, "hidden": 16, "blocks": 1, "heads": 1, "dropout": 0.1}
TRAIN = {"epochs": 2, "batch_size": 64, "eval_every": 1}


def tiny_model(name: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"user_hidden": 8} if name == "ssept" else {}
    if name in ("tisasrec", "sasfpt"):
        extra["time_span"] = 16
    if name == "sasfpt":
        extra.update(group_loss_weight=0.0, pair_definition="co_interaction")
    return {"name": name, **TINY, **extra}


def trained(name: str, data: SequenceDataset, quiet: RuntimeOptions, loss: str = "bce") -> SeqRec:
    training = dict(TRAIN, loss=loss if name != "bert4rec" else "ce")
    return SeqRec(model=tiny_model(name), training=training, runtime=quiet).fit(data)


@pytest.fixture
def target(item_meta: pl.DataFrame) -> SequenceDataset:
    """Another catalogue: items 31..90 (31..60 shared with the source), other users."""
    log = synthetic_log(num_users=80, num_items=60, seed=3).with_columns(
        (pl.col("item") + 30).alias("item"), (pl.col("user") + 1000).alias("user")
    )
    meta = pl.DataFrame({"item": np.arange(31, 91), "title": [f"Film {i}" for i in range(31, 91)]})
    return SequenceDataset.from_frame(log, items=meta, name="target")


def test_id_mapping_is_exact_across_toy_vocabularies() -> None:
    source = Vocabulary(pl.Series(["a", "b", "c", "d"]), "item")
    target = Vocabulary(pl.Series(["d", "x", "b"]), "item")
    mapping = map_vocabularies(source, target, kind="item", apply=True)
    assert mapping.source_rows.tolist() == [0, 4, 0, 2]  # padding, d -> 4, x new, b -> 2
    assert (mapping.matched, mapping.overlap, mapping.target_size) == (2, 2, 3)
    unapplied = map_vocabularies(source, target, kind="item", apply=False)
    assert unapplied.matched == 0 and unapplied.overlap == 2
    ints = Vocabulary(pl.Series([4, 7], dtype=pl.Int64), "item")  # types differ: compared as strings
    strings = Vocabulary(pl.Series(["7", "9"]), "item")
    assert map_vocabularies(ints, strings, kind="item", apply=True).source_rows.tolist() == [0, 2, 0]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_adapters_at_initialisation_leave_scores_unchanged(
    name: str, dataset: SequenceDataset, quiet: RuntimeOptions
) -> None:
    rec = trained(name, dataset, quiet)
    assert rec.model is not None
    model = rec.model.eval()
    seqs = dataset.sequences
    batch = SequenceBatch(
        torch.tensor(np.stack([seqs.items[seqs.offsets[u] : seqs.offsets[u] + 10] for u in range(4)])),
        torch.arange(1, 5),
        torch.tensor(np.stack([seqs.timestamps[seqs.offsets[u] : seqs.offsets[u] + 10] for u in range(4)])),
    )
    with torch.no_grad():
        before = model.score_all(batch)
        inserted = insert_adapters(model, 4)
        after = model.score_all(batch)
    assert inserted == 2 * TINY["blocks"]
    torch.testing.assert_close(before, after)
    # and they do change the scores once their up-projection is non-zero
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BottleneckAdapter):
                m.up.weight.normal_()
        assert not torch.allclose(before[:, 1:], model.score_all(batch)[:, 1:])


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("strategy", ["freeze-encoder", "adapters"])
def test_frozen_parameters_do_not_change(
    strategy: str, dataset: SequenceDataset, target: SequenceDataset, quiet: RuntimeOptions
) -> None:
    parent = trained("ssept", dataset, quiet)
    child = finetune(
        parent, target, strategy=strategy, map_ids="items", training={"epochs": 0}, runtime=quiet
    )
    assert child.model is not None and child.transfer is not None
    before = _snapshot(child.model)
    child.train(target)
    after = _snapshot(child.model)
    trainable = {n for n, p in child.model.named_parameters() if p.requires_grad}
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        if key.startswith("encoder.") and strategy == "freeze-encoder":
            assert not changed, key
        if strategy == "adapters" and key not in trainable:
            assert not changed, key
    assert any(not torch.equal(before[k], after[k]) for k in trainable)
    if strategy == "adapters":  # rows mapped from the parent keep their pre-trained values
        assert parent.data is not None
        source_rows = map_vocabularies(parent.data.items, target.items, kind="item", apply=True).source_rows
        rows = torch.from_numpy(np.flatnonzero(source_rows > 0))
        assert len(rows) == 30
        torch.testing.assert_close(before["item_emb.weight"][rows], after["item_emb.weight"][rows])
        new = torch.from_numpy(np.flatnonzero(source_rows == 0)[1:])
        assert not torch.equal(before["item_emb.weight"][new], after["item_emb.weight"][new])
    share = child.transfer["trainable_share"]
    assert 0 < share < 1


def test_transplant_maps_shared_ids_to_their_pre_trained_rows(
    dataset: SequenceDataset, target: SequenceDataset, quiet: RuntimeOptions
) -> None:
    parent = trained("sasrec", dataset, quiet)
    child = finetune(parent, target, strategy="full", map_ids="items", training={"epochs": 0}, runtime=quiet)
    assert child.model is not None and parent.model is not None and child.transfer is not None
    assert child.transfer["items"]["matched"] == 30 and child.transfer["users"]["matched"] == 0
    p_rows = parent.data.items.to_internal([31, 45, 60])  # type: ignore[union-attr]
    c_rows = target.items.to_internal([31, 45, 60])
    torch.testing.assert_close(
        child.model.state_dict()["item_emb.weight"][c_rows],
        parent.model.state_dict()["item_emb.weight"][p_rows],
    )
    torch.testing.assert_close(
        child.model.state_dict()["encoder.blocks.0.attn.q.weight"],
        parent.model.state_dict()["encoder.blocks.0.attn.q.weight"],
    )
    unmapped = finetune(parent, target, strategy="full", training={"epochs": 0}, runtime=quiet)
    assert unmapped.transfer is not None
    assert unmapped.transfer["items"]["matched"] == 0 and unmapped.transfer["items"]["overlap"] == 30


def test_mismatches_are_clear_errors(
    dataset: SequenceDataset, target: SequenceDataset, quiet: RuntimeOptions
) -> None:
    parent = trained("sasrec", dataset, quiet)
    with pytest.raises(ValueError, match="choose a transfer strategy"):
        finetune(parent, target, strategy=None, runtime=quiet)
    with pytest.raises(ValueError, match="unknown transfer strategy"):
        finetune(parent, target, strategy="partial", runtime=quiet)
    other = SeqRec(model=dict(tiny_model("sasrec"), hidden=8), runtime=quiet)
    model = other.build_model(target)
    assert parent.model is not None
    with pytest.raises(ValueError, match=r"encoder\.blocks\.0\.attn\.q\.weight: pre-trained shape"):
        transplant(parent.model.state_dict(), model, {})


@pytest.mark.parametrize("strategy", ["full", "freeze-encoder", "adapters"])
def test_finetuned_run_loads_and_recommends(
    strategy: str, dataset: SequenceDataset, target: SequenceDataset, quiet: RuntimeOptions, tmp_path: Path
) -> None:
    parent_dir = tmp_path / "parent"
    trained("sasrec", dataset, quiet).save(parent_dir)
    out = tmp_path / "child"
    child = finetune(parent_dir, target, strategy=strategy, training=TRAIN, runtime=quiet, run_dir=out)
    child.save(out)
    loaded = SeqRec.load(out, runtime=quiet)
    assert loaded.transfer is not None and loaded.transfer["parent_run"] == str(parent_dir)
    assert loaded.transfer["strategy"] == strategy
    assert (loaded.config.model.adapter_size is not None) == (strategy == "adapters")
    first = child.recommend(users=[1000, 1001], k=5)
    again = loaded.recommend(users=[1000, 1001], k=5)
    assert first["item"].to_list() == again["item"].to_list()
    assert set(first["item"].to_list()) <= set(range(31, 91))
    served = Recommender.load(out, index=None).recommend([1000], k=5)
    assert served["item"].to_list() == again.filter(pl.col("user") == 1000)["item"].to_list()
