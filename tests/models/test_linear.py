"""CPU linears with the bias and ReLU inside oneDNN's matmul equal ``F.linear`` (+ ReLU), gradients too."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqrec.nn import linear as fused
from seqrec.nn.linear import linear

needs_onednn = pytest.mark.skipif(not fused.ONEDNN_LINEAR, reason="this torch build has no oneDNN linear")


def _layer(seed: int, frozen: bool = False) -> nn.Linear:
    torch.manual_seed(seed)
    layer = nn.Linear(24, 40)
    layer.bias.data.normal_()  # a bias that matters
    layer.requires_grad_(not frozen)
    return layer


@needs_onednn
@pytest.mark.parametrize("shape", [(7, 24), (3, 11, 24)])
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("frozen", [False, True])
def test_fused_linear_equals_f_linear(
    shape: tuple[int, ...], activation: str | None, frozen: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output and the gradients of input, weight and bias, against autograd through ``F.linear``; with
    frozen weights only the input's gradient."""
    calls = []
    pointwise = fused._pointwise
    monkeypatch.setattr(fused, "_pointwise", lambda *a: calls.append(1) or pointwise(*a))
    layer = _layer(0, frozen)
    x = torch.randn(shape, requires_grad=True)
    weight = torch.randn(*shape[:-1], 40)  # a generic loss
    ours = linear(x, layer, activation)  # type: ignore[arg-type]
    (ours * weight).sum().backward()
    assert calls, "the CPU float32 path must take oneDNN's matmul"
    grads = [t.grad.clone() if t.grad is not None else None for t in (x, layer.weight, layer.bias)]
    for t in (x, layer.weight, layer.bias):
        t.grad = None
    ref = F.linear(x, layer.weight, layer.bias)
    ref = F.relu(ref) if activation == "relu" else ref
    (ref * weight).sum().backward()
    torch.testing.assert_close(ours, ref)
    for got, t in zip(grads, (x, layer.weight, layer.bias), strict=True):
        if t.grad is None:
            assert got is None
        else:
            assert got is not None
            torch.testing.assert_close(got, t.grad)
    assert (layer.weight.grad is None) == frozen


@needs_onednn
def test_relu_gradient_is_zero_where_the_output_is() -> None:
    """A position clipped by the ReLU passes no gradient (the saved output decides, as in PyTorch)."""
    layer = _layer(1)
    x = torch.randn(50, 24, requires_grad=True)
    out = linear(x, layer, "relu")
    out.sum().backward()
    assert (out == 0).any() and (out > 0).any()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, (out > 0).float() @ layer.weight)


@pytest.mark.parametrize("case", ["float64", "strided", "autocast", "switched off"])
def test_other_inputs_take_f_linear(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other dtypes, non-contiguous inputs, bf16 autocast and ``ONEDNN_LINEAR = False`` are ``F.linear``
    exactly (under autocast: in bf16, as PyTorch computes it)."""
    layer = _layer(2)
    x = torch.randn(6, 9, 24)
    if case == "float64":
        layer, x = layer.double(), x.double()
    if case == "strided":
        x = x.transpose(0, 1)
    if case == "switched off":
        monkeypatch.setattr(fused, "ONEDNN_LINEAR", False)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=case == "autocast"):
        got = linear(x, layer, "relu")
        expected = F.relu(F.linear(x, layer.weight, layer.bias))
    assert got.dtype == expected.dtype
    assert torch.equal(got, expected)
