"""Tests of the raw-file readers on small hand-written fixtures."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from seqrec.data import readers
from seqrec.data.readers import ColumnMapping, DataFormatError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "readers"


def fixture(name: str) -> Path:
    return FIXTURES / name


def write(tmp_path: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return path


def epoch(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp())


def frame(data: dict[str, list[object]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(data, schema=schema)


I64, F64, STR = pl.Int64(), pl.Float64(), pl.String()


# --------------------------------------------------------------------------------------
# MovieLens
# --------------------------------------------------------------------------------------

ML_RATINGS = frame(
    {
        "user": [1, 1, 2, 2],
        "item": [1193, 661, 1357, 3068],
        "timestamp": [978300760, 978302109, 978298709, 978299000],
        "rating": [5.0, 3.0, 5.0, 4.0],
    },
    {"user": I64, "item": I64, "timestamp": I64, "rating": F64},
)


@pytest.mark.parametrize("name", ["ml_ratings.dat", "ml_ratings.dat.gz"])
def test_movielens_ratings_plain_and_gzip(name: str) -> None:
    assert_frame_equal(readers.read_movielens_ratings(fixture(name)), ML_RATINGS)


def test_movielens_ratings_bad_timestamp_names_file_line_and_field() -> None:
    with pytest.raises(DataFormatError) as info:
        readers.read_movielens_ratings(fixture("ml_ratings_bad.dat"))
    message = str(info.value)
    assert "ml_ratings_bad.dat line 3: field 'timestamp' is not an integer: 'abc'" in message
    assert info.value.line == 3
    assert info.value.field == "timestamp"


def test_movielens_ratings_wrong_field_count(tmp_path: Path) -> None:
    path = write(tmp_path, "ratings.dat", "1::2::3::4\n1::2::3\n")
    with pytest.raises(DataFormatError, match=r"ratings\.dat line 2: expected 4 fields, found 3"):
        readers.read_movielens_ratings(path)


def test_movielens_movies_latin1_genres_and_year() -> None:
    expected = frame(
        {
            "item": [1, 73, 5000],
            "title": ["Toy Story (1995)", "Misérables, Les (1995)", "Café Society"],
            "genres": ["Animation|Children's|Comedy", "Drama|Musical", None],
            "year": [1995, 1995, None],
        },
        {"item": I64, "title": STR, "genres": STR, "year": I64},
    )
    assert_frame_equal(readers.read_movielens_movies(fixture("ml_movies.dat")), expected)


def test_movielens_users() -> None:
    expected = frame(
        {
            "user": [1, 2, 3],
            "gender": ["F", "M", "M"],
            "age": [1, 56, 25],
            "occupation": [10, 16, 15],
            "zip": ["48067", "70072", "55455-1234"],
        },
        {"user": I64, "gender": STR, "age": I64, "occupation": I64, "zip": STR},
    )
    assert_frame_equal(readers.read_movielens_users(fixture("ml_users.dat")), expected)


# --------------------------------------------------------------------------------------
# Pair layout, row layout, sessions
# --------------------------------------------------------------------------------------


def test_sasrec_pairs_order_within_user() -> None:
    expected = frame(
        {"user": [1, 1, 2, 1, 2], "item": [10, 11, 10, 12, 13], "timestamp": [0, 1, 0, 2, 1]},
        {"user": I64, "item": I64, "timestamp": I64},
    )
    assert_frame_equal(readers.read_sasrec_pairs(fixture("sasrec_pairs.txt")), expected)


def test_sasrec_pairs_blank_line_in_the_middle() -> None:
    with pytest.raises(DataFormatError, match=r"sasrec_pairs_blank\.txt line 3: empty line"):
        readers.read_sasrec_pairs(fixture("sasrec_pairs_blank.txt"))


def test_sasrec_pairs_trailing_blank_lines_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "pairs.txt", "1 5\r\n1 6\r\n\r\n  \n")
    assert readers.read_sasrec_pairs(path)["item"].to_list() == [5, 6]


def test_sasrec_pairs_non_integer_item(tmp_path: Path) -> None:
    path = write(tmp_path, "pairs.txt", "1 5\n1 6\n2 x7\n")
    with pytest.raises(DataFormatError, match=r"pairs\.txt line 3: field 'item' is not an integer: 'x7'"):
        readers.read_sasrec_pairs(path)


def test_s3rec_rows_one_row_per_item() -> None:
    expected = frame(
        {"user": [1, 1, 1, 2, 3, 3], "item": [5, 6, 7, 6, 7, 5], "timestamp": [0, 1, 2, 0, 0, 1]},
        {"user": I64, "item": I64, "timestamp": I64},
    )
    assert_frame_equal(readers.read_s3rec_rows(fixture("s3rec_rows.txt")), expected)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1 5 6\n2\n", r"rows\.txt line 2: expected at least 2 fields, found 1"),
        ("1 5 6\n2 7\n1 8\n", r"rows\.txt line 3: user 1 already has a row on line 1"),
        ("1 5 6\n2 7 b\n", r"rows\.txt line 2: field 'item' is not an integer: 'b'"),
        ("1 5 6\n\n2 7\n", r"rows\.txt line 2: empty line"),
    ],
)
def test_s3rec_rows_malformed(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(DataFormatError, match=pattern):
        readers.read_s3rec_rows(write(tmp_path, "rows.txt", text))


def test_s3rec_item_attributes() -> None:
    expected = pl.DataFrame(
        {"item": [5, 6, 7], "attributes": [[1, 2], [], [3]]},
        schema={"item": I64, "attributes": pl.List(I64)},
    )
    assert_frame_equal(readers.read_s3rec_item_attributes(fixture("s3rec_item2attributes.json")), expected)


def test_s3rec_item_attributes_invalid_json(tmp_path: Path) -> None:
    path = write(tmp_path, "attrs.json", '{"1": [1],\n "2": [2}')
    with pytest.raises(DataFormatError, match=r"attrs\.json line 2: invalid JSON"):
        readers.read_s3rec_item_attributes(path)


def test_diginetica_sessions() -> None:
    expected = frame(
        {"user": [1, 1, 2, 2, 2, 3], "item": [1, 2, 3, 4, 5, 6], "timestamp": [0, 1, 0, 1, 2, 0]},
        {"user": I64, "item": I64, "timestamp": I64},
    )
    assert_frame_equal(readers.read_diginetica_sessions(fixture("diginetica_sessions.txt")), expected)


def test_diginetica_sessions_bad_item(tmp_path: Path) -> None:
    path = write(tmp_path, "sessions.txt", "1 2\n3 4 5\n6 7.5\n")
    with pytest.raises(DataFormatError, match=r"sessions\.txt line 3: field 'item' is not an integer: '7.5'"):
        readers.read_diginetica_sessions(path)


# --------------------------------------------------------------------------------------
# JODIE
# --------------------------------------------------------------------------------------


def test_jodie_crlf_and_float_timestamps() -> None:
    expected = frame(
        {"user": [0, 1, 0], "item": [8227, 8228, 8228], "timestamp": [0, 36, 77], "label": [0, 0, 1]},
        {"user": I64, "item": I64, "timestamp": I64, "label": I64},
    )
    assert_frame_equal(readers.read_jodie(fixture("jodie.csv")), expected)


def test_jodie_feature_columns_are_ignored() -> None:
    expected = frame(
        {"user": [4, 5], "item": [1, 2], "timestamp": [10, 12], "label": [0, 1]},
        {"user": I64, "item": I64, "timestamp": I64, "label": I64},
    )
    assert_frame_equal(readers.read_jodie(fixture("jodie_features.csv")), expected)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("u,i,ts,label\n0,1,2,0\n0,1,2.5,0\n", r"line 3: field 'ts' is not an integer: '2.5'"),
        ("u,i,ts,label\n0,1,2,0\n0,1\n", r"line 3: expected at least 4 fields, found 2"),
        ("u,i\n0,1\n", r"line 1: expected a header of at least 4 fields"),
    ],
)
def test_jodie_malformed(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(DataFormatError, match=r"edges\.csv " + pattern):
        readers.read_jodie(write(tmp_path, "edges.csv", text))


# --------------------------------------------------------------------------------------
# Last.fm hetrec2011
# --------------------------------------------------------------------------------------


def test_lastfm_artists_keep_quotes_and_null_empty_url() -> None:
    result = readers.read_lastfm_artists(fixture("lastfm_artists.dat"))
    assert result.columns == ["item", "title", "url", "pictureURL"]
    assert result["item"].to_list() == [1, 2, 3]
    assert result["title"].to_list() == ["MALICE MIZER", '"Weird Al" Yankovic', "Diary of Dreams"]
    assert result["pictureURL"].to_list() == ["http://example.org/1.jpg", None, "http://example.org/3.jpg"]


def test_lastfm_tags_most_used_first() -> None:
    expected = frame(
        {"item": [1, 2, 3], "tags": ["gothic|japanese|metal", "seen live", "seen live"]},
        {"item": I64, "tags": STR},
    )
    result = readers.read_lastfm_tags(fixture("lastfm_tags.dat"), fixture("lastfm_user_taggedartists.dat"))
    assert_frame_equal(result, expected)


def test_lastfm_interactions_earliest_tag_date_or_null() -> None:
    expected = frame(
        {
            "user": [2, 2, 3, 3],
            "item": [1, 2, 1, 3],
            "timestamp": [epoch(2008, 5, 1), None, epoch(2010, 1, 1), epoch(2011, 6, 9)],
            "weight": [100, 50, 7, 12],
        },
        {"user": I64, "item": I64, "timestamp": I64, "weight": I64},
    )
    result = readers.read_lastfm_interactions(
        fixture("lastfm_user_artists.dat"), fixture("lastfm_user_taggedartists.dat")
    )
    assert_frame_equal(result, expected)


def test_lastfm_unknown_tag_names_line(tmp_path: Path) -> None:
    tagged = write(
        tmp_path,
        "tagged.dat",
        "userID\tartistID\ttagID\tday\tmonth\tyear\n2\t1\t1\t1\t4\t2009\n2\t1\t9\t1\t4\t2009\n",
    )
    with pytest.raises(DataFormatError, match=r"tagged\.dat line 3: field 'tagID' refers to tag 9"):
        readers.read_lastfm_tags(fixture("lastfm_tags.dat"), tagged)


def test_lastfm_invalid_date(tmp_path: Path) -> None:
    tagged = write(
        tmp_path, "tagged.dat", "userID\tartistID\ttagID\tday\tmonth\tyear\n2\t1\t1\t30\t2\t2009\n"
    )
    with pytest.raises(DataFormatError, match=r"tagged\.dat line 2: invalid date day=30 month=2 year=2009"):
        readers.read_lastfm_interactions(fixture("lastfm_user_artists.dat"), tagged)


def test_lastfm_wrong_header(tmp_path: Path) -> None:
    pairs = write(tmp_path, "user_artists.dat", "user\tartist\tweight\n2\t1\t3\n")
    with pytest.raises(DataFormatError, match=r"user_artists\.dat line 1: expected the header"):
        readers.read_lastfm_interactions(pairs, fixture("lastfm_user_taggedartists.dat"))


def test_lastfm_repeated_pair(tmp_path: Path) -> None:
    pairs = write(tmp_path, "user_artists.dat", "userID\tartistID\tweight\n2\t1\t3\n2\t5\t1\n2\t1\t4\n")
    with pytest.raises(DataFormatError, match=r"user_artists\.dat line 4: pair \(userID 2, artistID 1\)"):
        readers.read_lastfm_interactions(pairs, fixture("lastfm_user_taggedartists.dat"))


# --------------------------------------------------------------------------------------
# Taobao
# --------------------------------------------------------------------------------------


def test_taobao() -> None:
    expected = frame(
        {
            "user": [1, 1, 100, 100],
            "item": [2268318, 2333346, 2576651, 2576651],
            "timestamp": [1511544070, 1511561733, 1511572885, 1511572999],
            "behavior": ["pv", "cart", "buy", "fav"],
            "category": [2520377, 2520771, 149192, 149192],
        },
        {"user": I64, "item": I64, "timestamp": I64, "behavior": STR, "category": I64},
    )
    assert_frame_equal(readers.read_taobao(fixture("taobao.csv")), expected)


def test_taobao_wrong_field_count() -> None:
    with pytest.raises(DataFormatError, match=r"taobao_bad\.csv line 2: expected 5 fields, found 4"):
        readers.read_taobao(fixture("taobao_bad.csv"))


def test_taobao_unknown_behavior(tmp_path: Path) -> None:
    path = write(tmp_path, "ub.csv", "1,2,3,pv,10\n1,2,3,click,11\n")
    with pytest.raises(DataFormatError, match=r"ub\.csv line 2: field 'behavior_type' is 'click'"):
        readers.read_taobao(path)


# --------------------------------------------------------------------------------------
# Generic tables
# --------------------------------------------------------------------------------------

TABLE_MAPPING = ColumnMapping(user="uid", item="iid", timestamp="ts", rating="score", behavior="kind")


def test_read_table_csv_mapping_and_extra_columns() -> None:
    expected = frame(
        {
            "user": ["u1", "u1", "u2"],
            "item": [10, 11, 10],
            "timestamp": [100, 200, 150],
            "rating": [4.5, 3.0, None],
            "behavior": ["click", "buy", "click"],
            "city": ["Paris", "Lyon", None],
        },
        {"user": STR, "item": I64, "timestamp": I64, "rating": F64, "behavior": STR, "city": STR},
    )
    assert_frame_equal(readers.read_table(fixture("table.csv"), TABLE_MAPPING), expected)


def test_read_table_tsv() -> None:
    mapping = ColumnMapping(user="uid", item="iid", timestamp="ts", rating="score")
    expected = frame(
        {"user": [7, 8], "item": [10, 11], "timestamp": [100, 200], "rating": [4.5, 3.0]},
        {"user": I64, "item": I64, "timestamp": I64, "rating": F64},
    )
    assert_frame_equal(readers.read_table(fixture("table.tsv"), mapping), expected)


def test_read_table_parquet_and_gzip(tmp_path: Path) -> None:
    source = pl.DataFrame(
        {"uid": [1, 1, 2], "iid": ["a", "b", "a"], "ts": [5, 6, 7], "extra": [True, False, True]}
    )
    plain, packed = tmp_path / "t.parquet", tmp_path / "t.parquet.gz"
    source.write_parquet(plain)
    packed.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    expected = frame(
        {"user": [1, 1, 2], "item": ["a", "b", "a"], "timestamp": [5, 6, 7], "extra": [True, False, True]},
        {"user": I64, "item": STR, "timestamp": I64, "extra": pl.Boolean()},
    )
    mapping = ColumnMapping(user="uid", item="iid", timestamp="ts")
    assert_frame_equal(readers.read_table(plain, mapping), expected)
    assert_frame_equal(readers.read_table(packed, mapping), expected)


def test_read_table_parquet_datetime_and_float_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    when = [datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC)]
    pl.DataFrame({"u": [1, 2], "i": [3, 4], "when": when, "ts": [5.0, 6.0]}).write_parquet(path)
    by_date = readers.read_table(path, ColumnMapping(user="u", item="i", timestamp="when"))
    assert by_date["timestamp"].to_list() == [epoch(2020, 1, 1), epoch(2020, 1, 2)]
    by_float = readers.read_table(path, ColumnMapping(user="u", item="i", timestamp="ts"))
    assert by_float["timestamp"].to_list() == [5, 6]
    assert by_float.columns == ["user", "item", "timestamp", "when"]


def test_read_table_empty_csv(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"t\.csv: file is empty"):
        readers.read_table(write(tmp_path, "t.csv", ""), ColumnMapping(user="a", item="b"))


def test_read_table_parquet_null_item_names_row(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pl.DataFrame({"u": [1, 2, 3], "i": [4, None, 6]}).write_parquet(path)
    with pytest.raises(DataFormatError, match=r"t\.parquet row 2: field 'i' is empty"):
        readers.read_table(path, ColumnMapping(user="u", item="i"))


def test_read_table_gzipped_csv_without_timestamp_uses_order(tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv.gz", "user,item\n007,1\n8,2\n007,3\n")
    expected = frame(
        {"user": ["007", "8", "007"], "item": [1, 2, 3], "timestamp": [0, 0, 1]},
        {"user": STR, "item": I64, "timestamp": I64},
    )
    assert_frame_equal(readers.read_table(path, ColumnMapping(user="user", item="item")), expected)


def test_read_table_without_header(tmp_path: Path) -> None:
    path = write(tmp_path, "events.txt", "1;10;100\n2;20;200\n")
    mapping = ColumnMapping(user="column_1", item="column_2", timestamp="column_3")
    result = readers.read_table(path, mapping, has_header=False)
    assert result.columns == ["user", "item", "timestamp"]
    assert result["timestamp"].to_list() == [100, 200]


def test_read_table_missing_column_lists_available() -> None:
    mapping = ColumnMapping(user="uid", item="movie")
    with pytest.raises(DataFormatError) as info:
        readers.read_table(fixture("table.csv"), mapping)
    message = str(info.value)
    assert "table.csv" in message
    assert "column 'movie' (mapped to 'item') not found" in message
    assert "'uid', 'iid', 'ts', 'score', 'kind', 'city'" in message


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("uid,iid,ts\na,1,5\n,2,6\n", r"t\.csv line 3: field 'uid' is empty"),
        ("uid,iid,ts\na,1,5\nb,2,6\nc,3,x\n", r"t\.csv line 4: field 'ts' is not an integer: 'x'"),
        ("uid,iid,ts\na,1,5\nb,2\n", r"t\.csv line 3: expected 3 fields \(as on line 1\), found 2"),
        ('uid,iid,ts\n"a",1,5\nb,2,6,7\n', r"t\.csv line 3: expected 3 fields \(as on line 1\), found 4"),
        ("uid,iid,ts\na,1,5\n\nb,2,6\n", r"t\.csv line 3: empty line"),
    ],
)
def test_read_table_malformed(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(DataFormatError, match=pattern):
        readers.read_table(
            write(tmp_path, "t.csv", text), ColumnMapping(user="uid", item="iid", timestamp="ts")
        )


def test_read_table_extra_column_clash(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "uid,iid,timestamp\na,1,5\n")
    with pytest.raises(DataFormatError, match="extra column 'timestamp' would clash"):
        readers.read_table(path, ColumnMapping(user="uid", item="iid"))


def test_read_table_unknown_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "t.data", "a,b\n1,2\n")
    with pytest.raises(DataFormatError, match="cannot infer the separator"):
        readers.read_table(path, ColumnMapping(user="a", item="b"))


# --------------------------------------------------------------------------------------
# Bytes-level problems
# --------------------------------------------------------------------------------------


def test_invalid_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_bytes(b"1 2\n1 3\n1 \xff4\n")
    with pytest.raises(DataFormatError, match=r"pairs\.txt line 3: bytes are not valid utf-8"):
        readers.read_sasrec_pairs(path)


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError, match=r"pairs\.txt\.gz: not a valid gzip file"):
        readers.read_sasrec_pairs(path)


def test_empty_file_gives_empty_frame(tmp_path: Path) -> None:
    result = readers.read_sasrec_pairs(write(tmp_path, "pairs.txt", ""))
    assert result.height == 0
    assert result.columns == ["user", "item", "timestamp"]
