"""Id-indexed tables and the text-based item table.

Every model reads its items through an *item table*: ``forward(ids) -> [..., D]`` for inputs and
``table() -> [N + 1 (+ extra), D]`` for scoring. Transfer (``seqrec.transfer``) finds the tables whose rows
are indexed by item or user ids through their ``indexed_by`` attribute, so that it can map rows across
vocabularies.

``TextItemEmbedding`` follows UniSRec's MoE-enhanced adaptor (Hou et al., KDD 2022). For item i with a
frozen sentence-encoder vector x_i (width T), K experts with parametric whitening and a softmax gate:

    e_i^(k) = (x~_i - b_k) W_k               b_k in R^T, W_k in R^{T x D}      (whitening + projection)
    g_i     = softmax(x~_i W_g)              W_g in R^{T x K}
    v_i     = sum_k g_i^(k) e_i^(k)          (+ M[i] with ``with_ids``, UniSRec's transductive setting)

where x~_i is x_i after dropout during training. Without ids, nothing depends on the item's id, so a
model moves to a catalogue that shares no ids: build it with the new catalogue's text vectors.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from seqrec.nn.dropout import Dropout

IndexKind = Literal["item", "user"]


def take_rows(table: Tensor, ids: Tensor, sparse: bool = False) -> Tensor:
    """``table[ids]``, ``[*ids.shape, D]``, by ``index_select``: its backward adds rows in place
    (``index_add_``), where ``F.embedding``'s sorts the ids first (see ``_CPULookup``). ``sparse``: the
    table's gradient is a sparse tensor of the rows taken (``F.embedding``'s;
    ``training.sparse_item_updates``)."""
    if sparse:
        return F.embedding(ids, table, sparse=True)
    return table.index_select(0, ids.reshape(-1)).view(*ids.shape, table.shape[1])


class _CPULookup(torch.autograd.Function):
    """``weight[ids]`` whose backward adds the output's gradient into the rows with ``index_add_``
    (``index_select``'s own backward), the padding row's gradient zeroed as ``F.embedding`` does.

    On the CPU, ``F.embedding``'s backward (``embedding_dense_backward``) sorts the ids first; adding
    them in place is quicker, with the same sums in another order. End to end on the ML-1M head (the
    Xeon, 4 alternating rounds): a SASRec BCE epoch on each user's last window 1.02x, BERT4Rec 1.03x
    (``benchmarks/results/ab_cpu-lookup-ml-1m-head.md``)."""

    @staticmethod
    def forward(ctx: Any, weight: Tensor, ids: Tensor, padding_idx: int | None) -> Tensor:
        ctx.save_for_backward(ids)
        ctx.rows, ctx.padding_idx = weight.shape[0], padding_idx
        return take_rows(weight, ids)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (ids,) = ctx.saved_tensors
        grad = grad.reshape(-1, grad.shape[-1])
        out = grad.new_zeros(ctx.rows, grad.shape[1]).index_add_(0, ids.reshape(-1), grad)  # [rows, D]
        if ctx.padding_idx is not None:
            out[ctx.padding_idx] = 0.0
        return out, None, None


class Embedding(nn.Embedding):
    """``nn.Embedding`` whose lookup on the CPU, where a gradient is formed, takes ``_CPULookup`` (a faster
    backward, the same gradients); inference, other devices, ``sparse`` (set for
    ``training.sparse_item_updates``) and the options seqrec never sets (``max_norm``,
    ``scale_grad_by_freq``) keep PyTorch's."""

    def forward(self, ids: Tensor) -> Tensor:
        plain = self.max_norm is None and not self.scale_grad_by_freq and not self.sparse
        if (
            plain
            and self.weight.device.type == "cpu"
            and torch.is_grad_enabled()
            and self.weight.requires_grad
        ):
            return cast(Tensor, _CPULookup.apply(self.weight, ids, self.padding_idx))
        return super().forward(ids)


class ItemEmbedding(Embedding):
    """An item-id table: row i is item i, row 0 padding (and possibly special rows after N)."""

    indexed_by: IndexKind = "item"

    def table(self) -> Tensor:
        return self.weight  # [N + 1, D]


class UserEmbedding(Embedding):
    """A user-id table: row u is user u, row 0 the unknown user."""

    indexed_by: IndexKind = "user"


class TextItemEmbedding(nn.Module):
    """Item vectors from frozen text vectors through a trainable mixture-of-experts whitening adaptor."""

    derived_buffers: ClassVar[tuple[str, ...]] = ("text",)
    """Buffers computed from the catalogue's own text: never transplanted from a pre-trained model."""

    def __init__(
        self, text: Tensor, hidden: int, *, experts: int, dropout: float, with_ids: bool = False
    ) -> None:
        super().__init__()
        if text.ndim != 2:
            raise ValueError(f"text vectors must be [N + 1, T], got shape {tuple(text.shape)}")
        num_rows, width = text.shape
        self.register_buffer("text", text.detach().float().clone())  # [N + 1, T], row 0 = padding
        self.whiten_bias = nn.Parameter(torch.zeros(experts, width))  # b_k
        self.proj = nn.Parameter(torch.empty(experts, width, hidden))  # W_k
        self.gate = nn.Linear(width, experts, bias=False)  # W_g
        self.drop = Dropout(dropout)
        self.ids = ItemEmbedding(num_rows, hidden, padding_idx=0) if with_ids else None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Zero whitening biases, Xavier-uniform projections, a zero gate (equal experts at the start),
        a Xavier-normal id table. The models' init schemes call this instead of their own."""
        width, hidden = self.proj.shape[1:]
        nn.init.zeros_(self.whiten_bias)
        bound = math.sqrt(6.0 / (width + hidden))
        nn.init.uniform_(self.proj, -bound, bound)
        nn.init.zeros_(self.gate.weight)
        if self.ids is not None:
            nn.init.xavier_normal_(self.ids.weight)
            self.ids.weight[0].zero_()

    text: Tensor

    @property
    def text_dim(self) -> int:
        return int(self.text.shape[1])

    def adapt(self, x: Tensor) -> Tensor:
        """``[..., T]`` text vectors -> ``[..., D]`` item vectors."""
        x = self.drop(x)  # [..., T]
        experts = torch.einsum("...t,ktd->...kd", x, self.proj) - torch.einsum(
            "kt,ktd->kd", self.whiten_bias, self.proj
        )  # [..., K, D]: (x - b_k) W_k
        gate = torch.softmax(self.gate(x), dim=-1)  # [..., K]
        return (gate.unsqueeze(-1) * experts).sum(-2)  # [..., D]

    def forward(self, ids: Tensor) -> Tensor:
        out = self.adapt(self.text[ids])  # [..., D]
        if self.ids is not None:
            out = out + self.ids(ids)
        return out * (ids > 0).unsqueeze(-1).to(out.dtype)  # padding stays zero

    def table(self) -> Tensor:
        ids = torch.arange(self.text.shape[0], device=self.text.device)  # [N + 1]
        return self.forward(ids)  # [N + 1, D]


ItemTable = ItemEmbedding | TextItemEmbedding


def item_table_or_ids(given: ItemTable | None, rows: int, hidden: int) -> ItemTable:
    """``given`` (e.g. a ``TextItemEmbedding``), else an id table of ``rows`` rows (row 0 = padding)."""
    return given if given is not None else ItemEmbedding(rows, hidden, padding_idx=0)
