"""Linear maps whose bias (and ReLU or GELU, or a residual) are applied inside the matrix product, for
CPU inference on large batches of positions.

    y = x W^T + b                 (``activation=None``)
    y = max(0, x W^T + b)         (``activation="relu"``)
    y = GELU(x W^T + b)           (``activation="gelu"``: the exact, erf form, as ``F.gelu``)
    y = x W^T + b + r             (``residual=r``)

``F.linear`` on the CPU first writes the broadcast bias into a fresh output and then has the BLAS add
the product to it (``addmm``), and a ReLU after it is one more pass. At these models' widths (64) the
products are bound by memory traffic, not arithmetic, so those passes cost about as much as the
product itself. oneDNN's matmul takes the bias and the activation, or an added tensor (a block's
residual), as post-ops and writes the output once (``torch.ops.mkldnn._linear_pointwise`` and its
``.binary`` form, the ops that ``torch.compile`` emits for CPU linears).

It serves inference (no gradients) on at least ``ONEDNN_MIN_ROWS`` positions at once, where it measured
faster (by a few percent; with GELU and the residuals inside too, BERT4Rec's full-ranking pass on the
ML-1M head 1.07x faster in two A/Bs and SASRec's unchanged, ``benchmarks/results/ab_fused-residual-*.md``).
Everything else is ``F.linear``:

- training: with a backward of its own, it left training epochs unchanged on the ML-1M head and made
  them slower on Beauty;
- smaller inputs, where oneDNN's fixed cost per call outweighs the pass it saves;
- other devices and dtypes, bf16 autocast, ``torch.compile``, inputs that are not contiguous, and builds
  without oneDNN.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Activation = Literal["relu", "gelu"] | None

POST_OPS = {None: ("none", ""), "relu": ("relu", ""), "gelu": ("gelu", "none")}
"""oneDNN's post-op and its algorithm for each activation (GELU's ``none``: erf, not the tanh form)."""


def _onednn_linear_works() -> bool:
    """Whether this build has oneDNN's fused linear with the signatures used here, its activations and
    its added tensor (private ops: checked once on a tiny input rather than trusted)."""
    if not torch.backends.mkldnn.is_available():
        return False
    x, w, b = torch.ones(1, 2), torch.ones(3, 2), torch.tensor([-1.0, -3.0, 0.0])
    try:
        op = torch.ops.mkldnn._linear_pointwise
        outs = [op(x, w, b, POST_OPS[a][0], [], POST_OPS[a][1]) for a in ("relu", "gelu")]
        outs.append(op.binary(x, -b.expand(1, 3).contiguous(), w, b, "add"))
    except (AttributeError, RuntimeError, TypeError):
        return False
    expected = [F.relu(x @ w.T + b), F.gelu(x @ w.T + b), x @ w.T]
    return all(torch.allclose(out, ref) for out, ref in zip(outs, expected, strict=True))


ONEDNN_LINEAR: bool = _onednn_linear_works()
"""Whether CPU inference may take oneDNN's fused matmul (set False to compare with ``F.linear``)."""

ONEDNN_MIN_ROWS = 8192
"""Fewest positions (rows of ``x``) for oneDNN's matmul. On the ML-1M head the evaluation encodes 512
histories of 50 at a time (25,600 rows). There, in two 4-round A/Bs, the fused linears made a
full-ranking pass 1.00-1.08x faster for SASRec and 1.07-1.10x for BERT4Rec
(``benchmarks/results/ab_onednn-{linear,inference}-ml-1m-head.md``). Used for every size, they made
Beauty's evaluation, whose short histories give batches of a few thousand rows, 0.95x as fast
(``benchmarks/results/ab_onednn-linear-beauty.md``); with this threshold it is unchanged (0.99-1.00x)."""


def linear(
    x: Tensor,
    layer: nn.Linear,
    activation: Activation = None,
    *,
    bias: bool = True,
    residual: Tensor | None = None,
) -> Tensor:
    """``layer(x)``, then ReLU or GELU (``activation``), plus ``residual`` (``[..., out]``; not with an
    activation) where given; ``x`` is ``[..., in]``. ``bias=False``: the product alone, without the
    layer's bias."""
    if residual is not None and activation is not None:
        raise ValueError("linear: an activation and a residual together are not supported")
    b = layer.bias if bias else None
    if _fused(x, layer):
        op = torch.ops.mkldnn._linear_pointwise
        if residual is not None and _same_layout(residual, x.shape[:-1], layer):
            return op.binary(x, residual, layer.weight, b, "add")
        attr, algorithm = POST_OPS[activation]
        y = op(x, layer.weight, b, attr, [], algorithm)
        return y if residual is None else y + residual
    y = F.linear(x, layer.weight, b)
    if activation is not None:
        y = F.relu(y) if activation == "relu" else F.gelu(y)
    return y if residual is None else y + residual


def _same_layout(residual: Tensor, rows: torch.Size, layer: nn.Linear) -> bool:
    """Whether oneDNN can add ``residual`` as it is: contiguous, of the output's shape and dtype."""
    return (
        residual.is_contiguous()
        and residual.shape == (*rows, layer.out_features)
        and residual.dtype == layer.weight.dtype
    )


def _fused(x: Tensor, layer: nn.Linear) -> bool:
    return (
        ONEDNN_LINEAR
        and not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == layer.weight.dtype == torch.float32
        and x.numel() >= ONEDNN_MIN_ROWS * x.shape[-1]
        and x.is_contiguous()
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )
