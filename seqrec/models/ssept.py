"""SSE-PT: Sequential Recommendation via Personalized Transformer (Wu, Li, Hsieh & Sharpnack, RecSys 2020).

SASRec with a user embedding concatenated to every position, in the input and in the prediction.
With item table M (width d_i), user table U (width d_u), positions P (width d_i + d_u), user u:

    E_t  = [M[s_t] * sqrt(d_i) ; U[u] * sqrt(d_u)] + P[pos_t]     pos_t counts from the end
    X    = Dropout(E)
    F    = SASRecEncoder(X) * m                                    attention width d_i + d_u; m: 1 on
                                                                   real items (padding zeroed once)
    r_{t,i} = F_t . [M[i] ; U[u] * sqrt(d_u)]                     as in the authors' model_v1.py

The user half of the prediction is the same for every item, so it changes BCE / gBCE losses but not
rankings. It enters through the model contract's dot product: ``encode`` returns
``[F_t^{item} ; F_t^{user} . U[u] sqrt(d_u)]`` (width d_i + 1) and ``item_table`` returns ``[M ; 1]``.

Regularisation is Stochastic Shared Embeddings, applied on the data side
(``seqrec.data.objectives.CausalNextItem``): random user ids and random (input, target) item pairs during
training; SSE-PT++ adds random windows of long histories. Row 0 of U is a zero "unknown user" vector:
a user absent from training is served from the item history alone.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from seqrec.data.batch import SequenceBatch
from seqrec.models.base import SequenceModel
from seqrec.nn.attention import SASRecEncoder, positions_from_end
from seqrec.nn.dropout import Dropout
from seqrec.nn.embeddings import Embedding, ItemTable, UserEmbedding, item_table_or_ids
from seqrec.nn.init import xavier_init


class SSEPT(SequenceModel):
    def __init__(
        self,
        num_items: int,
        num_users: int,
        *,
        max_len: int,
        hidden: int,
        user_hidden: int,
        blocks: int,
        heads: int,
        dropout: float,
        ff_hidden: int | None = None,
        item_embedding: ItemTable | None = None,
    ) -> None:
        super().__init__()
        self.num_items = num_items
        self.max_len = max_len
        self.hidden = hidden
        self.user_hidden = user_hidden
        width = hidden + user_hidden
        self.item_emb = item_table_or_ids(item_embedding, num_items + 1, hidden)
        self.user_emb = UserEmbedding(num_users + 1, user_hidden, padding_idx=0)
        self.pos_emb = Embedding(max_len + 1, width, padding_idx=0)
        self.emb_dropout = Dropout(dropout)
        self.encoder = SASRecEncoder(width, blocks, heads, dropout, ff_hidden or width, causal=True)
        xavier_init(self)

    def user_vectors(self, users: Tensor) -> Tensor:
        """Scaled user embeddings ``[B, d_u]`` (zero for the unknown user 0)."""
        return self.user_emb(users) * math.sqrt(self.user_hidden)

    def encode(self, batch: SequenceBatch) -> Tensor:
        return self._encode(batch, last_only=False)

    def user_state(self, batch: SequenceBatch) -> Tensor:
        return self._encode(batch, last_only=True)[:, -1, :]  # [B, d_i + 1]

    def _encode(self, batch: SequenceBatch, last_only: bool) -> Tensor:
        items = batch.items[:, -self.max_len :]  # [B, L]
        valid = items > 0  # [B, L]
        user = self.user_vectors(batch.users)  # [B, d_u]
        x = torch.cat(
            [
                self.item_emb(items) * math.sqrt(self.hidden),  # [B, L, d_i]
                user.unsqueeze(1).expand(-1, items.shape[1], -1),  # [B, L, d_u]
            ],
            dim=-1,
        ) + self.pos_emb(positions_from_end(valid))  # [B, L, d_i + d_u]
        x = self.emb_dropout(x)  # [B, L, d_i + d_u]
        f = self.encoder(x, valid, last_only=last_only)  # [B, L (1 with last_only), d_i + d_u]
        user_term = (f[..., self.hidden :] * user.unsqueeze(1)).sum(-1, keepdim=True)  # [B, L, 1]
        return torch.cat([f[..., : self.hidden], user_term], dim=-1)  # [B, L, d_i + 1]

    def item_table(self) -> Tensor:
        table = self.item_emb.table()  # [N + 1, d_i]
        return torch.cat([table, table.new_ones(table.shape[0], 1)], dim=1)  # [N + 1, d_i + 1]
