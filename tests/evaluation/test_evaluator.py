"""The evaluator's ranks equal the ranks read off recommend()'s lists, and ties are not rewarded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from seqrec import SeqRec
from seqrec.evaluation.evaluator import evaluate
from seqrec.evaluation.metrics import metrics_from_ranks
from seqrec.evaluation.ranking import count_dtype, pessimistic_rank


@pytest.fixture
def trained(dataset, quiet) -> SeqRec:
    model = SeqRec(
        model={"name": "sasrec", "max_len": 10, "hidden": 16, "dropout": 0.1},
        training={"epochs": 3, "loss": "ce", "eval_every": 3},
        evaluation={"ks": [1, 5, 10]},
        runtime=quiet,
    )
    return model.fit(dataset)


@pytest.mark.parametrize("filter_seen", [True, False])
def test_evaluator_matches_recommend(trained: SeqRec, filter_seen: bool) -> None:
    data = trained.data
    assert data is not None
    cfg = trained.config.evaluation.model_copy(update={"filter_seen": filter_seen})
    record = evaluate(trained.model, data, cfg, part="test", protocol="full", max_len=10)  # type: ignore[arg-type]

    rows = np.flatnonzero(data.split.test_pos >= 0)
    seqs = data.sequences
    histories = {}
    targets = {}
    for r in rows:  # test-side bookkeeping only: the library call below is batched
        row = seqs.row(r)
        pos = data.split.test_pos[r]
        user = data.users.to_external([r + 1])[0]
        histories[user] = data.items.to_external(row[:pos]).to_list()
        targets[user] = data.items.to_external([row[pos]])[0]
    k = 10
    recs = trained.recommend(histories=histories, k=k, filter_seen=filter_seen)
    ranks = []
    for user, target in targets.items():
        items = recs.filter(recs["user"] == user)["item"].to_list()
        ranks.append(items.index(target) if target in items else k)
    expected = metrics_from_ranks(np.array(ranks), ks=[1, 5, 10])
    for key in ("HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10"):
        assert record[key] == pytest.approx(expected[key]), key
    assert record["filter_seen"] is filter_seen


def test_sampled_protocol_record(trained: SeqRec) -> None:
    record = trained.evaluate("test", "sampled")
    assert record["protocol"] == "sampled"
    assert record["num_negatives"] == 100
    assert record["sampler"] == "uniform"
    assert 0.0 <= record["NDCG@10"] <= record["HR@10"] <= 1.0
    again = trained.evaluate("test", "sampled")
    assert again["NDCG@10"] == record["NDCG@10"]  # fixed evaluation seed


def test_ties_count_against_the_model() -> None:
    scores = torch.zeros(2, 5)
    ranks = pessimistic_rank(scores, scores[:, 1])
    assert ranks.tolist() == [4, 4]


@pytest.mark.parametrize("item_dim", [0, 1])
def test_rank_counts_as_integers_would(item_dim: int) -> None:
    """The float count equals the integer count of higher-or-tied items (less the target)."""
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(-3, 4, (7, 301), generator=gen).float()  # many ties
    targets = torch.randint(1, 301, (7,), generator=gen)
    target_scores = scores.gather(1, targets[:, None]).squeeze(1)
    expected = (scores >= target_scores[:, None]).long().sum(1) - 1
    laid_out = scores if item_dim == 1 else scores.T.contiguous()
    flags = torch.empty(laid_out.shape, dtype=count_dtype(301))
    assert pessimistic_rank(laid_out, target_scores, item_dim, flags).tolist() == expected.tolist()
    assert pessimistic_rank(laid_out, target_scores, item_dim).tolist() == expected.tolist()
    with pytest.raises(ValueError, match=r"flags must be torch\.float32"):
        pessimistic_rank(laid_out, target_scores, item_dim, flags.bool())


@pytest.mark.parametrize("coverage", [True, False])
def test_batching_does_not_change_the_metrics(
    trained: SeqRec, monkeypatch: pytest.MonkeyPatch, coverage: bool
) -> None:
    """Users are evaluated in length order, in batches and score blocks (one reused buffer, viewed
    shorter for the last block; user-major with coverage, item-major without): none of that shows in the
    record."""
    from seqrec.evaluation import evaluator

    data = trained.data
    assert data is not None
    update = {"batch_size": 4096, "filter_seen": True, "coverage": coverage}
    one = trained.config.evaluation.model_copy(update=update)
    whole = evaluate(trained.model, data, one, part="test", max_len=10)  # type: ignore[arg-type]
    monkeypatch.setattr(evaluator, "SCORE_ROWS", 3)
    small = one.model_copy(update={"batch_size": 7})
    parts = evaluate(trained.model, data, small, part="test", max_len=10)  # type: ignore[arg-type]
    for key, value in whole.items():
        assert parts[key] == pytest.approx(value), key


@pytest.mark.parametrize("filter_seen", [False, True])
def test_item_major_scores_give_the_same_ranks(trained: SeqRec, filter_seen: bool) -> None:
    """Without coverage the blocks are scored item-major (``[N + 1, b]``); every rank metric is unchanged
    and no Coverage@K is reported."""
    data = trained.data
    assert data is not None
    cfg = trained.config.evaluation.model_copy(update={"filter_seen": filter_seen})
    with_cov = evaluate(trained.model, data, cfg, part="test", max_len=10)  # type: ignore[arg-type]
    no_cov = cfg.model_copy(update={"coverage": False})
    without = evaluate(trained.model, data, no_cov, part="test", max_len=10)  # type: ignore[arg-type]
    assert set(with_cov) - set(without) == {f"Coverage@{k}" for k in cfg.ks}
    for key, value in without.items():
        assert with_cov[key] == pytest.approx(value), key
    assert 0 < without["MRR"] < 1


@pytest.mark.parametrize("coverage", [True, False])
@pytest.mark.parametrize("filter_seen", [False, True])
def test_item_blocks_give_the_same_record(
    trained: SeqRec, monkeypatch: pytest.MonkeyPatch, coverage: bool, filter_seen: bool
) -> None:
    """A catalogue scored 16 items at a time (blocks of 55 users, the last 10 in one piece) gives the
    record of whole rows: the same ranks, the same top-K coverage."""
    from seqrec.evaluation import evaluator, ranking

    data = trained.data
    assert data is not None
    cfg = trained.config.evaluation.model_copy(update={"filter_seen": filter_seen, "coverage": coverage})
    whole = evaluate(trained.model, data, cfg, part="test", max_len=10)  # type: ignore[arg-type]
    monkeypatch.setattr(ranking, "SCORE_ITEMS", 16)  # 61 rows: blocks of 16, 16, 16, 13
    monkeypatch.setattr(evaluator, "SCORE_ROWS", 55)  # 120 users: 55, 55 in item blocks, 10 whole
    blocks = evaluate(trained.model, data, cfg, part="test", max_len=10)  # type: ignore[arg-type]
    assert blocks == whole


def _random_ranking(seed: int, users: int, num: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(num, 32, generator=g)  # [N + 1, D]
    table[9] = table[4]  # two items with the same vector: exact ties
    states = torch.randn(users, 32, generator=g)
    targets = torch.randint(1, num, (users,), generator=g)
    targets[0] = 4
    seen = torch.randint(0, num, (users, 30), generator=g)  # 0: padding
    seen[:, :3] = 0
    seen[1, 5] = targets[1]  # a target among the seen items: ranked last
    return table, states, targets, seen


@pytest.mark.parametrize("users", [16, 37, 256])
@pytest.mark.parametrize("cols", [16, 100, 1000])
@pytest.mark.parametrize("item_major", [True, False])
@pytest.mark.parametrize("filter_seen", [False, True])
def test_ranks_in_item_blocks_equal_whole_rows(
    users: int, cols: int, item_major: bool, filter_seen: bool, device: torch.device
) -> None:
    from seqrec.evaluation.ranking import mask_items, ranks_in_item_blocks

    table, states, targets, seen = (t.to(device) for t in _random_ranking(users + cols, users, 2001))
    scores = states @ table.T  # [b, N + 1]
    scores[:, 0] = float("-inf")
    if filter_seen:
        mask_items(scores, seen)
    expected = pessimistic_rank(scores, scores.gather(1, targets[:, None])[:, 0])
    top_k = 0 if item_major else 10
    ranks, top = ranks_in_item_blocks(
        states, table, targets, seen if filter_seen else None, top_k, item_major, cols=cols
    )
    assert torch.equal(ranks, expected)
    if filter_seen:
        assert ranks[1] == 2000  # every other item scores at least -inf
    if top_k:
        assert top is not None
        # a top K of the whole rows (items 4 and 9 tie: either may take the last place)
        assert torch.equal(scores.gather(1, top).sort(1).values, scores.topk(10, 1).values.sort(1).values)
        assert all(len(set(row)) == 10 for row in top.tolist())


@pytest.mark.parametrize("users", [16, 37, 256])
@pytest.mark.parametrize("cols", [16, 100])
@pytest.mark.parametrize("item_major", [True, False])
def test_target_scores_formed_like_each_blocks_shape_give_the_same_ranks(
    monkeypatch: pytest.MonkeyPatch, users: int, cols: int, item_major: bool
) -> None:
    """The targets' scores from products shaped like the blocks (as on a GPU): on the CPU the same
    values as the ``[b, b]`` diagonal, the same ranks as whole rows, the tie of items 4 and 9 included."""
    from seqrec.evaluation import ranking

    table, states, targets, seen = _random_ranking(users + cols + 1, users, 2001)
    widths = {b1 - b0 for b0, b1 in ranking.item_block_bounds(2001, cols)}
    diagonal = ranking.target_scores_like_blocks(states, table, targets, widths, item_major)
    expected, _ = ranking.ranks_in_item_blocks(states, table, targets, seen, item_major=item_major, cols=cols)
    monkeypatch.setattr(ranking, "SHAPE_FREE_SUMS", ())
    shaped = ranking.target_scores_like_blocks(states, table, targets, widths, item_major)
    assert len(widths) == 2 and diagonal.keys() == shaped.keys()
    for width in widths:
        assert torch.equal(shaped[width], diagonal[width])
    got, _ = ranking.ranks_in_item_blocks(states, table, targets, seen, item_major=item_major, cols=cols)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("item_major", [True, False])
def test_item_block_ranks_leave_out_the_targets_own_cell(
    monkeypatch: pytest.MonkeyPatch, item_major: bool
) -> None:
    """A BLAS may give a target's cell of its block one ulp below (or above) the target's own score from
    the ``[b, b]`` product: the rank is the same (not one better, as an assumed tie with itself gives)."""
    from seqrec.evaluation import ranking

    table, states, targets, _ = _random_ranking(3, 32, 2001)
    exact, _ = ranking.ranks_in_item_blocks(states, table, targets, None, item_major=item_major, cols=100)
    blocks = ranking.item_block_scores

    def nudged(*args: Any) -> Iterator[tuple[int, torch.Tensor]]:
        for b0, scores in blocks(*args):
            rows_first = scores.T if item_major else scores  # [b, M]
            rows = ((targets >= b0) & (targets < b0 + rows_first.shape[1])).nonzero()[:, 0]
            cells = rows_first[rows, targets[rows] - b0]
            direction = torch.where(rows % 2 == 0, float("-inf"), float("inf"))
            rows_first[rows, targets[rows] - b0] = torch.nextafter(cells, direction)
            yield b0, scores

    monkeypatch.setattr(ranking, "item_block_scores", nudged)
    got, _ = ranking.ranks_in_item_blocks(states, table, targets, None, item_major=item_major, cols=100)
    assert torch.equal(got, exact)


def test_item_blocks_need_sixteen_users_and_items() -> None:
    from seqrec.evaluation.ranking import ranks_in_item_blocks

    table, states, targets, _ = _random_ranking(0, 15, 100)
    with pytest.raises(ValueError, match="at least 16"):
        ranks_in_item_blocks(states, table, targets, None, cols=64)


@pytest.mark.parametrize("users", [16, 37])
@pytest.mark.parametrize("cols", [16, 100, 1000])
@pytest.mark.parametrize("filter_seen", [False, True])
def test_top_k_in_item_blocks_equals_whole_rows(
    users: int, cols: int, filter_seen: bool, device: torch.device
) -> None:
    """The recommender's top K over item blocks: the scores of the whole rows' top K, items too (ties
    aside), with seen items and forbidden ones removed."""
    from seqrec.evaluation.ranking import mask_items, top_k_in_item_blocks

    table, states, _, seen = (t.to(device) for t in _random_ranking(users * cols, users, 2001))
    allowed = torch.ones(2001, dtype=torch.bool, device=device)
    allowed[torch.arange(0, 2001, 7)] = False  # every 7th item forbidden
    scores = states @ table.T  # [b, N + 1]
    scores[:, 0] = float("-inf")
    if filter_seen:
        mask_items(scores, seen)
    scores.masked_fill_(~allowed, float("-inf"))
    expected = scores.topk(50, dim=1)
    values, items = top_k_in_item_blocks(states, table, seen if filter_seen else None, 50, allowed, cols=cols)
    assert torch.equal(values, expected.values)
    assert torch.equal(scores.gather(1, items), values)  # each item carries its score
    assert not (~allowed[items]).any()
    assert all(len(set(row)) == 50 for row in items.tolist())
    if filter_seen:
        assert not (items[:, :, None] == seen[:, None, :]).any()
