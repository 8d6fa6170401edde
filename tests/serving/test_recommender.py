"""Recommender.load, index retrieval against model scoring, filters, titles, search, similar items."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from seqrec import SeqRec
from seqrec.serving import AmbiguousTitleError, IndexConfig, Recommender, UnknownTitleError
from seqrec.serving.index import INFO_FILE
from seqrec.serving.recommender import NotInnerProductError


def test_load_matches_seqrec_and_the_exact_index(run_dir: Path, rec: Recommender, plain: Recommender) -> None:
    assert rec.index is not None and rec.index.kind == "exact"
    assert plain.index is None
    users = rec.data.users.external.to_list()
    via_api = SeqRec.load(run_dir).recommend(users=users, k=10)
    by_model = plain.recommend(users=users, k=10)
    assert by_model.equals(via_api)  # same ranking code as SeqRec (and so as the evaluator)
    by_index = rec.recommend(users=users, k=10)
    assert by_index["item"].to_list() == by_model["item"].to_list()
    np.testing.assert_allclose(by_index["score"].to_numpy(), by_model["score"].to_numpy(), rtol=1e-5)


@pytest.mark.parametrize("retrieval", ["model", "index"])
def test_filter_seen_removes_every_history_item(rec: Recommender, retrieval: str) -> None:
    data = rec.data
    users = data.users.external.to_list()
    recs = rec.recommend(users=users, k=data.num_items, retrieval=retrieval)  # type: ignore[arg-type]
    rows = data.users.to_internal(recs["user"]) - 1
    items = data.items.to_internal(recs["item"])
    seen = {(r, i) for r in range(data.num_users) for i in data.sequences.row(r)}
    assert not any((r, i) in seen for r, i in zip(rows, items, strict=True))
    # everything not seen is still there: the over-fetch of the index path leaves k unseen items
    unseen = sum(data.num_items - len(set(data.sequences.row(r))) for r in range(data.num_users))
    assert len(recs) == unseen
    kept = rec.recommend(users=users[:1], k=data.num_items, filter_seen=False, retrieval=retrieval)  # type: ignore[arg-type]
    assert len(kept) == data.num_items


def test_long_histories_are_searched_again(
    rec: Recommender, plain: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    searches: list[int] = []
    original = rec._search_unseen

    def counted(states, fetch, *args):  # type: ignore[no-untyped-def]
        searches.append(fetch)
        return original(states, fetch, *args)

    monkeypatch.setattr(rec, "_search_unseen", counted)
    history = list(range(1, 58))  # 57 of the 60 items: the first search (k + 37) cannot leave k unseen
    by_index = rec.recommend(histories=[history], k=5)
    assert searches == [5 + 37, 60]
    by_model = plain.recommend(histories=[history], k=5)
    assert by_index["item"].to_list() == by_model["item"].to_list()
    assert sorted(by_index["item"].to_list()) == [58, 59, 60]


def test_filter_seen_for_an_ad_hoc_history(rec: Recommender) -> None:
    history = [5, 6, 7, 8]
    recs = rec.recommend(histories={"guest": history}, k=20)
    assert not set(history) & set(recs["item"].to_list())
    assert len(recs) == 20


@pytest.mark.parametrize("retrieval", ["model", "index"])
def test_exclude_and_include_only(rec: Recommender, retrieval: str) -> None:
    recs = rec.recommend(histories=[[1, 2]], k=10, include_only=[5, 6, 7], exclude=[6], retrieval=retrieval)  # type: ignore[arg-type]
    assert sorted(recs["item"].to_list()) == [5, 7]
    excluded = list(range(3, 40))
    recs = rec.recommend(histories=[[1, 2]], k=10, exclude=excluded, retrieval=retrieval)  # type: ignore[arg-type]
    assert len(recs) == 10
    assert not set(recs["item"].to_list()) & (set(excluded) | {1, 2})


def test_histories_as_titles(rec: Recommender) -> None:
    by_id = rec.recommend(histories={"g": [10, 11, 12]}, k=5)
    by_title = rec.recommend(histories={"g": ["Film 10", "  film 11", "FILM 12"]}, k=5, titles=True)
    assert by_title.equals(by_id)


def test_unknown_title_suggests_close_titles(rec: Recommender) -> None:
    with pytest.raises(UnknownTitleError, match="unknown title 'Film 999'") as err:
        rec.recommend(histories=[["Film 3", "Film 999"]], titles=True)
    assert err.value.position == 1
    assert err.value.suggestions  # token matches ("film")
    with pytest.raises(UnknownTitleError) as typo:
        rec.items_from_titles(["Twin Flim"])
    assert (59, "Twin Film") in typo.value.suggestions


def test_ambiguous_title_lists_the_candidates(rec: Recommender) -> None:
    with pytest.raises(AmbiguousTitleError, match="matches 2 items") as err:
        rec.items_from_titles(["Film 1", "twin film"])
    assert err.value.position == 1
    assert err.value.candidates == [(59, "Twin Film"), (60, "Twin Film")]


def test_title_search_ranking(rec: Recommender) -> None:
    found = rec.search("film 1", k=5)
    assert found["title"][0] == "Film 1"  # exact first
    assert found["match"].to_list()[:2] == [4.0, 3.0]
    assert set(found["title"][1:].to_list()) <= {f"Film {i}" for i in range(10, 20)}  # then prefixes
    assert {"genres", "year", "popularity"} <= set(found.columns)
    words = rec.search("film twin", k=3)  # words in any order
    assert words["title"].to_list()[:2] == ["Twin Film", "Twin Film"]
    assert rec.search("no such thing", k=3).is_empty()


def test_similar_items_by_cosine_and_dot(rec: Recommender) -> None:
    table = rec.model.item_table().detach().numpy()
    unit = table[1:] / np.linalg.norm(table[1:], axis=1, keepdims=True)  # row j = item j + 1
    cos = unit @ unit[5 - 1]
    cos[5 - 1] = -np.inf
    expected = (np.argsort(-cos, kind="stable")[:4] + 1).tolist()
    got = rec.similar_items(5, k=4)
    assert got.columns == ["query", "rank", "item", "score", "title"]
    assert got["item"].to_list() == expected
    assert 5 not in got["item"].to_list()
    dot = rec.similar_items("Film 5", k=3, title=True, metric="dot", meta=True)
    assert dot["score"][0] == pytest.approx(float(np.max(np.delete(table[1:] @ table[5], 4))), rel=1e-5)
    assert "genres" in dot.columns


def test_index_is_saved_beside_the_weights_and_reused(run_dir: Path, rec: Recommender) -> None:
    assert (run_dir / "retrieval.faiss").exists()
    info = json.loads((run_dir / INFO_FILE).read_text())
    assert info["kind"] == "exact" and info["num_items"] == rec.data.num_items
    stamp = (run_dir / "retrieval.faiss").stat().st_mtime_ns
    again = Recommender.load(run_dir)
    assert (run_dir / "retrieval.faiss").stat().st_mtime_ns == stamp  # loaded, not rebuilt
    assert again.index is not None and again.index.info == rec.index.info  # type: ignore[union-attr]


def test_index_from_other_weights_is_rebuilt(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    info = json.loads((copy / INFO_FILE).read_text())
    info["weights_sha256"] = "0" * 64
    (copy / INFO_FILE).write_text(json.dumps(info))
    loaded = Recommender.load(copy)
    assert loaded.index is not None and loaded.index.info.weights_sha256 != "0" * 64


def test_approximate_index_above_the_threshold(run_dir: Path, plain: Recommender) -> None:
    config = IndexConfig(approximate_above=10, hnsw_m=4, hnsw_ef_search=8)
    index = plain.build_index(config)
    assert index.kind == "hnsw"
    assert index.info.recall_queries == plain.data.num_users
    assert 0.5 <= index.info.recall["recall@10"] <= 1.0


def test_a_model_that_is_not_an_inner_product_is_refused(run_dir: Path) -> None:
    other = Recommender.load(run_dir, index=None)
    original = other.model.score_all

    def biased(batch):  # type: ignore[no-untyped-def]
        return original(batch) + torch.arange(other.data.num_items + 1, dtype=torch.float32)

    other.model.score_all = biased  # type: ignore[method-assign]
    with pytest.raises(NotInnerProductError, match="inner product"):
        other.build_index(IndexConfig(kind="exact"))


def test_recommend_rejects_bad_arguments(rec: Recommender) -> None:
    with pytest.raises(ValueError, match="either users or histories"):
        rec.recommend()
    with pytest.raises(ValueError, match="k must be at least 1"):
        rec.recommend(users=[0], k=0)
    with pytest.raises(ValueError, match="empty history"):
        rec.recommend(histories={"a": []})
    assert isinstance(rec.recommend(users=[0], k=3), pl.DataFrame)


def test_auto_index_falls_back_to_model_scoring(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("retrieval.*"))

    def refuse(self: Recommender) -> None:
        raise NotInnerProductError("not an inner product")

    monkeypatch.setattr(Recommender, "_check_inner_product", refuse)
    assert Recommender.load(copy, index="auto").index is None
    with pytest.raises(NotInnerProductError):
        Recommender.load(copy, index="exact")
