"""``SequenceDataset``: a prepared dataset, ready for training, evaluation and recommendation.

It bundles the user and item vocabularies, the CSR sequences, the split and the item metadata
(titles, genres, ...) aligned with internal item ids: row ``i`` of ``item_meta`` is internal id ``i+1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from safetensors.numpy import load_file, save_file

from seqrec.config import ColumnsConfig, DataConfig
from seqrec.data import readers
from seqrec.data.preprocess import prepare
from seqrec.data.sequences import Sequences, Split, leave_one_out, temporal_split
from seqrec.data.vocab import Vocabulary
from seqrec.io import atomic_write, read_json, write_json_atomic

FrameLike = pl.DataFrame | pd.DataFrame


@dataclass
class SequenceDataset:
    name: str
    users: Vocabulary
    items: Vocabulary
    sequences: Sequences
    split: Split
    item_meta: pl.DataFrame | None = None
    user_meta: pl.DataFrame | None = None
    partial: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_items(self) -> int:
        return len(self.items)

    @property
    def num_users(self) -> int:
        return len(self.users)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, cfg: DataConfig) -> SequenceDataset:
        """Load (registry name or file) and prepare according to a validated ``DataConfig``."""
        if cfg.dataset is not None:
            from seqrec.data import registry

            raw = registry.load(cfg.dataset)
            return cls.from_frame(
                raw.interactions,
                config=cfg,
                items=raw.items,
                users=raw.users,
                name=raw.name,
                partial=raw.partial,
            )
        if cfg.path is None:
            raise ValueError("data: give data.dataset (a registered name) or data.path (a file)")
        frame = read_interactions(cfg.path, cfg.format, cfg.columns)
        items = readers_item_table(cfg.items_path) if cfg.items_path is not None else None
        return cls.from_frame(frame, config=cfg, items=items, name=Path(cfg.path).name)

    @classmethod
    def from_registry(cls, name: str, **options: Any) -> SequenceDataset:
        """A registered dataset (``seqrec datasets list``), prepared with ``DataConfig`` options."""
        return cls.from_config(DataConfig(dataset=name, **options))

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        format: str = "auto",
        columns: Mapping[str, str | None] | None = None,
        items_path: str | Path | None = None,
        **options: Any,
    ) -> SequenceDataset:
        """An interaction file (CSV / TSV / Parquet with ``columns`` mapping, or ``format`` movielens /
        sasrec / s3rec / jodie), prepared with ``DataConfig`` options."""
        return cls.from_config(
            DataConfig(
                path=Path(path),
                format=format,  # type: ignore[arg-type]
                columns=ColumnsConfig.model_validate(dict(columns or {})),
                items_path=Path(items_path) if items_path is not None else None,
                **options,
            )
        )

    @classmethod
    def from_frame(
        cls,
        interactions: FrameLike,
        *,
        user: str = "user",
        item: str = "item",
        timestamp: str | None = "timestamp",
        rating: str | None = None,
        items: FrameLike | None = None,
        item_id: str = "item",
        users: FrameLike | None = None,
        config: DataConfig | None = None,
        name: str = "dataframe",
        partial: bool = False,
        **options: Any,
    ) -> SequenceDataset:
        """Build from a pandas or Polars frame of interactions (one row per event).

        ``options`` are ``DataConfig`` preprocessing fields (``min_user_interactions=5``, ``split=...``).
        ``items`` is an optional metadata frame with an ``item_id`` column (titles, genres, ...).
        """
        cfg = config if config is not None else DataConfig(**options)
        if config is not None and options:
            cfg = cfg.model_copy(update=options)
        frame = _to_polars(interactions)
        rename = {user: "user", item: "item"}
        if timestamp is not None and timestamp in frame.columns:
            rename[timestamp] = "timestamp"
        if rating is not None:
            rename[rating] = "rating"
        missing = [c for c in rename if c not in frame.columns]
        if missing:
            raise ValueError(f"interactions have no column(s) {missing}; columns are {frame.columns}")
        frame = frame.rename({k: v for k, v in rename.items() if k != v})
        prepared = prepare(frame, cfg)
        seqs = prepared.sequences
        split = (
            leave_one_out(seqs)
            if cfg.split == "leave_one_out"
            else temporal_split(seqs, cfg.temporal_valid_fraction, cfg.temporal_test_fraction)
        )
        item_meta = None
        if items is not None:
            meta = _to_polars(items)
            if item_id not in meta.columns:
                raise ValueError(f"item metadata has no {item_id!r} column (columns: {meta.columns})")
            item_meta = align_meta(
                prepared.items, meta.rename({item_id: "item"}) if item_id != "item" else meta
            )
        user_meta = None
        if users is not None:
            user_meta = align_meta(prepared.users, _to_polars(users).rename({"user": "item"})).rename(
                {"item": "user"}
            )
        info = {"dropped": prepared.dropped, "preprocessing": cfg.model_dump(mode="json")}
        return cls(name, prepared.users, prepared.items, seqs, split, item_meta, user_meta, partial, info)

    # ------------------------------------------------------------------ views
    def titles(self, internal: np.ndarray) -> list[str | None]:
        """Titles of internal item ids (``None`` when the dataset has no titles)."""
        if self.item_meta is None or "title" not in self.item_meta.columns:
            return [None] * len(internal)
        return self.item_meta["title"].gather(np.asarray(internal, dtype=np.int64) - 1).to_list()

    def stats(self) -> dict[str, Any]:
        lengths = self.sequences.lengths
        n = int(lengths.sum())
        return {
            "name": self.name,
            "partial": self.partial,
            "users": self.num_users,
            "items": self.num_items,
            "interactions": n,
            "avg_length": float(lengths.mean()),
            "median_length": float(np.median(lengths)),
            "density": n / (self.num_users * self.num_items),
            "split": self.split.kind,
            "valid_users": int((self.split.valid_pos >= 0).sum()),
            "test_users": int((self.split.test_pos >= 0).sum()),
        }

    # ------------------------------------------------------------------ persistence (no pickle)
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(directory / "users.json", self.users.to_json())
        write_json_atomic(directory / "items.json", self.items.to_json())
        arrays = {
            "offsets": self.sequences.offsets,
            "items": self.sequences.items,
            "timestamps": self.sequences.timestamps,
            "train_end": self.split.train_end,
            "valid_pos": self.split.valid_pos,
            "test_pos": self.split.test_pos,
        }
        atomic_write(directory / "sequences.safetensors", lambda p: save_file(arrays, str(p)))
        if self.item_meta is not None:
            meta = self.item_meta
            atomic_write(directory / "item_meta.parquet", lambda p: meta.write_parquet(p))
        if self.user_meta is not None:
            umeta = self.user_meta
            atomic_write(directory / "user_meta.parquet", lambda p: umeta.write_parquet(p))
        write_json_atomic(
            directory / "dataset.json",
            {"name": self.name, "partial": self.partial, "split": self.split.kind, "info": self.info},
        )

    @classmethod
    def load(cls, directory: Path) -> SequenceDataset:
        header = read_json(directory / "dataset.json")
        arrays = load_file(str(directory / "sequences.safetensors"))
        seqs = Sequences(arrays["offsets"], arrays["items"], arrays["timestamps"])
        split = Split(arrays["train_end"], arrays["valid_pos"], arrays["test_pos"], header["split"])
        item_meta = (
            pl.read_parquet(directory / "item_meta.parquet")
            if (directory / "item_meta.parquet").exists()
            else None
        )
        user_path = directory / "user_meta.parquet"
        user_meta = pl.read_parquet(user_path) if user_path.exists() else None
        return cls(
            header["name"],
            Vocabulary.from_json(read_json(directory / "users.json")),
            Vocabulary.from_json(read_json(directory / "items.json")),
            seqs,
            split,
            item_meta,
            user_meta,
            header["partial"],
            header.get("info", {}),
        )


def align_meta(vocab: Vocabulary, meta: pl.DataFrame) -> pl.DataFrame:
    """Metadata rows in internal-id order (row i = internal id i+1); unknown items get nulls."""
    meta = meta.unique(subset=["item"], keep="first", maintain_order=True)
    if meta["item"].dtype != vocab.dtype:
        meta = meta.with_columns(pl.col("item").cast(vocab.dtype, strict=False))
    base = pl.DataFrame({"item": vocab.external})
    return base.join(meta, on="item", how="left", maintain_order="left")


def read_interactions(path: Path, fmt: str, columns: ColumnsConfig) -> pl.DataFrame:
    """Read an interaction file in one of the supported layouts into the canonical frame."""
    path = Path(path)
    if fmt == "movielens":
        return readers.read_movielens_ratings(path)
    if fmt == "sasrec":
        return readers.read_sasrec_pairs(path)
    if fmt == "s3rec":
        return readers.read_s3rec_rows(path)
    if fmt == "jodie":
        return readers.read_jodie(path)
    separator = {"csv": ",", "tsv": "\t"}.get(fmt)
    mapping = readers.ColumnMapping(
        user=columns.user,
        item=columns.item,
        timestamp=columns.timestamp,
        rating=columns.rating,
        behavior=columns.behavior,
    )
    return readers.read_table(path, mapping, separator=separator)


def readers_item_table(path: Path) -> pl.DataFrame:
    """An item metadata table (CSV / TSV / Parquet) with an ``item`` column."""
    path = Path(path)
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        return pl.read_parquet(path)
    if name.endswith(".dat"):
        return readers.read_movielens_movies(path)
    return pl.read_csv(path, separator="\t" if name.endswith(".tsv") else ",")


def _to_polars(frame: FrameLike) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pd.DataFrame):
        return pl.from_pandas(frame)
    raise TypeError(f"expected a pandas or Polars DataFrame, got {type(frame).__name__}")
