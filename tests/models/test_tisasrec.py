"""TiSASRec: the personalised interval matrix, the attention equations, time sensitivity."""

from __future__ import annotations

import math

import torch

from seqrec.data.batch import SequenceBatch
from seqrec.models import TiSASRec
from seqrec.nn.time_aware import TimeAwareSelfAttention, time_interval_matrix


def test_interval_matrix_of_a_small_timestamp_list() -> None:
    # one padded position, then t = 100, 130, 130, 190, 1000: the smallest non-zero gap is 30
    ts = torch.tensor([[0, 100, 130, 130, 190, 1000]])
    valid = torch.tensor([[False, True, True, True, True, True]])
    r = time_interval_matrix(ts, valid, span=20)
    # floor(|t_i - t_j| / 30), clipped at 20: 30 / 30 = 1, 90 / 30 = 3, 60 / 30 = 2, 900 / 30 = 30 -> 20,
    # 870 / 30 = 29 -> 20, 810 / 30 = 27 -> 20; padding rows and columns are 0
    expected = torch.tensor(
        [
            [0, 0, 0, 0, 0, 0],
            [0, 0, 1, 1, 3, 20],
            [0, 1, 0, 0, 2, 20],
            [0, 1, 0, 0, 2, 20],
            [0, 3, 2, 2, 0, 20],
            [0, 20, 20, 20, 20, 0],
        ]
    )
    assert torch.equal(r[0], expected)


def test_interval_scale_is_per_user_and_equal_times_give_zero() -> None:
    ts = torch.tensor([[10, 20, 40], [7, 7, 7]])
    valid = torch.ones(2, 3, dtype=torch.bool)
    r = time_interval_matrix(ts, valid, span=256)
    assert torch.equal(r[0], torch.tensor([[0, 1, 3], [1, 0, 2], [3, 2, 0]]))  # user 1: r_min = 10
    assert torch.equal(r[1], torch.zeros(3, 3, dtype=torch.long))  # no non-zero interval: scale 1


def test_attention_matches_the_papers_equations() -> None:
    """The gather / scatter computation equals e_ij = q_i (k_j + r^K_ij + p^K_j), z_i = sum a_ij (...)."""
    torch.manual_seed(0)
    b, length, d, heads, span = 2, 4, 6, 2, 5
    attn = TimeAwareSelfAttention(d, heads, dropout=0.0).eval()
    x = torch.randn(b, length, d)
    pos_k, pos_v = torch.randn(b, length, d), torch.randn(b, length, d)
    table_k, table_v = torch.randn(span + 1, d), torch.randn(span + 1, d)
    intervals = torch.randint(0, span + 1, (b, length, length))
    mask = torch.ones(length, length, dtype=torch.bool).tril().expand(b, 1, length, length)
    got = attn(x, x, mask, intervals, pos_k, pos_v, table_k, table_v)

    dh = d // heads
    q, k, v = attn.q(x), attn.k(x), attn.v(x)
    expected = torch.zeros(b, length, d)
    for h in range(heads):
        sl = slice(h * dh, (h + 1) * dh)
        for n in range(b):
            for i in range(length):
                keys = k[n, :, sl] + table_k[intervals[n, i], sl] + pos_k[n, :, sl]  # [L, d_h]
                values = v[n, :, sl] + table_v[intervals[n, i], sl] + pos_v[n, :, sl]  # [L, d_h]
                e = keys[: i + 1] @ q[n, i, sl] / math.sqrt(dh)  # causal: j <= i
                expected[n, i, sl] = torch.softmax(e, 0) @ values[: i + 1]
    assert torch.allclose(got, expected, atol=1e-5)


def _model() -> TiSASRec:
    torch.manual_seed(0)
    return TiSASRec(20, max_len=8, hidden=8, blocks=1, heads=2, dropout=0.0, time_span=16).eval()


def test_states_depend_on_personalised_intervals_only() -> None:
    model = _model()
    items = torch.tensor([[0, 3, 4, 5, 6]])
    ts = torch.tensor([[0, 1000, 1060, 1240, 1300]])

    def encode(timestamps: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model.encode(SequenceBatch(items, torch.tensor([1]), timestamps))

    base = encode(ts)
    # shifting and rescaling a user's clock leaves r_ij (|t_i - t_j| / r_min) and the states unchanged
    assert torch.allclose(base, encode((ts * 7 + 500) * (items > 0)), atol=1e-5)
    # a different rhythm changes them
    assert not torch.allclose(base, encode(torch.tensor([[0, 1000, 1010, 1240, 1300]])), atol=1e-4)
