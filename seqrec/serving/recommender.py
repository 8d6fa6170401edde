"""Top-k recommendations with external ids and titles, for known users or ad-hoc histories.

``Recommender.load(run_dir)`` rebuilds the model from the run's ``config.json``, loads the safetensors
weights (strict key and shape check) and the dataset state in ``run_dir/data``; no training code runs.

Two ways to rank, with the same filters:

* ``model``: score the whole catalogue with the model and rank with the evaluator's helpers
  (``seqrec.evaluation.ranking``), so a metric computed from these lists equals the evaluator's metric
  for the same histories. ``SeqRec.recommend`` uses this.
* ``index``: user state from the model, then a FAISS search over the item table
  (``seqrec.serving.index``), over-fetching ``k + history length`` so that removing the seen items
  still leaves ``k``. Exact (``IndexFlatIP``) or approximate (HNSW / IVF) by catalogue size.

A candidate restriction (``include_only``) is always scored with the model path: it is exact and, for
a restriction, no slower than a search.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import torch

from seqrec.config import RunConfig
from seqrec.data.batch import SequenceBatch
from seqrec.data.dataset import SequenceDataset
from seqrec.data.sequences import Sequences
from seqrec.evaluation.ranking import (
    full_histories,
    history_batch,
    mask_items,
    top_k_in_item_blocks,
    uses_item_blocks,
)
from seqrec.models.base import SequenceModel
from seqrec.run_dir import load_run
from seqrec.serving.index import IndexConfig, RetrievalIndex, file_sha256

log = logging.getLogger(__name__)


Retrieval = Literal["auto", "model", "index"]
Histories = Mapping[Any, Sequence[Any]] | Sequence[Sequence[Any]]


class UnknownTitleError(KeyError):
    """A title that matches no item exactly; ``suggestions`` holds close titles (id, title)."""

    def __init__(self, title: str, position: int, suggestions: list[tuple[Any, str]]) -> None:
        hint = f"; did you mean {_quote_titles(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown title {title!r}{hint}")
        self.title = title
        self.position = position
        self.suggestions = suggestions

    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written
        return str(self.args[0])


class AmbiguousTitleError(ValueError):
    """A title shared by several items; ``candidates`` lists them (id, title): give the item id."""

    def __init__(self, title: str, position: int, candidates: list[tuple[Any, str]]) -> None:
        super().__init__(
            f"title {title!r} matches {len(candidates)} items {[c[0] for c in candidates]}; "
            "give the item id instead"
        )
        self.title = title
        self.position = position
        self.candidates = candidates


class NotInnerProductError(ValueError):
    """The model's scores are not ``user_state · item_table``, so an index cannot retrieve for it."""


@dataclass(frozen=True)
class RankedLists:
    """Top-k per query row in internal ids: ``ids`` ``[B, k]`` (0 = none) and ``scores`` ``[B, k]``."""

    ids: np.ndarray
    scores: np.ndarray


