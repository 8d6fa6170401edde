"""``user_state`` (which may compute the last block on the last position only) equals the last row of
``encode`` for every registered model."""

from __future__ import annotations

import pytest
import torch

from seqrec import SequenceDataset
from seqrec.data.batch import SequenceBatch
from seqrec.models import BUILDERS
from seqrec.runtime import RuntimeOptions
from tests.transfer.test_transfer import trained


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_user_state_is_the_last_encoded_position(
    name: str, dataset: SequenceDataset, quiet: RuntimeOptions
) -> None:
    model = trained(name, dataset, quiet).model
    assert model is not None
    model.eval()
    items = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 9, 10]])
    batch = SequenceBatch(items, torch.tensor([1, 2, 3]), torch.arange(6).repeat(3, 1) * 1000)
    with torch.no_grad():
        if model.causal:
            torch.testing.assert_close(model.user_state(batch), model.encode(batch)[:, -1, :])
        else:  # BERT4Rec reads its state at an appended [MASK]
            masked = torch.cat([items, torch.full_like(items[:, :1], dataset.num_items + 1)], dim=1)
            ts = torch.cat([batch.timestamps, batch.timestamps[:, -1:]], dim=1)
            full = model.encode(SequenceBatch(masked, batch.users, ts))[:, -1, :]
            torch.testing.assert_close(model.user_state(batch), full)
        scores = model.score_all(batch)
    assert scores.shape == (3, dataset.num_items + 1)
