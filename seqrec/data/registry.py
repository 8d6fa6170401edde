"""Registry of named benchmark datasets: where their files come from, how to check and parse them.

Each :class:`DatasetSpec` lists its files (:class:`RemoteFile`: path inside a mirror, official
download URL, sha256 of the uncompressed content), a loader that turns the fetched files into
frames, a licence note and whether the data is only a part of the published dataset.

:func:`fetch` looks for every file first in an offline mirror directory (the ``mirror``
argument, else ``$SEQREC_DATA_MIRROR``), laid out like ``<mirror>/<relpath>`` or
``<mirror>/<relpath>.gz``; then in the cache directory; and only then downloads the URL into
the cache. Wherever a file comes from, the sha256 of its uncompressed content is checked.
:func:`load` returns a :class:`RawDataset` of canonical frames (see :mod:`seqrec.data.readers`).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import statistics
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

import polars as pl

from seqrec.data import readers

__all__ = [
    "CACHE_ENV",
    "MIRROR_ENV",
    "DatasetError",
    "DatasetParts",
    "DatasetSpec",
    "ExpectedStats",
    "RawDataset",
    "RemoteFile",
    "fetch",
    "get_spec",
    "list_datasets",
    "load",
    "register",
    "stats",
]

MIRROR_ENV = "SEQREC_DATA_MIRROR"
CACHE_ENV = "SEQREC_CACHE_DIR"
DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK_BYTES = 1 << 20

PathLike = str | os.PathLike[str]


class DatasetError(RuntimeError):
    """A dataset is unknown, cannot be found or downloaded, or fails its checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    Attributes:
        relpath: path inside a mirror directory, without ``.gz`` (``"ml-1m/movies.dat"``).
        url: official raw download URL of exactly this content, or ``None`` when no public
            URL serves it (e.g. a head cut from a larger file, or a file converted here).
        sha256: hex sha256 of the uncompressed content.
    """

    relpath: str
    url: str | None
    sha256: str


class ExpectedStats(NamedTuple):
    """Counts documented for a dataset (distinct users, distinct items, interaction rows)."""

    users: int
    items: int
    interactions: int


@dataclass(frozen=True, eq=False)
class DatasetParts:
    """What a loader returns: interactions plus optional item and user metadata."""

    interactions: pl.DataFrame
    items: pl.DataFrame | None = None
    users: pl.DataFrame | None = None


Loader = Callable[[Mapping[str, Path]], DatasetParts]


@dataclass(frozen=True, eq=False)
class RawDataset:
    """A loaded dataset: the canonical interaction frame and optional metadata.

    ``items`` has an ``item`` column plus title/genres/tags/... when the dataset has them;
    ``users`` has a ``user`` column plus user attributes. ``partial`` is true when the data
    is only a part of the published dataset (see ``description``).
    """

    name: str
    interactions: pl.DataFrame
    items: pl.DataFrame | None
    users: pl.DataFrame | None
    partial: bool
    description: str


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its files (role -> file), loader, licence and expected counts."""

    name: str
    description: str
    files: Mapping[str, RemoteFile]
    loader: Loader
    licence: str
    partial: bool
    homepage: str
    stats: ExpectedStats


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add a dataset to the registry; a taken name raises unless ``replace`` is true."""
    if spec.name in _REGISTRY and not replace:
        raise DatasetError(f"dataset {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def list_datasets() -> list[DatasetSpec]:
    """All registered datasets, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_spec(name: str) -> DatasetSpec:
    """The spec of a registered dataset; an unknown name raises DatasetError listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise DatasetError(f"unknown dataset {name!r}; registered datasets: {known}") from None


# --------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------

# (resolved path, size, mtime in ns) -> sha256 of the uncompressed content.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _is_gzip_name(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _sha256_uncompressed(path: Path, *, gzipped: bool) -> str:
    """Hex sha256 of a file's content, decompressing gzip on the fly; read in chunks."""
    digest = hashlib.sha256()
    with gzip.open(path, "rb") if gzipped else path.open("rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _file_key(path: Path) -> tuple[str, int, int]:
    status = path.stat()
    return str(path.resolve()), status.st_size, status.st_mtime_ns


def _content_sha256(path: Path) -> str:
    """sha256 of the uncompressed content, memoised per (path, size, mtime) in this process."""
    key = _file_key(path)
    known = _VERIFIED.get(key)
    if known is None:
        known = _sha256_uncompressed(path, gzipped=_is_gzip_name(path))
        _VERIFIED[key] = known
    return known


def _verify(dataset: str, remote: RemoteFile, path: Path, origin: str) -> None:
    """Raise DatasetError when the uncompressed content of ``path`` does not match ``remote``."""
    try:
        actual = _content_sha256(path)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"dataset {dataset!r}: cannot read {path} (from the {origin}): {exc}") from exc
    if actual != remote.sha256.lower():
        hint = " Delete it to download it again." if origin == "cache" else ""
        raise DatasetError(
            f"dataset {dataset!r}: checksum mismatch for file {remote.relpath!r} at {path} "
            f"(from the {origin}): expected sha256 {remote.sha256}, got {actual} "
            f"(of the uncompressed content).{hint}"
        )


