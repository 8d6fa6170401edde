"""A FAISS retrieval index over a run's item vectors.

For the SASRec family the relevance of item ``i`` after a history is ``state · M[i]``, an inner product
between the model's user state and row ``i`` of the output item table, so top-k retrieval is
maximum-inner-product search over the table's rows ``1..N``. The index holds those rows in
internal-id order: FAISS label ``j`` is internal item id ``j + 1``.

* ``exact``: ``IndexFlatIP``, brute force, the same ranking as scoring the whole catalogue.
* ``hnsw``: ``IndexHNSWFlat`` (graph search, approximate). Maximum inner product is not a metric search,
  and HNSW's recall suffers on item vectors of unequal norms, so the HNSW index searches the standard
  L2 reduction (Bachrach et al., RecSys 2014): item ``x`` is stored as ``[x, sqrt(M² - |x|²)]`` with
  ``M`` the largest norm, the query as ``[q, 0]``; then ``|q' - x'|² = |q|² + M² - 2 q·x``, so the L2
  order is the inner-product order, and scores are converted back to ``q·x``.
* ``ivf``: ``IndexIVFFlat`` with an inner-product coarse quantiser (``nlist`` lists, ``nprobe`` searched).
* ``auto``: ``exact`` up to ``approximate_above`` items, ``hnsw`` above.

An approximate index is built together with a measurement of its recall@k against exact search on
real query vectors (user states), stored in ``retrieval.json`` beside the index file
(``retrieval.faiss``, FAISS's own format, not a pickle). Both are written atomically and tied to the
weights by a SHA-256 fingerprint, so an index built from other weights is never used.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, PositiveInt

from seqrec.io import atomic_write, read_json, write_json_atomic

if TYPE_CHECKING:  # faiss is imported where an index is built, loaded or searched: training never needs it
    import faiss

log = logging.getLogger(__name__)

INDEX_FILE = "retrieval.faiss"
INFO_FILE = "retrieval.json"
LAYOUT = 2
"""Version of what an index file holds (2: HNSW stores the L2 reduction); other layouts are rebuilt."""

IndexKind = Literal["exact", "hnsw", "ivf"]


class IndexConfig(BaseModel):
    """How the retrieval index is built and searched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["auto", "exact", "hnsw", "ivf"] = "auto"
    """``auto``: exact inner product up to ``approximate_above`` items, HNSW above."""
    approximate_above: PositiveInt = 100_000
    """Catalogue size above which ``auto`` builds an approximate index."""
    hnsw_m: PositiveInt = 32
    """HNSW: neighbours per node (graph degree)."""
    hnsw_ef_construction: PositiveInt = 200
    """HNSW: candidate list size while building."""
    hnsw_ef_search: PositiveInt = 256
    """HNSW: candidate list size while searching (raised to the number of results asked for)."""
    ivf_nlist: PositiveInt | None = None
    """IVF: number of inverted lists; ``None`` = 4·sqrt(N), capped so each list trains on 39 points."""
    ivf_nprobe: PositiveInt = 32
    """IVF: lists visited per query."""
    recall_queries: PositiveInt = 2000
    """Query vectors used to measure the recall of an approximate index against exact search."""
    recall_ks: tuple[PositiveInt, ...] = (10, 100)
    seed: int = 0

    def resolve(self, num_items: int) -> IndexKind:
        if self.kind != "auto":
            return self.kind
        return "hnsw" if num_items > self.approximate_above else "exact"


