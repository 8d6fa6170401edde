"""Fine-tune a trained run on another dataset: ``seqrec finetune RUN_DIR --dataset ... --strategy ...``.

1. Load the parent run (configuration, weights, vocabularies).
2. Build the same model for the target dataset's vocabularies (with adapters for ``adapters``; with the
   target's own text vectors for text-based item tables).
3. Transplant the weights (``seqrec.transfer.transplant``): shared external ids are mapped only for the
   id kinds named by ``map_ids``; the counts are printed and recorded.
4. Choose what trains (``seqrec.transfer.strategies``), print and record the trainable share.
5. Train with the parent's training settings (overridable) and early stopping on the target's
   validation split; ``epochs=0`` evaluates the transplanted model as it is (zero-shot).

The new run directory is a normal run (``SeqRec.load``, ``seqrec recommend``, ``seqrec serve`` work on
it); its ``config.json`` gains a ``transfer`` section: parent run, parent dataset, strategy, id
matching, trainable parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from seqrec.api import SeqRec
from seqrec.config import build_config
from seqrec.data.dataset import SequenceDataset
from seqrec.runtime import RuntimeOptions
from seqrec.transfer.strategies import STRATEGIES, apply_strategy
from seqrec.transfer.transplant import IdMapping, MapIds, map_vocabularies, transplant

log = logging.getLogger("seqrec")

DEFAULT_ADAPTER_SIZE = 32


def finetune(
    parent: str | Path | SeqRec,
    data: SequenceDataset,
    *,
    strategy: str | None,
    map_ids: MapIds = "none",
    adapter_size: int | None = None,
    training: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    runtime: RuntimeOptions | None = None,
    run_dir: str | Path | None = None,
    on_epoch_end: Callable[[int], dict[str, Any]] | None = None,
) -> SeqRec:
    """A ``SeqRec`` for ``data`` initialised from ``parent`` and trained with ``strategy``.

    ``training`` / ``evaluation``: overrides of the parent's sections (``{"epochs": 20, "lr": 1e-4}``);
    ``training={"epochs": 0}`` skips training. ``adapter_size``: bottleneck width for ``adapters``
    (default: the parent's, else 32).
    """
    if strategy is None:
        raise ValueError(
            f"the target dataset has its own vocabularies: choose a transfer strategy {list(STRATEGIES)}"
        )
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown transfer strategy {strategy!r}; choose one of {list(STRATEGIES)}")
    if map_ids not in ("none", "items", "users", "both"):
        raise ValueError(f"map_ids must be none, items, users or both, got {map_ids!r}")
    runtime = runtime or (parent.runtime if isinstance(parent, SeqRec) else RuntimeOptions())
    source = parent if isinstance(parent, SeqRec) else SeqRec.load(parent, runtime=runtime)
    parent_model, parent_data = source._require()

    raw = source.config.model_dump(mode="json")
    raw["data"] = data.info.get("preprocessing", {})
    if strategy == "adapters" and raw["model"].get("adapter_size") is None:
        raw["model"]["adapter_size"] = adapter_size or DEFAULT_ADAPTER_SIZE
    overrides = dict(training or {})
    epochs = int(overrides.get("epochs", raw["training"]["epochs"]))
    if epochs == 0:
        overrides.pop("epochs")
    raw["training"].update(overrides)
    raw["evaluation"].update(evaluation or {})
    child = SeqRec(build_config(raw, source="finetune"), runtime=runtime)

    runtime.apply()
    model = child.build_model(data)
    mappings: dict[str, IdMapping] = {
        "item": map_vocabularies(
            parent_data.items, data.items, kind="item", apply=map_ids in ("items", "both")
        ),
        "user": map_vocabularies(
            parent_data.users, data.users, kind="user", apply=map_ids in ("users", "both")
        ),
    }
    moved = transplant(parent_model.state_dict(), model, mappings)
    counts = apply_strategy(model, strategy, mappings)
    model.to(runtime.torch_device())
    child.model = model
    parent_dir = str(parent) if not isinstance(parent, SeqRec) else None
    child.transfer = {
        "parent_run": parent_dir,
        "parent_dataset": parent_data.name,
        "parent_model": source.config.model.name,
        "strategy": strategy,
        "map_ids": map_ids,
        "items": mappings["item"].summary(),
        "users": mappings["user"].summary(),
        "copied_tensors": moved["copied"],
        "new_tensors": moved["kept_initialisation"],
        **counts,
    }
    for line in (
        f"transfer {parent_data.name} -> {data.name}, strategy {strategy}",
        mappings["item"].describe(),
        mappings["user"].describe(),
        f"trainable parameters: {counts['trainable_parameters']:,} of {counts['total_parameters']:,} "
        f"({100 * counts['trainable_share']:.1f}%)",
    ):
        log.info(line)
        if runtime.progress:
            print(line)
    if epochs == 0:
        child.data = data
        if run_dir is not None:
            child.save(run_dir)
        return child
    child.train(data, run_dir=run_dir, on_epoch_end=on_epoch_end)
    return child
