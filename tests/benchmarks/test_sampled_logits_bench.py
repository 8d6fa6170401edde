"""``benchmarks.sampled_logits``: every way is timed on every case, and the chunks' gradients match."""

from __future__ import annotations

from benchmarks.sampled_logits import CHUNK_MIB, time_cases


def test_every_way_is_timed_and_the_chunks_agree_with_the_gathered_rows() -> None:
    records = time_cases(repeats=1, cases=[(2, 30), (20, 30)], targets=7, width=4)
    assert [(r["items_per_target"], r["table_rows"]) for r in records] == [(2, 30), (20, 30)]
    for r in records:
        ways = ["gathered", "elementwise", *(f"chunked_{mib}mib" for mib in CHUNK_MIB)]
        assert all(r[f"{way}_ms"] > 0 for way in ways)
        assert r["fastest_chunk_mib"] in CHUNK_MIB
        assert r["max_abs_diff"] < 1e-5
