"""``training.logq_correction``: the sampled softmax corrected for popularity-drawn negatives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from seqrec import RuntimeOptions, SequenceDataset
from seqrec.config import ConfigError, build_config
from seqrec.data.negatives import NegativeSampler
from seqrec.data.sequences import Sequences
from seqrec.models import build_model
from seqrec.nn.losses import SampledSoftmax, make_loss
from seqrec.training.trainer import Trainer


def test_the_samplers_log_probabilities_are_its_draw_frequencies(dataset: SequenceDataset) -> None:
    seqs, n = dataset.sequences, dataset.num_items
    popular = NegativeSampler(seqs, n, kind="popularity")
    log_q = popular.log_probabilities()
    assert log_q.shape == (n + 1,) and log_q[0] == 0.0
    assert np.exp(log_q[1:]).sum() == pytest.approx(1.0)
    draws = np.bincount(popular._draw(200_000, np.random.default_rng(0)), minlength=n + 1)[1:]
    np.testing.assert_allclose(draws / draws.sum(), np.exp(log_q[1:]), atol=3e-3)
    counts = np.bincount(seqs.items, minlength=n + 1)[1:]
    assert np.argmax(log_q[1:]) == np.argmax(counts)
    uniform = NegativeSampler(seqs, n).log_probabilities()
    np.testing.assert_allclose(uniform[1:], -np.log(n))


def test_an_item_without_training_interactions_is_never_drawn() -> None:
    seqs = Sequences(np.array([0, 3, 5]), np.array([1, 1, 2, 3, 4]), np.zeros(5, dtype=np.int64))
    sampler = NegativeSampler(seqs, 4, limit=np.array([3, 1]), kind="popularity")  # item 4: valid / test
    np.testing.assert_allclose(np.exp(sampler.log_probabilities()), [1.0, 2 / 4, 1 / 4, 1 / 4, 0.0])
    assert 4 not in sampler._draw(10_000, np.random.default_rng(0))


def _scores_gradient(loss: SampledSoftmax, scores: torch.Tensor, target: int, negatives: torch.Tensor):
    """The mean over the rows of ``negatives [R, K]`` of the loss's gradient with respect to the items'
    scores ``[N]`` (item i at column i - 1): each row is one draw of negatives for the same state."""
    rows, n = negatives.shape[0], scores.shape[0]
    h = scores.expand(rows, n).clone().requires_grad_(True)  # h . e_i = scores[i - 1]
    table = torch.cat([torch.zeros(1, n), torch.eye(n)])  # [N + 1, N]
    targets = torch.full((1, rows), target)
    loss(h.unsqueeze(0), targets, negatives.unsqueeze(0), table).backward()
    assert h.grad is not None
    return h.grad.sum(0)  # the loss is the mean over the rows


@pytest.mark.parametrize("draws", ["popularity", "uniform"])
@pytest.mark.parametrize("target", [7, 35])
def test_corrected_sampled_softmax_estimates_the_full_softmax_gradient(draws: str, target: int) -> None:
    """Over many draws of 10 negatives among 40 items, the corrected loss's mean gradient is close to the
    full softmax's, p - onehot(target), for a rarely drawn target (7) and an often drawn one (35). Without
    the correction it is further off: about 3x with popularity draws (popular items get too much of the
    gradient), a little with uniform ones (the K negatives stand for the whole catalogue)."""
    torch.manual_seed(0)
    n, k, rows = 40, 10, 20_000
    q = torch.linspace(1.0, 20.0, n) ** 2 if draws == "popularity" else torch.ones(n)
    q /= q.sum()
    scores = torch.randn(n)
    negatives = torch.multinomial(q, rows * k, replacement=True).view(rows, k) + 1  # item ids 1..N
    full = torch.softmax(scores, 0) - torch.nn.functional.one_hot(torch.tensor(target - 1), n)
    log_q = torch.cat([torch.zeros(1), q.log()])
    corrected = _scores_gradient(SampledSoftmax(log_q=log_q), scores, target, negatives)
    plain = _scores_gradient(SampledSoftmax(), scores, target, negatives)
    error = [float((g - full).norm() / full.norm()) for g in (corrected, plain)]
    assert error[0] < 0.08 and error[1] > (2.0 if draws == "popularity" else 1.0) * error[0]


def test_the_correction_follows_its_equation() -> None:
    """loss = -log(exp s(t) / (exp s(t) + sum_j exp(s(j) - log(K q(j))))), accidental hits left out."""
    torch.manual_seed(0)
    hidden, table = torch.randn(2, 5, 8), torch.randn(31, 8)
    targets, negatives = torch.randint(1, 31, (2, 5)), torch.randint(1, 31, (2, 5, 6))
    negatives[0, 0, 0] = targets[0, 0]  # an accidental hit
    log_q = torch.log_softmax(torch.randn(31), 0)
    h, t, neg = hidden.reshape(10, 8), targets.reshape(10), negatives.reshape(10, 6)
    s_t = (h * table[t]).sum(-1)  # [T]
    s_j = torch.einsum("td,tkd->tk", h, table[neg]) - (log_q[neg] + np.log(6))  # [T, K]
    s_j = s_j.masked_fill(neg == t[:, None], float("-inf"))
    expected = -(s_t - torch.logsumexp(torch.cat([s_t[:, None], s_j], 1), 1)).mean()
    torch.testing.assert_close(SampledSoftmax(log_q=log_q)(hidden, targets, negatives, table), expected)


@pytest.mark.parametrize(
    "training",
    [
        {"loss": "bce", "negative_sampler": "popularity"},
        {"loss": "gbce"},
        {"loss": "ce"},
    ],
)
def test_the_correction_without_the_sampled_softmax_is_a_config_error(training: dict) -> None:
    with pytest.raises(ConfigError, match="logq_correction corrects the sampled softmax"):
        build_config({"data": {}, "training": {**training, "logq_correction": True}})
    with pytest.raises(ValueError, match="the logQ correction is for the sampled softmax"):
        make_loss("bce", num_items=4, num_negatives=1, log_q=torch.zeros(5))


def _sasrec_trainer(dataset: SequenceDataset, runtime: RuntimeOptions, training: dict[str, Any]) -> Trainer:
    cfg = build_config(
        {
            "data": {},
            "model": {"name": "sasrec", "max_len": 12, "hidden": 16, "blocks": 1},
            "training": {"num_negatives": 8, "batch_size": 8, **training},
        }
    )
    return Trainer(build_model(cfg.model, dataset.num_items, dataset.num_users), dataset, cfg, runtime)


def test_the_trainer_corrects_the_sampled_softmax_by_default(
    dataset: SequenceDataset, quiet: RuntimeOptions
) -> None:
    """On by default for the sampled softmax, with the sampler's log q(i) per item for popularity draws
    and one number, -log N, for uniform ones; off where set so, and for the other losses."""
    popular = _sasrec_trainer(dataset, quiet, {"loss": "sampled_softmax", "negative_sampler": "popularity"})
    assert isinstance(popular.loss, SampledSoftmax) and isinstance(popular.loss.log_q, torch.Tensor)
    sampler = NegativeSampler(
        dataset.sequences, dataset.num_items, limit=dataset.split.train_end, kind="popularity"
    )
    expected = torch.from_numpy(sampler.log_probabilities()).float()
    torch.testing.assert_close(popular.loss.log_q, expected)
    assert np.isfinite(popular.train_epoch(1)["loss"])
    uniform = _sasrec_trainer(dataset, quiet, {"loss": "sampled_softmax"})
    assert isinstance(uniform.loss, SampledSoftmax)
    assert uniform.loss.log_q == pytest.approx(-np.log(dataset.num_items))
    assert np.isfinite(uniform.train_epoch(1)["loss"])
    off = _sasrec_trainer(dataset, quiet, {"loss": "sampled_softmax", "logq_correction": False})
    assert isinstance(off.loss, SampledSoftmax) and off.loss.log_q is None
    assert not build_config({"data": {}, "training": {"loss": "bce"}}).training.corrects_logq


def test_one_number_for_every_item_is_the_uniform_tables_correction() -> None:
    torch.manual_seed(0)
    hidden, table = torch.randn(2, 5, 8), torch.randn(31, 8)
    targets, negatives = torch.randint(1, 31, (2, 5)), torch.randint(1, 31, (2, 5, 6))
    log_q = -float(np.log(30))
    torch.testing.assert_close(
        SampledSoftmax(log_q=log_q)(hidden, targets, negatives, table),
        SampledSoftmax(log_q=torch.full((31,), log_q))(hidden, targets, negatives, table),
    )
