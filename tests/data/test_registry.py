"""Tests of the dataset registry: lookup, fetching (mirror, cache, download), checksums, loading."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

import polars as pl
import pytest

from seqrec.data import readers, registry
from seqrec.data.registry import (
    DatasetError,
    DatasetParts,
    DatasetSpec,
    ExpectedStats,
    RawDataset,
    RemoteFile,
)

PAIRS = b"1 10\n1 11\n2 10\n"
PAIRS_SHA = hashlib.sha256(PAIRS).hexdigest()
RELPATH = "toy/pairs.txt"

REQUIRED = {
    "ml-1m-head",
    "sasrec-games",
    "bert4rec-beauty",
    "s3rec-beauty",
    "s3rec-lastfm",
    "jodie-wikipedia",
    "lastfm-hetrec2011",
    "taobao-sample",
    "diginetica-sessions",
}


def _load_toy(paths: Mapping[str, Path]) -> DatasetParts:
    return DatasetParts(interactions=readers.read_sasrec_pairs(paths["interactions"]))


def toy_spec(url: str | None = None, sha256: str = PAIRS_SHA) -> DatasetSpec:
    return DatasetSpec(
        name="toy",
        description="a toy dataset",
        files={"interactions": RemoteFile(RELPATH, url, sha256)},
        loader=_load_toy,
        licence="test only",
        partial=False,
        homepage="https://example.org",
        stats=ExpectedStats(2, 2, 3),
    )


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> DatasetSpec:
    """Register the toy dataset for one test, with no mirror or cache coming from the environment."""
    spec = toy_spec()
    monkeypatch.setitem(registry._REGISTRY, "toy", spec)
    monkeypatch.delenv(registry.MIRROR_ENV, raising=False)
    return spec


def put(base: Path, relpath: str, data: bytes, *, gz: bool = False) -> Path:
    path = base / (relpath + ".gz" if gz else relpath)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


# --------------------------------------------------------------------------------------
# Registry contents
# --------------------------------------------------------------------------------------


def test_required_datasets_are_registered() -> None:
    names = {spec.name for spec in registry.list_datasets()}
    assert names >= REQUIRED
    assert "ml-1m" not in names


def test_unknown_name_lists_known_datasets() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'nope'") as info:
        registry.get_spec("nope")
    assert "ml-1m-head" in str(info.value)
    assert "sasrec-games" in str(info.value)


def test_spec_fields_are_well_formed() -> None:
    url_pattern = re.compile(r"https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/.+")
    for spec in registry.list_datasets():
        assert spec.licence and spec.description and spec.homepage.startswith("https://")
        for remote in spec.files.values():
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256), remote
            assert not remote.relpath.endswith(".gz")
            assert remote.url is None or url_pattern.fullmatch(remote.url), remote.url


def test_partial_datasets_say_so() -> None:
    ml = registry.get_spec("ml-1m-head")
    assert ml.partial and registry.get_spec("taobao-sample").partial
    assert "487,515" in ml.description and "1,000,209" in ml.description
    assert ml.files["ratings"].url is None
    assert not registry.get_spec("sasrec-games").partial


def test_register_refuses_a_taken_name(toy: DatasetSpec) -> None:
    with pytest.raises(DatasetError, match="already registered"):
        registry.register(toy)


# --------------------------------------------------------------------------------------
# Fetching from a fake mirror / cache / URL
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_fetch_from_mirror_argument(toy: DatasetSpec, tmp_path: Path, gz: bool) -> None:
    stored = put(tmp_path / "mirror", RELPATH, PAIRS, gz=gz)
    paths = registry.fetch("toy", mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache")
    assert paths == {"interactions": stored}
    assert not (tmp_path / "cache").exists()


def test_fetch_from_mirror_environment(
    toy: DatasetSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = put(tmp_path / "mirror", RELPATH, PAIRS, gz=True)
    monkeypatch.setenv(registry.MIRROR_ENV, str(tmp_path / "mirror"))
    assert registry.fetch("toy", cache_dir=tmp_path / "cache") == {"interactions": stored}


def test_fetch_uses_cache_when_mirror_lacks_file(toy: DatasetSpec, tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    cached = put(tmp_path / "cache", RELPATH, PAIRS)
    paths = registry.fetch("toy", mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache")
    assert paths == {"interactions": cached}


def test_cache_dir_from_environment(
    toy: DatasetSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = put(tmp_path / "env-cache", RELPATH, PAIRS)
    monkeypatch.setenv(registry.CACHE_ENV, str(tmp_path / "env-cache"))
    assert registry.fetch("toy") == {"interactions": cached}


def testdefault_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(registry.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert registry.default_cache_dir() == tmp_path / "seqrec"


def test_checksum_mismatch_names_file_expected_and_actual(toy: DatasetSpec, tmp_path: Path) -> None:
    bad = b"1 10\n1 12\n"
    stored = put(tmp_path / "mirror", RELPATH, bad, gz=True)
    with pytest.raises(DatasetError) as info:
        registry.fetch("toy", mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "checksum mismatch" in message
    assert RELPATH in message and str(stored) in message
    assert f"expected sha256 {PAIRS_SHA}" in message
    assert f"got {hashlib.sha256(bad).hexdigest()}" in message


def test_missing_file_without_url(toy: DatasetSpec, tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        registry.fetch("toy", mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "dataset 'toy'" in message and f"file {RELPATH!r}" in message
    assert "no public URL" in message
    assert PAIRS_SHA in message
    assert "SEQREC_DATA_MIRROR" in message
    assert str(tmp_path / "mirror" / "toy" / "pairs.txt") in message
    assert str(tmp_path / "cache" / "toy" / "pairs.txt") in message


def test_missing_file_with_unreachable_url(
    toy: DatasetSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = (tmp_path / "nowhere" / "pairs.txt").as_uri()
    monkeypatch.setitem(registry._REGISTRY, "toy", toy_spec(url=url))
    with pytest.raises(DatasetError) as info:
        registry.fetch("toy", cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert f"Download from {url} failed" in message
    assert PAIRS_SHA in message and "SEQREC_DATA_MIRROR" in message
    assert "is not set" in message
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_download_into_cache(toy: DatasetSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = put(tmp_path / "upstream", "pairs.txt", PAIRS)
    monkeypatch.setitem(registry._REGISTRY, "toy", toy_spec(url=source.as_uri()))
    paths = registry.fetch("toy", cache_dir=tmp_path / "cache")
    target = tmp_path / "cache" / "toy" / "pairs.txt"
    assert paths == {"interactions": target}
    assert target.read_bytes() == PAIRS
    assert sorted(p.name for p in target.parent.iterdir()) == ["pairs.txt"]
    source.unlink()
    assert registry.fetch("toy", cache_dir=tmp_path / "cache") == {"interactions": target}


def test_download_with_wrong_content_leaves_nothing(
    toy: DatasetSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = put(tmp_path / "upstream", "pairs.txt", b"tampered\n")
    monkeypatch.setitem(registry._REGISTRY, "toy", toy_spec(url=source.as_uri()))
    with pytest.raises(DatasetError, match=f"checksum mismatch .* expected sha256 {PAIRS_SHA}"):
        registry.fetch("toy", cache_dir=tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_second_fetch_does_not_rehash(
    toy: DatasetSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = put(tmp_path / "mirror", RELPATH, PAIRS, gz=True)
    calls: list[Path] = []
    original = registry._sha256_uncompressed

    def counting(path: Path, *, gzipped: bool) -> str:
        calls.append(path)
        return original(path, gzipped=gzipped)

    monkeypatch.setattr(registry, "_sha256_uncompressed", counting)
    for _ in range(3):
        registry.fetch("toy", mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache")
    assert calls == [stored]
    stat = stored.stat()
    os.utime(stored, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    registry.fetch("toy", mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache")
    assert calls == [stored, stored]


def test_load_and_stats(toy: DatasetSpec, tmp_path: Path) -> None:
    put(tmp_path / "mirror", RELPATH, PAIRS)
    raw = registry.load("toy", mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache")
    assert isinstance(raw, RawDataset)
    assert (raw.name, raw.partial, raw.description, raw.items, raw.users) == (
        "toy",
        False,
        "a toy dataset",
        None,
        None,
    )
    assert raw.interactions["timestamp"].to_list() == [0, 1, 0]
    assert registry.stats(raw) == {
        "users": 2,
        "items": 2,
        "interactions": 3,
        "timestamp_min": 0,
        "timestamp_max": 1,
        "time_span": 1,
        "missing_timestamps": 0,
        "avg_sequence_length": 1.5,
        "median_sequence_length": 1.5,
        "density": 0.75,
    }


def test_stats_with_missing_timestamps() -> None:
    interactions = pl.DataFrame(
        {"user": [1, 1, 2], "item": [5, 6, 5], "timestamp": [None, 100, None]},
        schema={"user": pl.Int64, "item": pl.Int64, "timestamp": pl.Int64},
    )
    raw = RawDataset("x", interactions, None, None, partial=False, description="")
    result = registry.stats(raw)
    assert (result["timestamp_min"], result["time_span"], result["missing_timestamps"]) == (100, 0, 2)


# --------------------------------------------------------------------------------------
# The real data mirror
# --------------------------------------------------------------------------------------


def real_mirror() -> Path:
    configured = os.environ.get(registry.MIRROR_ENV)
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_real_dataset_matches_documented_counts(name: str, tmp_path: Path) -> None:
    mirror = real_mirror()
    if not mirror.is_dir():
        pytest.skip(f"data mirror {mirror} not available")
    spec = registry.get_spec(name)
    raw = registry.load(name, mirror=mirror, cache_dir=tmp_path / "cache")
    summary = registry.stats(raw)
    assert (summary["users"], summary["items"], summary["interactions"]) == tuple(spec.stats)
    assert raw.partial == spec.partial
    assert raw.interactions.columns[:3] == ["user", "item", "timestamp"]
    assert raw.interactions.schema["timestamp"] == pl.Int64
    if raw.items is not None:
        assert raw.items.columns[0] == "item"
        assert raw.items["item"].is_unique().all()
