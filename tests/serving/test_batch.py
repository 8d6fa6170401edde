"""Batch recommendations: streamed Parquet equal to per-user calls, atomic output, the CLI command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from seqrec.cli import app
from seqrec.serving import Recommender
from seqrec.serving.batch import write_recommendations


@pytest.mark.parametrize("retrieval", ["model", "index"])
def test_batch_equals_per_user_calls(rec: Recommender, tmp_path: Path, retrieval: str) -> None:
    out = tmp_path / "recs.parquet"
    summary = write_recommendations(
        rec,
        out,
        k=7,
        chunk_size=25,
        titles=True,
        progress=False,
        retrieval=retrieval,  # type: ignore[arg-type]
    )
    users = rec.data.users.external.to_list()
    assert summary.users == len(users) and summary.chunks == 5  # 120 users in chunks of 25
    meta = pq.ParquetFile(out).metadata
    assert meta.num_row_groups == 5
    got = pl.read_parquet(out)
    assert got.columns == ["user", "rank", "item", "score", "title"]
    assert len(got) == summary.rows == 7 * len(users)
    # per-user calls (a test-side loop over users: the reference the batch must equal)
    each = pl.concat([rec.recommend(users=[u], k=7, retrieval=retrieval) for u in users])  # type: ignore[arg-type]
    assert got["user"].to_list() == each["user"].to_list()
    assert got["rank"].to_list() == each["rank"].to_list()
    assert got["item"].to_list() == each["item"].to_list()
    assert got["title"].to_list() == each["title"].to_list()
    np.testing.assert_allclose(got["score"].to_numpy(), each["score"].to_numpy(), rtol=1e-5, atol=1e-6)


def test_batch_for_chosen_users_without_seen_items(rec: Recommender, tmp_path: Path) -> None:
    out = tmp_path / "some.parquet"
    write_recommendations(rec, out, users=[7, 3], k=rec.data.num_items, progress=False)
    got = pl.read_parquet(out)
    assert got["user"].unique(maintain_order=True).to_list() == [7, 3]
    for user in (7, 3):
        row = int(rec.data.users.to_internal([user])[0]) - 1
        seen = set(rec.data.items.to_external(rec.data.sequences.row(row)).to_list())
        assert not seen & set(got.filter(pl.col("user") == user)["item"].to_list())


def test_failed_batch_leaves_no_file(
    rec: Recommender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "recs.parquet"
    out.write_bytes(b"previous")
    calls = {"n": 0}
    original = rec.rank

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return original(*args, **kwargs)

    monkeypatch.setattr(rec, "rank", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_recommendations(rec, out, k=5, chunk_size=50, progress=False)
    assert out.read_bytes() == b"previous"  # the old file, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["recs.parquet"]  # no temporary left behind


def test_recommend_batch_command(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.parquet"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["recommend-batch", str(run_dir), "--users", "all", "--k", "5", "--out", str(out), "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert "600 recommendations for 120 users" in result.output
    assert pl.read_parquet(out).shape == (600, 4)
    result = runner.invoke(
        app, ["recommend-batch", str(run_dir), "--users", "3,999999", "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 2
    assert "999999" in result.output


@pytest.mark.parametrize("filter_seen", [False, True])
def test_item_blocks_recommend_the_lists_of_whole_rows(
    plain: Recommender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filter_seen: bool
) -> None:
    """A catalogue scored 16 items at a time (blocks of 16, 16, 16, 13 of its 61 rows) recommends what
    whole rows do: the same items and scores, also with excluded items and in a batch file."""
    from seqrec.evaluation import ranking

    users = plain.data.users.external.to_list()
    options = {"k": 12, "filter_seen": filter_seen, "exclude": [5, 17, 33, 60]}
    whole = plain.recommend(users=users, **options)  # type: ignore[arg-type]
    assert not plain.scores_in_item_blocks
    monkeypatch.setattr(ranking, "SCORE_ITEMS", 16)
    assert plain.scores_in_item_blocks
    blocks = plain.recommend(users=users, **options)  # type: ignore[arg-type]
    assert blocks.equals(whole)
    out = tmp_path / "blocks.parquet"
    summary = write_recommendations(plain, out, progress=False, **options)  # type: ignore[arg-type]
    assert summary.chunks == 1  # ITEM_BLOCK_CHUNK users at a time
    assert pl.read_parquet(out).equals(whole.select("user", "rank", "item", "score"))


def test_default_chunks() -> None:
    """Whole rows of a million items: 16 users in 64 MiB; item blocks: ``ITEM_BLOCK_CHUNK`` users."""
    from seqrec.serving.batch import ITEM_BLOCK_CHUNK, default_chunk_size

    assert default_chunk_size(10**6) == 16
    assert default_chunk_size(10**6, item_blocks=True) == ITEM_BLOCK_CHUNK
