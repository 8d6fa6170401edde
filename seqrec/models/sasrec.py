"""SASRec: Self-Attentive Sequential Recommendation (Kang & McAuley, ICDM 2018).

For a history s_1..s_n (left-padded to L), with item table M (shared by input and output) and learned
positional table P:

    E_t  = M[s_t] * sqrt(d) + P[pos_t]        pos_t counts from the end (last item = 1, padding = 0)
    X    = Dropout(E)
    F    = SASRecEncoder(X) * m               b blocks of causal self-attention + feed-forward, final LN;
                                              m = 1 on real items, 0 on padding
    r_{t,i} = F_t . M[i]                      relevance of item i as the (t+1)-th item

Counting positions from the end is the authors' indexing (their last item always sits at index
maxlen - 1) written so that a batch padded to any width gives the same states: padding invariance.
The authors also zero the padding of X and of every block's output; the encoder zeroes it once, at its
output, which gives real positions the same states (``seqrec.nn.attention``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqrec.data.batch import SequenceBatch
from seqrec.models.base import SequenceModel
from seqrec.nn.attention import SASRecEncoder, positions_from_end
from seqrec.nn.dropout import Dropout
from seqrec.nn.embeddings import Embedding, ItemTable, item_table_or_ids
from seqrec.nn.init import reset_text_tables

__all__ = ["SASRec", "positions_from_end"]


class SASRec(SequenceModel):
    def __init__(
        self,
        num_items: int,
        *,
        max_len: int,
        hidden: int,
        blocks: int,
        heads: int,
        dropout: float,
        ff_hidden: int | None = None,
        item_embedding: ItemTable | None = None,
    ) -> None:
        """``item_embedding``: an item table to use instead of an id table (e.g. text-based)."""
        super().__init__()
        self.num_items = num_items
        self.max_len = max_len
        self.hidden = hidden
        self.item_emb = item_table_or_ids(item_embedding, num_items + 1, hidden)
        self.pos_emb = Embedding(max_len + 1, hidden, padding_idx=0)
        self.emb_dropout = Dropout(dropout)
        self.encoder = SASRecEncoder(hidden, blocks, heads, dropout, ff_hidden or hidden, causal=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if isinstance(self.item_emb, nn.Embedding):
            nn.init.xavier_normal_(self.item_emb.weight)
            with torch.no_grad():
                self.item_emb.weight[0].zero_()
        nn.init.xavier_normal_(self.pos_emb.weight)
        with torch.no_grad():
            self.pos_emb.weight[0].zero_()
        reset_text_tables(self)

    def embed(self, batch: SequenceBatch) -> tuple[Tensor, Tensor]:
        items = batch.items[:, -self.max_len :]  # [B, L]
        valid = items > 0  # [B, L]
        x = self.item_emb(items) * math.sqrt(self.hidden) + self.pos_emb(
            positions_from_end(valid)
        )  # [B, L, D]
        x = self.emb_dropout(x)  # [B, L, D]
        return x, valid

    def encode(self, batch: SequenceBatch) -> Tensor:
        x, valid = self.embed(batch)
        return self.encoder(x, valid)  # [B, L, D]

    def user_state(self, batch: SequenceBatch) -> Tensor:
        x, valid = self.embed(batch)
        return self.encoder(x, valid, last_only=True)[:, -1, :]  # [B, D]: the last block on one position

    def item_table(self) -> Tensor:
        return self.item_emb.table()  # [N + 1, D]