class Recommender:
    """A trained model with its dataset (vocabularies, histories, item metadata), ready to answer."""

    def __init__(
        self,
        model: SequenceModel,
        data: SequenceDataset,
        *,
        max_len: int,
        device: torch.device,
        index: RetrievalIndex | None = None,
        config: RunConfig | None = None,
        run_dir: Path | None = None,
    ) -> None:
        self.model = model.eval()
        self.data = data
        self.max_len = max_len
        self.device = device
        self.index = index
        self.config = config
        self.run_dir = run_dir

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        run_dir: str | Path,
        *,
        index: IndexConfig | str | None = "auto",
        device: str | torch.device = "cpu",
        save_index: bool = True,
    ) -> Recommender:
        """Load a run directory written by ``seqrec train`` / ``SeqRec.save``.

        ``index``: ``None`` ranks with the model only; ``"auto"``, ``"exact"``, ``"hnsw"``, ``"ivf"`` or an
        :class:`IndexConfig` loads the saved index when it was built from these weights, else builds it
        (and saves it beside the weights when ``save_index``).
        """
        path = Path(run_dir)
        torch_device = torch.device(device)
        run = load_run(path, torch_device)
        model, data, config = run.model, run.data, run.config
        rec = cls(model, data, max_len=config.model.max_len, device=torch_device, config=config, run_dir=path)
        if index is not None:
            cfg = index if isinstance(index, IndexConfig) else IndexConfig(kind=index)  # type: ignore[arg-type]
            try:
                rec.index = rec.load_or_build_index(cfg, save=save_index)
            except NotInnerProductError as exc:
                if cfg.kind != "auto":
                    raise
                log.warning("%s; ranking with the model instead", exc)
        return rec

    def load_or_build_index(self, config: IndexConfig, *, save: bool = True) -> RetrievalIndex:
        """The saved index when it matches these weights and ``config``'s kind, else a new one."""
        if self.run_dir is None:
            return self.build_index(config)
        sha = file_sha256(self.run_dir / "model.safetensors")
        if RetrievalIndex.saved_matches(self.run_dir, config, self.data.num_items, sha):
            return RetrievalIndex.load(self.run_dir)
        built = self.build_index(config, weights_sha256=sha)
        if save:
            try:
                built.save(self.run_dir)
            except OSError as exc:
                log.warning("could not save the retrieval index in %s: %s", self.run_dir, exc)
        return built

    def build_index(self, config: IndexConfig, *, weights_sha256: str = "") -> RetrievalIndex:
        """A FAISS index over the item table; recall measured on the states of (a sample of) users."""
        self._check_inner_product()
        users = np.random.default_rng(config.seed).permutation(self.data.num_users)[: config.recall_queries]
        states = self.user_states(self.data.sequences, np.sort(users))
        return RetrievalIndex.build(
            self.item_vectors.numpy()[1:], config, weights_sha256=weights_sha256, queries=states
        )

    @torch.no_grad()
    def _check_inner_product(self) -> None:
        """Index retrieval is only right when ``score_all`` is ``user_state · item_table``: check it."""
        rows = np.arange(min(8, self.data.num_users))
        batch = self._batch(self.data.sequences, rows, torch.from_numpy(rows + 1))
        scores = self.model.score_all(batch).float()[:, 1:]  # [B, N]
        states = self.model.user_state(batch).float()  # [B, D]
        product = states @ self.item_vectors[1:].to(states.device).T  # [B, N]
        if not torch.allclose(scores, product, rtol=1e-4, atol=1e-4):
            raise NotInnerProductError(
                f"model {type(self.model).__name__} does not score by an inner product of its user state "
                "and item table; serve it with index=None (model scoring)"
            )

    # ------------------------------------------------------------------ item tables
    @cached_property
    def item_vectors(self) -> torch.Tensor:
        """The output item table ``[N + 1, D]`` on the CPU, float32 (row 0 = padding)."""
        return self.model.item_table().detach().float().cpu().contiguous()

    @cached_property
    def _unit_vectors(self) -> torch.Tensor:
        return torch.nn.functional.normalize(self.item_vectors, dim=1)  # [N + 1, D]

    @cached_property
    def popularity(self) -> np.ndarray:
        """Interactions per internal item id ``[N + 1]`` over the recorded sequences."""
        return np.bincount(self.data.sequences.items, minlength=self.data.num_items + 1)

    @cached_property
    def _titles(self) -> pl.DataFrame | None:
        """``internal, title, key`` (key = lower-cased, stripped title) for items that have a title."""
        meta = self.data.item_meta
        if meta is None or "title" not in meta.columns:
            return None
        return (
            pl.DataFrame(
                {"internal": np.arange(1, self.data.num_items + 1, dtype=np.int64), "title": meta["title"]}
            )
            .with_columns(pl.col("title").cast(pl.String))
            .drop_nulls("title")
            .with_columns(pl.col("title").str.strip_chars().str.to_lowercase().alias("key"))
        )

    @property
    def has_titles(self) -> bool:
        return self._titles is not None

    # ------------------------------------------------------------------ resolution
    def items_from_titles(self, titles: Sequence[str]) -> np.ndarray:
        """Internal ids of exact titles (case-insensitive, surrounding spaces ignored).

        Raises :class:`UnknownTitleError` (with close titles as suggestions) or
        :class:`AmbiguousTitleError` (with the candidates) for the first title that fails.
        """
        table = self._titles
        if table is None:
            raise ValueError(f"dataset {self.data.name!r} has no item titles; give item ids instead")
        queries = pl.DataFrame(
            {"pos": np.arange(len(titles), dtype=np.int64), "key": [str(t).strip().lower() for t in titles]}
        )
        hits = (
            queries.join(table.select("key", "internal"), on="key", how="left")
            .group_by("pos", maintain_order=True)
            .agg(pl.col("internal").drop_nulls())
            .sort("pos")
        )
        counts = hits["internal"].list.len().to_numpy()
        bad = np.flatnonzero(counts != 1)
        if len(bad):
            pos = int(bad[0])
            title = str(titles[pos])
            if counts[pos] == 0:
                raise UnknownTitleError(title, pos, self._suggest(title))
            ids = np.asarray(hits["internal"][pos].to_list(), dtype=np.int64)
            raise AmbiguousTitleError(title, pos, self._id_title_pairs(ids))
        return hits["internal"].list.first().to_numpy().astype(np.int64)

    def _suggest(self, title: str, count: int = 5) -> list[tuple[Any, str]]:
        """Close titles for an unknown one: title search first, else spelling similarity (difflib)."""
        if not title.strip():
            return []
        near = self.search(title, k=count)
        if len(near):
            return list(zip(near["item"].to_list(), near["title"].to_list(), strict=True))
        table = self._titles
        assert table is not None
        keys = table["key"].to_list()
        close = difflib.get_close_matches(title.strip().lower(), keys, n=count, cutoff=0.6)
        rows = table.filter(pl.col("key").is_in(close)).head(count)
        return self._id_title_pairs(rows["internal"].to_numpy())

    def resolve_items(self, values: Sequence[Any], *, titles: bool = False) -> np.ndarray:
        """Internal ids of external item ids (or of exact titles with ``titles=True``)."""
        if titles:
            return self.items_from_titles([str(v) for v in values])
        return self.data.items.to_internal(list(values))

    def _id_title_pairs(self, internal: np.ndarray) -> list[tuple[Any, str]]:
        ext = self.data.items.to_external(internal).to_list()
        names = self.data.titles(internal)
        return [(e, t or "") for e, t in zip(ext, names, strict=True)]

    # ------------------------------------------------------------------ search
    def search(self, query: str, k: int = 20) -> pl.DataFrame:
        """Items whose title matches ``query``, best first: columns ``item, title, match, popularity``
        (+ the other metadata columns).

        ``match`` ranks an exact title (4) above a title that starts with the query (3), one that contains
        it (2), then titles holding some of the query's words, by the fraction of words found (word
        prefixes, any order, at most 1). Ties go to the more popular item, then the shorter title.
        """
        table = self._titles
        if table is None:
            raise ValueError(f"dataset {self.data.name!r} has no item titles to search")
        text = query.strip().lower()
        tokens = list(dict.fromkeys(re.findall(r"\w+", text)))
        if not text:
            raise ValueError("empty search query")
        key = pl.col("key")
        words = (
            pl.sum_horizontal(
                [key.str.contains(r"\b" + re.escape(t)).cast(pl.Float64) for t in tokens]
            ).fill_null(0)
            / len(tokens)
            if tokens
            else pl.lit(0.0)
        )
        match = (
            pl.when(key == text)
            .then(4.0)
            .when(key.str.starts_with(text))
            .then(3.0)
            .when(key.str.contains(text, literal=True))
            .then(2.0)
            .otherwise(words)
        )
        popularity = pl.Series("popularity", self.popularity[table["internal"].to_numpy()])
        found = (
            table.with_columns(match.alias("match"), popularity)
            .filter(pl.col("match") > 0)
            .sort(
                ["match", "popularity", pl.col("title").str.len_chars()],
                descending=[True, True, False],
                maintain_order=True,
            )
            .head(k)
        )
        ids = found["internal"].to_numpy()
        out = pl.DataFrame(
            {
                "item": self.data.items.to_external(ids),
                "title": found["title"],
                "match": found["match"],
                "popularity": found["popularity"],
            }
        )
        return out.hstack(self._extra_meta(ids))

    # ------------------------------------------------------------------ similar items
    def similar_items(
        self,
        item: Any,
        k: int = 10,
        *,
        title: bool = False,
        metric: Literal["cosine", "dot"] = "cosine",
        meta: bool = False,
    ) -> pl.DataFrame:
        """The ``k`` items nearest to ``item`` (external id, or a title with ``title=True``) in the model's
        item table, by cosine similarity or dot product: columns ``query, rank, item, score, title``."""
        internal = self.resolve_items([item], titles=title)  # [1]
        ranked = self.similar(internal, k, metric=metric)
        return self._frame([item], ranked.scores, ranked.ids, meta).rename({"user": "query"})

    @torch.no_grad()
    def similar(
        self, internal: np.ndarray, k: int, *, metric: Literal["cosine", "dot"] = "cosine"
    ) -> RankedLists:
        """Nearest items ``[B, k]`` to internal ids ``[B]`` (each item itself left out)."""
        if k < 1:
            raise ValueError("k must be at least 1")
        if metric not in ("cosine", "dot"):
            raise ValueError(f"unknown metric {metric!r}: expected 'cosine' or 'dot'")
        query = torch.from_numpy(np.asarray(internal, dtype=np.int64))  # [B]
        table = self._unit_vectors if metric == "cosine" else self.item_vectors  # [N + 1, D]
        scores = table[query] @ table.T  # [B, N + 1]
        scores[:, 0] = float("-inf")
        scores.scatter_(1, query[:, None], float("-inf"))
        top = scores.topk(min(k, self.data.num_items - 1), dim=1)  # [B, k]
        values = top.values.numpy()
        return RankedLists(np.where(np.isfinite(values), top.indices.numpy(), 0), values)

    # ------------------------------------------------------------------ recommendation
    def recommend(
        self,
        users: Sequence[Any] | None = None,
        histories: Histories | None = None,
        *,
        k: int = 10,
        filter_seen: bool = True,
        titles: bool = False,
        exclude: Sequence[Any] | None = None,
        include_only: Sequence[Any] | None = None,
        batch_size: int = 512,
        retrieval: Retrieval = "auto",
        meta: bool = False,
    ) -> pl.DataFrame:
        """Top-``k`` items per user: columns ``user, rank, item, score`` (+ ``title`` when known, + every
        other metadata column with ``meta=True``).

        ``users``: external ids of known users (their whole recorded history is the input).
        ``histories``: ad-hoc histories (external item ids, or titles with ``titles=True``), as a mapping
        key -> items or a list (keys 0, 1, ...). Users absent from training are served this way.
        ``retrieval``: ``model`` (whole-catalogue scoring), ``index`` (FAISS) or ``auto`` (the index when
        one is loaded).
        """
        seqs, rows, user_ids, keys = self.queries(users, histories, titles=titles)
        allowed = self.allowed_mask(exclude, include_only)
        frames = []
        for i in range(0, len(rows), batch_size):
            part = slice(i, i + batch_size)
            ranked = self.rank(
                seqs,
                rows[part],
                user_ids[part],
                k=k,
                filter_seen=filter_seen,
                allowed=allowed,
                retrieval="model" if include_only is not None else retrieval,
            )
            frames.append(self._frame(keys[part], ranked.scores, ranked.ids, meta))
        return pl.concat(frames) if frames else pl.DataFrame()

    def queries(
        self, users: Sequence[Any] | None, histories: Histories | None, *, titles: bool = False
    ) -> tuple[Sequences, np.ndarray, torch.Tensor, list[Any]]:
        """The CSR sequences, the rows in it, the internal user ids (0 = ad hoc) and the result keys."""
        if (users is None) == (histories is None):
            raise ValueError("give either users or histories")
        if users is not None:
            keys = list(users)
            internal = self.data.users.to_internal(keys)
            return self.data.sequences, internal - 1, torch.from_numpy(internal), keys
        assert histories is not None
        seqs, keys = self._history_sequences(histories, titles)
        return seqs, np.arange(seqs.num_users, dtype=np.int64), torch.zeros(len(keys), dtype=torch.long), keys

    def allowed_mask(
        self, exclude: Sequence[Any] | None, include_only: Sequence[Any] | None
    ) -> np.ndarray | None:
        """A bool mask over internal ids ``[N + 1]`` of the items that may be recommended (None = all)."""
        return self.allowed_internal(
            None if exclude is None else self.data.items.to_internal(list(exclude)),
            None if include_only is None else self.data.items.to_internal(list(include_only)),
        )

    def allowed_internal(
        self, exclude: np.ndarray | None, include_only: np.ndarray | None
    ) -> np.ndarray | None:
        """:meth:`allowed_mask` from internal ids."""
        if exclude is None and include_only is None:
            return None
        allowed = np.ones(self.data.num_items + 1, dtype=bool)
        if include_only is not None:
            allowed[:] = False
            allowed[include_only] = True
        if exclude is not None:
            allowed[exclude] = False
        allowed[0] = False
        return allowed

    def rank(
        self,
        seqs: Sequences,
        rows: np.ndarray,
        user_ids: torch.Tensor,
        *,
        k: int,
        filter_seen: bool = True,
        allowed: np.ndarray | None = None,
        retrieval: Retrieval = "auto",
    ) -> RankedLists:
        """Top-``k`` for one batch of ``rows`` of ``seqs`` (each row's whole sequence is its history)."""
        if k < 1:
            raise ValueError("k must be at least 1")
        if retrieval not in ("auto", "model", "index"):
            raise ValueError(f"unknown retrieval {retrieval!r}: expected 'auto', 'model' or 'index'")
        if retrieval == "index" and self.index is None:
            raise ValueError("no retrieval index is loaded: load with index='auto' or use retrieval='model'")
        use_index = self.uses_index(retrieval)
        k = min(k, self.data.num_items)
        batch = self._batch(seqs, rows, user_ids)
        seen = full_histories(seqs, rows, seqs.lengths[rows]) if filter_seen else None  # [B, H]
        if use_index:
            return self._index_top_k(batch, seen, k, allowed)
        return self._model_top_k(batch, seen, k, allowed)

    def uses_index(self, retrieval: Retrieval) -> bool:
        """Whether ``rank`` answers from the retrieval index (else by model scoring)."""
        return self.index is not None and retrieval != "model"

    def _batch(self, seqs: Sequences, rows: np.ndarray, user_ids: torch.Tensor) -> SequenceBatch:
        batch = history_batch(seqs, rows, seqs.lengths[rows], self.max_len)
        return SequenceBatch(batch.items, user_ids, batch.timestamps).to(self.device)

    @torch.no_grad()
    def user_states(self, seqs: Sequences, rows: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """The model's state after each row's whole sequence ``[B, D]`` (float32, CPU)."""
        out = np.empty((len(rows), self.item_vectors.shape[1]), dtype=np.float32)
        for i in range(0, len(rows), batch_size):
            part = rows[i : i + batch_size]
            batch = self._batch(seqs, part, torch.from_numpy(part + 1))
            out[i : i + len(part)] = self.model.user_state(batch).float().cpu().numpy()
        return out

    @property
    def scores_in_item_blocks(self) -> bool:
        """Whether model scoring forms the scores of batches of at least ``ITEM_BLOCK_MIN`` users
        ``SCORE_ITEMS`` items at a time (``top_k_in_item_blocks``): for catalogues of more than twice that
        many, when the model scores by ``score_all``'s inner product of user state and item table."""
        plain = type(self.model).score_all is SequenceModel.score_all
        return plain and uses_item_blocks(self.data.num_items)

    @cached_property
    def _score_table(self) -> torch.Tensor:
        """``item_table()`` as model scoring uses it (device and dtype of the model), built once."""
        return self.model.item_table().detach()

    @torch.no_grad()
    def _model_top_k(
        self, batch: SequenceBatch, seen: torch.Tensor | None, k: int, allowed: np.ndarray | None
    ) -> RankedLists:
        mask = None if allowed is None else torch.from_numpy(allowed).to(self.device)  # [N + 1]
        if self.scores_in_item_blocks and uses_item_blocks(self.data.num_items, len(batch.items)):
            states = self.model.user_state(batch)  # [B, D]
            values, items = top_k_in_item_blocks(states, self._score_table, seen, k, mask)
        else:
            scores = self.model.score_all(batch).float()  # [B, N + 1]
            if seen is not None:
                mask_items(scores, seen)
            if mask is not None:
                scores.masked_fill_(~mask, float("-inf"))
            values, items = scores.topk(k, dim=1)
        top = values.float().cpu().numpy()
        return RankedLists(np.where(np.isfinite(top), items.cpu().numpy(), 0), top)

    @torch.no_grad()
    def _index_top_k(
        self, batch: SequenceBatch, seen: torch.Tensor | None, k: int, allowed: np.ndarray | None
    ) -> RankedLists:
        """User states, then a FAISS search that over-fetches so that dropping seen items leaves ``k``.

        The first search asks for ``k`` plus the longest history, capped at ``k + 32`` extra; rows that
        could have lost results to a longer history and came back short are searched again with
        ``k + their history length``. Few rows need it: seen items rarely fill a user's own top list.
        """
        assert self.index is not None
        states = self.model.user_state(batch).float().cpu().numpy()  # [B, D]
        n = self.data.num_items
        seen_np = np.zeros((len(states), 0), dtype=np.int64) if seen is None else seen.numpy()  # [B, H]
        counts = (seen_np > 0).sum(axis=1)  # [B] history items to drop at most
        fetch = min(n, k + int(min(counts.max(initial=0), k + 32)))
        ids, scores = self._search_unseen(states, fetch, k, allowed, seen_np)
        short = np.flatnonzero(((ids > 0).sum(axis=1) < k) & (k + counts > fetch) & (fetch < n))
        if len(short):
            again = min(n, k + int(counts[short].max()))
            ids[short], scores[short] = self._search_unseen(states[short], again, k, allowed, seen_np[short])
        return RankedLists(ids, scores)

    def _search_unseen(
        self, states: np.ndarray, fetch: int, k: int, allowed: np.ndarray | None, seen: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``fetch`` from the index, seen items dropped, the first ``k`` kept: ``[B, k]`` twice."""
        assert self.index is not None
        scores, ids = self.index.search(states, fetch, allowed)  # [B, F], [B, F]
        keep = (ids > 0) & ~_row_isin(ids, seen, self.data.num_items + 1)  # [B, F]
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept results first, in score order
        kept = np.take_along_axis(keep, order, axis=1)  # [B, k']
        ids = np.where(kept, np.take_along_axis(ids, order, axis=1), 0)
        scores = np.where(kept, np.take_along_axis(scores, order, axis=1), -np.inf).astype(np.float32)
        if ids.shape[1] < k:  # fewer than k results available
            pad = k - ids.shape[1]
            ids = np.pad(ids, ((0, 0), (0, pad)))
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return ids, scores

    def _history_sequences(self, histories: Histories, titles: bool) -> tuple[Sequences, list[Any]]:
        pairs = list(histories.items()) if isinstance(histories, Mapping) else list(enumerate(histories))
        keys = [key for key, _ in pairs]
        lists = [list(h) for _, h in pairs]
        empty = [key for key, h in zip(keys, lists, strict=True) if not h]
        if empty:
            raise ValueError(f"empty history for {empty[:5]}")
        flat = [x for h in lists for x in h]
        items = self.resolve_items(flat, titles=titles)
        offsets = np.concatenate([[0], np.cumsum([len(h) for h in lists])]).astype(np.int64)
        return Sequences(offsets, items, np.zeros(len(items), dtype=np.int64)), keys

    # ------------------------------------------------------------------ output
    def _frame(self, keys: list[Any], values: np.ndarray, indices: np.ndarray, meta: bool) -> pl.DataFrame:
        b, k = indices.shape
        flat = indices.ravel()
        finite = pl.Series(np.isfinite(values.ravel()) & (flat > 0))
        frame = pl.DataFrame(
            {
                "user": pl.Series(np.repeat(np.asarray(keys, dtype=object), k).tolist()),
                "rank": np.tile(np.arange(1, k + 1), b),
                "item": self.data.items.to_external(np.maximum(flat, 1)),
                "score": values.ravel(),
            }
        )
        item_meta = self.data.item_meta
        if item_meta is not None and "title" in item_meta.columns:
            frame = frame.with_columns(item_meta["title"].gather(np.maximum(flat, 1) - 1).alias("title"))
        if meta:
            frame = frame.hstack(self._extra_meta(np.maximum(flat, 1)))
        return frame.filter(finite)

    def _extra_meta(self, internal: np.ndarray) -> pl.DataFrame:
        """Metadata columns other than ``item`` and ``title`` for internal ids (empty frame if none)."""
        meta = self.data.item_meta
        if meta is None:
            return pl.DataFrame()
        cols = [c for c in meta.columns if c not in ("item", "title")]
        return meta.select(cols)[np.asarray(internal, dtype=np.int64) - 1] if cols else pl.DataFrame()

    @cached_property
    def _lookup(self) -> dict[Any, int]:
        """External item id -> internal id, for resolving the few ids of one request without a join."""
        return dict(zip(self.data.items.external.to_list(), range(1, self.data.num_items + 1), strict=True))

    def lookup_items(self, values: Sequence[Any]) -> np.ndarray:
        """Internal ids of external ids already of the vocabulary's type; 0 for unknown ones."""
        lookup = self._lookup
        return np.fromiter((lookup.get(v, 0) for v in values), dtype=np.int64, count=len(values))

    @cached_property
    def _meta_columns(self) -> dict[str, list[Any]]:
        """Item metadata as Python lists (row i = internal id i + 1), for building small responses."""
        meta = self.data.item_meta
        if meta is None:
            return {}
        return {c: meta[c].to_list() for c in meta.columns if c != "item"}

    def item_records(self, internal: np.ndarray | Sequence[int]) -> list[dict[str, Any]]:
        """``{"item", "title", "meta": {...}}`` per internal id, for responses."""
        external = self.data.items.external
        columns = self._meta_columns
        titles = columns.get("title")
        others = {c: v for c, v in columns.items() if c != "title"}
        rows = [int(i) - 1 for i in internal]
        ext = external.gather(rows).to_list() if rows else []
        return [
            {
                "item": e,
                "title": None if titles is None else titles[r],
                "meta": {c: v[r] for c, v in others.items()},
            }
            for e, r in zip(ext, rows, strict=True)
        ]


def _row_isin(ids: np.ndarray, seen: np.ndarray, span: int) -> np.ndarray:
    """``out[b, j] = ids[b, j] in seen[b]`` for ``ids`` ``[B, F]`` and padded ``seen`` ``[B, H]``."""
    rows = np.arange(len(ids), dtype=np.int64)[:, None]
    return np.isin(rows * span + ids, rows * span + seen)


def _quote_titles(pairs: list[tuple[Any, str]]) -> str:
    return ", ".join(f"{title!r} (id {item})" for item, title in pairs)


__all__ = ["AmbiguousTitleError", "NotInnerProductError", "RankedLists", "Recommender", "UnknownTitleError"]
