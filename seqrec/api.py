"""The notebook API: ``SeqRec(...).fit(data)``, ``.evaluate()``, ``.recommend(users=[...])``, ``.save(dir)``,
``SeqRec.load(dir)``.

A run directory holds everything needed to use a model without the original files:

    config.json            resolved configuration, runtime options, library / torch versions, model sizes
    model.safetensors      weights (best validation epoch)
    data/                  vocabularies (JSON), sequences and split (safetensors),
                           item / user metadata (Parquet)
    metrics.json           evaluation records (full ranking and sampled)
    train_log.jsonl, curves.png, tensorboard/, run.log
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import torch

from seqrec.config import DataConfig, RunConfig, build_config
from seqrec.data.dataset import SequenceDataset
from seqrec.evaluation.evaluator import evaluate
from seqrec.io import read_json, write_json_atomic
from seqrec.models import build_model
from seqrec.models.base import SequenceModel
from seqrec.recommend import Recommender
from seqrec.run_dir import FORMAT_VERSION, load_run, model_dims
from seqrec.runtime import RuntimeOptions
from seqrec.training.checkpoint import save_weights, state_to_cpu
from seqrec.training.trainer import FitResult, Trainer


class SeqRec:
    """A sequential recommender: configure, ``fit``, ``evaluate``, ``recommend``, ``save`` / ``load``."""

    def __init__(
        self,
        config: RunConfig | Mapping[str, Any] | None = None,
        *,
        runtime: RuntimeOptions | None = None,
        **sections: Any,
    ) -> None:
        """``config`` as a ``RunConfig`` or a mapping, or sections as keywords:
        ``SeqRec(model={...}, training={...})``."""
        if isinstance(config, RunConfig):
            self.config = config if not sections else build_config({**config.model_dump(), **sections})
        else:
            raw: dict[str, Any] = dict(config or {})
            raw.update(sections)
            raw.setdefault("data", {})
            self.config = build_config(raw)
        self.runtime = runtime or RuntimeOptions()
        self.model: SequenceModel | None = None
        self.data: SequenceDataset | None = None
        self.fit_result: FitResult | None = None
        self.metrics: list[dict[str, Any]] = []
        self.transfer: dict[str, Any] | None = None
        """Where the weights came from when the model was transferred (``seqrec.transfer.finetune``)."""

    # ------------------------------------------------------------------ training
    def fit(self, data: SequenceDataset | None = None, *, run_dir: str | Path | None = None) -> SeqRec:
        """Train on ``data`` (or the dataset named in ``config.data``); returns ``self``."""
        if data is None:
            if self.config.data == DataConfig():
                raise ValueError("fit() needs a SequenceDataset or a config with data.dataset / data.path")
            data = SequenceDataset.from_config(self.config.data)
        self.runtime.apply()
        self.model = self.build_model(data)
        return self.train(data, run_dir=run_dir)

    def build_model(self, data: SequenceDataset) -> SequenceModel:
        """A freshly initialised model of this configuration for ``data``'s catalogue and users."""
        text = None
        if self.config.model.item_text is not None:
            from seqrec.transfer.text import catalogue_text_vectors

            text = catalogue_text_vectors(
                data.item_meta, data.num_items, self.config.model.item_text, progress=self.runtime.progress
            )
        return build_model(self.config.model, data.num_items, data.num_users, text)

    def train(
        self,
        data: SequenceDataset,
        *,
        run_dir: str | Path | None = None,
        on_epoch_end: Callable[[int], dict[str, Any]] | None = None,
    ) -> SeqRec:
        """Train ``self.model`` (already built, e.g. transplanted by ``seqrec.transfer``) on ``data``.

        ``on_epoch_end(epoch)`` returns extra values for the epoch's log row (see ``Trainer``)."""
        if self.model is None:
            raise RuntimeError("train() needs a model: call fit() or build_model() first")
        self.data = data
        out = Path(run_dir) if run_dir is not None else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            self._save_header(out)
            data.save(out / "data")
        self.fit_result = Trainer(self.model, data, self.config, self.runtime, out, on_epoch_end).fit()
        return self

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, part: str = "test", protocol: str = "full") -> dict[str, Any]:
        """One evaluation record (flat dict): ``part`` in {valid, test}, ``protocol`` in {full, sampled}."""
        model, data = self._require()
        if protocol not in ("full", "sampled"):
            raise ValueError(f"unknown protocol {protocol!r}: expected 'full' or 'sampled'")
        record = evaluate(
            model,
            data,
            self.config.evaluation,
            part=part,
            protocol=protocol,  # type: ignore[arg-type]
            device=self.runtime.torch_device(),
            progress=self.runtime.progress,
            max_len=self.config.model.max_len,
        )
        record = {
            "model": self.config.model.name,
            "dataset": data.name,
            "partial_dataset": data.partial,
            **record,
        }
        self.metrics.append(record)
        return record

    # ------------------------------------------------------------------ recommendation
    @property
    def recommender(self) -> Recommender:
        model, data = self._require()
        return Recommender(model, data, max_len=self.config.model.max_len, device=self.runtime.torch_device())

    def recommend(
        self,
        users: Sequence[Any] | None = None,
        histories: Mapping[Any, Sequence[Any]] | Sequence[Sequence[Any]] | None = None,
        *,
        k: int = 10,
        filter_seen: bool = True,
        titles: bool = False,
        exclude: Sequence[Any] | None = None,
        include_only: Sequence[Any] | None = None,
    ) -> pl.DataFrame:
        """Top-k per user as a Polars DataFrame (``.to_pandas()`` for pandas).

        Columns: user, rank, item, score, title (when the dataset has titles).
        """
        return self.recommender.recommend(
            users,
            histories,
            k=k,
            filter_seen=filter_seen,
            titles=titles,
            exclude=exclude,
            include_only=include_only,
        )

    # ------------------------------------------------------------------ persistence
    def save(self, run_dir: str | Path) -> Path:
        model, data = self._require()
        out = Path(run_dir)
        out.mkdir(parents=True, exist_ok=True)
        self._save_header(out)
        data.save(out / "data")
        save_weights(state_to_cpu(model), out / "model.safetensors")
        if self.metrics:
            write_json_atomic(out / "metrics.json", self.metrics)
        return out

    @classmethod
    def load(cls, run_dir: str | Path, *, runtime: RuntimeOptions | None = None) -> SeqRec:
        """Rebuild the model from ``config.json``, check and load the weights, load the dataset state."""
        path = Path(run_dir)
        runtime = runtime or RuntimeOptions()
        run = load_run(path, runtime.torch_device())
        self = cls(run.config, runtime=runtime)
        self.data, self.model = run.data, run.model
        self.transfer = run.header.get("transfer")
        metrics_path = path / "metrics.json"
        self.metrics = read_json(metrics_path) if metrics_path.exists() else []
        return self

    def _save_header(self, out: Path) -> None:
        model, data = self.model, self.data
        assert model is not None and data is not None
        header: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "config": self.config.model_dump(mode="json"),
            "runtime": asdict(self.runtime),
            "model_dims": model_dims(model, data),
            "versions": versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if self.transfer is not None:
            header["transfer"] = self.transfer
        write_json_atomic(out / "config.json", header)

    def _require(self) -> tuple[SequenceModel, SequenceDataset]:
        if self.model is None or self.data is None:
            raise RuntimeError("the model is not trained: call fit() or SeqRec.load() first")
        return self.model, self.data


def versions() -> dict[str, str]:
    from seqrec import __version__

    return {
        "seqrec": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "polars": pl.__version__,
        "git_commit": git_commit(),
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
