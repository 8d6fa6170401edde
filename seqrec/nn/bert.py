"""A BERT-style bidirectional encoder (post-LN, GELU), as in BERT4Rec (Sun et al., CIKM 2019).

One layer, for input H (the paper's equations 1-5):

    MH(H) = concat_h softmax(H W_Q^h (H W_K^h)^T / sqrt(d_h) + M) H W_V^h  W_O
    A     = LN(H + Dropout(MH(H)))
    PFFN  = GELU(A W_1 + b_1) W_2 + b_2                      inner width 4d in the paper
    H'    = LN(A + Dropout(PFFN(A)))

M only hides padded keys (no causal mask): every position sees the whole history. The encoder's output
is H^L * m (padding zeroed once; the key bias is left out, as the softmax cancels it: see
``seqrec.nn.attention``). Unlike the SASRec
blocks (``seqrec.nn.attention``: pre-LN query, ReLU, no output projection), this follows the original
Transformer/BERT layout that the paper and the authors' code (Google's BERT) use.
"""

from __future__ import annotations

from torch import Tensor, nn

from seqrec.nn.attention import MultiHeadSelfAttention, attention_mask
from seqrec.nn.dropout import Dropout
from seqrec.nn.linear import linear


class BertLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float, inner: int) -> None:
        super().__init__()
        self.attn = MultiHeadSelfAttention(hidden, heads, dropout)
        self.attn_out = nn.Linear(hidden, hidden)  # W_O
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.fc1 = nn.Linear(hidden, inner)
        self.fc2 = nn.Linear(inner, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = Dropout(dropout)
        self.hidden = hidden
        self.attn_adapter: nn.Module = nn.Identity()  # transfer adapter slots (seqrec.nn.adapters)
        self.ffn_adapter: nn.Module = nn.Identity()

    def forward(self, x: Tensor, mask: Tensor, queries: int | None = None) -> Tensor:
        """x: [B, L, D]; mask: [B, 1, L, L] bool.

        ``queries``: compute only the last that many positions (their attention still reads all of x);
        the output is then ``[B, queries, D]``.
        """
        xq = x
        if queries is not None:
            xq, mask = x[:, -queries:], mask[:, :, -queries:, :]
        a = self.attn_norm(self._residual(self.attn(xq, x, mask), self.attn_out, xq, self.attn_adapter))
        return self.ffn_norm(self._residual(linear(a, self.fc1, "gelu"), self.fc2, a, self.ffn_adapter))

    def _residual(self, h: Tensor, layer: nn.Linear, residual: Tensor, adapter: nn.Module) -> Tensor:
        """``residual + adapter(Dropout(layer(h)))``, ``[B, Lq, D]``. At inference without an adapter, where
        the dropout is the identity, the residual is added inside the product (``linear``'s ``residual``)."""
        if self.training or not isinstance(adapter, nn.Identity):
            return residual + adapter(self.drop(linear(h, layer)))
        return linear(h, layer, residual=residual)


class BertEncoder(nn.Module):
    """A stack of bidirectional post-LN layers (no final norm: each layer ends with one)."""

    def __init__(self, hidden: int, blocks: int, heads: int, dropout: float, inner: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BertLayer(hidden, heads, dropout, inner) for _ in range(blocks))

    def forward(self, x: Tensor, valid: Tensor, last_only: bool = False) -> Tensor:
        """x: [B, L, D] embedded inputs; valid: [B, L] bool (True on real items and [MASK]).

        ``last_only``: the last layer computes the last position only (inference: the appended
        [MASK]), returning ``[B, 1, D]`` equal to the last row of the full output.
        """
        mask = attention_mask(valid, causal=False)  # [B, 1, L, L]
        keep = valid.unsqueeze(-1).to(x.dtype)  # [B, L, 1]
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, 1 if last_only and i == last else None)
        return x * keep[:, -x.shape[1] :]  # [B, L, D] ([B, 1, D] with last_only)
