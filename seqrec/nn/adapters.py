"""Residual bottleneck adapters (Houlsby et al., ICML 2019; PeterRec, SIGIR 2020; Adapter-based TransRec).

An adapter maps a sublayer's output h (width d) through a narrow bottleneck of width m << d and adds it
back:

    A(h) = h + W_up GELU(W_down h + b_down) + b_up,      W_down: d -> m, W_up: m -> d

``W_up`` and ``b_up`` start at zero, so a freshly inserted adapter is the identity and the pre-trained
model's scores are unchanged until the adapters learn. Every block of the encoders has two adapter slots,
``attn_adapter`` (on the attention output, before its residual) and ``ffn_adapter`` (on the feed-forward
output, before its residual); they hold ``nn.Identity`` (no parameters) until ``insert_adapters`` fills
them.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

SLOTS = ("attn_adapter", "ffn_adapter")


class BottleneckAdapter(nn.Module):
    def __init__(self, hidden: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(hidden, bottleneck)
        self.up = nn.Linear(bottleneck, hidden)
        nn.init.xavier_uniform_(self.down.weight)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)  # identity at initialisation
        nn.init.zeros_(self.up.bias)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.up(F.gelu(self.down(h)))  # [..., D]


def insert_adapters(model: nn.Module, bottleneck: int) -> int:
    """Fill every empty adapter slot of ``model``'s blocks with a ``BottleneckAdapter``; returns how many.

    A block declares its slots as ``nn.Identity`` attributes named in ``SLOTS`` and its width as
    ``hidden``. Raises if the model has no slot (it cannot take adapters).
    """
    inserted = 0
    for module in list(model.modules()):
        for slot in SLOTS:
            current = getattr(module, slot, None)
            if isinstance(current, nn.Identity):
                setattr(module, slot, BottleneckAdapter(int(module.hidden), bottleneck))  # type: ignore[arg-type]
                inserted += 1
    if not inserted:
        raise ValueError(f"{type(model).__name__} has no adapter slots")
    return inserted
