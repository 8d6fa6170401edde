import math

import numpy as np
import pytest

from seqrec.evaluation.metrics import coverage, metrics_from_ranks


def test_metrics_hand_computed() -> None:
    # ranks (0-based) of the held-out item for four users
    ranks = np.array([0, 2, 9, 10])
    m = metrics_from_ranks(ranks, ks=[1, 3, 10])
    assert m["HR@1"] == pytest.approx(1 / 4)
    assert m["HR@3"] == pytest.approx(2 / 4)
    assert m["HR@10"] == pytest.approx(3 / 4)
    assert m["Recall@10"] == m["HR@10"]
    assert m["NDCG@1"] == pytest.approx(1 / 4)
    assert m["NDCG@3"] == pytest.approx((1 + 1 / math.log2(4)) / 4)
    assert m["NDCG@10"] == pytest.approx((1 + 1 / 2 + 1 / math.log2(11)) / 4)
    assert m["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 10 + 1 / 11) / 4)


def test_metrics_empty_is_error() -> None:
    with pytest.raises(ValueError, match="no users"):
        metrics_from_ranks(np.array([]), ks=[10])


def test_coverage_ignores_padding_column() -> None:
    covered = np.array([True, True, False, True, False])  # id 0 is padding
    assert coverage(covered, num_items=4) == pytest.approx(2 / 4)