# --------------------------------------------------------------------------------------
# Locating and downloading
# --------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$SEQREC_CACHE_DIR``, else ``$XDG_CACHE_HOME/seqrec``, else ``~/.cache/seqrec``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "seqrec"


def _mirror_dir(mirror: PathLike | None) -> Path | None:
    """The mirror argument, else ``$SEQREC_DATA_MIRROR``, else None."""
    if mirror is not None:
        return Path(mirror).expanduser()
    configured = os.environ.get(MIRROR_ENV)
    return Path(configured).expanduser() if configured else None


def _candidates(base: Path, relpath: str) -> Iterator[Path]:
    plain = base.joinpath(*relpath.split("/"))
    yield plain
    yield plain.with_name(plain.name + ".gz")


def _find(base: Path, relpath: str) -> Path | None:
    """``base/relpath`` or ``base/relpath.gz``, whichever is a file first."""
    return next((path for path in _candidates(base, relpath) if path.is_file()), None)


def _open_url(url: str) -> AbstractContextManager[IO[bytes]]:
    """Open a URL for reading (a seam for tests)."""
    response: AbstractContextManager[IO[bytes]] = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)
    return response


def _download(dataset: str, remote: RemoteFile, url: str, cache: Path) -> Path:
    """Download ``url`` into the cache atomically (temp file, fsync, rename) after checking it."""
    gzipped = url.lower().split("?", 1)[0].endswith(".gz")
    target = next(_candidates(cache, remote.relpath))
    target = target.with_name(target.name + ".gz") if gzipped else target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out, _open_url(url) as response:
            while chunk := response.read(_CHUNK_BYTES):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = _sha256_uncompressed(temp, gzipped=gzipped)
        if actual != remote.sha256.lower():
            raise DatasetError(
                f"dataset {dataset!r}: checksum mismatch for file {remote.relpath!r} downloaded from "
                f"{url}: expected sha256 {remote.sha256}, got {actual} (of the uncompressed content)"
            )
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    _VERIFIED[_file_key(target)] = actual
    return target


def _not_available(
    dataset: str, role: str, remote: RemoteFile, mirror: Path | None, cache: Path, reason: str
) -> DatasetError:
    """The error for a file found nowhere: what was looked for, where, and how to provide it."""
    if mirror is None:
        mirror_note = f"mirror: none ({MIRROR_ENV} is not set and no mirror= was given)"
    else:
        mirror_note = f"mirror {next(_candidates(mirror, remote.relpath))}[.gz]"
    cache_note = f"cache {next(_candidates(cache, remote.relpath))}[.gz]"
    return DatasetError(
        f"dataset {dataset!r}: file {remote.relpath!r} (role {role!r}) is not available. "
        f"Looked in: {mirror_note}; {cache_note}. {reason}. "
        f"Expected sha256 of the uncompressed content: {remote.sha256}. "
        f"To use a local copy, put it (optionally gzipped, with '.gz' appended) at "
        f"<mirror>/{remote.relpath} and set {MIRROR_ENV}=<mirror> (or pass mirror=)."
    )


