"""Self-attention blocks as in the SASRec authors' code (Kang & McAuley, ICDM 2018).

One block, for input X (padding rows zeroed), following the authors' TensorFlow implementation:

    Q~ = LN(X)                                              query is layer-normalised, keys/values are not
    A  = concat_h softmax(Q~ W_Q^h (X W_K^h)^T / sqrt(d_h) + M) X W_V^h    (no output projection)
    S  = Q~ + A                                             residual on the normalised query
    F  = Dropout(ReLU(LN(S) W_1 + b_1)) W_2 + b_2, with dropout, + LN(S)
    X' = F * m                                              padding positions zeroed again

M is 0 where attention is allowed and -inf elsewhere: causal (key j <= query i) and no padded keys;
a padded query may attend to itself only, so no row is empty (its output is zeroed anyway).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.nn.dropout import Dropout, dropout


def positions_from_end(valid: Tensor) -> Tensor:
    """``[B, L]`` position ids: the last real item is 1, the one before 2, ...; padding is 0."""
    return valid.flip(1).long().cumsum(1).flip(1) * valid.long()


def attention_mask(valid: Tensor, causal: bool) -> Tensor:
    """Boolean ``[B, 1, L, L]`` mask, True where query i may attend to key j.

    ``valid`` is ``[B, L]`` (True on real items). Padded keys are never attended to, except a padded
    query attends to itself so that softmax rows are never empty.
    """
    length = valid.shape[1]
    eye = torch.eye(length, dtype=torch.bool, device=valid.device)  # [L, L]
    allowed = valid[:, None, :].expand(-1, length, -1) | eye  # [B, L, L]
    if causal:
        allowed = allowed & torch.ones(length, length, dtype=torch.bool, device=valid.device).tril()
    return allowed[:, None, :, :]  # [B, 1, L, L]


SHORT_KEYS = 32
"""Up to this many keys, attention on the CPU runs as its three small steps (``Q K^T``, masked softmax,
``A V``), which were 1.3-2.7x faster than PyTorch's fused CPU kernel at 10 keys and slower at 50
(forward and forward + backward, batches of 256-512 with 2 heads of 32). End to end on Beauty
(``benchmarks/results/ab_short-attention.md``): BERT4Rec's evaluation 1.18x faster; SASRec's evaluation
and BCE epoch unchanged within the machine's noise."""


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, dropout_p: float) -> Tensor:
    """``softmax(q k^T / sqrt(d_h) + M) v`` with dropout on the attention weights: q ``[B, H, Lq, d_h]``,
    k / v ``[B, H, L, d_h]``, mask ``[B, 1, Lq, L]`` (True = may attend; no row is empty).

    On the CPU, PyTorch's fused kernel serves long inference only: with dropout it falls back to these
    same three steps anyway, and here the weights' dropout is ``seqrec.nn.dropout``'s."""
    if q.device.type != "cpu" or (k.shape[-2] > SHORT_KEYS and dropout_p == 0.0):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # [B, H, Lq, L]
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return dropout(weights, dropout_p) @ v  # [B, H, Lq, d_h]


class MultiHeadSelfAttention(nn.Module):
    """Q from the normalised input, K and V from the raw input, heads concatenated (no output projection)."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.heads = heads
        self.dropout = dropout
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        b, length, d = query.shape  # length: queries (Lq); the keys may be longer (L)
        keys_len = keys.shape[1]
        h = self.heads
        q = self.q(query).view(b, length, h, d // h).transpose(1, 2)  # [B, H, Lq, d_h]
        k = self.k(keys).view(b, keys_len, h, d // h).transpose(1, 2)  # [B, H, L, d_h]
        v = self.v(keys).view(b, keys_len, h, d // h).transpose(1, 2)  # [B, H, L, d_h]
        out = attend(q, k, v, mask, self.dropout if self.training else 0.0)  # [B, H, Lq, d_h]
        return out.transpose(1, 2).reshape(b, length, d)  # [B, Lq, D]


class PointWiseFeedForward(nn.Module):
    """Two position-wise linear maps with ReLU, dropout after each, and a residual."""

    def __init__(self, hidden: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden, inner)
        self.fc2 = nn.Linear(inner, hidden)
        self.drop = Dropout(dropout)

    def transform(self, x: Tensor) -> Tensor:
        """The feed-forward output before its residual, ``[..., D]``."""
        return self.drop(self.fc2(self.drop(F.relu(self.fc1(x)))))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.transform(x)


class SASRecBlock(nn.Module):
    """One block; ``attn_adapter`` / ``ffn_adapter`` are identity slots for transfer adapters
    (``seqrec.nn.adapters``), applied to each sublayer's output before its residual."""

    def __init__(self, hidden: int, heads: int, dropout: float, inner: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.attn = MultiHeadSelfAttention(hidden, heads, dropout)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.ffn = PointWiseFeedForward(hidden, inner, dropout)
        self.attn_adapter: nn.Module = nn.Identity()
        self.ffn_adapter: nn.Module = nn.Identity()

    def forward(self, x: Tensor, mask: Tensor, keep: Tensor, queries: int | None = None) -> Tensor:
        """x: [B, L, D]; mask: [B, 1, L, L] bool; keep: [B, L, 1] float (1 on real items).

        ``queries``: compute only the last that many positions (their attention still reads all of x);
        the output is then ``[B, queries, D]``.
        """
        if queries is not None:
            mask, keep = mask[:, :, -queries:, :], keep[:, -queries:]
        q = self.attn_norm(x if queries is None else x[:, -queries:])  # [B, Lq, D]
        x = q + self.attn_adapter(self.attn(q, x, mask))  # [B, Lq, D]
        y = self.ffn_norm(x)  # [B, Lq, D]
        x = y + self.ffn_adapter(self.ffn.transform(y))  # [B, Lq, D]
        return x * keep


class SASRecEncoder(nn.Module):
    """A stack of SASRec blocks followed by a final layer norm."""

    def __init__(
        self, hidden: int, blocks: int, heads: int, dropout: float, inner: int, causal: bool = True
    ) -> None:
        super().__init__()
        self.causal = causal
        self.blocks = nn.ModuleList(SASRecBlock(hidden, heads, dropout, inner) for _ in range(blocks))
        self.final_norm = nn.LayerNorm(hidden, eps=1e-8)

    def forward(self, x: Tensor, valid: Tensor, last_only: bool = False) -> Tensor:
        """x: [B, L, D] embedded inputs (padding zeroed); valid: [B, L] bool.

        ``last_only``: the last block computes the last position only (inference: the state that
        predicts the next item), returning ``[B, 1, D]`` equal to the last row of the full output.
        """
        mask = attention_mask(valid, self.causal)  # [B, 1, L, L]
        keep = valid.unsqueeze(-1).to(x.dtype)  # [B, L, 1]
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, mask, keep, 1 if last_only and i == last else None)
        return self.final_norm(x)  # [B, L, D] ([B, 1, D] with last_only)
