"""BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations from Transformer
(Sun et al., CIKM 2019).

Ids: items 1..N, padding 0, the mask token N + 1 (an input only: never scored or recommended).
For a left-padded input s_1..s_L in which the objective (``seqrec.data.objectives.MaskedItem``) has
replaced some items by [MASK]:

    H^0  = Dropout(LN(E[s_t] + P[pos_t]))        pos_t counts from the end (padding 0); LN + dropout on
                                                 the embeddings as in the authors' BERT code
    H^l  = Trm(H^{l-1})                          post-LN bidirectional layers (``seqrec.nn.bert``);
                                                 H^L * m: padding zeroed once, at the output
    P(v | t) = softmax(LN(GELU(H^L_t W_P + b_P)) E^T + b_O)  E shared with the input, b_O an item bias

The paper's equation 7 writes the output layer without a layer norm; the authors' code (Google BERT's
masked-LM head, ``get_masked_lm_output``) and RecBole's BERT4Rec normalise the transformed state before
the dot product with E, and so does this model (``head_norm``). The output bias enters through the model
contract's dot product: ``encode`` returns ``[LN(GELU(H W_P + b_P)); 1]`` and ``item_table`` returns
``[E; b_O]`` (rows 0..N), so every loss and scorer computes ``h E^T + b_O`` unchanged. Inference appends
[MASK] after the history (dropping the oldest item when the history already fills ``max_len``) and
scores the mask position. Training computes the last layer and the head at the positions with a target
only (``training_loss``): the same loss and gradients as at every position, with less work.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.data.batch import SequenceBatch, TrainBatch
from seqrec.models.base import SequenceModel
from seqrec.nn.attention import positions_from_end
from seqrec.nn.bert import BertEncoder
from seqrec.nn.dropout import Dropout
from seqrec.nn.embeddings import Embedding, ItemEmbedding
from seqrec.nn.init import bert_init
from seqrec.nn.losses import SequenceLoss, Weight


class BERT4Rec(SequenceModel):
    causal = False
    indexed_parameters: ClassVar[dict[str, str]] = {"output_bias": "item"}  # b_O: one entry per item

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
    ) -> None:
        super().__init__()
        self.num_items = num_items
        self.mask_token = num_items + 1
        self.max_len = max_len
        self.item_emb = ItemEmbedding(num_items + 2, hidden, padding_idx=0)  # last row: [MASK]
        self.pos_emb = Embedding(max_len + 1, hidden, padding_idx=0)
        self.emb_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.emb_dropout = Dropout(dropout)
        self.encoder = BertEncoder(hidden, blocks, heads, dropout, ff_hidden or 4 * hidden)
        self.head = nn.Linear(hidden, hidden)  # W_P, b_P
        self.head_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.output_bias = nn.Parameter(torch.zeros(num_items + 1))  # b_O
        bert_init(self)

    def encode(self, batch: SequenceBatch, last_only: bool = False, picks: Tensor | None = None) -> Tensor:
        """``[B, L, D + 1]`` states (a constant 1 appended for the output bias); ``last_only``: the last
        layer, the head and the result on the last position only, ``[B, 1, D + 1]``; ``picks`` (bool
        ``[B, L]``): those on the positions it marks only, ``[T, D + 1]`` in row-major order."""
        items = batch.items[:, -self.max_len :]  # [B, L]
        valid = items > 0  # [B, L]
        x = self.item_emb(items) + self.pos_emb(positions_from_end(valid))  # [B, L, D]
        x = self.emb_dropout(self.emb_norm(x))  # [B, L, D]
        h = self.encoder(x, valid, last_only=last_only, picks=picks)  # [B, L or 1, D] or [T, D]
        h = self.head_norm(F.gelu(self.head(h)))
        return torch.cat([h, h.new_ones(*h.shape[:-1], 1)], dim=-1)  # [..., D + 1]

    def training_loss(self, batch: TrainBatch, loss: SequenceLoss, weight: Weight = 1.0) -> Tensor:
        """The contract's loss (``SequenceModel.training_loss``) with only the positions that have a target
        through the last layer and the head: the states elsewhere reach no loss, and the last layer's keys
        and values still come from every position. The same loss and gradients for about T / (B L) of the
        last layer's position-wise work (about 15% at the default ``mask_prob``; 10% in the ML-1M head
        comparison's batches, where half the windows mask only their last item). Inside a CUDA-graph
        capture, whose shapes must not depend on the data, every position."""
        if batch.items.is_cuda and torch.cuda.is_current_stream_capturing():
            return super().training_loss(batch, loss, weight)
        targets = batch.targets[:, -self.max_len :]  # [B, L]
        picks = targets > 0  # [B, L]
        states = self.encode(batch, picks=picks).unsqueeze(0)  # [1, T, D + 1]
        negatives = batch.negatives
        if negatives is not None:
            negatives = negatives[:, -self.max_len :][picks].unsqueeze(0)  # [1, T, K]
        return loss(states, targets[picks].unsqueeze(0), negatives, self.item_table(), weight)

    def item_table(self) -> Tensor:
        items = self.item_emb.weight[: self.num_items + 1]  # [N + 1, D] (no mask token)
        return torch.cat([items, self.output_bias.unsqueeze(1)], dim=1)  # [N + 1, D + 1]

    def user_state(self, batch: SequenceBatch) -> Tensor:
        """Append [MASK] after each history and read the state there: ``[B, D + 1]``."""
        mask = torch.full_like(batch.items[:, :1], self.mask_token)  # [B, 1]
        items = torch.cat([batch.items, mask], dim=1)  # [B, L + 1]
        timestamps = torch.cat([batch.timestamps, batch.timestamps[:, -1:]], dim=1)  # [B, L + 1]
        return self.encode(SequenceBatch(items, batch.users, timestamps), last_only=True)[:, -1, :]
