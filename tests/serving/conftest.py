"""One tiny trained run shared by the serving tests (trained once per session, about 3 s)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import polars as pl
import pytest

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.serving import Recommender
from tests.conftest import synthetic_log

faiss.omp_set_num_threads(1)  # tiny indexes: OpenMP start-up and spinning cost more than they save

GENRES = ["Drama", "Comedy", "Drama|Romance", "Sci-Fi|Action"]


def serving_meta() -> pl.DataFrame:
    """Titles ``Film 1`` .. ``Film 58``; items 59 and 60 share the title ``Twin Film`` (ambiguous)."""
    titles = [f"Film {i}" for i in range(1, 59)] + ["Twin Film", "Twin Film"]
    return pl.DataFrame(
        {
            "item": np.arange(1, 61),
            "title": titles,
            "genres": [GENRES[i % len(GENRES)] for i in range(60)],
            "year": np.arange(1960, 2020),
            "attributes": [[i % 7, i % 5] for i in range(60)],  # a list column (like S3-Rec attributes)
        }
    )


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = SequenceDataset.from_frame(synthetic_log(), items=serving_meta(), name="synthetic")
    run = tmp_path_factory.mktemp("serving") / "run"
    SeqRec(
        model={"name": "sasrec", "max_len": 10, "hidden": 16},
        training={"epochs": 1, "eval_every": 1},
        runtime=RuntimeOptions(progress=False, seed=7),
    ).fit(data, run_dir=run)
    return run


@pytest.fixture(scope="session")
def rec(run_dir: Path) -> Recommender:
    """Loaded with the default index (exact inner product for a catalogue this small)."""
    return Recommender.load(run_dir)


@pytest.fixture(scope="session")
def plain(run_dir: Path) -> Recommender:
    """Loaded without an index: whole-catalogue model scoring."""
    return Recommender.load(run_dir, index=None)
