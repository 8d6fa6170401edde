"""TiSASRec: Time Interval Aware Self-Attention for Sequential Recommendation (Li, Wang & McAuley,
WSDM 2020).

For a history s_1..s_n with timestamps t_1..t_n (left-padded to L), item table M shared by input and
output:

    r_ij = min(k, floor(|t_i - t_j| / r_min^u))        personalised interval, k = time_span
    m_t  = Dropout(M[s_t] * sqrt(d))                    no position added to the input
    e_ij = m_i W_Q (m_j W_K + r^K_{r_ij} + p^K_j)^T / sqrt(d)
    z_i  = sum_{j <= i} softmax_j(e_ij) (m_j W_V + r^V_{r_ij} + p^V_j)
    F    = b blocks of [z + LN query residual, LN + point-wise feed-forward], final LN, * mask
    r_{t,i} = F_t . M[i]

(``seqrec.nn.time_aware`` has the attention, the interval matrix and how both are computed.)
r_min^u is the smallest non-zero interval inside the input window, so the scale of earlier positions
can depend on later timestamps (never on later items); the authors take it over the user's whole
sequence, which reads the future the same way.
"""

from __future__ import annotations

import math

from torch import Tensor

from seqrec.data.batch import SequenceBatch
from seqrec.models.base import SequenceModel
from seqrec.nn.dropout import Dropout
from seqrec.nn.embeddings import ItemTable, item_table_or_ids
from seqrec.nn.init import xavier_init
from seqrec.nn.time_aware import TimeAwareEncoder


class TiSASRec(SequenceModel):
    def __init__(
        self,
        num_items: int,
        *,
        max_len: int,
        hidden: int,
        blocks: int,
        heads: int,
        dropout: float,
        time_span: int,
        ff_hidden: int | None = None,
        item_embedding: ItemTable | None = None,
    ) -> None:
        super().__init__()
        self.num_items = num_items
        self.max_len = max_len
        self.hidden = hidden
        self.item_emb = item_table_or_ids(item_embedding, num_items + 1, hidden)
        self.emb_dropout = Dropout(dropout)
        self.encoder = TimeAwareEncoder(
            hidden, blocks, heads, dropout, ff_hidden or hidden, max_len=max_len, time_span=time_span
        )
        xavier_init(self)

    def inputs(self, batch: SequenceBatch, items: Tensor, timestamps: Tensor, valid: Tensor) -> Tensor:
        """The per-position input ``[B, L, D]`` before dropout (subclasses add features)."""
        return self.item_emb(items) * math.sqrt(self.hidden)  # [B, L, D]

    def encode(self, batch: SequenceBatch) -> Tensor:
        items = batch.items[:, -self.max_len :]  # [B, L]
        timestamps = batch.timestamps[:, -self.max_len :]  # [B, L]
        valid = items > 0  # [B, L]
        x = self.emb_dropout(self.inputs(batch, items, timestamps, valid))  # [B, L, D]
        return self.encoder(x, valid, timestamps)  # [B, L, D]

    def item_table(self) -> Tensor:
        return self.item_emb.table()  # [N + 1, D]
