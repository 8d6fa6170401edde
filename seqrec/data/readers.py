"""Readers for the raw files of sequential-recommendation benchmarks.

Every reader returns a Polars frame. Interaction readers return the *canonical interaction
frame*:

* ``user`` and ``item``: ``Int64`` when the source ids are integers, else ``Utf8``;
* ``timestamp``: ``Int64``, either seconds since the epoch or an order index (0, 1, 2, ...)
  when the source only gives an order;
* ``rating`` (``Float64``) and ``behavior`` (``Utf8``) when the source has them;
* then any extra source columns, under their own names.

Rows keep the order of the file. Parsing is vectorised with Polars: the text is split into
lines and fields by Polars expressions, and a malformed line (wrong field count, a
non-integer where an integer is required, a blank line in the middle of the file) raises
:class:`DataFormatError` naming the file, the 1-based line number and the field.

A path ending in ``.gz`` is decompressed in memory (``gzip``) before it is parsed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

__all__ = [
    "ColumnMapping",
    "DataFormatError",
    "read_diginetica_sessions",
    "read_jodie",
    "read_lastfm_artists",
    "read_lastfm_interactions",
    "read_lastfm_tags",
    "read_movielens_movies",
    "read_movielens_ratings",
    "read_movielens_users",
    "read_s3rec_item_attributes",
    "read_s3rec_rows",
    "read_sasrec_pairs",
    "read_table",
    "read_taobao",
]

PathLike = str | os.PathLike[str]

# Internal column names; the prefix keeps them apart from any source column.
_LINE = "__seqrec_line"
_TEXT = "__seqrec_text"
_TOKENS = "__seqrec_tokens"

_CANONICAL = ("user", "item", "timestamp", "rating", "behavior")
_TAOBAO_BEHAVIORS = ("pv", "cart", "fav", "buy")


class DataFormatError(ValueError):
    """A data file does not have the expected format.

    The message names the file path and, where it applies, the 1-based line number
    (``unit`` is ``"row"`` for Parquet and ``"record"`` for CSV records that span several
    lines) and the field, e.g. ``"ratings.dat line 17: field 'timestamp' is not an integer:
    'abc'"``. The parts are also kept as the attributes ``path``, ``line`` and ``field``.
    """

    def __init__(
        self,
        path: PathLike,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        unit: str = "line",
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        where = self.path if line is None else f"{self.path} {unit} {line}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class ColumnMapping:
    """Names of the source columns that hold each canonical field (``None``: absent)."""

    user: str
    item: str
    timestamp: str | None = None
    rating: str | None = None
    behavior: str | None = None

    def as_dict(self) -> dict[str, str]:
        """Canonical name -> source column, for the mapped fields only."""
        pairs = {
            "user": self.user,
            "item": self.item,
            "timestamp": self.timestamp,
            "rating": self.rating,
            "behavior": self.behavior,
        }
        return {role: source for role, source in pairs.items() if source is not None}


# --------------------------------------------------------------------------------------
# Bytes, text and lines
# --------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it when its name ends in ``.gz``."""
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataFormatError(path, f"not a valid gzip file: {exc}") from exc
    return data


