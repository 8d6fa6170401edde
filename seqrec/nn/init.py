"""Parameter initialisation shared by the models."""

from __future__ import annotations

import torch
from torch import nn

from seqrec.nn.embeddings import TextItemEmbedding


def reset_text_tables(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, TextItemEmbedding):
            m.reset_parameters()  # its own scheme, not the model's


@torch.no_grad()
def xavier_init(module: nn.Module) -> None:
    """The SASRec authors' scheme: Xavier-uniform linear weights, zero biases, Xavier-normal embeddings
    (their padding rows zeroed). Layer norms keep their unit / zero defaults."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.xavier_normal_(m.weight)
            if m.padding_idx is not None:
                m.weight[m.padding_idx].zero_()
    reset_text_tables(module)


@torch.no_grad()
def bert_init(module: nn.Module, std: float = 0.02) -> None:
    """BERT's scheme: truncated normal (std 0.02, cut at 2 std) weights, zero biases, padding rows zero."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            m.weight[m.padding_idx].zero_()
    reset_text_tables(module)
