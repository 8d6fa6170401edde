"""A BERT-style bidirectional encoder (post-LN, GELU), as in BERT4Rec (Sun et al., CIKM 2019).

One layer, for input H (the paper's equations 1-5):

    MH(H) = concat_h softmax(H W_Q^h (H W_K^h)^T / sqrt(d_h) + M) H W_V^h  W_O
    A     = LN(H + Dropout(MH(H)))
    PFFN  = GELU(A W_1 + b_1) W_2 + b_2                      inner width 4d in the paper
    H'    = LN(A + Dropout(PFFN(A)))

M only hides padded keys (no causal mask): every position sees the whole history. Unlike the SASRec
blocks (``seqrec.nn.attention``: pre-LN query, ReLU, no output projection), this follows the original
Transformer/BERT layout that the paper and the authors' code (Google's BERT) use.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.nn.attention import MultiHeadSelfAttention, attention_mask


class BertLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float, inner: int) -> None:
        super().__init__()
        self.attn = MultiHeadSelfAttention(hidden, heads, dropout)
        self.attn_out = nn.Linear(hidden, hidden)  # W_O
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.fc1 = nn.Linear(hidden, inner)
        self.fc2 = nn.Linear(inner, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.hidden = hidden
        self.attn_adapter: nn.Module = nn.Identity()  # transfer adapter slots (seqrec.nn.adapters)
        self.ffn_adapter: nn.Module = nn.Identity()

    def forward(self, x: Tensor, mask: Tensor, keep: Tensor) -> Tensor:
        """x: [B, L, D]; mask: [B, 1, L, L] bool; keep: [B, L, 1] float (1 on real items)."""
        attn = self.attn_adapter(self.drop(self.attn_out(self.attn(x, x, mask))))  # [B, L, D]
        a = self.attn_norm(x + attn)  # [B, L, D]
        ffn = self.ffn_adapter(self.drop(self.fc2(F.gelu(self.fc1(a)))))  # [B, L, D]
        h = self.ffn_norm(a + ffn)  # [B, L, D]
        return h * keep


class BertEncoder(nn.Module):
    """A stack of bidirectional post-LN layers (no final norm: each layer ends with one)."""

    def __init__(self, hidden: int, blocks: int, heads: int, dropout: float, inner: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BertLayer(hidden, heads, dropout, inner) for _ in range(blocks))

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        """x: [B, L, D] embedded inputs; valid: [B, L] bool (True on real items and [MASK])."""
        mask = attention_mask(valid, causal=False)  # [B, 1, L, L]
        keep = valid.unsqueeze(-1).to(x.dtype)  # [B, L, 1]
        for layer in self.layers:
            x = layer(x, mask, keep)
        return x  # [B, L, D]
