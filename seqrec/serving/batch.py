"""Recommendations for many users, streamed to one Parquet file.

Users are ranked in chunks; each chunk becomes one Parquet row group written as soon as it is ranked,
so memory holds one chunk's scores and lists, never the whole output. The file is written under a
temporary name in the destination directory and renamed into place at the end (``seqrec.io``): a
crash or an interrupt leaves no partial file behind.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from seqrec.io import atomic_path
from seqrec.runtime import bar_disable
from seqrec.serving.recommender import Recommender, Retrieval

SCORES_BYTES_PER_CHUNK = 64 << 20
"""Default chunk size: as many users as fit a ``[chunk, N + 1]`` float32 score matrix in 64 MiB."""


@dataclass(frozen=True)
class BatchSummary:
    path: Path
    users: int
    rows: int
    chunks: int
    seconds: float

    @property
    def users_per_second(self) -> float:
        return self.users / self.seconds if self.seconds > 0 else float("inf")


ITEM_BLOCK_CHUNK = 512
"""Users per chunk where the recommender scores the catalogue in item blocks
(``Recommender.scores_in_item_blocks``): ``[512, SCORE_ITEMS]`` scores at a time, 32 MiB, whatever the
catalogue's size; a chunk sized by whole rows would hold 16 users at a million items, and each chunk
reads the whole item table again."""


def default_chunk_size(num_items: int, item_blocks: bool = False) -> int:
    """Users per chunk: ``ITEM_BLOCK_CHUNK`` with ``item_blocks``, else as many as fit whole rows of
    scores in ``SCORES_BYTES_PER_CHUNK`` (at most 4,096)."""
    if item_blocks:
        return ITEM_BLOCK_CHUNK
    return int(max(1, min(4096, SCORES_BYTES_PER_CHUNK // (4 * (num_items + 1)))))


def write_recommendations(
    rec: Recommender,
    out: str | Path,
    *,
    users: Sequence[Any] | None = None,
    k: int = 100,
    chunk_size: int | None = None,
    filter_seen: bool = True,
    titles: bool = False,
    exclude: Sequence[Any] | None = None,
    include_only: Sequence[Any] | None = None,
    retrieval: Retrieval = "auto",
    progress: bool = True,
    compression: str = "zstd",
) -> BatchSummary:
    """Top-``k`` for ``users`` (external ids; ``None`` = every known user) into the Parquet file ``out``.

    Columns: ``user, rank, item, score`` (+ ``title`` with ``titles=True``), one row group per chunk.
    The lists equal those of ``rec.recommend(users=[u], ...)`` for each user ``u``.
    """
    data = rec.data
    if k < 1:
        raise ValueError("k must be at least 1")
    rows = (
        np.arange(data.num_users, dtype=np.int64)
        if users is None
        else data.users.to_internal(list(users)) - 1
    )
    allowed = rec.allowed_mask(exclude, include_only)
    mode: Retrieval = "model" if include_only is not None else retrieval
    item_blocks = not rec.uses_index(mode) and rec.scores_in_item_blocks
    chunk = chunk_size or default_chunk_size(data.num_items, item_blocks)
    if chunk < 1:
        raise ValueError("chunk_size must be at least 1")
    with_titles = titles and rec.has_titles
    schema = _schema(data.users.dtype, data.items.dtype, with_titles)
    out = Path(out)
    start = time.perf_counter()
    total = 0
    chunks = 0
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema, compression=compression) as writer:
        bar = tqdm(total=len(rows), desc="recommend", unit="user", disable=bar_disable(progress))
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            ranked = rec.rank(
                data.sequences,
                part,
                torch.from_numpy(part + 1),
                k=k,
                filter_seen=filter_seen,
                allowed=allowed,
                retrieval=mode,
            )
            table = _chunk_table(rec, part, ranked.ids, ranked.scores, schema, with_titles)
            writer.write_table(table, row_group_size=max(1, table.num_rows))
            total += table.num_rows
            chunks += 1
            bar.update(len(part))
        bar.close()
    return BatchSummary(out, len(rows), total, chunks, time.perf_counter() - start)


def _schema(user_dtype: pl.DataType, item_dtype: pl.DataType, titles: bool) -> pa.Schema:
    fields = [
        pa.field("user", pa.int64() if user_dtype.is_integer() else pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("item", pa.int64() if item_dtype.is_integer() else pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
    ]
    if titles:
        fields.append(pa.field("title", pa.string()))
    return pa.schema(fields)


def _chunk_table(
    rec: Recommender,
    rows: np.ndarray,
    ids: np.ndarray,
    scores: np.ndarray,
    schema: pa.Schema,
    titles: bool,
) -> pa.Table:
    """One chunk's lists as an Arrow table (vectorised: no loop over users)."""
    data = rec.data
    b, k = ids.shape
    keep = (ids > 0).ravel() & np.isfinite(scores).ravel()  # [B * k]
    flat = ids.ravel()[keep]
    user_rows = np.repeat(rows, k)[keep]
    columns: dict[str, Any] = {
        "user": data.users.external.gather(user_rows).to_arrow(),
        "rank": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), b)[keep]),
        "item": data.items.external.gather(flat - 1).to_arrow(),
        "score": pa.array(scores.ravel()[keep].astype(np.float32)),
    }
    if titles:
        assert data.item_meta is not None
        columns["title"] = data.item_meta["title"].cast(pl.String).gather(flat - 1).to_arrow()
    arrays = [columns[f.name].cast(f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


__all__ = ["BatchSummary", "default_chunk_size", "write_recommendations"]
