"""The CPU attention paths (heads-last training, inference blocks, one query) equal the general ones."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from seqrec.nn import attention
from seqrec.nn.attention import (
    HeadsLastAttention,
    MultiHeadSelfAttention,
    SASRecEncoder,
    attend,
    attention_mask,
    positions_from_end,
)
from seqrec.nn.bert import BertEncoder
from seqrec.nn.time_aware import TimeAwareEncoder, time_interval_matrix


def _heads(length: int, gen: torch.Generator) -> Tensor:
    return torch.randn(5, length, 2, 8, generator=gen, dtype=torch.float64)  # [B, L, H, d_h]


def _mask(length: int, queries: int, causal: bool, gen: torch.Generator) -> Tensor:
    valid = torch.rand(5, length, generator=gen) > 0.3
    valid[:, -1] = True
    return attention_mask(valid, causal)[:, :, -queries:, :]  # [B, 1, Lq, L]


@pytest.mark.parametrize(
    ("length", "queries", "causal"), [(7, 7, True), (12, 4, True), (9, 9, False), (70, 70, True)]
)
def test_heads_last_training_path_matches_the_fused_kernel(length: int, queries: int, causal: bool) -> None:
    """Forward and all three gradients, without dropout, against PyTorch's kernel on head-major copies."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (_heads(n, gen) for n in (queries, length, length))
    mask = _mask(length, queries, causal, gen)
    weight = torch.randn(5, queries, 2, 8, generator=gen, dtype=torch.float64)  # a generic loss
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ours = HeadsLastAttention.apply(*leaves, mask, 0.0)
    (ours * weight).sum().backward()
    ref_leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ref = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in ref_leaves), attn_mask=mask)
    (ref.transpose(1, 2) * weight).sum().backward()
    torch.testing.assert_close(ours, ref.transpose(1, 2))
    for a, b in zip(leaves, ref_leaves, strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def test_heads_last_training_path_drops_the_weights_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """With dropout: the same keep-scale R in ``softmax(S) * R @ V`` written out for autograd gives the same
    output and gradients (R fixed here, so both sides drop the same weights)."""
    gen = torch.Generator().manual_seed(1)
    q, k, v = (_heads(10, gen) for _ in range(3))
    mask = _mask(10, 10, True, gen)
    keep = (torch.rand(2, 5, 10, 10, generator=gen) > 0.25).double() / 0.75  # [H, B, Lq, L]
    monkeypatch.setattr(attention, "keep_scale", lambda like, p: keep.to(like.dtype, copy=True))
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ours = HeadsLastAttention.apply(*leaves, mask, 0.25)
    ours.square().sum().backward()
    ref_leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    qh, kh, vh = (t.permute(2, 0, 1, 3) for t in ref_leaves)  # [H, B, L, d_h]
    scores = (qh @ kh.transpose(-1, -2) / 8**0.5).masked_fill(~mask[:, 0], float("-inf"))
    ref = (torch.softmax(scores, dim=-1) * keep) @ vh  # [H, B, Lq, d_h]
    ref.permute(1, 2, 0, 3).square().sum().backward()
    torch.testing.assert_close(ours, ref.permute(1, 2, 0, 3))
    for a, b in zip(leaves, ref_leaves, strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def test_general_cpu_path_drops_attention_weights() -> None:
    """With dropout (long histories on the CPU) kept weights are scaled by 1 / (1 - p), as in PyTorch."""
    torch.manual_seed(0)
    q = torch.zeros(1, 1, 4, 8)  # uniform attention over the 4 keys
    v = torch.ones(1, 1, 4, 8)
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    out = attend(q, torch.randn(1, 1, 4, 8), v, mask, 0.5)[0, 0, :, 0]  # = (kept weights) * 2
    assert set((out * 4 / 2).round().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert not torch.equal(out, torch.ones(4))


def _reference_and_inference(
    attn: MultiHeadSelfAttention, query: Tensor, keys: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """The module's output written out with PyTorch's kernel on head-major projections, and the module's
    own on its inference paths (eval mode, no gradients)."""
    attn.eval()
    b, h = query.shape[0], attn.heads
    q, k, v = (
        t.view(b, t.shape[1], h, -1).transpose(1, 2) for t in (attn.q(query), attn.k(keys), attn.v(keys))
    )
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(query.shape)
    with torch.no_grad():
        return reference.detach(), attn(query, keys, mask)


@pytest.mark.parametrize(("length", "causal"), [(9, True), (40, False)])
def test_one_query_inference_matches_projecting_the_keys(length: int, causal: bool) -> None:
    """The last position alone, with W_K and W_V moved to the query's side, gives the same output."""
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(16, 4, dropout=0.3).double()
    keys = torch.randn(6, length, 16, dtype=torch.float64)
    valid = torch.rand(6, length) > 0.3
    valid[:, -1] = True
    keys = keys * valid.unsqueeze(-1)
    mask = attention_mask(valid, causal)[:, :, -1:, :]  # [B, 1, 1, L]
    reference, fast = _reference_and_inference(attn, torch.randn(6, 1, 16, dtype=torch.float64), keys, mask)
    torch.testing.assert_close(fast, reference)


@pytest.mark.parametrize("heads_last", [True, False])
def test_inference_on_several_queries_matches_the_general_path(
    heads_last: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of histories (here of 3 rows, so the last block is short) and heads read in place; or the
    fused kernel on transposed views, its output back in the projections' layout."""
    monkeypatch.setattr(attention, "HEADS_LAST_INFERENCE", heads_last)
    monkeypatch.setattr(attention, "SCORE_BLOCK", 3 * 5 * 12)
    monkeypatch.setattr(attention, "attend_heads_last", _counted(attention.attend_heads_last, calls := []))
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(16, 2, dropout=0.3).double()
    x = torch.randn(8, 12, 16, dtype=torch.float64)
    valid = torch.rand(8, 12) > 0.4
    valid[:, -1] = True
    mask = attention_mask(valid, causal=True)[:, :, -5:, :]  # the last 5 queries read all 12 keys
    reference, fast = _reference_and_inference(attn, x[:, -5:], x, mask)
    torch.testing.assert_close(fast, reference)
    assert len(calls) == int(heads_last)


def _counted(fn: Any, calls: list[None]) -> Any:
    def wrapper(*args: Any) -> Any:
        calls.append(None)
        return fn(*args)

    return wrapper


def test_heads_last_inference_by_default_only_without_avx512(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attention, "HEADS_LAST_INFERENCE", None)
    for capability, expected in [("AVX512", False), ("AVX2", True), ("DEFAULT", True)]:
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert attention.heads_last_inference() is expected


def test_encoder_trains_under_torch_compile() -> None:
    """``torch.compile`` traces the general path, and around the dropout's NumPy generator: tracing through
    the generator failed on its lanes' dtype view (attention weights' dropout, with gradients)."""
    torch.manual_seed(0)
    encoder = SASRecEncoder(hidden=16, blocks=2, heads=2, dropout=0.2, inner=16).train()
    compiled = torch.compile(encoder, backend="aot_eager")
    x = torch.randn(4, 10, 16, requires_grad=True)
    compiled(x, torch.ones(4, 10, dtype=torch.bool)).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


def test_training_attention_runs_in_float32_under_bf16_autocast() -> None:
    """Under CPU autocast the heads-last path still serves training, in float32 between bf16 projections:
    its output, and the gradients it passes back, stay close to a float32 step."""
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(hidden=16, heads=2, dropout=0.0).train()
    x = torch.randn(4, 10, 16)
    mask = attention_mask(torch.ones(4, 10, dtype=torch.bool), causal=True)
    outputs, grads = [], []
    for enabled in (False, True):
        leaf = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            out = attn(leaf, leaf, mask)
        (out.float() ** 2).sum().backward()
        outputs.append(out)
        grads.append(leaf.grad)
    assert outputs[1].dtype == torch.float32  # the attention's own output, not a bf16 product
    torch.testing.assert_close(outputs[1], outputs[0], rtol=3e-2, atol=3e-2)
    torch.testing.assert_close(grads[1], grads[0], rtol=5e-2, atol=5e-2)


def test_training_path_leaves_out_the_key_bias_that_the_softmax_cancels(device: torch.device) -> None:
    """With gradients, the module (keys projected without b_K) gives the output and gradients of the
    authors' attention with b_K: PyTorch's kernel on the three full projections. b_K gets no gradient
    where the written-out graph gives it zero. On the CPU the module takes ``HeadsLastAttention``, on a
    GPU the fused kernel."""
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(16, 2, dropout=0.0).double().train()
    for layer in (attn.q, attn.k, attn.v):
        torch.nn.init.normal_(layer.bias)
    attn.to(device)
    x = torch.randn(5, 9, 16, dtype=torch.float64).to(device)
    valid = torch.rand(5, 9) > 0.3
    valid[:, -1] = True
    mask = attention_mask(valid, causal=True).to(device)
    weight = torch.randn(5, 9, 16, dtype=torch.float64).to(device)  # a generic loss
    ours_x = x.clone().requires_grad_()
    ours = attn(ours_x, ours_x, mask)
    (ours * weight).sum().backward()
    ours_grads = {name: p.grad for name, p in attn.named_parameters()}
    attn.zero_grad(set_to_none=True)
    ref_x = x.clone().requires_grad_()
    q, k, v = (t(ref_x).view(5, 9, 2, 8).transpose(1, 2) for t in (attn.q, attn.k, attn.v))
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(5, 9, 16)
    (ref * weight).sum().backward()
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ours_x.grad, ref_x.grad)
    assert ours_grads.pop("k.bias") is None
    torch.testing.assert_close(attn.k.bias.grad, torch.zeros(16, dtype=torch.float64, device=device))
    for name, grad in ours_grads.items():
        torch.testing.assert_close(grad, dict(attn.named_parameters())[name].grad)


def _square_mask(valid: Tensor) -> Tensor:
    """The bidirectional mask as a ``[B, 1, L, L]`` of real keys, where a padded query attends to itself:
    the form before ``attention_mask`` gave one shared row per history."""
    eye = torch.eye(valid.shape[1], dtype=torch.bool, device=valid.device)
    return (valid[:, None, :] | eye)[:, None]


def test_bidirectional_mask_is_one_row_of_real_keys() -> None:
    """One ``[B, 1, 1, L]`` row per history: its real keys, or every key where it has none (no empty
    softmax row); causal masks stay ``[B, 1, L, L]``."""
    valid = torch.tensor([[False, True, True], [False, False, False]])
    mask = attention_mask(valid, causal=False)
    assert mask.shape == (2, 1, 1, 3)
    assert mask[:, 0, 0].tolist() == [[False, True, True], [True, True, True]]
    assert attention_mask(valid, causal=True).shape == (2, 1, 3, 3)
    encoder = BertEncoder(8, 2, 2, 0.0, 16)
    out = encoder(torch.randn(2, 3, 8), valid)
    assert bool(torch.isfinite(out).all()) and bool((out[~valid] == 0).all())


def _zeroing_every_block(kind: str, encoder: Any, x: Tensor, valid: Tensor, stamps: Tensor) -> Tensor:
    """The authors' graph: padding zeroed at the input and after every block (and the final norm)."""
    keep = valid.unsqueeze(-1).to(x.dtype)
    mask = attention_mask(valid, causal=True) if kind != "bert" else _square_mask(valid)
    h = x * keep
    if kind == "tisasrec":  # dropout 0: the relation tables as the encoder builds them
        positions = positions_from_end(valid)
        relations = (encoder.pos_k(positions), encoder.pos_v(positions))
        relations += (encoder.interval_k.weight, encoder.interval_v.weight)
        intervals = time_interval_matrix(stamps, valid, encoder.time_span)
        for block in encoder.blocks:
            h = block(h, mask, intervals, relations) * keep
    else:
        for layer in encoder.layers if kind == "bert" else encoder.blocks:
            h = layer(h, mask) * keep
    return h * keep if kind == "bert" else encoder.final_norm(h) * keep


@pytest.mark.parametrize("kind", ["sasrec", "bert", "tisasrec"])
def test_encoders_zero_padding_once_with_the_same_states_and_gradients(
    kind: str, device: torch.device
) -> None:
    """Padding zeroed once at the output (inputs arrive with any values on padding) gives the states, the
    zeros on padding, and the parameters' gradients of zeroing it after every block, in training (on a
    GPU: the fused kernel, whose padded queries attend to themselves). BERT's reference also takes the
    square mask where padded queries attend to themselves (``_square_mask``), against its encoder's one
    row of real keys per history."""
    torch.manual_seed(0)
    encoders = {
        "sasrec": lambda: SASRecEncoder(16, 2, 2, dropout=0.0, inner=16),
        "bert": lambda: BertEncoder(16, 2, 2, 0.0, 32),
        "tisasrec": lambda: TimeAwareEncoder(16, 2, 2, 0.0, 16, max_len=11, time_span=8),
    }
    encoder = encoders[kind]().double().train().to(device)
    x = torch.randn(6, 11, 16, dtype=torch.float64).to(device)
    valid = torch.arange(11) >= torch.tensor([0, 3, 5, 8, 10, 2])[:, None]  # left padding
    stamps = (torch.cumsum(torch.randint(0, 5, (6, 11)), 1) * valid).to(device)
    valid = valid.to(device)
    weight = torch.randn(6, 11, 16, dtype=torch.float64).to(device)
    runs = [
        lambda: encoder(x, valid, stamps) if kind == "tisasrec" else encoder(x, valid),
        lambda: _zeroing_every_block(kind, encoder, x, valid, stamps),
    ]
    grads = []
    for run in runs:
        encoder.zero_grad(set_to_none=True)
        out = run()
        (out * weight).sum().backward()
        grads.append((out, {n: p.grad for n, p in encoder.named_parameters()}))
    (ours, ours_grads), (ref, ref_grads) = grads
    torch.testing.assert_close(ours, ref)
    assert bool((ours[~valid] == 0).all())
    for name, grad in ref_grads.items():
        if grad is None or ours_grads[name] is None:  # the key biases, left out of both
            assert name.endswith("attn.k.bias")
            continue
        torch.testing.assert_close(ours_grads[name], grad)


@pytest.mark.parametrize("kind", ["sasrec", "bert", "tisasrec"])
def test_inference_adds_the_residuals_inside_the_products(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """At inference (eval mode, no gradients) on enough positions, the feed-forward's residual (and
    BERT's output projection's, and its GELU) ride in oneDNN's products: the states of the general path
    (eval mode with gradients), which adds them after ``F.linear``."""
    from seqrec.nn import linear as fused

    if not fused.ONEDNN_LINEAR:
        pytest.skip("this torch build has no oneDNN linear")
    monkeypatch.setattr(fused, "ONEDNN_MIN_ROWS", 1)
    same_layout = fused._same_layout
    monkeypatch.setattr(fused, "_same_layout", _counted(same_layout, calls := []))
    torch.manual_seed(0)
    encoders = {
        "sasrec": lambda: SASRecEncoder(16, 2, 2, dropout=0.3, inner=16),
        "bert": lambda: BertEncoder(16, 2, 2, 0.3, 32),
        "tisasrec": lambda: TimeAwareEncoder(16, 2, 2, 0.3, 16, max_len=11, time_span=8),
    }
    encoder = encoders[kind]().eval()
    x = torch.randn(6, 11, 16)
    valid = torch.arange(11) >= torch.tensor([0, 3, 5, 8, 10, 2])[:, None]
    args = (
        (x, valid, torch.cumsum(torch.randint(0, 5, (6, 11)), 1) * valid)
        if kind == "tisasrec"
        else (x, valid)
    )
    with torch.no_grad():
        fast = encoder(*args)
    residuals = len(calls)
    general = encoder(*args).detach()  # gradients on: F.linear, the residual added after it
    torch.testing.assert_close(fast, general)
    assert residuals == (4 if kind == "bert" else 2) and len(calls) == residuals
