"""From a raw interaction frame to time-ordered per-user sequences.

Steps, in order: rating filter, duplicate policy, iterative k-core on users and items, a stable sort by
(user, timestamp, original row), id vocabularies, CSR arrays. All Polars expressions; the only Python
loop is the k-core fixpoint iteration (a handful of rounds, each a vectorised pass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from seqrec.config import DataConfig
from seqrec.data.sequences import Sequences
from seqrec.data.vocab import Vocabulary

ROW = "__row"


@dataclass(frozen=True)
class Prepared:
    frame: pl.DataFrame  # user, item, timestamp, user_idx, item_idx (+ kept columns), sorted
    users: Vocabulary
    items: Vocabulary
    sequences: Sequences
    dropped: dict[str, int]


def filter_interactions(frame: pl.DataFrame, cfg: DataConfig) -> tuple[pl.DataFrame, dict[str, int]]:
    """Rating filter, duplicate policy, k-core; returns the frame and how many rows each step dropped."""
    for col in ("user", "item"):
        if col not in frame.columns:
            raise ValueError(f"interaction frame has no {col!r} column (columns: {frame.columns})")
    dropped: dict[str, int] = {}
    df = frame.with_row_index(ROW)
    if "timestamp" not in df.columns or df["timestamp"].null_count() == len(df):
        df = df.with_columns(pl.col(ROW).cast(pl.Int64).alias("timestamp"))
    elif df["timestamp"].null_count():
        n_null = df["timestamp"].null_count()
        if cfg.missing_timestamps == "error":
            first = int(df.filter(pl.col("timestamp").is_null())[ROW][0])
            raise ValueError(
                f"{n_null} of {len(df)} interaction(s) have no timestamp (the first is row {first + 1}); "
                "set data.missing_timestamps=drop to drop them"
            )
        df = df.filter(pl.col("timestamp").is_not_null())
        dropped["missing_timestamps"] = n_null
    df = df.with_columns(pl.col("timestamp").cast(pl.Int64))
    df = df.sort(["user", "timestamp", ROW])

    if cfg.min_rating is not None:
        if "rating" not in df.columns:
            raise ValueError("data.min_rating is set but the interactions have no rating column")
        before = len(df)
        df = df.filter(pl.col("rating") >= cfg.min_rating)
        dropped["min_rating"] = before - len(df)

    before = len(df)
    if cfg.duplicates == "first":
        df = df.unique(subset=["user", "item"], keep="first", maintain_order=True)
    elif cfg.duplicates == "last":
        df = df.unique(subset=["user", "item"], keep="last", maintain_order=True)
    elif cfg.duplicates == "consecutive":
        prev_item = pl.col("item").shift(1).over("user")
        df = df.filter(prev_item.is_null() | (pl.col("item") != prev_item))
    dropped["duplicates"] = before - len(df)

    before = len(df)
    df = k_core(df, cfg.min_user_interactions, cfg.min_item_interactions)
    dropped["k_core"] = before - len(df)
    return df, dropped


def k_core(df: pl.DataFrame, min_user: int, min_item: int) -> pl.DataFrame:
    """Iteratively drop users with < ``min_user`` and items with < ``min_item`` interactions."""
    if min_user <= 1 and min_item <= 1:
        return df
    while True:
        n = len(df)
        df = df.filter((pl.len().over("user") >= min_user) & (pl.len().over("item") >= min_item))
        if len(df) == n:
            return df


def build_sequences(df: pl.DataFrame) -> Prepared:
    """Vocabularies (sorted external ids -> 1..n) and CSR sequences of a filtered, sorted frame."""
    if len(df) == 0:
        raise ValueError("no interactions left after filtering")
    users = Vocabulary.from_values(df["user"], "user")
    items = Vocabulary.from_values(df["item"], "item")
    df = df.with_columns(
        pl.Series("user_idx", users.to_internal(df["user"])),
        pl.Series("item_idx", items.to_internal(df["item"])),
    ).sort(["user_idx", "timestamp", ROW])
    counts = np.bincount(df["user_idx"].to_numpy(), minlength=len(users) + 1)[1:]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    seqs = Sequences(
        offsets=offsets,
        items=df["item_idx"].to_numpy().astype(np.int64),
        timestamps=df["timestamp"].to_numpy().astype(np.int64),
    )
    return Prepared(df.drop(ROW), users, items, seqs, {})


def prepare(frame: pl.DataFrame, cfg: DataConfig) -> Prepared:
    df, dropped = filter_interactions(frame, cfg)
    prepared = build_sequences(df)
    return Prepared(prepared.frame, prepared.users, prepared.items, prepared.sequences, dropped)
