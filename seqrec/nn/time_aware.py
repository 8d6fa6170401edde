"""Time-aware self-attention (TiSASRec, Li, Wang & McAuley, WSDM 2020) and calendar features.

Personalised intervals. For the timestamps t_1..t_n of one user's window,

    r_ij = min(k, floor(|t_i - t_j| / r_min))        r_min = smallest non-zero |t_a - t_b| of the window

(``time_interval_matrix``; 1 when all timestamps are equal). The authors compute r_min over the user's
whole sequence in preprocessing; a model only sees its input window, so here r_min is the window's.

Attention of position i over positions j <= i, with item inputs m (no position added to the input):

    e_ij = m_i W_Q (m_j W_K + r^K_{r_ij} + p^K_j)^T / sqrt(d_h)
    a_ij = softmax_j(e_ij)
    z_i  = sum_j a_ij (m_j W_V + r^V_{r_ij} + p^V_j)

r^K, r^V are interval tables with k + 1 rows, p^K, p^V absolute position tables (positions counted from
the end, as in ``SASRec``), all split across heads like the projections. The block around it is
SASRec's: query = LN(x), residual on the query, LN + point-wise feed-forward; padding is zeroed once,
after the final LN, and the key bias is left out: neither can change a real position's state
(``seqrec.nn.attention``).

Instead of materialising r^K_{r_ij} as a ``[B, L, L, D]`` tensor (the authors' way; 1 GB for B = 128,
L = 200, d = 50), the interval terms are computed per bucket and gathered:
``q_i . r^K_{r_ij} = (q_i R_K^T)[r_ij]`` and ``sum_j a_ij r^V_{r_ij} = (sum over j of a_ij into bucket
r_ij) R_V``. Dropout is applied to the interval tables (the authors drop the gathered copies).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqrec.nn.attention import PointWiseFeedForward, attention_mask, positions_from_end
from seqrec.nn.dropout import Dropout
from seqrec.nn.embeddings import Embedding
from seqrec.nn.linear import linear

SECONDS_PER_DAY = 86_400


def time_interval_matrix(timestamps: Tensor, valid: Tensor, span: int) -> Tensor:
    """Personalised intervals ``[B, L, L]`` (long, 0 where either position is padding).

    ``timestamps``: ``[B, L]`` integers; ``valid``: ``[B, L]`` bool.
    """
    t = timestamps.long()
    diff = (t[:, :, None] - t[:, None, :]).abs()  # [B, L, L]
    pairs = valid[:, :, None] & valid[:, None, :]  # [B, L, L]
    big = torch.iinfo(torch.long).max
    nonzero = diff.masked_fill(~pairs | (diff == 0), big)  # [B, L, L]
    scale = nonzero.flatten(1).amin(1)  # [B]
    scale = torch.where(scale == big, torch.ones_like(scale), scale)  # [B]
    r = torch.div(diff, scale[:, None, None], rounding_mode="floor").clamp_(max=span)  # [B, L, L]
    return r * pairs


def day_of_year(timestamps: Tensor) -> Tensor:
    """0-based day of the (proleptic Gregorian, UTC) year of Unix-second timestamps, same shape.

    Integer-only civil-calendar arithmetic (Howard Hinnant's ``civil_from_days``): years run from 1 March
    inside the computation so that the leap day is the last day of a year.
    """
    days = (
        torch.div(timestamps.long(), SECONDS_PER_DAY, rounding_mode="floor") + 719_468
    )  # days from 0000-03-01
    era = torch.div(days, 146_097, rounding_mode="floor")
    doe = days - era * 146_097  # day of the 400-year era, [0, 146096]
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365  # year of the era, [0, 399]
    doy_march = doe - (365 * yoe + yoe // 4 - yoe // 100)  # day of the March-based year, [0, 365]
    year = yoe + era * 400  # the civil year of March..December days
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    january_or_february = doy_march >= 306
    return torch.where(january_or_february, doy_march - 306, doy_march + 59 + leap.long())


def week_buckets(timestamps: Tensor, valid: Tensor, buckets: int = 52) -> Tensor:
    """Week-of-year ids ``1..buckets`` (``[B, L]`` long; 0 on padding).

    bucket = min(day_of_year // (365 // buckets), buckets - 1): with 52, seven-day weeks from 1 January,
    the last one or two days of the year folded into the last week.
    """
    width = 365 // buckets
    week = torch.clamp(day_of_year(timestamps) // width, max=buckets - 1)  # [B, L]
    return (week + 1) * valid.long()


class TimeAwareSelfAttention(nn.Module):
    """Multi-head attention with interval and absolute-position terms in keys and values."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.drop = Dropout(dropout)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor,
        intervals: Tensor,
        pos_k: Tensor,
        pos_v: Tensor,
        table_k: Tensor,
        table_v: Tensor,
    ) -> Tensor:
        """query, keys, pos_k, pos_v: [B, L, D]; mask: [B, 1, L, L] bool; intervals: [B, L, L] long;
        table_k, table_v: [K + 1, D]."""
        b, length, d = query.shape
        h = self.heads
        dh = d // h
        q = linear(query, self.q).view(b, length, h, dh).transpose(1, 2)  # [B, H, L, d_h]
        k = (
            (linear(keys, self.k, bias=False) + pos_k).view(b, length, h, dh).transpose(1, 2)
        )  # [B, H, L, d_h]
        v = (linear(keys, self.v) + pos_v).view(b, length, h, dh).transpose(1, 2)  # [B, H, L, d_h]
        rk = table_k.view(-1, h, dh).permute(1, 2, 0)  # [H, d_h, K + 1]
        rv = table_v.view(-1, h, dh).transpose(0, 1)  # [H, K + 1, d_h]
        index = intervals.unsqueeze(1).expand(b, h, length, length)  # [B, H, L, L]
        scores = q @ k.transpose(-1, -2) + torch.gather(q @ rk, -1, index)  # [B, H, L, L]
        scores = (scores / math.sqrt(dh)).masked_fill(~mask, float("-inf"))  # [B, H, L, L]
        attn = self.drop(torch.softmax(scores, dim=-1))  # [B, H, L, L]
        buckets = attn.new_zeros(b, h, length, rv.shape[1]).scatter_add_(-1, index, attn)  # [B, H, L, K + 1]
        out = attn @ v + buckets @ rv  # [B, H, L, d_h]
        return out.transpose(1, 2).reshape(b, length, d)  # [B, L, D]


class TimeAwareBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float, inner: int) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.attn = TimeAwareSelfAttention(hidden, heads, dropout)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.ffn = PointWiseFeedForward(hidden, inner, dropout)
        self.hidden = hidden
        self.attn_adapter: nn.Module = nn.Identity()  # transfer adapter slots (seqrec.nn.adapters)
        self.ffn_adapter: nn.Module = nn.Identity()

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        intervals: Tensor,
        relations: tuple[Tensor, Tensor, Tensor, Tensor],
    ) -> Tensor:
        """x: [B, L, D]; relations: (pos_k, pos_v [B, L, D], table_k, table_v [K+1, D])."""
        q = self.attn_norm(x)  # [B, L, D]
        x = q + self.attn_adapter(self.attn(q, x, mask, intervals, *relations))  # [B, L, D]
        y = self.ffn_norm(x)  # [B, L, D]
        return self.ffn.with_residual(y, self.ffn_adapter)  # [B, L, D]


