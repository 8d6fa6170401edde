"""Fixtures for the model tests."""

from __future__ import annotations

import pytest

from seqrec import RuntimeOptions


@pytest.fixture
def one_thread() -> RuntimeOptions:
    """Quiet, seeded and single-threaded: tiny models run faster without intra-op threads."""
    return RuntimeOptions(progress=False, seed=7, threads=1)