class IndexInfo(BaseModel):
    """What was built, from which weights, and how well an approximate index agrees with exact search."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    layout: int = LAYOUT
    kind: IndexKind
    num_items: int
    dim: int
    params: dict[str, int]
    weights_sha256: str
    build_seconds: float
    recall: dict[str, float]
    """``{"recall@10": ..., "recall@100": ...}`` of this index against exact inner-product search
    (1.0 by construction for ``exact``)."""
    recall_queries: int
    max_norm: float | None = None
    """Set when the index stores the L2 reduction of inner-product search (HNSW): the largest norm M."""
    faiss_version: str
    created: str


class RetrievalIndex:
    """Top-k maximum-inner-product search over item vectors; returns internal item ids (0 = none)."""

    def __init__(self, index: faiss.Index, info: IndexInfo) -> None:
        stored_dim = info.dim + (info.max_norm is not None)
        if index.ntotal != info.num_items or index.d != stored_dim:
            raise ValueError(
                f"index holds {index.ntotal} vectors of dim {index.d}, its info says "
                f"{info.num_items} of dim {stored_dim}"
            )
        self.index = index
        self.info = info

    @property
    def kind(self) -> IndexKind:
        return self.info.kind

    # ------------------------------------------------------------------ search
    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` of each query ``[B, D]``: scores ``[B, k]`` (float32, -inf where none) and internal
        ids ``[B, k]`` (0 where none). ``allowed``: optional bool mask over internal ids ``[N + 1]``."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, self.info.num_items)
        params, keep_alive = self._params(k, allowed)
        max_norm = self.info.max_norm
        if max_norm is None:
            scores, labels = self.index.search(queries, k, params=params)  # [B, k], [B, k]
        else:
            padded = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])  # [B, D + 1]
            dist, labels = self.index.search(padded, k, params=params)  # squared L2 [B, k]
            sq = (queries.astype(np.float64) ** 2).sum(axis=1, keepdims=True)  # [B, 1]
            scores = ((sq + max_norm**2 - dist) / 2).astype(np.float32)  # back to q·x
        del keep_alive
        found = labels >= 0
        ids = np.where(found, labels + 1, 0).astype(np.int64)
        return np.where(found, scores, -np.inf).astype(np.float32), ids

    def _params(self, k: int, allowed: np.ndarray | None) -> tuple[Any, Any]:
        """Per-call search parameters (nothing on the shared index is mutated, so searches may overlap)."""
        import faiss

        selector = None
        bits = None
        if allowed is not None:
            bits = np.packbits(np.asarray(allowed[1:], dtype=bool), bitorder="little")  # label j <-> bit j
            selector = faiss.IDSelectorBitmap(self.info.num_items, faiss.swig_ptr(bits))
        if self.kind == "hnsw":
            ef = max(self.info.params["ef_search"], k)
            params = faiss.SearchParametersHNSW(efSearch=ef)  # type: ignore[attr-defined]  # not in stubs
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF(nprobe=self.info.params["nprobe"])  # type: ignore[call-arg]
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        return params, (bits, selector)

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        item_vectors: np.ndarray,
        config: IndexConfig,
        *,
        weights_sha256: str = "",
        queries: np.ndarray | None = None,
    ) -> RetrievalIndex:
        """Index ``item_vectors`` ``[N, D]`` (row j = internal id j + 1). ``queries`` ``[Q, D]``: vectors
        the recall of an approximate index is measured on (user states; item vectors if absent)."""
        import faiss

        vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        n, d = vectors.shape
        if n == 0:
            raise ValueError("cannot index an empty catalogue")
        kind = config.resolve(n)
        start = time.perf_counter()
        params: dict[str, int]
        stored = vectors
        max_norm = 0.0
        if kind == "exact":
            index: faiss.Index = faiss.IndexFlatIP(d)
            params = {}
        elif kind == "hnsw":
            norms = np.linalg.norm(vectors.astype(np.float64), axis=1)  # [N]
            max_norm = float(norms.max())
            lift = np.sqrt(np.maximum(max_norm**2 - norms**2, 0.0)).astype(np.float32)[:, None]  # [N, 1]
            stored = np.ascontiguousarray(np.hstack([vectors, lift]))  # [N, D + 1]: L2 order = IP order
            index = faiss.IndexHNSWFlat(d + 1, config.hnsw_m, faiss.METRIC_L2)
            index.hnsw.efConstruction = config.hnsw_ef_construction
            params = {
                "M": config.hnsw_m,
                "ef_construction": config.hnsw_ef_construction,
                "ef_search": config.hnsw_ef_search,
            }
        else:
            nlist = config.ivf_nlist or round(4 * float(np.sqrt(n)))
            nlist = max(1, min(nlist, n // 39 or 1))
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = config.seed
            index.train(vectors)  # the Python wrapper keeps ``quantizer`` alive with the index
            params = {"nlist": nlist, "nprobe": min(config.ivf_nprobe, nlist)}
        index.add(stored)
        seconds = time.perf_counter() - start
        info = IndexInfo(
            kind=kind,
            num_items=n,
            dim=d,
            params=params,
            weights_sha256=weights_sha256,
            build_seconds=round(seconds, 4),
            recall={f"recall@{k}": 1.0 for k in config.recall_ks},
            recall_queries=0,
            max_norm=max_norm if kind == "hnsw" else None,
            faiss_version=faiss.__version__,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        built = cls(index, info)
        if kind != "exact":
            sample = _sample_queries(
                vectors if queries is None else queries, config.recall_queries, config.seed
            )
            exact = cls.build(vectors, config.model_copy(update={"kind": "exact"}))
            info.recall = measure_recall(built, exact, sample, config.recall_ks)
            info.recall_queries = len(sample)
        log.info("built %s index over %d items in %.2fs, recall %s", kind, n, seconds, info.recall)
        return built

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """Write ``retrieval.faiss`` then ``retrieval.json``, each atomically."""
        import faiss

        index = self.index
        atomic_write(directory / INDEX_FILE, lambda p: faiss.write_index(index, str(p)))
        write_json_atomic(directory / INFO_FILE, self.info.model_dump(mode="json"))

    @classmethod
    def load(cls, directory: Path) -> RetrievalIndex:
        info = IndexInfo.model_validate(read_json(directory / INFO_FILE))
        path = directory / INDEX_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path}: no index file beside {INFO_FILE}")
        import faiss

        return cls(faiss.read_index(str(path)), info)

    @classmethod
    def saved_matches(cls, directory: Path, config: IndexConfig, num_items: int, weights_sha256: str) -> bool:
        """Whether the index saved in ``directory`` was built from these weights with this kind."""
        info_path = directory / INFO_FILE
        if not info_path.exists() or not (directory / INDEX_FILE).exists():
            return False
        info = read_json(info_path)
        return bool(
            info.get("layout") == LAYOUT
            and info.get("weights_sha256") == weights_sha256
            and info.get("num_items") == num_items
            and info.get("kind") == config.resolve(num_items)
        )


def measure_recall(
    approx: RetrievalIndex, exact: RetrievalIndex, queries: np.ndarray, ks: Sequence[int]
) -> dict[str, float]:
    """Mean fraction of the exact top-k found by the approximate top-k, for each k."""
    out: dict[str, float] = {}
    for k in ks:
        kk = min(k, exact.info.num_items)
        _, truth = exact.search(queries, kk)  # [Q, k]
        _, found = approx.search(queries, kk)  # [Q, k]
        q = len(queries)
        rows = np.arange(q)[:, None]
        span = exact.info.num_items + 1
        hit = np.isin(rows * span + found, rows * span + truth) & (found > 0)  # [Q, k]
        out[f"recall@{k}"] = round(float(hit.sum() / (q * kk)), 5)
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sample_queries(queries: np.ndarray, count: int, seed: int) -> np.ndarray:
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if len(queries) <= count:
        return queries
    rows = np.random.default_rng(seed).choice(len(queries), size=count, replace=False)
    return queries[np.sort(rows)]


__all__ = ["IndexConfig", "IndexInfo", "RetrievalIndex", "file_sha256", "measure_recall"]
