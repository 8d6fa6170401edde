"""SAS-FPT ("towards fully personalised attention"): TiSASRec with absolute time and the user.

On top of TiSASRec (``seqrec.models.tisasrec``: personalised intervals and absolute positions in keys
and values), the input of position t for user u is

    x_t = W_in [M[s_t] ; W[week(t_t)] ; U[u]] * sqrt(d) + b_in          [3d] -> [d]

with W a table of ``week_buckets`` week-of-year embeddings (``seqrec.nn.time_aware.week_buckets``) and
U a user table (row 0 = zero vector for unknown users). The concatenation is projected back to d so
that the states F_t still score against the item table: r_{t,i} = F_t . M[i]. Without the week and
the user the input is TiSASRec's M[s_t] sqrt(d) (no projection).

Training adds the group-wise user loss on pairs drawn by the objective (``PairedTrainBatch``):

    L = L_next-item + lambda * [ sum_neg max(0, cos(U_a, U_b) - margin) + sum_pos (1 - cos(U_a, U_b)) ]

Ablations (config switches): TiSASRec+ = a larger interval table only; TiSASRec++ = + week; full
model = + user embedding and group loss.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqrec.data.batch import SequenceBatch, TrainBatch
from seqrec.data.objectives import PairedTrainBatch
from seqrec.models.tisasrec import TiSASRec
from seqrec.nn.embeddings import Embedding, ItemTable, UserEmbedding
from seqrec.nn.init import xavier_init
from seqrec.nn.losses import SequenceLoss, Weight, group_cosine_loss
from seqrec.nn.time_aware import week_buckets


class SASFPT(TiSASRec):
    def __init__(
        self,
        num_items: int,
        num_users: int,
        *,
        max_len: int,
        hidden: int,
        blocks: int,
        heads: int,
        dropout: float,
        time_span: int,
        week_embedding: bool,
        week_buckets: int,
        user_embedding: bool,
        group_loss_weight: float,
        group_margin: float,
        ff_hidden: int | None = None,
        item_embedding: ItemTable | None = None,
    ) -> None:
        super().__init__(
            num_items,
            max_len=max_len,
            hidden=hidden,
            blocks=blocks,
            heads=heads,
            dropout=dropout,
            time_span=time_span,
            ff_hidden=ff_hidden,
            item_embedding=item_embedding,
        )
        self.week_buckets = week_buckets
        self.group_loss_weight = group_loss_weight
        self.group_margin = group_margin
        self.week_emb = Embedding(week_buckets + 1, hidden, padding_idx=0) if week_embedding else None
        self.user_emb = UserEmbedding(num_users + 1, hidden, padding_idx=0) if user_embedding else None
        parts = 1 + int(week_embedding) + int(user_embedding)
        self.input_proj = nn.Linear(parts * hidden, hidden) if parts > 1 else None
        for module in (self.week_emb, self.user_emb, self.input_proj):
            if module is not None:
                xavier_init(module)

    def inputs(self, batch: SequenceBatch, items: Tensor, timestamps: Tensor, valid: Tensor) -> Tensor:
        parts = [self.item_emb(items)]  # [B, L, d]
        if self.week_emb is not None:
            parts.append(self.week_emb(week_buckets(timestamps, valid, self.week_buckets)))  # [B, L, d]
        if self.user_emb is not None:
            parts.append(self.user_emb(batch.users).unsqueeze(1).expand(-1, items.shape[1], -1))  # [B, L, d]
        x = torch.cat(parts, dim=-1) * math.sqrt(self.hidden)  # [B, L, parts * d]
        return self.input_proj(x) if self.input_proj is not None else x  # [B, L, d]

    def training_loss(self, batch: TrainBatch, loss: SequenceLoss, weight: Weight = 1.0) -> Tensor:
        value = super().training_loss(batch, loss, weight)
        if (
            self.user_emb is None
            or self.group_loss_weight == 0
            or not isinstance(batch, PairedTrainBatch)
            or batch.user_pairs is None
            or batch.pair_labels is None
        ):
            return value
        pairs = self.user_emb(batch.user_pairs)  # [P, 2, d]
        group = group_cosine_loss(pairs[:, 0], pairs[:, 1], batch.pair_labels, self.group_margin)
        return value + self.group_loss_weight * group