class TimeAwareEncoder(nn.Module):
    """Blocks of time-aware attention sharing one set of position and interval tables, final LN."""

    def __init__(
        self,
        hidden: int,
        blocks: int,
        heads: int,
        dropout: float,
        inner: int,
        *,
        max_len: int,
        time_span: int,
    ) -> None:
        super().__init__()
        self.time_span = time_span
        self.pos_k = Embedding(max_len + 1, hidden, padding_idx=0)
        self.pos_v = Embedding(max_len + 1, hidden, padding_idx=0)
        self.interval_k = Embedding(time_span + 1, hidden)
        self.interval_v = Embedding(time_span + 1, hidden)
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(TimeAwareBlock(hidden, heads, dropout, inner) for _ in range(blocks))
        self.final_norm = nn.LayerNorm(hidden, eps=1e-8)

    def forward(self, x: Tensor, valid: Tensor, timestamps: Tensor) -> Tensor:
        """x: [B, L, D] embedded items (any values on padding); valid: [B, L] bool; timestamps: [B, L]."""
        mask = attention_mask(valid, causal=True)  # [B, 1, L, L]
        keep = valid.unsqueeze(-1).to(x.dtype)  # [B, L, 1]
        intervals = time_interval_matrix(timestamps, valid, self.time_span)  # [B, L, L]
        positions = positions_from_end(valid)  # [B, L]
        relations = (
            self.drop(self.pos_k(positions)),  # [B, L, D]
            self.drop(self.pos_v(positions)),  # [B, L, D]
            self.drop(self.interval_k.weight),  # [K + 1, D]
            self.drop(self.interval_v.weight),  # [K + 1, D]
        )
        for block in self.blocks:
            x = block(x, mask, intervals, relations)
        return self.final_norm(x) * keep  # [B, L, D]
