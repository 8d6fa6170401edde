"""Linear maps whose bias (and ReLU) are applied inside the matrix product on the CPU.

    y = x W^T + b                 (``activation=None``)
    y = max(0, x W^T + b)         (``activation="relu"``)

``F.linear`` on the CPU first writes the broadcast bias into a fresh output and then has the BLAS add
the product to it (``addmm``), and a ReLU after it is one more pass. At these models' widths (64) the
products are bound by memory traffic, not arithmetic, so those passes cost about as much as the
product itself. oneDNN's matmul takes the bias and the ReLU as post-ops and writes the output once
(``torch.ops.mkldnn._linear_pointwise``, the op that ``torch.compile`` emits for CPU linears). Its
gradients are autograd's for ``F.linear`` (+ ``F.relu``), the same three products (``_FusedLinear``).
Everywhere else it is ``F.linear``: other devices and dtypes, bf16 autocast, ``torch.compile``, inputs
that are not contiguous, and builds without oneDNN.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

Activation = Literal["relu"] | None

ONEDNN_LINEAR: bool = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
"""Whether CPU linears take oneDNN's fused matmul (set False to compare with ``F.linear``)."""


def linear(x: Tensor, layer: nn.Linear, activation: Activation = None) -> Tensor:
    """``layer(x)``, then ReLU with ``activation="relu"``; ``x`` is ``[..., in]``."""
    if not _fused(x, layer):
        y = layer(x)
        return F.relu(y) if activation == "relu" else y
    grads = torch.is_grad_enabled() and any(t.requires_grad for t in (x, layer.weight, layer.bias))
    if grads:
        out: Tensor = _FusedLinear.apply(x, layer.weight, layer.bias, activation)
        return out
    return _pointwise(x, layer.weight, layer.bias, activation)


def _fused(x: Tensor, layer: nn.Linear) -> bool:
    return (
        ONEDNN_LINEAR
        and x.device.type == "cpu"
        and x.dtype == layer.weight.dtype == torch.float32
        and layer.bias is not None
        and x.is_contiguous()
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )


def _pointwise(x: Tensor, weight: Tensor, bias: Tensor, activation: Activation) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, activation or "none", [], "")


class _FusedLinear(torch.autograd.Function):
    """``_pointwise`` with autograd's gradients of ``F.linear`` (+ ``F.relu``): for g the output's
    gradient (times ``out > 0`` after a ReLU, from the saved output, as ``ReluBackward`` does),
    dx = g W, dW = g^T x, db = sum of g over positions."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor, activation: Activation) -> Tensor:
        out = _pointwise(x, weight, bias, activation)
        ctx.save_for_backward(x, weight, out if activation == "relu" else None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        x, weight, out = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])  # [T, out]
        if out is not None:
            g = torch.ops.aten.threshold_backward(g, out.reshape(g.shape), 0)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = (g @ weight).view(x.shape) if need_x else None
        dw = g.T @ x.reshape(-1, x.shape[-1]) if need_w else None
        db = g.sum(0) if need_b else None
        return dx, dw, db, None
