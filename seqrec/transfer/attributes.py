"""User-level transfer (PeterRec's setting): predict a user attribute from the user's history with a
pre-trained sequence encoder and a new linear head.

For user u with history s_u (the whole sequence, at most ``max_len`` last items) and a pre-trained model:

    h_u = user_state(s_u)               the state that predicts u's next item, [D]
    p(y | u) = softmax(W h_u + b)       W, b new; trained with cross-entropy on labelled users

The strategies are the item-level ones (``seqrec.transfer.strategies``): ``full``, ``freeze-encoder``,
``adapters`` (the head always trains; with ``adapters`` the item rows stay frozen as the vocabulary is
the pre-training one). ``scratch`` trains the same architecture from a random initialisation: the
baseline that shows what pre-training adds. Users with a label are split once, stratified by class,
into train / validation / test; the reported accuracy is the test accuracy at the epoch of best
validation accuracy, next to the majority class's.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.api import SeqRec
from seqrec.data.dataset import SequenceDataset
from seqrec.evaluation.ranking import history_batch
from seqrec.models.base import SequenceModel
from seqrec.nn.adapters import insert_adapters
from seqrec.runtime import RuntimeOptions
from seqrec.transfer.strategies import apply_strategy
from seqrec.transfer.transplant import IdMapping

ADAPTER_SIZE = 32


class AttributeClassifier(nn.Module):
    """A sequence model's user state followed by a linear layer over the classes."""

    def __init__(self, backbone: SequenceModel, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        width = int(backbone.item_table().shape[1])
        self.head = nn.Linear(width, num_classes)

    def forward(self, batch: Any) -> Tensor:
        return self.head(self.backbone.user_state(batch))  # [B, C]


def attribute_labels(data: SequenceDataset, attribute: str) -> tuple[np.ndarray, list[Any]]:
    """Class index per user row (``-1``: unknown) and the class values, from ``data.user_meta``."""
    meta = data.user_meta
    if meta is None or attribute not in meta.columns:
        columns = [] if meta is None else [c for c in meta.columns if c != "user"]
        raise ValueError(
            f"user attribute {attribute!r} not in the dataset's user metadata (columns: {columns})"
        )
    values = meta[attribute]
    classes = sorted(v for v in values.unique().to_list() if v is not None)
    lookup = {v: i for i, v in enumerate(classes)}
    labels = np.array([lookup.get(v, -1) if v is not None else -1 for v in values.to_list()], dtype=np.int64)
    return labels, classes


def stratified_split(
    labels: np.ndarray, seed: int, fractions: tuple[float, float] = (0.7, 0.1)
) -> dict[str, np.ndarray]:
    """User rows per part (train / valid / test), each class split in the same proportions."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for label in np.unique(labels[labels >= 0]):
        rows = rng.permutation(np.flatnonzero(labels == label))
        a = round(fractions[0] * len(rows))
        b = a + round(fractions[1] * len(rows))
        parts["train"].append(rows[:a])
        parts["valid"].append(rows[a:b])
        parts["test"].append(rows[b:])
    return {k: np.sort(np.concatenate(v)) for k, v in parts.items()}


def _accuracy(
    model: AttributeClassifier,
    data: SequenceDataset,
    rows: np.ndarray,
    labels: np.ndarray,
    max_len: int,
    device: torch.device,
    batch_size: int,
) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            batch = history_batch(data.sequences, chunk, data.sequences.lengths[chunk], max_len).to(device)
            pred = model(batch).argmax(-1).cpu().numpy()
            correct += int((pred == labels[chunk]).sum())
    return correct / max(len(rows), 1)


def fit_user_attribute(
    parent: str | Path | SeqRec,
    attribute: str,
    strategy: str,
    *,
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 128,
    patience: int = 5,
    runtime: RuntimeOptions | None = None,
    split_seed: int = 0,
) -> dict[str, Any]:
    """Train an attribute classifier on ``parent``'s users; returns accuracies, baselines and the curve.

    ``strategy``: ``full``, ``freeze-encoder``, ``adapters`` (on the pre-trained encoder) or ``scratch``.
    """
    runtime = runtime or RuntimeOptions(progress=False)
    source = parent if isinstance(parent, SeqRec) else SeqRec.load(parent, runtime=runtime)
    pre_trained, data = source._require()
    labels, classes = attribute_labels(data, attribute)
    parts = stratified_split(labels, split_seed)
    runtime.apply()
    if strategy == "scratch":  # the same architecture, randomly initialised, everything trains
        backbone = SeqRec(source.config, runtime=runtime).build_model(data)
        counts = apply_strategy(backbone, "full", {})
    else:
        backbone = copy.deepcopy(pre_trained)
        if strategy == "adapters" and source.config.model.adapter_size is None:
            insert_adapters(backbone, ADAPTER_SIZE)  # identity at first: the pre-trained states are kept
        same_ids = {  # the pre-training vocabulary: every row is a pre-trained row
            kind: IdMapping(kind, np.arange(size + 1), size, size, size, True)
            for kind, size in (("item", data.num_items), ("user", data.num_users))
        }
        counts = apply_strategy(backbone, strategy, same_ids)
    device = runtime.torch_device()
    model = AttributeClassifier(backbone, len(classes)).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=lr)
    max_len = source.config.model.max_len
    rng = np.random.default_rng(runtime.seed)
    train_rows = parts["train"]
    curve = [{"epoch": 0, "valid": _accuracy(model, data, parts["valid"], labels, max_len, device, 512)}]
    best, best_state, best_epoch, bad = curve[0]["valid"], copy.deepcopy(model.state_dict()), 0, 0
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(train_rows)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = history_batch(data.sequences, rows, data.sequences.lengths[rows], max_len).to(device)
            target = torch.from_numpy(labels[rows]).to(device)
            loss = F.cross_entropy(model(batch), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        valid = _accuracy(model, data, parts["valid"], labels, max_len, device, 512)
        curve.append({"epoch": epoch, "valid": valid, "elapsed": time.perf_counter() - t0})
        if valid > best:
            best, best_state, best_epoch, bad = valid, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            bad += 1
            if bad >= patience:
                break
    model.load_state_dict(best_state)
    majority = int(np.bincount(labels[train_rows]).argmax())
    test_rows = parts["test"]
    return {
        "attribute": attribute,
        "classes": [str(c) for c in classes],
        "strategy": strategy,
        "dataset": data.name,
        "partial_dataset": data.partial,
        "users": {k: len(v) for k, v in parts.items()},
        "test_accuracy": _accuracy(model, data, test_rows, labels, max_len, device, 512),
        "majority_accuracy": float((labels[test_rows] == majority).mean()),
        "best_epoch": best_epoch,
        "epochs": len(curve) - 1,
        "seconds": time.perf_counter() - t0,
        "curve": curve,
        **counts,
    }
