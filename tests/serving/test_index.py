"""The FAISS index: exact search equals brute force, approximate recall is measured against it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqrec.serving.index import IndexConfig, RetrievalIndex


@pytest.fixture(scope="module")
def vectors() -> tuple[np.ndarray, np.ndarray]:
    """3,000 items and 300 queries in 16 dimensions (random: hard for an approximate index)."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((3000, 16)).astype(np.float32), rng.standard_normal((300, 16)).astype(
        np.float32
    )


def brute_force(items: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Internal ids (row + 1) of the top-k inner products, by hand."""
    return np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :k] + 1


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def test_exact_index_is_brute_force(vectors: tuple[np.ndarray, np.ndarray]) -> None:
    items, queries = vectors
    index = RetrievalIndex.build(items, IndexConfig())
    assert index.kind == "exact"
    scores, ids = index.search(queries, 10)
    np.testing.assert_array_equal(ids, brute_force(items, queries, 10))
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, ids - 1, axis=1), rtol=1e-5)


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        (
            IndexConfig(
                kind="auto", approximate_above=1000, hnsw_m=4, hnsw_ef_construction=20, hnsw_ef_search=10
            ),
            "hnsw",
        ),
        (IndexConfig(kind="ivf", ivf_nlist=64, ivf_nprobe=2), "ivf"),
    ],
)
def test_approximate_recall_is_measured_against_exact(
    vectors: tuple[np.ndarray, np.ndarray], config: IndexConfig, kind: str
) -> None:
    items, queries = vectors
    index = RetrievalIndex.build(items, config, queries=queries)
    assert index.kind == kind
    for k in (10, 100):
        _, found = index.search(queries, k)
        by_hand = recall(found, brute_force(items, queries, k))
        assert index.info.recall[f"recall@{k}"] == pytest.approx(by_hand, abs=1e-4)
    assert index.info.recall_queries == len(queries)
    # deliberately weak settings: the measurement must see the approximation
    assert 0.05 < index.info.recall["recall@10"] < 1.0


def test_allowed_mask_filters_inside_the_search(vectors: tuple[np.ndarray, np.ndarray]) -> None:
    items, queries = vectors
    index = RetrievalIndex.build(items, IndexConfig())
    allowed = np.ones(len(items) + 1, dtype=bool)
    allowed[0] = False
    banned = brute_force(items, queries[:1], 5)[0]
    allowed[banned] = False
    _, ids = index.search(queries[:1], 5, allowed)
    assert not set(ids[0]) & set(banned)
    scores, ids = index.search(queries[:1], 5, np.eye(1, len(items) + 1, 7, dtype=bool)[0])
    assert ids[0].tolist() == [7, 0, 0, 0, 0]  # one allowed item; the rest are empty slots
    assert np.isneginf(scores[0, 1:]).all()


def test_save_and_load_round_trip(vectors: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    items, queries = vectors[0][:1000], vectors[1]
    config = IndexConfig(kind="hnsw", hnsw_m=8, hnsw_ef_construction=40, recall_queries=100)
    index = RetrievalIndex.build(items, config, weights_sha256="abc")
    index.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["retrieval.faiss", "retrieval.json"]
    again = RetrievalIndex.load(tmp_path)
    assert again.info == index.info
    np.testing.assert_array_equal(again.search(queries, 10)[1], index.search(queries, 10)[1])
    assert RetrievalIndex.saved_matches(tmp_path, IndexConfig(kind="hnsw"), len(items), "abc")
    assert not RetrievalIndex.saved_matches(tmp_path, IndexConfig(kind="exact"), len(items), "abc")
    assert not RetrievalIndex.saved_matches(tmp_path, IndexConfig(kind="hnsw"), len(items), "other")
    info = json.loads((tmp_path / "retrieval.json").read_text())
    del info["layout"]  # written by an older version: rebuilt, not trusted
    (tmp_path / "retrieval.json").write_text(json.dumps(info))
    assert not RetrievalIndex.saved_matches(tmp_path, IndexConfig(kind="hnsw"), len(items), "abc")


def test_hnsw_searches_the_l2_reduction_of_inner_product(vectors: tuple[np.ndarray, np.ndarray]) -> None:
    items, queries = vectors
    rng = np.random.default_rng(1)
    items = items[:2000] * rng.uniform(0.1, 3.0, size=(2000, 1)).astype(np.float32)  # unequal norms
    config = IndexConfig(kind="hnsw", hnsw_m=16, hnsw_ef_construction=80, hnsw_ef_search=200)
    index = RetrievalIndex.build(items, config, queries=queries)
    assert index.info.max_norm == pytest.approx(float(np.linalg.norm(items, axis=1).max()), rel=1e-6)
    assert index.index.d == items.shape[1] + 1  # the lifted dimension
    scores, ids = index.search(queries, 10)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, ids - 1, axis=1), atol=1e-3)
    assert recall(ids, brute_force(items, queries, 10)) > 0.95
    assert index.info.recall["recall@10"] > 0.95
