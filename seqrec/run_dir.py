"""Reading a run directory (``config.json``, ``model.safetensors``, ``data/``) back into a model.

Shared by ``SeqRec.load`` and ``seqrec.serving.Recommender.load``. The model is rebuilt from the stored
configuration and dims, then every weight is checked (missing, unexpected, shape) as it loads. Text-based
item tables are rebuilt with a placeholder of the stored shape that the weights file fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqrec.config import RunConfig, build_config
from seqrec.data.dataset import SequenceDataset
from seqrec.io import read_json
from seqrec.models import build_model
from seqrec.models.base import SequenceModel
from seqrec.training.checkpoint import load_weights

FORMAT_VERSION = 1


@dataclass
class LoadedRun:
    header: dict[str, Any]
    config: RunConfig
    data: SequenceDataset
    model: SequenceModel


def read_header(path: Path) -> dict[str, Any]:
    header: dict[str, Any] = read_json(path / "config.json")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path / 'config.json'}: unsupported format_version {header.get('format_version')}")
    return header


def model_dims(model: SequenceModel, data: SequenceDataset) -> dict[str, int]:
    """The sizes (besides the config) needed to rebuild ``model``: written into ``config.json``."""
    dims = {"num_items": data.num_items, "num_users": data.num_users}
    text = getattr(model, "item_emb", None)
    if text is not None and hasattr(text, "text_dim"):
        dims["text_dim"] = int(text.text_dim)
    return dims


def load_run(run_dir: str | Path, device: torch.device | str = "cpu") -> LoadedRun:
    path = Path(run_dir)
    header = read_header(path)
    config = build_config(header["config"], source=str(path / "config.json"))
    data = SequenceDataset.load(path / "data")
    dims = header["model_dims"]
    if dims["num_items"] != data.num_items or dims["num_users"] != data.num_users:
        raise ValueError(f"{path}: model dims {dims} differ from the stored vocabularies")
    text = None
    if config.model.item_text is not None:
        if "text_dim" not in dims:
            raise ValueError(f"{path / 'config.json'}: model_dims lacks text_dim for a text-based model")
        text = torch.zeros(data.num_items + 1, int(dims["text_dim"]))  # filled by the weights file
    model = build_model(config.model, data.num_items, data.num_users, text)
    load_weights(model, path / "model.safetensors")
    model.to(torch.device(device))
    return LoadedRun(header, config, data, model)
