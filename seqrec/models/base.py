"""The model contract shared by every sequence model.

A model is pure tensor code over internal ids: it encodes left-padded histories into one state per
position, exposes the item table it scores against, and from those two the base class derives the
training loss, candidate scoring and whole-catalogue scoring. The objective (which positions carry a
loss) lives on the data side; the loss function is passed in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from seqrec.data.batch import SequenceBatch, TrainBatch
from seqrec.nn.embeddings import ItemEmbedding, TextItemEmbedding, UserEmbedding
from seqrec.nn.losses import SequenceLoss, Weight


class SequenceModel(nn.Module, ABC):
    """encode / training_loss / score_candidates / score_all."""

    num_items: int
    causal: bool = True
    """Whether the state at position t depends only on the inputs up to t (False: bidirectional)."""
    indexed_parameters: ClassVar[dict[str, str]] = {}
    """Plain parameters indexed by item or user id on dim 0 (tables are found by their module type)."""

    def vocab_indexed(self) -> dict[str, str]:
        """State-dict keys whose rows are indexed by ids: ``{key: "item" | "user" | "derived"}``.

        ``derived`` marks buffers computed from the catalogue's own data (text vectors). Transfer maps
        "item" / "user" rows across vocabularies and never copies "derived" ones.
        """
        out = dict(self.indexed_parameters)
        for name, module in self.named_modules():
            prefix = f"{name}." if name else ""
            if isinstance(module, ItemEmbedding | UserEmbedding):
                out[f"{prefix}weight"] = module.indexed_by
            elif isinstance(module, TextItemEmbedding):
                for buffer in module.derived_buffers:
                    out[f"{prefix}{buffer}"] = "derived"
        return out

    @abstractmethod
    def encode(self, batch: SequenceBatch) -> Tensor:
        """Per-position states ``[B, L, D]`` of left-padded histories ``batch.items [B, L]``."""

    @abstractmethod
    def item_table(self) -> Tensor:
        """Output item vectors ``[N + 1, D]`` (row 0 = padding, never recommended)."""

    def user_state(self, batch: SequenceBatch) -> Tensor:
        """The state that predicts the next item after each history: the last position, ``[B, D]``."""
        return self.encode(batch)[:, -1, :]

    def training_loss(self, batch: TrainBatch, loss: SequenceLoss, weight: Weight = 1.0) -> Tensor:
        """``loss`` on the encoded batch: ``weight`` times its mean over the batch's targets."""
        return loss(self.encode(batch), batch.targets, batch.negatives, self.item_table(), weight)

    def score_candidates(self, batch: SequenceBatch, candidates: Tensor) -> Tensor:
        """Scores ``[B, C]`` of candidate items ``[B, C]``."""
        state = self.user_state(batch)  # [B, D]
        return torch.einsum("bd,bcd->bc", state, self.item_table()[candidates])

    def score_all(self, batch: SequenceBatch) -> Tensor:
        """Scores ``[B, N + 1]`` of every item; column 0 (padding) is ``-inf``."""
        return self.score_states(self.user_state(batch), self.item_table())

    @staticmethod
    def score_states(
        states: Tensor, table: Tensor, *, item_major: bool = False, out: Tensor | None = None
    ) -> Tensor:
        """``score_all`` from precomputed ``user_state`` rows ``[B, D]`` and ``item_table()`` ``[N + 1, D]``,
        so that a caller scoring many users in blocks builds the table once.

        ``item_major``: the same scores as ``[N + 1, B]`` (``table @ states.T``), which BLAS computes about
        twice as fast on CPU when B is a small block; for passes that reduce over items (ranks).
        ``out``: a tensor of the result's shape and dtype to write into (a caller's reused block)."""
        if item_major:
            scores = torch.mm(table, states.T, out=out)  # [N + 1, B]
            scores[0] = float("-inf")
            return scores
        scores = torch.mm(states, table.T, out=out)  # [B, N + 1]
        scores[:, 0] = float("-inf")
        return scores
