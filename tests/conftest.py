"""Shared fixtures: a small synthetic interaction log with a learnable sequential pattern."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from seqrec import RuntimeOptions, SequenceDataset


def synthetic_log(num_users: int = 120, num_items: int = 60, length: int = 12, seed: int = 0) -> pl.DataFrame:
    """Each user walks through consecutive item ids from a random start: the next item is predictable."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(num_users), length)
    starts = np.repeat(rng.integers(0, num_items, num_users), length)
    steps = np.tile(np.arange(length), num_users)
    items = (starts + steps) % num_items + 1
    return pl.DataFrame({"user": users, "item": items, "timestamp": steps * 100 + users})


@pytest.fixture
def log() -> pl.DataFrame:
    return synthetic_log()


@pytest.fixture
def item_meta() -> pl.DataFrame:
    return pl.DataFrame({"item": np.arange(1, 61), "title": [f"Film {i}" for i in range(1, 61)]})


@pytest.fixture
def dataset(log: pl.DataFrame, item_meta: pl.DataFrame) -> SequenceDataset:
    return SequenceDataset.from_frame(log, items=item_meta, name="synthetic")


@pytest.fixture
def quiet() -> RuntimeOptions:
    return RuntimeOptions(progress=False, seed=7)


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
"""Where the device-parametrised tests run: the CPU, and a GPU where one is present (select those with
``-k cuda``; ``benchmarks/gpu/run_checks.sh`` runs them on the lent GPU)."""


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)
