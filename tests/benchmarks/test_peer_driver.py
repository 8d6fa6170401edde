"""seqrec's peer-benchmark driver (``benchmarks/peers/seqrec_run.py``): its record with and without
training, and the repeated timing of the test pass."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.peers import compare
from benchmarks.peers.compare import HERE, flop_commands
from tests.conftest import synthetic_log

DRIVER = Path(__file__).resolve().parents[2] / "benchmarks" / "peers" / "seqrec_run.py"
SMALL = ["--max-len", "12", "--hidden", "16", "--inner", "16", "--layers", "1", "--heads", "1"]


def run_driver(csv: Path, *args: str) -> dict:
    cmd = [sys.executable, str(DRIVER), "--interactions", str(csv), *SMALL, "--batch-size", "32", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "interactions.csv"
    log = synthetic_log().rename({"user": "user_id", "item": "item_id"})
    log.write_csv(path)
    return path


def test_zero_epochs_times_the_untrained_models_passes(csv: Path) -> None:
    record = run_driver(csv, "--epochs", "0", "--eval-passes", "3")
    assert "seconds_per_epoch" not in record and "valid_curve" not in record
    assert len(record["eval_pass_seconds"]) == 3
    assert record["eval_seconds"] == statistics.median(record["eval_pass_seconds"])
    assert 0.0 <= record["NDCG@10"] <= record["HR@10"] <= 1.0


@pytest.mark.slow
def test_training_run_reports_its_epochs(csv: Path) -> None:
    record = run_driver(csv, "--epochs", "2")
    assert len(record["epoch_seconds"]) == 2 and record["seconds_per_epoch"] > 0
    assert [point["epoch"] for point in record["valid_curve"]] == [1, 2]
    assert len(record["eval_pass_seconds"]) == 1


def test_count_flops_counts_an_epoch_and_a_test_pass_without_training(csv: Path) -> None:
    record = run_driver(csv, "--count-flops")
    assert record["library"] == "seqrec" and "seconds_per_epoch" not in record
    assert record["flops_epoch"] > record["flops_encoder"] > 0 and record["epoch_batches"] >= 1
    assert record["flops_eval"] > 0  # the test pass's encoder and scoring


def test_flop_commands_count_with_each_runs_own_arguments() -> None:
    cmds = {
        "seqrec": ["py", "seqrec_run.py", "--batch-size", "128"],
        "RecBole": ["rb-py", "recbole_run.py", "--dataset", "d", "--batch-size", "256"],
        "RecTools": ["rt-py", "rectools_run.py"],
    }
    out = flop_commands(cmds, ["seqrec", "RecBole", "RecTools"], batches=7)
    assert out["seqrec"] == ["py", "seqrec_run.py", "--batch-size", "128", "--count-flops"]
    assert out["RecBole"] == [
        "rb-py",
        str(HERE / "recbole_flops.py"),
        *["--dataset", "d", "--batch-size", "256", "--count-batches", "7"],
    ]
    assert out["RecTools"] == ["rt-py", "rectools_run.py", "--count-flops"]


def test_report_times_each_library_to_recboles_median_best(monkeypatch: pytest.MonkeyPatch) -> None:
    """RecBole's median best is the target; a library's time is the median over its runs that reach it
    (a run that never does is left out), and the ratio column divides the peer's time by seqrec's."""

    def run(library: str, curve: list[tuple[float, float]]) -> dict:
        points = [{"epoch": i + 1, "NDCG@10": v, "elapsed": t} for i, (v, t) in enumerate(curve)]
        return {"library": library, "seconds_per_epoch": 1.0, "eval_seconds": 1.0, "valid_curve": points}

    runs = {
        "seqrec": [run("seqrec", [(0.04, 10.0), (0.06, 20.0)]), run("seqrec", [(0.07, 12.0)])],
        "RecBole": [
            run("RecBole", [(0.05, 90.0)]),
            run("RecBole", [(0.06, 100.0)]),
            run("RecBole", [(0.07, 110.0)]),
        ],
    }
    written: dict = {}
    monkeypatch.setattr(compare, "write_results", lambda name, records, *_: written.update(records=records))
    a = argparse.Namespace(
        dataset="d", model="BERT4Rec", loss="CE", tag="", batch_size=32, epochs=1, epochs_for=[]
    )
    compare.report(a, runs)
    rows = {r["library"]: r for r in written["records"] if str(r.get("run", "")).endswith("/median")}
    assert rows["seqrec"]["seconds_to_RecBole_best_valid_NDCG@10"] == 16.0  # target 0.06: 20 s and 12 s
    assert rows["RecBole"]["seconds_to_RecBole_best_valid_NDCG@10"] == 105.0  # the run at 0.05 never does
    assert rows["RecBole"]["seconds_to_RecBole_best ratio (peer/seqrec)"] == pytest.approx(105.0 / 16.0)