def _decode(path: Path, data: bytes, encoding: str) -> str:
    """Decode bytes; an invalid byte raises DataFormatError with its line number."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataFormatError(
            path, f"bytes are not valid {encoding} ({exc.reason} at byte {exc.start})", line=line
        ) from exc
    return text.removeprefix("\ufeff")


def _without_trailing_blank_lines(text: str) -> str:
    """Cut the text after the end of its last non-blank line (keeping that line's newline)."""
    content_end = len(text.rstrip(" \t\r\n"))
    if content_end == 0:
        return ""
    newline = text.find("\n", content_end)
    return text if newline == -1 else text[: newline + 1]


def _raise_first(
    path: Path,
    frame: pl.DataFrame,
    bad: pl.Expr,
    describe: Callable[[dict[str, Any]], str],
    *,
    field: str | None = None,
    unit: str = "line",
) -> None:
    """Raise DataFormatError for the first row of ``frame`` where ``bad`` holds."""
    hit = frame.filter(bad.fill_null(False)).head(1)
    if hit.height:
        row = hit.row(0, named=True)
        raise DataFormatError(path, describe(row), line=row[_LINE], field=field, unit=unit)


def _text_lines(path: Path, text: str) -> pl.DataFrame:
    """Split text into a frame of (1-based line number, line text).

    ``\\r\\n`` line ends are accepted. Blank lines at the end are dropped; a blank line
    before the last non-blank one raises DataFormatError.
    """
    lines = (
        pl.DataFrame({_TEXT: [_without_trailing_blank_lines(text)]})
        .select(pl.col(_TEXT).str.split("\n"))
        .explode(_TEXT)
        .with_row_index(_LINE, offset=1)
        .with_columns(pl.col(_LINE).cast(pl.Int64), pl.col(_TEXT).str.strip_suffix("\r"))
    )
    if lines.height and lines[_TEXT][-1] == "":
        lines = lines.head(-1)
    _raise_first(
        path,
        lines,
        pl.col(_TEXT).str.strip_chars() == "",
        lambda _row: "empty line (blank lines are only allowed at the end of the file)",
    )
    return lines


def _load_lines(path: Path, encoding: str) -> pl.DataFrame:
    """Read, decompress, decode and split a file into numbered lines."""
    return _text_lines(path, _decode(path, _read_bytes(path), encoding))


def _tokenise(lines: pl.DataFrame, separator: str | None) -> pl.DataFrame:
    """Add the list of fields of each line; ``separator=None`` splits on runs of whitespace."""
    text = pl.col(_TEXT)
    tokens = text.str.extract_all(r"\S+") if separator is None else text.str.split(separator)
    return lines.with_columns(tokens.alias(_TOKENS))


def _check_field_count(path: Path, frame: pl.DataFrame, expected: int, *, at_least: bool = False) -> None:
    """Raise for the first line whose number of fields is wrong."""
    count = pl.col(_TOKENS).list.len()
    bad = count < expected if at_least else count != expected
    wanted = f"at least {expected}" if at_least else str(expected)
    _raise_first(path, frame, bad, lambda row: f"expected {wanted} fields, found {len(row[_TOKENS])}")


def _split_header(
    path: Path,
    lines: pl.DataFrame,
    separator: str,
    *,
    expected: Sequence[str] | None = None,
    min_fields: int = 1,
) -> tuple[list[str], pl.DataFrame]:
    """Take line 1 as the header; check its names (or its field count); return it and the rest."""
    if lines.height == 0:
        raise DataFormatError(path, "file is empty, expected a header line")
    names = lines[_TEXT][0].split(separator)
    if expected is not None and names != list(expected):
        raise DataFormatError(
            path, f"expected the header {separator.join(expected)!r}, found {lines[_TEXT][0]!r}", line=1
        )
    if len(names) < min_fields:
        raise DataFormatError(path, f"expected a header of at least {min_fields} fields", line=1)
    return names, lines.slice(1)


# --------------------------------------------------------------------------------------
# Field conversion
# --------------------------------------------------------------------------------------

_Kind = Literal["int", "int_or_integral_float", "float", "text", "optional_text"]


@dataclass(frozen=True)
class _Field:
    """One positional field: its name in messages, its output column and its type."""

    label: str
    name: str
    kind: _Kind = "int"


def _integral_float(column: pl.Expr) -> pl.Expr:
    """Int64 from a numeric string such as ``"36.0"``; null when it is not a whole number."""
    as_float = column.cast(pl.Float64, strict=False)
    whole = as_float.is_finite() & (as_float == as_float.floor()) & (as_float.abs() < 2.0**53)
    return pl.when(whole).then(as_float).cast(pl.Int64)


def _conversion(kind: _Kind, column: pl.Expr) -> tuple[pl.Expr, pl.Expr, str]:
    """Converted expression, 'bad value' predicate and problem description for a kind."""
    if kind == "int":
        converted = column.cast(pl.Int64, strict=False)
        return converted, converted.is_null() & column.is_not_null(), "is not an integer"
    if kind == "int_or_integral_float":
        converted = pl.coalesce(column.cast(pl.Int64, strict=False), _integral_float(column))
        return converted, converted.is_null() & column.is_not_null(), "is not an integer"
    if kind == "float":
        converted = column.cast(pl.Float64, strict=False)
        return converted, converted.is_null() & column.is_not_null(), "is not a number"
    if kind == "text":
        return column, column == "", "is empty"
    converted = pl.when(column == "").then(None).otherwise(column)
    return converted, column.is_null() & column.is_not_null(), "is invalid"


def _convert_field(path: Path, frame: pl.DataFrame, field: _Field, *, unit: str = "line") -> pl.DataFrame:
    """Convert the string column ``field.name`` to its kind, raising on the first bad value."""
    converted, bad, problem = _conversion(field.kind, pl.col(field.name))
    _raise_first(
        path,
        frame,
        bad,
        lambda row: f"field {field.label!r} {problem}: {row[field.name]!r}",
        field=field.label,
        unit=unit,
    )
    return frame.with_columns(converted.alias(field.name))


def _extract_fields(path: Path, frame: pl.DataFrame, fields: Sequence[_Field]) -> pl.DataFrame:
    """Take the leading tokens of each line as the given fields, converted to their types."""
    frame = frame.with_columns(
        pl.col(_TOKENS).list.get(index, null_on_oob=True).alias(field.name)
        for index, field in enumerate(fields)
    )
    for field in fields:
        frame = _convert_field(path, frame, field)
    return frame.select(_LINE, *(field.name for field in fields))


def _parse_delimited(
    path: Path,
    *,
    separator: str | None,
    fields: Sequence[_Field],
    encoding: str = "utf-8",
    header: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Parse a file of exactly ``len(fields)`` fields per line (after an optional header)."""
    lines = _load_lines(path, encoding)
    if header is not None:
        _, lines = _split_header(path, lines, separator or " ", expected=header)
    frame = _tokenise(lines, separator)
    _check_field_count(path, frame, len(fields))
    return _extract_fields(path, frame, fields)


def _order_within_user() -> pl.Expr:
    """0, 1, 2, ... within each user, in the order of the rows."""
    return pl.int_range(pl.len(), dtype=pl.Int64).over("user")


def _explode_items(path: Path, frame: pl.DataFrame, items: pl.Expr) -> pl.DataFrame:
    """One row per item of each line's ``items`` list, with timestamp = position in the list.

    ``frame`` must hold ``_LINE`` and an Int64 ``user`` column.
    """
    exploded = (
        frame.select(
            _LINE,
            "user",
            items.alias("item"),
            pl.int_ranges(0, items.list.len(), dtype=pl.Int64).alias("timestamp"),
        )
        .explode("item", "timestamp")
        .filter(pl.col("item").is_not_null())
    )
    exploded = _convert_field(path, exploded, _Field("item", "item"))
    return exploded.select("user", "item", "timestamp")


# --------------------------------------------------------------------------------------
# Generic tables: CSV / TSV / Parquet
# --------------------------------------------------------------------------------------


def _table_name(path: Path) -> str:
    """Lower-case file name without a trailing ``.gz``."""
    return path.name.lower().removesuffix(".gz")


def _sniff_separator(text: str) -> str:
    """Separator of a ``.txt`` table: the first of tab, comma, semicolon, space on line 1."""
    first_line = text.partition("\n")[0]
    for candidate in ("\t", ",", ";", " "):
        if candidate in first_line:
            return candidate
    return "\t"


def _infer_separator(path: Path, text: str) -> str:
    """Separator from the suffix: .csv -> comma, .tsv -> tab, .txt -> sniffed from line 1."""
    suffix = Path(_table_name(path)).suffix
    if suffix == ".csv":
        return ","
    if suffix == ".tsv":
        return "\t"
    if suffix == ".txt":
        return _sniff_separator(text)
    raise DataFormatError(
        path, f"cannot infer the separator from the suffix {suffix!r}; pass separator= explicitly"
    )


def _check_unquoted_field_counts(path: Path, lines: pl.DataFrame, separator: str) -> None:
    """Every line must have as many fields as line 1 (only valid when nothing is quoted)."""
    if lines.height == 0:
        return
    counted = lines.with_columns(
        (pl.col(_TEXT).str.count_matches(separator, literal=True) + 1).alias(_TOKENS)
    )
    expected = counted[_TOKENS][0]
    _raise_first(
        path,
        counted,
        pl.col(_TOKENS) != expected,
        lambda row: f"expected {expected} fields (as on line 1), found {row[_TOKENS]}",
    )


def _locate_csv_error(path: Path, text: str, separator: str, quote: str, error: Exception) -> DataFormatError:
    """After Polars failed: find the first record whose field count differs from line 1."""
    reader = csv.reader(io.StringIO(text), delimiter=separator, quotechar=quote)
    expected: int | None = None
    try:
        for record in reader:
            if expected is None:
                expected = len(record)
            elif record and len(record) != expected:
                return DataFormatError(
                    path,
                    f"expected {expected} fields (as on line 1), found {len(record)}",
                    line=reader.line_num,
                )
    except csv.Error as exc:
        return DataFormatError(path, f"malformed CSV: {exc}", line=reader.line_num)
    return DataFormatError(path, f"cannot be parsed as a delimited table: {error}")


def _column_names(cleaned: bytes, options: dict[str, Any], has_header: bool) -> list[str]:
    """Header names, or ``column_1``, ``column_2``, ... (1-based) without a header."""
    names = pl.read_csv(cleaned, n_rows=0, raise_if_empty=False, **options).columns
    return names if has_header else [f"column_{index}" for index in range(1, len(names) + 1)]


def _read_delimited_table(
    path: Path, text: str, separator: str, has_header: bool, text_columns: Collection[str]
) -> tuple[pl.DataFrame, str]:
    """Read CSV/TSV text with Polars; ``text_columns`` are read as strings. Returns (frame, unit).

    The frame carries ``_LINE``: the 1-based line of each record, or the record number when
    quoted fields span several lines (then the unit is ``"record"``).
    """
    lines = _text_lines(path, text)
    if has_header and lines.height == 0:
        raise DataFormatError(path, "file is empty, expected a header line")
    quote = None if separator == "\t" else '"'
    if quote is None or quote not in text:
        _check_unquoted_field_counts(path, lines, separator)
    cleaned = _without_trailing_blank_lines(text).encode("utf-8")
    options: dict[str, Any] = {"separator": separator, "has_header": has_header, "quote_char": quote}
    try:
        names = _column_names(cleaned, options, has_header)
        frame = pl.read_csv(
            cleaned,
            new_columns=None if has_header else names,
            schema_overrides={name: pl.Utf8 for name in names if name in text_columns},
            infer_schema_length=None,
            raise_if_empty=False,
            **options,
        )
    except pl.exceptions.PolarsError as exc:
        raise _locate_csv_error(path, text, separator, quote or '"', exc) from exc
    first = 2 if has_header else 1
    records_are_lines = frame.height == lines.height - (first - 1)
    offset = first if records_are_lines else 1
    frame = frame.with_row_index(_LINE, offset=offset).with_columns(pl.col(_LINE).cast(pl.Int64))
    return frame, "line" if records_are_lines else "record"


def _read_parquet_table(path: Path) -> pl.DataFrame:
    """Read a Parquet file (optionally gzipped) with a 1-based row number in ``_LINE``."""
    try:
        frame = pl.read_parquet(io.BytesIO(_read_bytes(path)))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataFormatError(path, f"cannot be read as Parquet: {exc}") from exc
    return frame.with_row_index(_LINE, offset=1).with_columns(pl.col(_LINE).cast(pl.Int64))


def _check_mapping(path: Path, frame: pl.DataFrame, mapping: dict[str, str]) -> list[str]:
    """Check that every mapped column exists and no extra column clashes; return the extras."""
    available = [name for name in frame.columns if name != _LINE]
    for role, source in mapping.items():
        if source not in available:
            raise DataFormatError(
                path,
                f"column {source!r} (mapped to {role!r}) not found; available columns: "
                + ", ".join(repr(name) for name in available),
                field=source,
            )
    extras = [name for name in available if name not in mapping.values()]
    produced = set(mapping) | {"timestamp"}
    for name in extras:
        if name in produced:
            raise DataFormatError(
                path,
                f"extra column {name!r} would clash with the canonical column of the same name; "
                f"map it in ColumnMapping or rename it",
                field=name,
            )
    return extras


def _id_column(path: Path, frame: pl.DataFrame, source: str, unit: str) -> pl.Expr:
    """Int64 when every id is an integer (without leading zeros or signs), else Utf8."""
    _raise_first(
        path,
        frame,
        pl.col(source).is_null(),
        lambda _row: f"field {source!r} is empty",
        field=source,
        unit=unit,
    )
    dtype = frame.schema[source]
    if dtype.is_integer():
        return pl.col(source).cast(pl.Int64)
    if dtype != pl.Utf8:
        raise DataFormatError(path, f"field {source!r} has type {dtype}; ids must be integers or strings")
    as_int = frame[source].cast(pl.Int64, strict=False)
    if (as_int.cast(pl.Utf8) == frame[source]).fill_null(False).all():
        return pl.col(source).cast(pl.Int64)
    return pl.col(source)


def _timestamp_column(path: Path, frame: pl.DataFrame, source: str, unit: str) -> pl.Expr:
    """Int64 timestamps from integers, whole-number floats or strings, dates or datetimes (epoch s)."""
    dtype = frame.schema[source]
    if dtype in (pl.Date, pl.Datetime):
        return pl.col(source).dt.epoch("s")
    if dtype.is_integer():
        return pl.col(source).cast(pl.Int64)
    return _convert_or_raise(path, frame, source, "int_or_integral_float", unit)


def _rating_column(path: Path, frame: pl.DataFrame, source: str, unit: str) -> pl.Expr:
    """Float64 ratings; a non-numeric value raises."""
    return _convert_or_raise(path, frame, source, "float", unit)


def _convert_or_raise(path: Path, frame: pl.DataFrame, source: str, kind: _Kind, unit: str) -> pl.Expr:
    """The conversion of column ``source`` to ``kind``; the first value that does not convert raises."""
    converted, bad, problem = _conversion(kind, pl.col(source).cast(pl.Utf8))
    _raise_first(
        path,
        frame,
        bad,
        lambda row: f"field {source!r} {problem}: {row[source]!r}",
        field=source,
        unit=unit,
    )
    return converted


def _canonical_table(path: Path, frame: pl.DataFrame, columns: ColumnMapping, unit: str) -> pl.DataFrame:
    """Turn a source table into the canonical interaction frame."""
    mapping = columns.as_dict()
    extras = _check_mapping(path, frame, mapping)
    selected = [
        _id_column(path, frame, columns.user, unit).alias("user"),
        _id_column(path, frame, columns.item, unit).alias("item"),
    ]
    if columns.timestamp is not None:
        selected.append(_timestamp_column(path, frame, columns.timestamp, unit).alias("timestamp"))
    if columns.rating is not None:
        selected.append(_rating_column(path, frame, columns.rating, unit).alias("rating"))
    if columns.behavior is not None:
        selected.append(pl.col(columns.behavior).cast(pl.Utf8).alias("behavior"))
    result = frame.select(*selected, *extras)
    if columns.timestamp is None:
        result = result.with_columns(_order_within_user().alias("timestamp"))
    order = [name for name in _CANONICAL if name in result.columns]
    return result.select(*order, *extras)


def read_table(
    path: PathLike,
    columns: ColumnMapping,
    *,
    separator: str | None = None,
    has_header: bool = True,
) -> pl.DataFrame:
    """Read a CSV, TSV or Parquet table of interactions into the canonical interaction frame.

    Args:
        path: ``.csv``, ``.tsv``, ``.txt`` or ``.parquet`` file, optionally ending in ``.gz``.
        columns: which source columns hold user, item, timestamp, rating and behavior.
        separator: field separator; by default inferred from the suffix (``.csv``: comma,
            ``.tsv``: tab, ``.txt``: the first of tab, comma, semicolon or space found on
            line 1). Tab-separated files are read without quoting; others with ``"`` quotes.
        has_header: whether line 1 holds the column names. Without a header the columns
            are named ``column_1``, ``column_2``, ... (1-based). Ignored for Parquet.

    Returns:
        The canonical frame. Ids become Int64 when every value is a plain integer, else
        Utf8. Without a mapped timestamp, ``timestamp`` is the order of the rows within each
        user (0, 1, 2, ...). Empty timestamp cells stay null. Unmapped source columns follow
        under their own names with their inferred types.

    Raises:
        DataFormatError: a mapped column is missing (the message lists the available
            ones), a user or item is empty, a timestamp or rating does not parse, a line
            has the wrong number of fields or a blank line sits in the middle. Line numbers
            count the header as line 1; Parquet errors give the 1-based row.
    """
    path = Path(path)
    if _table_name(path).endswith(".parquet"):
        return _canonical_table(path, _read_parquet_table(path), columns, "row")
    text = _decode(path, _read_bytes(path), "utf-8")
    text_columns = set(columns.as_dict().values())
    separator = separator or _infer_separator(path, text)
    frame, unit = _read_delimited_table(path, text, separator, has_header, text_columns)
    return _canonical_table(path, frame, columns, unit)


# --------------------------------------------------------------------------------------
# MovieLens (``::``-separated, latin-1)
# --------------------------------------------------------------------------------------


def read_movielens_ratings(path: PathLike) -> pl.DataFrame:
    """Read MovieLens ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``, latin-1).

    Returns columns user, item, timestamp (Int64, epoch seconds) and rating (Float64), in
    file order.
    """
    fields = (
        _Field("user", "user"),
        _Field("item", "item"),
        _Field("rating", "rating", "float"),
        _Field("timestamp", "timestamp"),
    )
    frame = _parse_delimited(Path(path), separator="::", fields=fields, encoding="latin-1")
    return frame.select("user", "item", "timestamp", "rating")


def read_movielens_movies(path: PathLike) -> pl.DataFrame:
    """Read MovieLens ``movies.dat`` (``MovieID::Title::Genres``, latin-1).

    Returns columns item (Int64), title (Utf8, as given, e.g. ``"Toy Story (1995)"``),
    genres (Utf8, the ``|``-separated list kept as one string, null when empty) and year
    (Int64 parsed from a trailing ``"(1995)"`` in the title, else null).
    """
    fields = (
        _Field("item", "item"),
        _Field("title", "title", "text"),
        _Field("genres", "genres", "optional_text"),
    )
    frame = _parse_delimited(Path(path), separator="::", fields=fields, encoding="latin-1")
    year = pl.col("title").str.extract(r"\((\d{4})\)\s*$", 1).cast(pl.Int64)
    return frame.select("item", "title", "genres", year.alias("year"))


def read_movielens_users(path: PathLike) -> pl.DataFrame:
    """Read MovieLens ``users.dat`` (``UserID::Gender::Age::Occupation::Zip-code``, latin-1).

    Returns columns user (Int64), gender (Utf8), age (Int64, the MovieLens age-group code),
    occupation (Int64 code) and zip (Utf8, kept as text: some are like ``"55455-1234"``).
    """
    fields = (
        _Field("user", "user"),
        _Field("gender", "gender", "text"),
        _Field("age", "age"),
        _Field("occupation", "occupation"),
        _Field("zip", "zip", "text"),
    )
    frame = _parse_delimited(Path(path), separator="::", fields=fields, encoding="latin-1")
    return frame.drop(_LINE)


# --------------------------------------------------------------------------------------
# SASRec / BERT4Rec pairs, S3-Rec rows, Diginetica sessions
# --------------------------------------------------------------------------------------


def read_sasrec_pairs(path: PathLike) -> pl.DataFrame:
    """Read the SASRec/BERT4Rec pair layout: ``user item`` per line (whitespace-separated).

    Each user's lines are in time order, so ``timestamp`` is the order index 0, 1, 2, ...
    of the user's lines as given. Returns user, item, timestamp (all Int64).
    """
    fields = (_Field("user", "user"), _Field("item", "item"))
    frame = _parse_delimited(Path(path), separator=None, fields=fields)
    return frame.select("user", "item", _order_within_user().alias("timestamp"))


def _check_unique_users(path: Path, frame: pl.DataFrame) -> None:
    """In the row layout each user has one line; raise for the first repeated user."""
    first_line = "__seqrec_first_line"
    repeated = frame.with_columns(pl.col(_LINE).min().over("user").alias(first_line))
    _raise_first(
        path,
        repeated,
        pl.col(_LINE) != pl.col(first_line),
        lambda row: f"user {row['user']} already has a row on line {row[first_line]}",
        field="user",
    )


def read_s3rec_rows(path: PathLike) -> pl.DataFrame:
    """Read the S3-Rec row layout: ``user i1 i2 ... in`` per line, items in time order.

    Returns one row per item: user, item, timestamp = position of the item in its row
    (0-based), all Int64. A line without items or a user on two lines raises.
    """
    path = Path(path)
    frame = _tokenise(_load_lines(path, "utf-8"), None)
    _check_field_count(path, frame, 2, at_least=True)
    frame = frame.with_columns(pl.col(_TOKENS).list.first().alias("user"))
    frame = _convert_field(path, frame, _Field("user", "user"))
    _check_unique_users(path, frame)
    return _explode_items(path, frame, pl.col(_TOKENS).list.slice(1))


def read_diginetica_sessions(path: PathLike) -> pl.DataFrame:
    """Read SR-GNN-style sessions: one session per line, item ids separated by whitespace.

    There are no user ids or timestamps: ``user`` is the 1-based line number (the session
    id) and ``timestamp`` the position of the click within the session (0-based).
    """
    path = Path(path)
    frame = _tokenise(_load_lines(path, "utf-8"), None)
    frame = frame.with_columns(pl.col(_LINE).alias("user"))
    return _explode_items(path, frame, pl.col(_TOKENS))


def read_s3rec_item_attributes(path: PathLike) -> pl.DataFrame:
    """Read an S3-Rec ``*_item2attributes.json`` (``{"item": [attribute ids]}``).

    Returns columns item (Int64) and attributes (List[Int64]), sorted by item.
    """
    path = Path(path)
    text = _decode(path, _read_bytes(path), "utf-8")
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from exc
    if not isinstance(mapping, dict):
        raise DataFormatError(path, "expected a JSON object mapping item ids to attribute lists")
    try:
        frame = pl.DataFrame(
            {"item": list(mapping.keys()), "attributes": list(mapping.values())},
            schema={"item": pl.Utf8, "attributes": pl.List(pl.Int64)},
            strict=True,
        )
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise DataFormatError(path, f"attribute lists must hold integers: {exc}", field="attributes") from exc
    items = frame["item"].cast(pl.Int64, strict=False)
    if items.null_count():
        bad = frame.filter(items.is_null())["item"][0]
        raise DataFormatError(path, f"item key {bad!r} is not an integer", field="item")
    return frame.with_columns(items.alias("item")).sort("item")


# --------------------------------------------------------------------------------------
# JODIE
# --------------------------------------------------------------------------------------


def read_jodie(path: PathLike) -> pl.DataFrame:
    """Read a JODIE-style edge list: a header, then ``user,item,timestamp,label[,features...]``.

    The first four columns are used by position (header ``u,i,ts,label`` in the TGN-style
    file, ``user_id,item_id,timestamp,state_label,...`` in JODIE's own); feature columns
    after them are ignored. Returns user, item, timestamp (Int64 seconds; whole-number
    floats such as ``36.0`` are accepted) and label (Int64 state label) as an extra column.

    Ids are kept raw: in the TGN-style ``wikipedia.csv`` item ids are offset by the number
    of users (``i = item_id + 8227``). The vocabulary built later remaps ids anyway, so no
    offset is removed here.
    """
    path = Path(path)
    names, lines = _split_header(path, _load_lines(path, "utf-8"), ",", min_fields=4)
    frame = _tokenise(lines, ",")
    _check_field_count(path, frame, 4, at_least=True)
    fields = (
        _Field(names[0], "user"),
        _Field(names[1], "item"),
        _Field(names[2], "timestamp", "int_or_integral_float"),
        _Field(names[3], "label", "int_or_integral_float"),
    )
    return _extract_fields(path, frame, fields).drop(_LINE)


# --------------------------------------------------------------------------------------
# Last.fm hetrec2011-lastfm-2k (tab-separated, header, UTF-8, no quoting)
# --------------------------------------------------------------------------------------

_TAGGED_HEADER = ("userID", "artistID", "tagID", "day", "month", "year")


def read_lastfm_artists(path: PathLike) -> pl.DataFrame:
    """Read hetrec2011 ``artists.dat`` (``id name url pictureURL``, tab-separated).

    Returns item (Int64), title (the artist name), url and pictureURL (null when empty).
    """
    fields = (
        _Field("id", "item"),
        _Field("name", "title", "text"),
        _Field("url", "url", "optional_text"),
        _Field("pictureURL", "pictureURL", "optional_text"),
    )
    header = [field.label for field in fields]
    return _parse_delimited(Path(path), separator="\t", fields=fields, header=header).drop(_LINE)


def _read_lastfm_tag_names(path: Path) -> pl.DataFrame:
    """Read ``tags.dat`` (``tagID tagValue``) into tag_id, tag; tag ids must be unique."""
    fields = (_Field("tagID", "tag_id"), _Field("tagValue", "tag", "text"))
    header = [field.label for field in fields]
    frame = _parse_delimited(path, separator="\t", fields=fields, header=header)
    _raise_first(
        path,
        frame,
        pl.col("tag_id").is_duplicated() & ~pl.col("tag_id").is_first_distinct(),
        lambda row: f"tagID {row['tag_id']} is defined twice",
        field="tagID",
    )
    return frame


def _read_lastfm_tagged(path: Path) -> pl.DataFrame:
    """Read ``user_taggedartists.dat`` into _LINE, user, item, tag_id, day, month, year."""
    names = ("user", "item", "tag_id", "day", "month", "year")
    fields = tuple(_Field(label, name) for label, name in zip(_TAGGED_HEADER, names, strict=True))
    return _parse_delimited(path, separator="\t", fields=fields, header=_TAGGED_HEADER)


def _tagging_epoch_seconds(path: Path, tagged: pl.DataFrame) -> pl.DataFrame:
    """Add ``timestamp``: midnight UTC of the tagging date, in epoch seconds; invalid dates raise."""
    month_ok = pl.col("month").is_between(1, 12) & pl.col("year").is_between(1, 9999)
    first_of_month = pl.date(
        pl.when(month_ok).then(pl.col("year")).otherwise(2000),
        pl.when(month_ok).then(pl.col("month")).otherwise(1),
        1,
    )
    valid = month_ok & pl.col("day").is_between(1, first_of_month.dt.month_end().dt.day())
    _raise_first(
        path,
        tagged,
        ~valid,
        lambda row: f"invalid date day={row['day']} month={row['month']} year={row['year']}",
        field="day/month/year",
    )
    date = pl.date(pl.col("year"), pl.col("month"), pl.col("day"))
    return tagged.with_columns(date.dt.epoch("s").cast(pl.Int64).alias("timestamp"))


def read_lastfm_tags(tags_path: PathLike, user_tagged_path: PathLike) -> pl.DataFrame:
    """Per artist, the tags users gave it (hetrec2011 ``tags.dat`` + ``user_taggedartists.dat``).

    Returns item (Int64) and tags (Utf8): the distinct tag names joined with ``|``, most
    used first (ties by name), sorted by item. Only artists with at least one tag appear.
    A tagID missing from ``tags.dat`` raises DataFormatError.
    """
    tags_path, user_tagged_path = Path(tags_path), Path(user_tagged_path)
    names = _read_lastfm_tag_names(tags_path)
    tagged = _read_lastfm_tagged(user_tagged_path)
    _raise_first(
        user_tagged_path,
        tagged.join(names, on="tag_id", how="anti"),
        pl.col(_LINE).is_not_null(),
        lambda row: f"field 'tagID' refers to tag {row['tag_id']}, which {tags_path.name} does not define",
        field="tagID",
    )
    counts = tagged.join(names, on="tag_id").group_by("item", "tag").agg(pl.len().alias("uses"))
    ranked = counts.sort(["item", "uses", "tag"], descending=[False, True, False])
    return ranked.group_by("item", maintain_order=True).agg(pl.col("tag").str.join("|").alias("tags"))


def read_lastfm_interactions(user_artists_path: PathLike, user_tagged_path: PathLike) -> pl.DataFrame:
    """Interactions of hetrec2011-lastfm-2k: the distinct (user, artist) pairs of ``user_artists.dat``.

    ``user_artists.dat`` has no time, only a listening count (kept as the extra column
    ``weight``). ``user_taggedartists.dat`` dates each (user, artist, tag) to a day
    (day/month/year, mostly the 1st of a month). So ``timestamp`` is the earliest tagging
    date of the pair, as epoch seconds at midnight UTC, when the user tagged that artist,
    and **null otherwise** (about 78 % of the pairs in the real data: only 20,665 of 92,834
    pairs were tagged). The coarse dates also tie often. Downstream code must therefore
    not treat this timestamp as a full ordering. Rows keep the order of ``user_artists.dat``;
    a repeated (user, artist) pair raises DataFormatError.
    """
    user_artists_path, user_tagged_path = Path(user_artists_path), Path(user_tagged_path)
    fields = (_Field("userID", "user"), _Field("artistID", "item"), _Field("weight", "weight"))
    header = [field.label for field in fields]
    pairs = _parse_delimited(user_artists_path, separator="\t", fields=fields, header=header)
    pair = pl.struct("user", "item")
    _raise_first(
        user_artists_path,
        pairs,
        pair.is_duplicated() & ~pair.is_first_distinct(),
        lambda row: f"pair (userID {row['user']}, artistID {row['item']}) appears twice",
        field="artistID",
    )
    dated = _tagging_epoch_seconds(user_tagged_path, _read_lastfm_tagged(user_tagged_path))
    first = dated.group_by("user", "item").agg(pl.col("timestamp").min())
    joined = pairs.join(first, on=["user", "item"], how="left", maintain_order="left")
    return joined.select("user", "item", "timestamp", "weight")


# --------------------------------------------------------------------------------------
# Taobao UserBehavior
# --------------------------------------------------------------------------------------


def read_taobao(path: PathLike) -> pl.DataFrame:
    """Read Taobao ``UserBehavior.csv`` (no header: ``user_id,item_id,category_id,behavior_type,timestamp``).

    Returns user, item, timestamp (Int64 epoch seconds), behavior (one of pv, cart, fav,
    buy) and category (Int64) as an extra column, in file order.
    """
    path = Path(path)
    fields = (
        _Field("user_id", "user"),
        _Field("item_id", "item"),
        _Field("category_id", "category"),
        _Field("behavior_type", "behavior", "text"),
        _Field("timestamp", "timestamp"),
    )
    frame = _parse_delimited(path, separator=",", fields=fields)
    _raise_first(
        path,
        frame,
        ~pl.col("behavior").is_in(_TAOBAO_BEHAVIORS),
        lambda row: (
            f"field 'behavior_type' is {row['behavior']!r}, expected one of " + ", ".join(_TAOBAO_BEHAVIORS)
        ),
        field="behavior_type",
    )
    return frame.select("user", "item", "timestamp", "behavior", "category")
