"""The full-softmax CE chunked over positions equals plain autograd cross-entropy, in value and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqrec.nn import losses
from seqrec.nn.losses import FullCrossEntropy


@pytest.fixture(autouse=True, params=[False, True], ids=["sync-per-chunk", "sync-free"])
def _sync_free(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs both ways of finding the likely targets (the CPU's and an accelerator's)."""
    monkeypatch.setattr(losses, "CE_SYNC_FREE", request.param)


def _inputs(
    seed: int = 0, dtype: torch.dtype = torch.float64, device: torch.device | None = None
) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(4, 9, 8, generator=g, dtype=dtype)  # [B, L, D]
    table = torch.randn(31, 8, generator=g, dtype=dtype)  # [N + 1, D], 30 items
    targets = torch.randint(1, 31, (4, 9), generator=g)  # [B, L]
    targets[:, :3] = 0  # padding positions: no loss
    targets[0] = 0  # a row without targets
    hidden, table, targets = (t.to(device) for t in (hidden, table, targets))
    return hidden.requires_grad_(True), table.requires_grad_(True), targets


def _reference(hidden: torch.Tensor, targets: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The unchunked loss: every position's logits at once, differentiated by autograd."""
    pos = targets > 0  # [B, L]
    return F.cross_entropy(hidden[pos] @ table[1:].T, targets[pos] - 1)  # logits [T, 30]


def _value_and_grads(
    fn, hidden, targets, table, factor: float = 2.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    hidden.grad = table.grad = None
    value = fn(hidden, targets, table)
    (factor * value if factor != 1.0 else value).backward()  # other than 1: scales the stored gradients
    return value.detach(), hidden.grad.clone(), table.grad.clone()


@pytest.mark.parametrize("rows", [1, 5, 7, 27, 1000])
def test_chunked_ce_matches_autograd(rows: int, device: torch.device) -> None:
    hidden, table, targets = _inputs(device=device)
    loss = FullCrossEntropy(chunk_bytes=rows * 4 * 30, min_rows=1)  # `rows` positions of 30 logits
    assert loss.chunk_rows(30) == rows
    ref = _value_and_grads(_reference, hidden, targets, table)
    got = _value_and_grads(lambda h, t, e: loss(h, t, None, e), hidden, targets, table)
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_chunked_ce_float32_and_bf16_autocast_close_to_autograd(device: torch.device) -> None:
    hidden, table, targets = _inputs(1, torch.float32, device)
    loss = FullCrossEntropy(chunk_bytes=4 * 30 * 4, min_rows=1)  # 4 positions per chunk
    ref = _value_and_grads(_reference, hidden, targets, table)
    got = _value_and_grads(lambda h, t, e: loss(h, t, None, e), hidden, targets, table)
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        ref16 = _value_and_grads(_reference, hidden, targets, table)
        got16 = _value_and_grads(lambda h, t, e: loss(h, t, None, e), hidden, targets, table)
    for a, b in zip(ref16, got16, strict=True):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-3)


def test_chunked_ce_without_gradients() -> None:
    hidden, table, targets = _inputs(2)
    with torch.no_grad():
        value = FullCrossEntropy(chunk_bytes=4 * 30 * 3, min_rows=1)(hidden, targets, None, table)
        torch.testing.assert_close(value, _reference(hidden, targets, table))
    # only the table needs a gradient
    hidden = hidden.detach()
    table.grad = None
    FullCrossEntropy(chunk_bytes=4 * 30 * 3, min_rows=1)(hidden, targets, None, table).backward()
    expected = torch.autograd.grad(_reference(hidden, targets, table), table)[0]
    torch.testing.assert_close(table.grad, expected)


def test_chunk_rows_follow_the_module_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    assert FullCrossEntropy().chunk_rows(1000) == losses.CE_CHUNK_BYTES // 4000
    monkeypatch.setattr(losses, "CE_CHUNK_BYTES", 4 * 1000 * 30)
    assert FullCrossEntropy().chunk_rows(1000) == 30
    assert FullCrossEntropy().chunk_rows(10**9) == losses.CE_MIN_ROWS  # a huge catalogue: still a matrix
    assert FullCrossEntropy(min_rows=0).chunk_rows(10**9) == 1  # never zero rows


def test_accelerators_get_larger_chunks() -> None:
    loss = FullCrossEntropy()
    cpu = loss.chunk_rows(12_000, torch.device("cpu"))
    gpu = loss.chunk_rows(12_000, torch.device("cuda"))
    assert cpu == losses.CE_CHUNK_BYTES // 48_000 and gpu == losses.CE_CHUNK_BYTES_GPU // 48_000 > cpu


def _confident(
    target_logit: float, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One position whose logits are exactly ``target_logit`` at item 3 and 0 elsewhere (30 items):
    exact in bf16, so any error is the loss's own."""
    table = torch.cat([torch.zeros(1, 32), torch.eye(30, 32)]).to(dtype)  # [N + 1, D], row i + 1: unit i
    hidden = torch.zeros(1, 1, 32, dtype=dtype)
    hidden[0, 0, 3] = target_logit
    return hidden.requires_grad_(True), table.requires_grad_(True), torch.tensor([[4]])  # item 4 = row 3


def _swap(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    hidden, table, targets = inputs
    return hidden, targets, table  # the order of _value_and_grads' arguments


@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("logit", [10.0, 20.0])
def test_chunked_ce_confident_target_keeps_its_small_loss_and_gradient(autocast: bool, logit: float) -> None:
    # P[target] = 0.99868 (1 - 6e-8 at logit 20): in bf16 P rounds in steps of 2^-8, more than 1 - P, and
    # in float32 1 - 6e-8 is not representable, so the loss and the target's gradient P - 1 must come
    # from the other probabilities, not from 1 - P or sum(P) - P
    exact = _value_and_grads(_reference, *_swap(_confident(logit, torch.float64)))
    hidden, table, targets = _confident(logit)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        got = _value_and_grads(lambda h, t, e: FullCrossEntropy()(h, t, None, e), hidden, targets, table)
    torch.testing.assert_close(got[0].double(), exact[0], rtol=1e-2, atol=0)  # loss 1.3e-3 / 6e-8
    torch.testing.assert_close(got[1][0, 0, 3].double(), exact[1][0, 0, 3], rtol=1e-2, atol=0)
    torch.testing.assert_close(got[2][4, 3].double(), exact[2][4, 3], rtol=1e-2, atol=0)


def test_chunked_ce_target_far_below_the_rest_keeps_a_finite_exact_loss() -> None:
    exact = _value_and_grads(_reference, *_swap(_confident(-200.0, torch.float64)))
    hidden, table, targets = _confident(-200.0)  # P[target] = e^-200 / 29: underflows float32
    got = _value_and_grads(lambda h, t, e: FullCrossEntropy()(h, t, None, e), hidden, targets, table)
    torch.testing.assert_close(got[0].double(), exact[0])  # 200 + log(29)
    torch.testing.assert_close(got[1].double(), exact[1])


def test_chunked_ce_mixed_rows_across_chunks() -> None:
    """Likely, ordinary and underflowing targets side by side, three positions per chunk: each row keeps
    its own exact loss and gradient (the underflowing one's loss is fixed after the last chunk)."""
    g = torch.Generator().manual_seed(5)
    hidden = torch.randn(1, 7, 32, generator=g, dtype=torch.float64)
    hidden[0, 1] = 0.0
    hidden[0, 1, 3] = 20.0  # item 4 at P = 1 - 6e-8 (the other items' rows of the table are units)
    hidden[0, 5] = 0.0
    hidden[0, 5, 3] = -200.0  # item 4 far below every other item
    table = torch.cat([torch.zeros(1, 32), torch.eye(30, 32)]).double()  # [N + 1, D]
    targets = torch.randint(1, 31, (1, 7), generator=g)
    targets[0, 1] = targets[0, 5] = 4
    exact = _value_and_grads(_reference, hidden.requires_grad_(True), targets, table.requires_grad_(True))
    h32, e32 = hidden.detach().float().requires_grad_(True), table.detach().float().requires_grad_(True)
    loss = FullCrossEntropy(chunk_bytes=3 * 4 * 30, min_rows=1)
    got = _value_and_grads(lambda h, t, e: loss(h, t, None, e), h32, targets, e32)
    for a, b in zip(exact, got, strict=True):
        torch.testing.assert_close(b.double(), a, rtol=1e-4, atol=1e-6)


def test_chunk_shapes_do_not_follow_the_number_of_targets() -> None:
    """Batches with 1..150 targets use a handful of matrix shapes (oneDNN keeps a kernel per shape)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Shapes(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.seen: set[tuple[int, ...]] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if func is torch.ops.aten.mm.default:
                self.seen.add(tuple(args[0].shape))
            return func(*args, **(kwargs or {}))

    table = torch.randn(201, 8, requires_grad=True)  # 200 items
    loss = FullCrossEntropy(chunk_bytes=4 * 200 * 100, min_rows=1)  # up to 100 rows per chunk
    shapes = Shapes()
    with shapes:
        for count in range(1, 151):
            hidden = torch.randn(1, count, 8, requires_grad=True)
            loss(hidden, torch.randint(1, 201, (1, count)), None, table).backward()
    logits_rows = {shape[0] for shape in shapes.seen if shape[1] == 8}  # [C, D] @ [D, N]
    assert logits_rows == {96, 32, 64}  # a 100-row budget: chunks of 96, the last one padded to 32k


# ------------------------------------------------------------------------ blocks of positions x items
@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (4, 7), (5, 30), (40, 13), (2, 100)])
def test_tiled_ce_matches_autograd(rows: int, cols: int) -> None:
    hidden, table, targets = _inputs(4)
    ref = _value_and_grads(_reference, hidden, targets, table)

    def tiled(h: torch.Tensor, t: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        pos = t > 0
        return losses._ChunkedCrossEntropy.apply(h[pos], e, t[pos] - 1, (rows, cols), torch.float64, 1)

    got = _value_and_grads(tiled, hidden, targets, table)
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("plan", [5, (4, 7)])
def test_ce_hands_on_its_gradients_for_a_unit_incoming_gradient(
    plan: int | tuple[int, int], device: torch.device
) -> None:
    """``loss.backward()``, an incoming gradient of exactly 1: the stored gradients, already scaled by the
    mean's 1 / T, are the gradients as they are (on the CPU; elsewhere scaled by the 1 without a host
    check); the table's padding row gets none."""
    hidden, table, targets = _inputs(7, device=device)

    def ce(h: torch.Tensor, t: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        pos = t > 0
        return losses._ChunkedCrossEntropy.apply(h[pos], e, t[pos] - 1, plan, torch.float64, 1)

    ref = _value_and_grads(_reference, hidden, targets, table, factor=1.0)
    got = _value_and_grads(ce, hidden, targets, table, factor=1.0)
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert bool((got[2][0] == 0).all())


def test_tiled_ce_without_gradients_and_for_the_table_only() -> None:
    hidden, table, targets = _inputs(6)
    pos = targets > 0
    expected = F.cross_entropy(hidden[pos] @ table[1:].T, targets[pos] - 1, reduction="sum")
    total, grad_h, grad_items = losses._tiled_ce(
        hidden.detach()[pos], table.detach()[1:], targets[pos] - 1, 3, 8, False, True
    )
    torch.testing.assert_close(total, expected.detach())
    assert grad_h is None and grad_items is not None
    torch.testing.assert_close(grad_items, torch.autograd.grad(expected, table)[0][1:])


def _tiled() -> FullCrossEntropy:
    """A loss that takes blocks of 3 positions by 4 items: its budget holds fewer float32 rows of 30
    items than ``min_rows``."""
    return FullCrossEntropy(chunk_bytes=3 * 4 * 4, min_rows=2, tile_rows=3)


def test_catalogues_too_large_for_whole_rows_are_taken_in_blocks() -> None:
    loss = FullCrossEntropy()
    assert loss.tiles(100_000) is None  # 20 float32 rows in the 8 MiB budget: whole rows
    assert loss.tiles(200_000) == (losses.CE_TILE_ROWS, losses.CE_CHUNK_BYTES // (4 * losses.CE_TILE_ROWS))
    assert FullCrossEntropy(tile_rows=0).tiles(10**7) is None
    assert _tiled().tiles(30) == (3, 4)


@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("logit", [20.0, 150.0, -200.0])
def test_tiled_ce_exact_for_certain_and_underflowing_targets(autocast: bool, logit: float) -> None:
    # P[target] = 1 - 6e-8 at 20, e^-200 / 29 at -200: the loss and P_t - 1 come from L - z_t, never
    # from 1 - P; at 150, exp(z) overflows float32 unless shifted by the largest logit; under autocast
    # the blocks still run in float32
    exact = _value_and_grads(_reference, *_swap(_confident(logit, torch.float64)))
    hidden, table, targets = _confident(logit)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        got = _value_and_grads(lambda h, t, e: _tiled()(h, t, None, e), hidden, targets, table)
    assert got[0].dtype == torch.float32
    torch.testing.assert_close(got[0].double(), exact[0], rtol=1e-5, atol=1e-40)  # 150: 29 e^-150
    torch.testing.assert_close(got[1].double(), exact[1], rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(got[2].double(), exact[2], rtol=1e-5, atol=1e-12)


def test_tiled_ce_under_autocast_matches_float32() -> None:
    hidden, table, targets = _inputs(7, torch.float32)
    ref = _value_and_grads(_reference, hidden, targets, table)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = _value_and_grads(lambda h, t, e: _tiled()(h, t, None, e), hidden, targets, table)
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_a_weight_scales_the_loss_and_its_gradients(as_tensor: bool) -> None:
    """``weight`` (``training.equal_target_weights``) times the mean: as a number it rides in the
    gradients' own scale, as a device scalar (CUDA graphs) autograd multiplies."""
    hidden, table, targets = _inputs(8)
    loss = FullCrossEntropy(chunk_bytes=5 * 4 * 30, min_rows=1)
    weight = torch.tensor(1.7, dtype=torch.float64) if as_tensor else 1.7
    plain = _value_and_grads(lambda h, t, e: loss(h, t, None, e), hidden, targets, table, factor=1.0)
    got = _value_and_grads(lambda h, t, e: loss(h, t, None, e, weight), hidden, targets, table, factor=1.0)
    for a, b in zip(plain, got, strict=True):
        torch.testing.assert_close(b, 1.7 * a, rtol=1e-12, atol=1e-14)
