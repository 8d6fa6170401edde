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

import torch
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

    def forward(self, x: Tensor, mask: Tensor, queries: int | Tensor | None = None) -> Tensor:
        """x: [B, L, D]; mask: [B, 1, 1, L] bool, the keys every query may attend to (``attention_mask``'s
        bidirectional form).

        ``queries``: compute only some positions (their attention still reads all of x): an int, the last
        that many, and the output is ``[B, queries, D]``; a bool ``[B, L]`` tensor, the positions it
        marks, and the output is ``[T, D]``, one row per marked position in row-major order.
        """
        if isinstance(queries, Tensor):
            return self._picked(x, mask, queries)
        xq = x if queries is None else x[:, -queries:]
        return self._position_wise(self.attn(xq, x, mask), xq)

    def _picked(self, x: Tensor, mask: Tensor, picks: Tensor) -> Tensor:
        """``forward`` on the positions ``picks`` marks, ``[T, D]``: the attention on each history's picked
        positions packed to the left of ``[B, Q, D]`` (Q: the most any history has), everything after it
        on the ``T`` picked rows alone."""
        index, flat = pack_positions(picks)  # [B, Q], [T]
        d = x.shape[-1]
        xq = x.gather(1, index.unsqueeze(-1).expand(-1, -1, d))  # [B, Q, D]
        attended = self.attn(xq, x, mask).reshape(-1, d).index_select(0, flat)  # [T, D]
        return self._position_wise(attended, xq.reshape(-1, d).index_select(0, flat))

    def _position_wise(self, attended: Tensor, xq: Tensor) -> Tensor:
        """The layer after its attention, from the heads' output and the queries' inputs ``[..., D]``."""
        a = self.attn_norm(self._residual(attended, self.attn_out, xq, self.attn_adapter))
        return self.ffn_norm(self._residual(linear(a, self.fc1, "gelu"), self.fc2, a, self.ffn_adapter))

    def _residual(self, h: Tensor, layer: nn.Linear, residual: Tensor, adapter: nn.Module) -> Tensor:
        """``residual + adapter(Dropout(layer(h)))``, ``[..., D]``. At inference without an adapter, where
        the dropout is the identity, the residual is added inside the product (``linear``'s ``residual``)."""
        if self.training or not isinstance(adapter, nn.Identity):
            return residual + adapter(self.drop(linear(h, layer)))
        return linear(h, layer, residual=residual)


class BertEncoder(nn.Module):
    """A stack of bidirectional post-LN layers (no final norm: each layer ends with one)."""

    def __init__(self, hidden: int, blocks: int, heads: int, dropout: float, inner: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BertLayer(hidden, heads, dropout, inner) for _ in range(blocks))

    def forward(
        self, x: Tensor, valid: Tensor, last_only: bool = False, picks: Tensor | None = None
    ) -> Tensor:
        """x: [B, L, D] embedded inputs; valid: [B, L] bool (True on real items and [MASK]).

        ``last_only``: the last layer computes the last position only (inference: the appended
        [MASK]), returning ``[B, 1, D]`` equal to the last row of the full output.
        ``picks``: a bool ``[B, L]`` of real positions; the last layer computes those only (training: the
        positions with a target), returning ``[T, D]``, the full output's rows at them, row-major.
        """
        mask = attention_mask(valid, causal=False)  # [B, 1, 1, L]
        keep = valid.unsqueeze(-1).to(x.dtype)  # [B, L, 1]
        last = len(self.layers) - 1
        queries: int | Tensor | None = picks if picks is not None else 1 if last_only else None
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, queries if i == last else None)
        if picks is not None:
            return x  # [T, D]: real positions only, nothing to zero
        return x * keep[:, -x.shape[1] :]  # [B, L, D] ([B, 1, D] with last_only)


def pack_positions(picks: Tensor) -> tuple[Tensor, Tensor]:
    """The positions a bool ``[B, L]`` marks, packed to the left of each row: ``index [B, Q]`` (Q: the
    most marked in any row, at least 1), each row's marked positions in order and its last position
    after them; and ``flat [T]``, the marked slots of ``index`` as flat indices into ``[B Q]`` in
    row-major order (``picks.nonzero()``'s)."""
    b, length = picks.shape
    counts = picks.sum(1)  # [B]
    row, col = picks.nonzero(as_tuple=True)  # [T] each
    width = max(int(counts.max()), 1) if b else 1
    slot = torch.arange(row.numel(), device=picks.device) - (counts.cumsum(0) - counts)[row]  # [T]
    index = torch.full((b, width), length - 1, dtype=torch.long, device=picks.device)
    index[row, slot] = col
    return index, row * width + slot
