"""CPU inference linears with the bias and ReLU inside oneDNN's matmul equal ``F.linear`` (+ ReLU)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqrec.nn import linear as fused
from seqrec.nn.linear import linear

needs_onednn = pytest.mark.skipif(not fused.ONEDNN_LINEAR, reason="this torch build has no oneDNN linear")


def _layer(seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    layer = nn.Linear(24, 40)
    layer.bias.data.normal_()  # a bias that matters
    return layer


def _count_onednn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Calls of oneDNN's matmul from now on (``pointwise`` or ``binary``), listed."""
    calls: list[str] = []
    op = torch.ops.mkldnn._linear_pointwise

    class Counted:
        def __call__(self, *args: Any) -> torch.Tensor:
            calls.append("pointwise")
            return op(*args)

        @staticmethod
        def binary(*args: Any) -> torch.Tensor:
            calls.append("binary")
            return op.binary(*args)

    class Ops:
        _linear_pointwise = Counted()

    monkeypatch.setattr(fused.torch.ops, "mkldnn", Ops)
    return calls


@needs_onednn
@pytest.mark.parametrize("shape", [(300, 24), (3, 100, 24)])
@pytest.mark.parametrize("activation", [None, "relu", "gelu"])
@pytest.mark.parametrize("bias", [True, False])
def test_inference_on_many_rows_takes_onednn_and_equals_f_linear(
    shape: tuple[int, ...], activation: str | None, bias: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the layer's bias, or without it (``bias=False``: the keys' projection)."""
    monkeypatch.setattr(fused, "ONEDNN_MIN_ROWS", 300)
    calls = _count_onednn(monkeypatch)
    layer = _layer(0)
    x = torch.randn(shape)
    with torch.no_grad():
        got = linear(x, layer, activation, bias=bias)  # type: ignore[arg-type]
        expected = F.linear(x, layer.weight, layer.bias if bias else None)
    expected = {"relu": F.relu, "gelu": F.gelu}.get(activation or "", lambda y: y)(expected)
    assert calls == ["pointwise"]
    torch.testing.assert_close(got, expected)
    if activation == "relu":
        assert (got == 0).any() and (got > 0).any()


@pytest.mark.parametrize("case", ["gradients", "few rows", "float64", "strided", "autocast", "switched off"])
def test_other_cases_take_f_linear(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Training, fewer than ``ONEDNN_MIN_ROWS`` rows, other dtypes, non-contiguous inputs, bf16 autocast
    and ``ONEDNN_LINEAR = False`` are ``F.linear`` exactly (under autocast: in bf16, as PyTorch computes
    it; with gradients: autograd's)."""
    monkeypatch.setattr(fused, "ONEDNN_MIN_ROWS", 1 if case != "few rows" else 55)
    calls = _count_onednn(monkeypatch)
    layer = _layer(2)
    x = torch.randn(6, 9, 24)
    if case == "float64":
        layer, x = layer.double(), x.double()
    if case == "strided":
        x = x.transpose(0, 1)
    if case == "switched off":
        monkeypatch.setattr(fused, "ONEDNN_LINEAR", False)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=case == "autocast")
    with torch.set_grad_enabled(case == "gradients"), autocast:
        got = linear(x, layer, "relu")
        expected = F.relu(F.linear(x, layer.weight, layer.bias))
    assert not calls
    assert got.dtype == expected.dtype
    assert torch.equal(got, expected)
    assert got.requires_grad == (case == "gradients")


@needs_onednn
@pytest.mark.parametrize("layout", ["contiguous", "strided", "float64"])
def test_a_residual_rides_in_the_product_where_onednn_can_add_it(
    layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``residual=r``: ``F.linear(x) + r``, added by oneDNN when r is contiguous and of the output's
    dtype, else after ``F.linear``'s product (or oneDNN's, without the residual)."""
    monkeypatch.setattr(fused, "ONEDNN_MIN_ROWS", 300)
    calls = _count_onednn(monkeypatch)
    layer = _layer(3)
    x = torch.randn(3, 100, 24)
    residual = torch.randn(100, 3, 40).transpose(0, 1) if layout == "strided" else torch.randn(3, 100, 40)
    if layout == "float64":
        layer, x, residual = layer.double(), x.double(), residual.double()
    with torch.no_grad():
        got = linear(x, layer, residual=residual)
        expected = F.linear(x, layer.weight, layer.bias) + residual
    assert calls == {"contiguous": ["binary"], "strided": ["pointwise"], "float64": []}[layout]
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="an activation and a residual together"):
        linear(x, layer, "relu", residual=residual)


def test_the_private_op_is_checked_before_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build whose oneDNN op is missing (or takes other arguments) is detected, and F.linear serves."""
    assert fused._onednn_linear_works() == fused.ONEDNN_LINEAR

    class Missing:
        pass

    monkeypatch.setattr(fused.torch.ops, "mkldnn", Missing)
    assert not fused._onednn_linear_works()