def _fetch_file(dataset: str, role: str, remote: RemoteFile, mirror: Path | None, cache: Path) -> Path:
    """Mirror, then cache, then download; the result is always checksum-verified."""
    for origin, base in (("mirror", mirror), ("cache", cache)):
        found = _find(base, remote.relpath) if base is not None else None
        if found is not None:
            _verify(dataset, remote, found, origin)
            return found
    if remote.url is None:
        reason = "There is no public URL for this exact content, so it cannot be downloaded"
        raise _not_available(dataset, role, remote, mirror, cache, reason)
    try:
        return _download(dataset, remote, remote.url, cache)
    except (OSError, ValueError) as exc:
        reason = f"Download from {remote.url} failed: {exc}"
        raise _not_available(dataset, role, remote, mirror, cache, reason) from exc


def fetch(name: str, *, mirror: PathLike | None = None, cache_dir: PathLike | None = None) -> dict[str, Path]:
    """Locate, download if needed, and verify every file of a dataset; return role -> path.

    Order: the mirror (``mirror``, else ``$SEQREC_DATA_MIRROR``) at ``relpath`` or
    ``relpath.gz``; the cache (``cache_dir``, else ``$SEQREC_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/seqrec`` or ``~/.cache/seqrec``); then the URL (timeout 30 s) into
    the cache. The sha256 of the uncompressed content is checked wherever the file came
    from; results are memoised per (path, size, mtime) so a second fetch does not re-hash.

    Raises:
        DatasetError: unknown dataset, checksum mismatch (names the file, expected and
            actual sha256), or a file that is nowhere and cannot be downloaded (names the
            dataset, file, URL or its absence, expected sha256, and ``SEQREC_DATA_MIRROR``).
    """
    spec = get_spec(name)
    mirror_dir = _mirror_dir(mirror)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return {
        role: _fetch_file(spec.name, role, remote, mirror_dir, cache) for role, remote in spec.files.items()
    }


def load(name: str, *, mirror: PathLike | None = None, cache_dir: PathLike | None = None) -> RawDataset:
    """Fetch (see :func:`fetch`) and parse a registered dataset."""
    spec = get_spec(name)
    parts = spec.loader(fetch(name, mirror=mirror, cache_dir=cache_dir))
    return RawDataset(
        name=spec.name,
        interactions=parts.interactions,
        items=parts.items,
        users=parts.users,
        partial=spec.partial,
        description=spec.description,
    )


def stats(raw: RawDataset) -> dict[str, int | float | None]:
    """Summary statistics of a dataset's interactions.

    Keys: users, items, interactions, timestamp_min, timestamp_max, time_span (max - min;
    seconds or order steps; None without timestamps), missing_timestamps,
    avg_sequence_length and median_sequence_length (interactions per user), density
    (interactions / (users * items)).
    """
    frame = raw.interactions
    users = frame["user"].n_unique()
    items = frame["item"].n_unique()
    lengths = frame.group_by("user").len()["len"].to_list()
    timestamps = frame["timestamp"] if "timestamp" in frame.columns else pl.Series([], dtype=pl.Int64)
    low, high = timestamps.min(), timestamps.max()
    first = int(low) if isinstance(low, int) else None
    last = int(high) if isinstance(high, int) else None
    return {
        "users": users,
        "items": items,
        "interactions": frame.height,
        "timestamp_min": first,
        "timestamp_max": last,
        "time_span": last - first if first is not None and last is not None else None,
        "missing_timestamps": timestamps.null_count() if len(timestamps) else frame.height,
        "avg_sequence_length": frame.height / users if users else 0.0,
        "median_sequence_length": float(statistics.median(lengths)) if lengths else 0.0,
        "density": frame.height / (users * items) if users and items else 0.0,
    }


# --------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------


def _load_ml_1m_head(paths: Mapping[str, Path]) -> DatasetParts:
    return DatasetParts(
        interactions=readers.read_movielens_ratings(paths["ratings"]),
        items=readers.read_movielens_movies(paths["movies"]),
        users=readers.read_movielens_users(paths["users"]),
    )


def _load_pairs(paths: Mapping[str, Path]) -> DatasetParts:
    return DatasetParts(interactions=readers.read_sasrec_pairs(paths["interactions"]))


