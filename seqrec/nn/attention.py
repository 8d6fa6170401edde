"""Self-attention blocks as in the SASRec authors' code (Kang & McAuley, ICDM 2018).

One block, for input X, following the authors' TensorFlow implementation:

    Q~ = LN(X)                                              query is layer-normalised, keys/values are not
    A  = concat_h softmax(Q~ W_Q^h (X W_K^h + b_K^h)^T / sqrt(d_h) + M) (X W_V^h + b_V^h)   (no output
                                                            projection; Q~ W_Q^h carries b_Q^h)
    S  = Q~ + A                                             residual on the normalised query
    X' = Dropout(ReLU(LN(S) W_1 + b_1)) W_2 + b_2, with dropout, + LN(S)

and after the last block, the output LN(X^b) * m, with m = 1 on real items and 0 on padding.

M is 0 where attention is allowed and -inf elsewhere: causal (key j <= query i) and no padded keys;
a padded query may attend to itself only, so no row is empty (``attention_mask``).

Two terms of the authors' graph are left out because they cannot change a real position's state:
- They multiply by m after the embedding and after every block. A real position never reads a padded
  one (its keys are masked, and everything else is position-wise), so here padding is zeroed once, at
  the encoder's output: the states of real positions, the loss and every gradient are the same, and
  training saves two passes over ``[B, L, D]`` per block (forward and backward).
- The key bias b_K adds ``q_i . b_K^h`` to every score of query i, the same for all keys, which the
  softmax cancels; its gradient is zero. The keys are projected without it (the parameter stays, for
  checkpoints and transfer) and it gets no gradient.

On the CPU, training attends on the heads as the projections lay them out, with an explicit backward
(``HeadsLastAttention``). Inference (eval mode, no gradients) takes two exact shortcuts: one query per
history (the last block of ``user_state``) never projects the keys (``MultiHeadSelfAttention.one_query``),
and on CPUs without AVX-512 short histories are attended head by head in cache-sized blocks
(``attend_heads_last``; elsewhere PyTorch's fused kernel is faster). Each path is checked against PyTorch's
kernel in ``tests/models/test_attention.py``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from seqrec.nn.dropout import Dropout, dropout, keep_scale
from seqrec.nn.linear import linear


def positions_from_end(valid: Tensor) -> Tensor:
    """``[B, L]`` position ids: the last real item is 1, the one before 2, ...; padding is 0."""
    return valid.flip(1).long().cumsum(1).flip(1) * valid.long()


def attention_mask(valid: Tensor, causal: bool) -> Tensor:
    """Boolean mask, True where query i may attend to key j: ``[B, 1, L, L]`` when ``causal``, else
    ``[B, 1, 1, L]``, one row that every query shares (it broadcasts).

    ``valid`` is ``[B, L]`` (True on real items). Padded keys are never attended to by a real query.
    Causal: key j <= query i, and a padded query (before the history, whose keys are all padding) attends
    to itself so that no softmax row is empty. Bidirectional: the real keys, and a history without any
    attends to all of its keys; padded queries then read the real keys, which changes nothing that is used
    (the next layer's queries skip them as keys, and the encoders zero them at the output). Against the
    ``[B, 1, L, L]`` form the bidirectional row spares building L x L per history, and PyTorch's fused
    kernel converting it to an additive float mask (two ``where`` passes over it) at every layer.
    """
    length = valid.shape[1]
    if not causal:
        return (valid | ~valid.any(1, keepdim=True))[:, None, None, :]  # [B, 1, 1, L]
    eye = torch.eye(length, dtype=torch.bool, device=valid.device)  # [L, L]
    lower = torch.ones(length, length, dtype=torch.bool, device=valid.device).tril()  # [L, L]
    return ((valid[:, None, :] | eye) & lower)[:, None, :, :]  # [B, 1, L, L]


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, dropout_p: float) -> Tensor:
    """``softmax(q k^T / sqrt(d_h) + M) v`` with dropout on the attention weights: q ``[B, H, Lq, d_h]``,
    k / v ``[B, H, L, d_h]``, mask ``[B, 1, Lq or 1, L]`` (True = may attend; no row is empty).

    The general path: accelerators, inference on CPUs with AVX-512 or on long histories, and
    ``torch.compile``. PyTorch's fused kernel serves every case but CPU dropout, where it would fall back to
    these same three steps anyway and here the weights' dropout is ``seqrec.nn.dropout``'s. Otherwise the
    CPU takes ``HeadsLastAttention`` (with gradients) or ``attend_heads_last`` (inference, short histories,
    no AVX-512)."""
    if q.device.type != "cpu" or dropout_p == 0.0:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # [B, H, Lq, L]
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return dropout(weights, dropout_p) @ v  # [B, H, Lq, d_h]


def attend_views(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, dropout_p: float) -> Tensor:
    """``attend`` on the heads' layout as the projections write them: q ``[B, Lq, H, d_h]``, k / v
    ``[B, L, H, d_h]``, read through head-major transposed views; returns ``[B, Lq, H * d_h]`` (the one
    copy: the output back in the projections' layout)."""
    b, lq, h, dh = q.shape
    out = attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask, dropout_p)  # [B, H, Lq, d_h]
    return out.transpose(1, 2).reshape(b, lq, h * dh)


CACHED_KEYS = 64
"""At inference on a CPU without AVX-512 (see ``HEADS_LAST_INFERENCE``), up to this many keys
``attend_heads_last`` computes attention head by head on blocks of histories whose scores stay in cache
(with gradients, ``HeadsLastAttention`` serves every length). In a microbenchmark on the 2-core AMD EPYC
(AVX2) at 50 keys (2 heads of 32) the three steps beat PyTorch's fused kernel about 2x on 256 histories
but lost on 512 at once, whose 10 MB of scores leave the cache (hence the blocks); at 200 keys the fused
kernel's own tiling wins. End to end, with ``one_query``:
``benchmarks/results/ab_inference-attention-*.md``."""

HEADS_LAST_INFERENCE: bool | None = None
"""Whether CPU inference on up to ``CACHED_KEYS`` keys takes ``attend_heads_last`` rather than PyTorch's
fused kernel (``F.scaled_dot_product_attention``). ``None``: only on CPUs without AVX-512. On the 2-core
Xeon (AVX-512) the fused kernel, with the heads read through transposed views and its output copied back
to the projections' layout, took 4.05 ms against 5.24 ms for 512 histories of 50 (causal, 2 heads of 32)
and was faster in every case from 10 to 200 keys, causal or not (1.02-1.50x;
``benchmarks/results/attention_kernels_xeon.md``); end to end:
``benchmarks/results/ab_fused-inference-attention-*.md``."""


def heads_last_inference() -> bool:
    """``HEADS_LAST_INFERENCE``, or where unset, whether this CPU lacks AVX-512."""
    if HEADS_LAST_INFERENCE is not None:
        return HEADS_LAST_INFERENCE
    return not torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def attend_cpu_inference(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """CPU inference attention on the projections' views (q ``[B, Lq, H, d_h]``, k / v ``[B, L, H, d_h]``),
    ``[B, Lq, D]`` out: ``attend_heads_last`` up to ``CACHED_KEYS`` keys where ``heads_last_inference()``,
    PyTorch's fused kernel (``attend_views``) otherwise."""
    if k.shape[1] <= CACHED_KEYS and heads_last_inference():
        return attend_heads_last(q, k, v, mask)
    return attend_views(q, k, v, mask, 0.0)


SCORE_BLOCK = 1 << 20
"""Attention scores per block and head at inference: 4 MB of float32 (400 histories of 50 by 50)."""


def attend_heads_last(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """``attend`` without dropout or gradients, on the heads' layout as the projections write them: q
    ``[B, Lq, H, d_h]``, k / v ``[B, L, H, d_h]`` (views, never copied head-major), mask
    ``[B, 1, Lq or 1, L]``; returns ``[B, Lq, H * d_h]``. One buffer of scores, reused by every block and
    head."""
    b, lq, h, dh = q.shape
    keys = k.shape[1]
    rows = max(1, SCORE_BLOCK // (lq * keys))
    masked = ~mask[:, 0]  # [B, Lq or 1, L]
    out = q.new_empty(b, lq, h, dh)
    buffer = q.new_empty(min(rows, b), lq, keys)
    for start in range(0, b, rows):  # blocks of histories, not a loop over users
        block = slice(start, start + rows)
        scores = buffer[: min(rows, b - start)]  # [b, Lq, L]
        for j in range(h):
            kt = k[block, :, j].transpose(1, 2)  # [b, d_h, L]
            torch.baddbmm(scores, q[block, :, j], kt, beta=0.0, alpha=dh**-0.5, out=scores)
            weights = torch.softmax(scores.masked_fill_(masked[block], float("-inf")), dim=-1)
            out[block, :, j] = torch.bmm(weights, v[block, :, j])  # [b, Lq, d_h]
    return out.view(b, lq, h * dh)


class HeadsLastAttention(torch.autograd.Function):
    """``attend`` with gradients, on the CPU, on the heads' layout as the projections write them: q
    ``[B, Lq, H, d_h]``, k / v ``[B, L, H, d_h]`` (views, never copied head-major), mask
    ``[B, 1, Lq or 1, L]``, dropout rate p; returns ``[B, Lq, H, d_h]``. For each head, with c = d_h^-1/2,
    A the additive mask (0 where attended, -inf elsewhere) and R the dropout's keep-scale (0, or
    1 / (1 - p)):

        S = c Q K^T + A          (one ``baddbmm``: the mask rides in the matrix product)
        P = softmax(S)           (saved; [H, B, Lq, L], one head contiguous at a time)
        W = P * R                (saved, written over R)
        O = W V

    and backward, from dO, with G = dO V^T:

        dV = W^T dO
        dP = G * R
        dS = P * (dP - rowsum(dP * P))
           = Y - P * rowsum(Y),   Y = P * dP = G * W    (no dropout: ``_softmax_backward_data(G, P)``)
        dQ = c dS K,   dK = c dS^T Q                    (c as the products' scale: ``baddbmm``)

    so R is not needed after the forward and W takes its memory.

    Autograd's own graph of the same steps (``attend``) reads each head through a head-major copy, and its
    matrix products receive the output's gradient in the transposed layout of ``out.transpose(1, 2)``,
    which PyTorch's batched product handles several times slower than a contiguous one. End to end:
    ``benchmarks/results/ab_heads-last-*.md``. First-order gradients only. Under bf16 autocast it runs in
    float32 (``custom_fwd`` casts q, k, v): the projections around it take the bf16 matrix products, its
    own products are too small to gain from them, and its softmax keeps float32's precision."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor, mask: Tensor, p: float) -> Tensor:
        b, lq, h, dh = q.shape
        bias = torch.zeros(b, mask.shape[2], k.shape[1], dtype=q.dtype, device=q.device)
        bias.masked_fill_(~mask[:, 0], float("-inf"))  # [B, Lq or 1, L]: baddbmm broadcasts it
        probs = q.new_empty(h, b, lq, k.shape[1])  # [H, B, Lq, L]
        keep = keep_scale(probs, p) if p > 0.0 else None
        out = q.new_empty(b, lq, h, dh)
        for j in range(h):
            scores = torch.baddbmm(bias, q[:, :, j], k[:, :, j].transpose(1, 2), alpha=dh**-0.5)
            weights = torch.softmax(scores, dim=-1, out=probs[j])  # [B, Lq, L]
            if keep is not None:
                weights = keep[j].mul_(weights)  # W = P * R over R
            out[:, :, j] = torch.bmm(weights, v[:, :, j])
        ctx.dropout = keep is not None
        ctx.save_for_backward(q, k, v, probs, probs if keep is None else keep)
        return out

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, None, None]:
        q, k, v, probs, weights = ctx.saved_tensors
        grad = grad.contiguous()
        c = q.shape[-1] ** -0.5
        dq, dk, dv = (torch.empty(t.shape, dtype=t.dtype, device=t.device) for t in (q, k, v))
        for j in range(q.shape[2]):
            g = grad[:, :, j]  # [B, Lq, d_h]
            dv[:, :, j] = torch.bmm(weights[j].transpose(1, 2), g)
            dg = torch.bmm(g, v[:, :, j].transpose(1, 2))  # G: [B, Lq, L]
            if ctx.dropout:
                y = dg.mul_(weights[j])  # Y = G * W
                ds = y.addcmul_(probs[j], y.sum(-1, keepdim=True), value=-1.0)  # Y - P rowsum(Y)
            else:
                ds = torch._softmax_backward_data(dg, probs[j], -1, probs.dtype)
            # c dS K and c dS^T Q; with beta = 0 the first argument only gives the result's shape
            dq[:, :, j] = torch.baddbmm(q[:, :, j], ds, k[:, :, j], beta=0.0, alpha=c)
            dk[:, :, j] = torch.baddbmm(k[:, :, j], ds.transpose(1, 2), q[:, :, j], beta=0.0, alpha=c)
        return dq, dk, dv, None, None


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
        h = self.heads
        inference = not (self.training or torch.is_grad_enabled())
        if inference and length == 1:
            return self.one_query(query, keys, mask)
        cpu = query.device.type == "cpu" and not torch.compiler.is_compiling()  # compile: the general path
        p = self.dropout if self.training else 0.0
        # [B, Lq, H, d_h] and [B, L, H, d_h]: views of the projections
        q, k, v = (
            linear(inputs, layer, bias=bias).view(*inputs.shape[:2], h, d // h)
            for inputs, layer, bias in ((query, self.q, True), (keys, self.k, False), (keys, self.v, True))
        )
        if cpu and not inference:
            return HeadsLastAttention.apply(q, k, v, mask, p).view(b, length, d)  # [B, Lq, D]
        if cpu and inference:
            return attend_cpu_inference(q, k, v, mask)  # [B, Lq, D]
        return attend_views(q, k, v, mask, p)  # [B, Lq, D]

    def one_query(self, query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        """Inference for one query per history (the last position), ``[B, 1, D]``, without projecting the
        keys: W_K and W_V move to the query's side. For head h, with x_j the raw inputs,

            q_h . (W_K^h x_j + b_K^h) = (W_K^h^T q_h) . x_j + q_h . b_K^h
            sum_j a_hj (W_V^h x_j + b_V^h) = W_V^h (sum_j a_hj x_j) + b_V^h

        (the softmax drops ``q_h . b_K^h``, the same for every key j; the weights a_hj sum to 1), so a
        history costs ``2 H L D + 2 D^2`` multiply-adds instead of ``2 L D^2`` for its K and V."""
        b, _, d = query.shape
        h = self.heads
        dh = d // h
        q = linear(query[:, 0], self.q).view(b, h, dh)  # [B, H, d_h]
        u = torch.einsum("bhe,hed->bhd", q * dh**-0.5, self.k.weight.view(h, dh, d))  # [B, H, D]
        scores = torch.bmm(u, keys.transpose(1, 2))  # [B, H, L]
        weights = torch.softmax(scores.masked_fill_(~mask[:, 0], float("-inf")), dim=-1)  # mask [B, 1, L]
        z = torch.bmm(weights, keys)  # [B, H, D]
        out = torch.einsum("bhd,hed->bhe", z, self.v.weight.view(h, dh, d)) + self.v.bias.view(h, dh)
        return out.reshape(b, 1, d)  # [B, 1, D]


class PointWiseFeedForward(nn.Module):
    """Two position-wise linear maps with ReLU, dropout after each, and a residual."""

    def __init__(self, hidden: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden, inner)
        self.fc2 = nn.Linear(inner, hidden)
        self.drop = Dropout(dropout)

    def transform(self, x: Tensor) -> Tensor:
        """The feed-forward output before its residual, ``[..., D]``."""
        return self.drop(linear(self.drop(linear(x, self.fc1, "relu")), self.fc2))

    def with_residual(self, x: Tensor, adapter: nn.Module | None = None) -> Tensor:
        """``x + adapter(transform(x))`` (no adapter: ``x + transform(x)``). At inference without an
        adapter, where the dropouts are the identity, the residual is added inside the second product
        (``linear``'s ``residual``)."""
        if adapter is not None and not isinstance(adapter, nn.Identity):
            return x + adapter(self.transform(x))
        if self.training:
            return x + self.transform(x)
        return linear(linear(x, self.fc1, "relu"), self.fc2, residual=x)

    def forward(self, x: Tensor) -> Tensor:
        return self.with_residual(x)


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

    def forward(self, x: Tensor, mask: Tensor, queries: int | None = None) -> Tensor:
        """x: [B, L, D]; mask: [B, 1, L or 1, L] bool (``attention_mask``).

        ``queries``: compute only the last that many positions (their attention still reads all of x);
        the output is then ``[B, queries, D]``.
        """
        if queries is not None:
            mask = mask[:, :, -queries:, :]
        q = self.attn_norm(x if queries is None else x[:, -queries:])  # [B, Lq, D]
        x = q + self.attn_adapter(self.attn(q, x, mask))  # [B, Lq, D]
        y = self.ffn_norm(x)  # [B, Lq, D]
        return self.ffn.with_residual(y, self.ffn_adapter)  # [B, Lq, D]


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
        """x: [B, L, D] embedded inputs (any values on padding; zeroed at the output); valid: [B, L] bool.

        ``last_only``: the last block computes the last position only (inference: the state that
        predicts the next item), returning ``[B, 1, D]`` equal to the last row of the full output.
        """
        mask = attention_mask(valid, self.causal)  # [B, 1, L, L], or [B, 1, 1, L] bidirectional
        keep = valid.unsqueeze(-1).to(x.dtype)  # [B, L, 1]
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, mask, 1 if last_only and i == last else None)
        return self.final_norm(x) * keep[:, -x.shape[1] :]  # [B, L, D] ([B, 1, D] with last_only)
