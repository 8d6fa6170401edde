"""Which weights train when a pre-trained model is fine-tuned.

``full``            every weight trains.
``freeze-encoder``  the encoder (``model.encoder``: attention and feed-forward blocks, their norms and
                    the position / interval tables inside it) is frozen; the embeddings and the output
                    side train (the setting of the SSE-PT ML-1M -> Wikipedia experiment).
``adapters``        only residual adapters (``seqrec.nn.adapters``; the model must have been built with
                    ``adapter_size``), layer norms, the text adaptor of text-based item tables, and the
                    *new* rows of id tables train (PeterRec / Adapter-based TransRec). Rows mapped from
                    the pre-trained vocabulary are held by zeroing their gradients; with a non-zero
                    ``training.weight_decay`` Adam would still shrink them, so keep it 0 here.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from seqrec.models.base import SequenceModel
from seqrec.nn.adapters import BottleneckAdapter
from seqrec.nn.embeddings import TextItemEmbedding
from seqrec.transfer.transplant import IdMapping

Strategy = Literal["full", "freeze-encoder", "adapters"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


def _row_mask_hook(mask: Tensor) -> Any:
    """Zero the gradient rows where ``mask`` is 0 (the mask follows the model to its device)."""
    held = {"mask": mask}

    def hook(grad: Tensor) -> Tensor:
        if held["mask"].device != grad.device:
            held["mask"] = held["mask"].to(grad.device)
        return grad * held["mask"]

    return hook


def apply_strategy(model: SequenceModel, strategy: str, mappings: dict[str, IdMapping]) -> dict[str, Any]:
    """Set ``requires_grad`` (and row-freezing gradient hooks) for ``strategy``; returns the counts."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown transfer strategy {strategy!r}; choose one of {list(STRATEGIES)}")
    params = dict(model.named_parameters())
    frozen_rows = 0
    if strategy == "full":
        trainable = set(params)
    elif strategy == "freeze-encoder":
        encoder = getattr(model, "encoder", None)
        if not isinstance(encoder, nn.Module):
            raise ValueError(f"{type(model).__name__} has no encoder to freeze")
        in_encoder = {f"encoder.{name}" for name, _ in encoder.named_parameters()}
        trainable = set(params) - in_encoder
    else:
        if not any(isinstance(m, BottleneckAdapter) for m in model.modules()):
            raise ValueError("strategy 'adapters' needs a model built with model.adapter_size")
        trainable = set()
        for name, module in model.named_modules():
            if isinstance(module, BottleneckAdapter | nn.LayerNorm | TextItemEmbedding):
                prefix = f"{name}." if name else ""
                trainable |= {f"{prefix}{n}" for n, _ in module.named_parameters()}
        for key, kind in model.vocab_indexed().items():
            if kind not in ("item", "user") or key not in params:
                continue
            trainable.add(key)
            mapping = mappings.get(kind)
            if mapping is None or not mapping.matched:
                continue
            param = params[key]
            mask = torch.ones(param.shape[0], *([1] * (param.ndim - 1)))  # moved by the hook
            mask[: mapping.target_size + 1][torch.from_numpy(mapping.source_rows > 0)] = 0.0
            param.register_hook(_row_mask_hook(mask))
            frozen_rows += int(mapping.matched) * int(param[0].numel())
    for name, param in params.items():
        param.requires_grad_(name in trainable)
    total = sum(p.numel() for p in params.values())
    count = sum(p.numel() for n, p in params.items() if n in trainable) - frozen_rows
    return {
        "strategy": strategy,
        "trainable_parameters": int(count),
        "total_parameters": int(total),
        "trainable_share": count / total if total else 0.0,
    }