def _load_s3rec(paths: Mapping[str, Path]) -> DatasetParts:
    return DatasetParts(
        interactions=readers.read_s3rec_rows(paths["interactions"]),
        items=readers.read_s3rec_item_attributes(paths["item_attributes"]),
    )


def _load_jodie(paths: Mapping[str, Path]) -> DatasetParts:
    return DatasetParts(interactions=readers.read_jodie(paths["interactions"]))


def _load_lastfm(paths: Mapping[str, Path]) -> DatasetParts:
    tagged = paths["user_taggedartists"]
    artists = readers.read_lastfm_artists(paths["artists"]).select("item", "title", "url")
    tags = readers.read_lastfm_tags(paths["tags"], tagged)
    return DatasetParts(
        interactions=readers.read_lastfm_interactions(paths["user_artists"], tagged),
        items=artists.join(tags, on="item", how="left", maintain_order="left"),
    )


def _load_taobao(paths: Mapping[str, Path]) -> DatasetParts:
    return DatasetParts(interactions=readers.read_taobao(paths["interactions"]))


def _load_diginetica(paths: Mapping[str, Path]) -> DatasetParts:
    return DatasetParts(interactions=readers.read_diginetica_sessions(paths["interactions"]))


# --------------------------------------------------------------------------------------
# Registered datasets (sources and checksums: the data README of the offline mirror, shared/data/README.md)
# --------------------------------------------------------------------------------------


