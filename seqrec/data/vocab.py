"""External <-> internal id vocabularies. Internal ids start at 1; 0 is padding / unknown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl


class UnknownIdError(KeyError):
    """Ids that a vocabulary does not know; the message lists (some of) them."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written
        return str(self.args[0])


class Vocabulary:
    """A bijection between external ids (integers or strings) and internal ids 1..n.

    The external ids are kept as a Polars Series of their original dtype (``Int64`` or ``String``).
    Lookups are joins, so mapping millions of ids is vectorised.
    """

    def __init__(self, external: pl.Series, name: str = "id") -> None:
        if external.is_duplicated().any():
            dup = external.filter(external.is_duplicated()).head(5).to_list()
            raise ValueError(f"{name} vocabulary: duplicate external ids {dup}")
        self.name = name
        self.external = external.rename("external")
        self._frame = pl.DataFrame(
            {"external": self.external, "internal": np.arange(1, len(external) + 1, dtype=np.int64)}
        )

    @classmethod
    def from_values(cls, values: pl.Series, name: str = "id") -> Vocabulary:
        """Vocabulary of the distinct values, in sorted order (deterministic across runs)."""
        return cls(values.unique().sort(), name)

    def __len__(self) -> int:
        return len(self.external)

    @property
    def dtype(self) -> pl.DataType:
        return self.external.dtype

    def _coerce(self, values: Sequence[Any] | pl.Series | np.ndarray) -> pl.Series:
        series = values if isinstance(values, pl.Series) else pl.Series("external", list(values))
        if series.dtype == self.dtype:
            return series.rename("external")
        try:
            return series.cast(self.dtype, strict=True).rename("external")
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
            if self.dtype == pl.String:
                return series.cast(pl.String).rename("external")
            bad = series.head(5).to_list()
            raise UnknownIdError(
                f"{self.name} ids {bad} cannot be {self.name} ids of this vocabulary (type {self.dtype})"
            ) from None

    def to_internal(
        self, values: Sequence[Any] | pl.Series | np.ndarray, *, unknown: str = "raise"
    ) -> np.ndarray:
        """Map external ids to internal ids; ``unknown="raise"`` (default) or ``"zero"`` (map to 0)."""
        series = self._coerce(values)
        joined = pl.DataFrame({"external": series}).join(
            self._frame, on="external", how="left", maintain_order="left"
        )
        internal = joined["internal"]
        if internal.null_count():
            if unknown == "raise":
                missing = series.filter(internal.is_null()).unique(maintain_order=True)
                shown = missing.head(10).to_list()
                more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
                raise UnknownIdError(f"unknown {self.name} id(s): {shown}{more}")
            internal = internal.fill_null(0)
        return np.array(internal.to_numpy(), dtype=np.int64)

    def to_external(self, internal: np.ndarray | Sequence[int]) -> pl.Series:
        """Map internal ids (1..n) back to external ids."""
        idx = np.asarray(internal, dtype=np.int64)
        if idx.size and (idx.min() < 1 or idx.max() > len(self)):
            raise IndexError(f"{self.name}: internal ids must lie in 1..{len(self)}")
        return self.external.gather(idx - 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": "int" if self.dtype.is_integer() else "str",
            "ids": self.external.to_list(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Vocabulary:
        dtype: pl.DataType = pl.Int64() if obj["dtype"] == "int" else pl.String()
        return cls(pl.Series("external", obj["ids"], dtype=dtype), obj.get("name", "id"))
