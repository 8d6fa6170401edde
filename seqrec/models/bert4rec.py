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

Replaced-item detection (``rtd_weight`` = lambda > 0): ELECTRA's objective (Clark et al., ICLR 2020) as
Transformers4Rec trains it (Moreira et al., RecSys 2021: the generator tied to the discriminator, the
replacements drawn from the batch). For a window x_1..x_L whose masked set M carries the targets, the
cloze model above is the generator; at each t in M it draws a replacement from the batch's own masked
items P = (x_u)_{u in M}:

    x'_t ~ Categorical(softmax_u(g_t . e'_{x_u}))     t in M     (g_t: the state at t, e': E with b_O;
    x'_t = x_t                                        t not in M  the draw takes no gradient)
    d_t  = [x'_t != x_t]                                         (a draw of the true item is "original")
    D_t  = w_D . GELU(W_D Trm(x')_t + b_D) + b_D'                the same encoder on the corrupted
                                                                 window, unmasked; a two-layer head with
                                                                 ELECTRA's GELU
    L    = L_cloze + lambda * mean_{t real} BCE(D_t, d_t)

Inference is unchanged: the generator scores. Transformers4Rec's default lambda is 50; its paper tuned
it among 1-50.
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
        rtd_weight: float = 0.0,
    ) -> None:
        """``rtd_weight``: lambda of replaced-item detection (the module's note); 0 trains the cloze
        objective alone and builds no discriminator head."""
        super().__init__()
        if rtd_weight < 0:
            raise ValueError(f"rtd_weight must be at least 0, got {rtd_weight}")
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
        self.rtd_weight = rtd_weight
        self.discriminator: nn.Sequential | None = None
        if rtd_weight > 0:  # W_D, b_D; w_D, b_D' (registered last: the other weights draw as without it)
            self.discriminator = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
        bert_init(self)

    def encode(self, batch: SequenceBatch, last_only: bool = False, picks: Tensor | None = None) -> Tensor:
        """``[B, L, D + 1]`` states (a constant 1 appended for the output bias); ``last_only``: the last
        layer, the head and the result on the last position only, ``[B, 1, D + 1]``; ``picks`` (bool
        ``[B, L]``): those on the positions it marks only, ``[T, D + 1]`` in row-major order."""
        h = self._hidden(batch.items, last_only, picks)  # [B, L or 1, D] or [T, D]
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
        states = self.encode(batch, picks=picks)  # [T, D + 1]
        negatives = batch.negatives
        if negatives is not None:
            negatives = negatives[:, -self.max_len :][picks].unsqueeze(0)  # [1, T, K]
        table = self.item_table()
        value = loss(states.unsqueeze(0), targets[picks].unsqueeze(0), negatives, table, weight)
        if self.rtd_weight == 0:
            return value
        rtd = self.replaced_item_loss(batch.items[:, -self.max_len :], targets, states.detach(), table)
        return value + self.rtd_weight * rtd

    def _hidden(self, items: Tensor, last_only: bool = False, picks: Tensor | None = None) -> Tensor:
        """The encoder's output H^L for left-padded ``items``, before the head (``encode``'s arguments)."""
        items = items[:, -self.max_len :]  # [B, L]
        valid = items > 0  # [B, L]
        x = self.item_emb(items) + self.pos_emb(positions_from_end(valid))  # [B, L, D]
        x = self.emb_dropout(self.emb_norm(x))  # [B, L, D]
        return self.encoder(x, valid, last_only=last_only, picks=picks)

    def replaced_item_loss(self, items: Tensor, targets: Tensor, states: Tensor, table: Tensor) -> Tensor:
        """The discriminator's mean BCE over the real positions of the windows (the module's note):
        ``items`` / ``targets`` ``[B, L]`` as the cloze objective made them (targets > 0 on M), ``states``
        ``[T, D + 1]`` the generator's states on M in row-major order, ``table`` ``item_table()``."""
        if self.discriminator is None:
            raise ValueError("replaced-item detection needs a model built with rtd_weight > 0")
        picks = targets > 0  # M
        original = torch.where(picks, targets, items)  # the window before masking
        drawn = draw_from_pool(states, table, targets[picks])  # [T]
        corrupted = original.masked_scatter(picks, drawn)  # x'
        real = original > 0
        logit = self.discriminator(self._hidden(corrupted)[real]).squeeze(-1)  # [R]
        return F.binary_cross_entropy_with_logits(logit, (corrupted != original)[real].to(logit.dtype))

    def item_table(self) -> Tensor:
        items = self.item_emb.weight[: self.num_items + 1]  # [N + 1, D] (no mask token)
        return torch.cat([items, self.output_bias.unsqueeze(1)], dim=1)  # [N + 1, D + 1]

    def user_state(self, batch: SequenceBatch) -> Tensor:
        """Append [MASK] after each history and read the state there: ``[B, D + 1]``."""
        mask = torch.full_like(batch.items[:, :1], self.mask_token)  # [B, 1]
        items = torch.cat([batch.items, mask], dim=1)  # [B, L + 1]
        timestamps = torch.cat([batch.timestamps, batch.timestamps[:, -1:]], dim=1)  # [B, L + 1]
        return self.encode(SequenceBatch(items, batch.users, timestamps), last_only=True)[:, -1, :]


POOL_CELLS = 1 << 22
"""Generator scores formed at a time by ``draw_from_pool`` (rows x distinct items; 16 MB in float32)."""


@torch.no_grad()
def draw_from_pool(states: Tensor, table: Tensor, pool: Tensor) -> Tensor:
    """One draw per generator state ``states [T, D]``, from the softmax of its scores ``g_t . e'_{x_u}``
    over the entries of ``pool [P]`` (item ids: the batch's masked items, P = T in training; ``table``
    ``[N + 1, D]``: the scored item vectors). Item ``i`` comes with probability
    ``c_i exp(g_t . e'_i) / sum_j c_j exp(g_t . e'_j)``, ``c_i`` its count in the pool: the distribution over
    the pool's entries, formed over its U distinct items (``[T, U]`` scores instead of ``[T, T]``). Drawn by
    inverse transform, each row's cumulative softmax against one uniform number, ``POOL_CELLS`` scores at a
    time: on the 2-core CPU an order of magnitude faster than ``torch.multinomial`` or Gumbel-max over the
    same scores (a hand check). An empty pool draws nothing (``states`` must then be empty too)."""
    if len(pool) == 0:
        if len(states):
            raise ValueError(f"{len(states)} states to draw for from an empty pool")
        return pool.new_empty(0)
    items, counts = pool.unique(return_counts=True)  # [U]
    vectors, log_counts = table[items], counts.float().log()  # [U, D], [U]
    drawn = torch.empty(len(states), dtype=pool.dtype, device=pool.device)
    rows = max(1, POOL_CELLS // len(items))
    for r0 in range(0, len(states), rows):
        logits = (states[r0 : r0 + rows] @ vectors.T).float() + log_counts  # [r, U]
        cdf = torch.softmax(logits, dim=-1).cumsum_(dim=1)  # [r, U]
        u = torch.rand(len(cdf), 1, device=cdf.device) * cdf[:, -1:]  # uniform on [0, total)
        pick = torch.searchsorted(cdf, u, right=True).clamp_(max=len(items) - 1).squeeze(1)  # [r]
        drawn[r0 : r0 + rows] = items[pick]
    return drawn
