"""Text-based items: texts from metadata, the offline sentence encoder and its cache, text-based models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.config import ItemTextConfig
from seqrec.nn.embeddings import TextItemEmbedding
from seqrec.transfer import finetune
from seqrec.transfer import text as text_module
from seqrec.transfer.text import encode_texts, item_texts
from tests.conftest import synthetic_log

GENRES = ["Comedy", "Drama", "Horror", "Jazz", "Metal"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("SEQREC_CACHE_DIR", str(tmp_path / "cache"))


def catalogue(first: int, count: int, kind: str) -> pl.DataFrame:
    ids = np.arange(first, first + count)
    return pl.DataFrame(
        {
            "item": ids,
            "title": [f"{kind} {i}" for i in ids],
            "genres": [f"{GENRES[i % 5]}|{GENRES[(i + 1) % 5]}" for i in ids],
        }
    )


def test_item_texts_join_the_fields_that_exist() -> None:
    meta = pl.DataFrame(
        {"item": [1, 2], "title": ["Heat (1995)", None], "tags": ["crime|thriller|" + "|".join("x" * 20), ""]}
    )
    texts = item_texts(meta, 2, ("title", "genres", "tags"))
    assert texts[0].startswith("title: Heat (1995); tags: crime, thriller, x")
    assert texts[0].count(",") == 11  # lists are cut to their first 12 values
    assert texts[1] == ""
    with pytest.raises(ValueError, match="none of them is an item metadata column"):
        item_texts(meta, 2, ("genres",))
    with pytest.raises(ValueError, match="needs item metadata"):
        item_texts(None, 2, ("title",))


def test_the_default_encoder_runs_offline_and_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["heavy metal band from Sweden", "death metal group", "romantic comedy film set in Paris"]
    vectors = encode_texts(texts, progress=False)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # meaning, not noise

    import sentence_transformers

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", refuse)
    np.testing.assert_array_equal(encode_texts(texts, progress=False), vectors)
    assert text_module.resolve_encoder("some/other-model") == "some/other-model"


def test_text_model_saves_loads_and_moves_to_a_catalogue_without_shared_ids(tmp_path: Path) -> None:
    quiet = RuntimeOptions(progress=False, seed=3)
    source = SequenceDataset.from_frame(
        synthetic_log(80, 40, 10), items=catalogue(1, 40, "Film"), name="films"
    )
    target_log = synthetic_log(60, 30, 10, seed=9).with_columns(pl.col("item") + 1000)
    target = SequenceDataset.from_frame(target_log, items=catalogue(1001, 30, "Album"), name="albums")
    rec = SeqRec(
        model={"name": "sasrec", "max_len": 10, "hidden": 16, "blocks": 1, "item_text": {"experts": 4}},
        training={"epochs": 2, "batch_size": 32, "eval_every": 1},
        runtime=quiet,
    ).fit(source)
    assert rec.model is not None
    table = rec.model.item_emb  # type: ignore[union-attr]
    assert isinstance(table, TextItemEmbedding) and table.text.shape == (41, 384)
    rec.save(tmp_path / "films")
    loaded = SeqRec.load(tmp_path / "films", runtime=quiet)
    assert (
        loaded.recommend(users=[0, 1], k=5)["item"].to_list()
        == rec.recommend(users=[0, 1], k=5)["item"].to_list()
    )

    zero_shot = finetune(tmp_path / "films", target, strategy="full", training={"epochs": 0}, runtime=quiet)
    assert zero_shot.model is not None and zero_shot.transfer is not None
    assert zero_shot.transfer["items"]["overlap"] == 0
    moved = zero_shot.model.item_emb  # type: ignore[union-attr]
    assert isinstance(moved, TextItemEmbedding) and moved.text.shape == (31, 384)
    assert not torch.equal(moved.text[1:31], table.text[1:31])  # the target's own texts
    torch.testing.assert_close(moved.proj, table.proj)  # the adaptor moved with the encoder
    recs = zero_shot.recommend(users=[0], k=5)
    assert set(recs["item"].to_list()) <= set(range(1001, 1031))
    adapted = finetune(
        tmp_path / "films",
        target,
        strategy="adapters",
        training={"epochs": 1},
        runtime=quiet,
        run_dir=tmp_path / "albums",
    )
    assert adapted.transfer is not None and adapted.transfer["trainable_share"] < 1
    again = SeqRec.load(tmp_path / "albums", runtime=quiet)
    assert again.config.model.item_text == ItemTextConfig(experts=4)


def test_bert4rec_refuses_text_items() -> None:
    with pytest.raises(ValueError, match="item_text is available for the SASRec family"):
        SeqRec(model={"name": "bert4rec", "item_text": {}})