def _github(repo: str, commit: str, path: str) -> str:
    """Raw download URL of a file at a fixed commit of a GitHub repository."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


_MOVIELENS_REPO = ("srimatta/movielense", "785fc9bf32b775a8c1b3c1b19fa0a3e77b3659e8")
_SASREC_REPO = ("kang205/SASRec", "e3738967fddab206d6eeb4fda433e7a7034dd8b1")
_BERT4REC_REPO = ("FeiSun/BERT4Rec", "615eaf2004abecda487a38d5b0c72f3dcfcae5b3")
_S3REC_REPO = ("RUCAIBox/CIKM2020-S3Rec", "2a81540ae18615d88ef88227b0c066e5b74781e5")
_JODIE_REPO = ("TantalizingPotato/TE-Conv", "b0806ccf5eaa13d31821b6f50b5c48c41f77b9b6")
_LASTFM_REPO = ("qcymkxyc/RecSys", "cb313bf92f80d3cd7c7bde39b12ab4319ccf61a8")

_MOVIELENS_LICENCE = (
    "MovieLens (GroupLens, University of Minnesota): research use only; must acknowledge the data "
    "set; 'may not redistribute the data without separate permission'; no commercial use without "
    "permission."
)
_AMAZON_LICENCE = (
    "Unknown: the Amazon review data (McAuley et al., UCSD) has no licence that was checked; the "
    "preprocessing repository's code licence does not cover the data."
)
_LASTFM_LICENCE = (
    "hetrec2011-lastfm-2k: 'made available for non-commercial use'; commercial use needs Last.fm's "
    "permission."
)


def _s3rec_spec(name: str, source: str, stats_: ExpectedStats, seq_sha: str, attr_sha: str) -> DatasetSpec:
    repo, commit = _S3REC_REPO
    is_lastfm = source == "LastFM"
    return DatasetSpec(
        name=name,
        description=(
            f"S3-Rec {source} in the row layout ('user i1 ... in', items in time order, ids "
            f"re-mapped, 1-based); timestamps are positions within each user's row. Items carry "
            f"their S3-Rec attribute ids (no names)."
        ),
        files={
            "interactions": RemoteFile(
                f"sasrec-format/S3-Rec/{source}.txt", _github(repo, commit, f"data/{source}.txt"), seq_sha
            ),
            "item_attributes": RemoteFile(
                f"sasrec-format/S3-Rec/{source}_item2attributes.json",
                _github(repo, commit, f"data/{source}_item2attributes.json"),
                attr_sha,
            ),
        },
        loader=_load_s3rec,
        licence=(
            "Derived from hetrec2011-lastfm-2k ('made available for non-commercial use'); the licence "
            "of the derived file was not checked."
            if is_lastfm
            else _AMAZON_LICENCE
        ),
        partial=False,
        homepage="https://github.com/RUCAIBox/CIKM2020-S3Rec",
        stats=stats_,
    )


def _builtin_specs() -> list[DatasetSpec]:
    """The datasets available in the project's data mirror."""
    ml_repo, ml_commit = _MOVIELENS_REPO
    lastfm_repo, lastfm_commit = _LASTFM_REPO

    def lastfm_file(name: str, sha: str) -> RemoteFile:
        return RemoteFile(
            f"lastfm-hetrec2011/{name}", _github(lastfm_repo, lastfm_commit, f"data/lastfm-2k/{name}"), sha
        )

    return [
        DatasetSpec(
            name="ml-1m-head",
            description=(
                "PARTIAL MovieLens-1M: the complete ratings of users 1..2998 only, i.e. the first "
                "487,515 of the 1,000,209 ratings (the full ratings.dat is not available). Items: "
                "movies.dat (title, genres, year); users: users.dat (all 6,040 users). Timestamps are "
                "epoch seconds (2000-10-04 to 2003-02-27). Results on it are not comparable with "
                "published ML-1M numbers."
            ),
            files={
                "ratings": RemoteFile(
                    "ml-1m/ratings-head.dat",
                    None,
                    "115c06219522e7113bb46b9679086098dd271571806f96622ce5e97b591568d4",
                ),
                "movies": RemoteFile(
                    "ml-1m/movies.dat",
                    _github(ml_repo, ml_commit, "ml-1m/movies.dat"),
                    "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
                ),
                "users": RemoteFile(
                    "ml-1m/users.dat",
                    _github(ml_repo, ml_commit, "ml-1m/users.dat"),
                    "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
                ),
            },
            loader=_load_ml_1m_head,
            licence=_MOVIELENS_LICENCE,
            partial=True,
            homepage="https://grouplens.org/datasets/movielens/1m/",
            stats=ExpectedStats(2_998, 3_615, 487_515),
        ),
        DatasetSpec(
            name="sasrec-games",
            description=(
                "SASRec's 'Games' (Amazon Video Games) in the pair layout ('user item' per line, in "
                "time order, ids re-mapped); timestamps are the order within each user."
            ),
            files={
                "interactions": RemoteFile(
                    "sasrec-format/SASRec/Video.txt",
                    _github(*_SASREC_REPO, "data/Video.txt"),
                    "b7376fe24430743f411dc7f567285657b2adb3f74361cc7ba0aee94f3024b651",
                )
            },
            loader=_load_pairs,
            licence=_AMAZON_LICENCE,
            partial=False,
            homepage="https://github.com/kang205/SASRec",
            stats=ExpectedStats(31_013, 23_715, 287_107),
        ),
        DatasetSpec(
            name="bert4rec-beauty",
            description=(
                "BERT4Rec's Amazon Beauty in the pair layout ('user item' per line, in time order, "
                "ids re-mapped); timestamps are the order within each user."
            ),
            files={
                "interactions": RemoteFile(
                    "sasrec-format/BERT4Rec/beauty.txt",
                    _github(*_BERT4REC_REPO, "data/beauty.txt"),
                    "f480b7a7403852342ffd8f9809bb30697dd669be31813d0e204b698fec86ef49",
                )
            },
            loader=_load_pairs,
            licence=_AMAZON_LICENCE,
            partial=False,
            homepage="https://github.com/FeiSun/BERT4Rec",
            stats=ExpectedStats(40_226, 54_542, 353_962),
        ),
        _s3rec_spec(
            "s3rec-beauty",
            "Beauty",
            ExpectedStats(22_363, 12_101, 198_502),
            "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
            "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
        ),
        _s3rec_spec(
            "s3rec-lastfm",
            "LastFM",
            ExpectedStats(1_090, 3_646, 52_551),
            "9ded486adb5b0fe9dc761950afa0a9a05e93ff018992e0c52bf11afec529f802",
            "a4ccd678dc9ff6d43fe5073f491db5c9b02eb98dfa4f8c0382913a784be217ef",
        ),
        DatasetSpec(
            name="jodie-wikipedia",
            description=(
                "JODIE Wikipedia edits (TGN-style 4-column file u,i,ts,label; no edge features). "
                "Timestamps are seconds over about 31 days; 'label' (state label) is kept. Item ids are "
                "raw: i = item_id + 8227."
            ),
            files={
                "interactions": RemoteFile(
                    "wikipedia/wikipedia.csv",
                    _github(*_JODIE_REPO, "data/wikipedia.csv"),
                    "b68d35966dd1c013bce7432184778eb6edb0766ad65cd66bb5ca7ed9876c81ab",
                )
            },
            loader=_load_jodie,
            licence="Unknown: no data licence was found (the JODIE code is MIT).",
            partial=False,
            homepage="https://snap.stanford.edu/jodie/",
            stats=ExpectedStats(8_227, 1_000, 157_474),
        ),
        DatasetSpec(
            name="lastfm-hetrec2011",
            description=(
                "Last.fm hetrec2011-lastfm-2k: the distinct (user, artist) pairs of user_artists.dat "
                "with the listening count as 'weight'. user_artists.dat has no time, so the timestamp "
                "is the earliest day the user tagged that artist (epoch seconds, midnight UTC) and is "
                "NULL for pairs never tagged (72,169 of 92,834). Items: artists with title = artist "
                "name, url, and tags (tag names joined with '|', most used first)."
            ),
            files={
                "user_artists": lastfm_file(
                    "user_artists.dat", "254272fa721c3935e8be286d28c051b206844307128698ab4eaa41d483379416"
                ),
                "user_taggedartists": lastfm_file(
                    "user_taggedartists.dat",
                    "c4a9ffae9ab47a9f9b2f0678ab1f7e5c1db4ca818837d8cddd1f5699c5bbf048",
                ),
                "artists": lastfm_file(
                    "artists.dat", "c173881362c6b28551368fecb3c0be5a6a30a6cd859e1f5775413dfe46d48648"
                ),
                "tags": lastfm_file(
                    "tags.dat", "778bcb1f925a41dfa60886e3de442673fd1f85fbea338477fe1d2edaab3ff289"
                ),
            },
            loader=_load_lastfm,
            licence=_LASTFM_LICENCE,
            partial=False,
            homepage="https://grouplens.org/datasets/hetrec-2011/",
            stats=ExpectedStats(1_892, 17_632, 92_834),
        ),
        DatasetSpec(
            name="taobao-sample",
            description=(
                "PARTIAL Taobao UserBehavior: about 0.08 % of it, the complete histories of 814 users "
                "(84,287 of 100,150,807 events). Behaviours pv/cart/fav/buy in 'behavior', item "
                "category in 'category'; timestamps are epoch seconds."
            ),
            files={
                "interactions": RemoteFile(
                    "taobao-userbehavior-sample/UserBehavior.csv",
                    None,
                    "6f7023508e9c8eba2b067afb116771329c4ef8860112f88415daf22e97726a09",
                )
            },
            loader=_load_taobao,
            licence="Unknown: Alibaba/Tianchi terms were not checked.",
            partial=True,
            homepage="https://tianchi.aliyun.com/dataset/649",
            stats=ExpectedStats(814, 55_233, 84_287),
        ),
        DatasetSpec(
            name="diginetica-sessions",
            description=(
                "Diginetica (CIKM Cup 2016) training sessions after SR-GNN preprocessing (all_train_seq, "
                "not prefix-augmented): one session per line, no user ids or times. Sessions act as "
                "users (user = 1-based line number) and timestamps are click positions. The 15,963 test "
                "sessions (76,821 clicks) are not included."
            ),
            files={
                "interactions": RemoteFile(
                    "diginetica-srgnn/train_sessions.txt",
                    None,
                    "d58e465fdacfe2592b414228a771ec4aa5c43c968c61bb25d2a7cc1d2de8c146",
                )
            },
            loader=_load_diginetica,
            licence="Unknown: no data licence was found (the competition page gives none).",
            partial=False,
            homepage="https://github.com/CRIPAC-DIG/SR-GNN",
            stats=ExpectedStats(186_670, 43_097, 906_140),
        ),
    ]


for _spec in _builtin_specs():
    register(_spec)
