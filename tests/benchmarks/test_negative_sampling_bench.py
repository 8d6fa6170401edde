"""``benchmarks.negative_sampling``: the arms differ in the loss and its sampling alone."""

from __future__ import annotations

import argparse

from benchmarks.negative_sampling import ARMS, config
from seqrec.config import build_config


def test_the_arms_differ_only_in_the_loss_and_its_sampling() -> None:
    a = argparse.Namespace(dataset="s3rec-beauty", negatives=100, epochs=3, eval_every=1)
    built = {run: build_config(config(a, arm)) for run, arm in ARMS.items()}
    base = built["full softmax (ce)"]
    sampling = ("loss", "negative_sampler", "logq_correction")
    for run, cfg in built.items():
        assert {key: getattr(cfg.training, key) for key in ARMS[run]} == ARMS[run]
        shared = cfg.training.model_copy(update={key: getattr(base.training, key) for key in sampling})
        assert cfg.model_copy(update={"training": shared}) == base
    assert len({tuple(getattr(c.training, key) for key in sampling) for c in built.values()}) == len(ARMS)
