"""End-to-end: the CLI on a tiny CSV file, then evaluate and recommend from the saved run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from seqrec.cli import app
from tests.conftest import synthetic_log

runner = CliRunner()


def _write_inputs(tmp_path: Path) -> Path:
    log = synthetic_log(num_users=40, num_items=30, length=8).rename(
        {"user": "uid", "item": "sku", "timestamp": "ts"}
    )
    log.write_csv(tmp_path / "events.csv")
    pl.DataFrame({"item": list(range(1, 31)), "title": [f"Song {i}" for i in range(1, 31)]}).write_csv(
        tmp_path / "items.csv"
    )
    config = tmp_path / "run.yaml"
    config.write_text(
        f"""
data:
  path: {tmp_path / "events.csv"}
  columns: {{user: uid, item: sku, timestamp: ts}}
  items_path: {tmp_path / "items.csv"}
model: {{name: sasrec, max_len: 8, hidden: 16}}
training: {{epochs: 2, eval_every: 1, batch_size: 16}}
evaluation: {{ks: [5, 10], num_negatives: 20}}
"""
    )
    return config


def test_train_evaluate_recommend(tmp_path: Path) -> None:
    config = _write_inputs(tmp_path)
    run = tmp_path / "run"
    handlers = logging.getLogger().handlers[:]
    result = runner.invoke(
        app, ["train", "-c", str(config), "-o", str(run), "--no-progress", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    assert logging.getLogger().handlers == handlers  # the command's own handlers went with it
    assert "epoch 2 loss" in (run / "run.log").read_text()
    assert "test metrics" in result.output
    assert "sampled-20 uniform" in result.output
    assert "Song" in result.output  # recommendations shown with titles
    metrics = json.loads((run / "metrics.json").read_text())
    assert {m["protocol"] for m in metrics} == {"full", "sampled"}

    result = runner.invoke(app, ["evaluate", str(run), "--protocol", "full", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)[0]
    assert record["NDCG@10"] == metrics[0]["NDCG@10"]

    result = runner.invoke(app, ["recommend", str(run), "--user", "3", "--k", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.count("Song") == 3

    result = runner.invoke(app, ["recommend", str(run), "--title", "Song 4", "--title", "Song 5", "--k", "2"])
    assert result.exit_code == 0, result.output

    result = runner.invoke(app, ["recommend", str(run), "--title", "No Such Song"])
    assert result.exit_code == 2
    assert "unknown title" in result.output


def test_config_error_names_the_key(tmp_path: Path) -> None:
    config = _write_inputs(tmp_path)
    result = runner.invoke(app, ["train", "-c", str(config), "--set", "model.hiddden=3"])
    assert result.exit_code == 2
    assert "model.hiddden: unknown key" in result.output


def test_cuda_graphs_on_the_cpu_is_a_clean_error(tmp_path: Path) -> None:
    config = _write_inputs(tmp_path)
    result = runner.invoke(
        app,
        [
            "train",
            "-c",
            str(config),
            "-o",
            str(tmp_path / "run"),
            "--cuda-graphs",
            "--set",
            "training.loss=bce",
        ],
    )
    assert result.exit_code == 2
    assert "runtime.cuda_graphs needs a CUDA device (the device is cpu); training.loss 'ce'" in result.output
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_finetune_on_another_file(tmp_path: Path) -> None:
    config = _write_inputs(tmp_path)
    parent = tmp_path / "parent"
    result = runner.invoke(
        app, ["train", "-c", str(config), "-o", str(parent), "--no-progress", "--show-users", "0"]
    )
    assert result.exit_code == 0, result.output
    target = synthetic_log(num_users=30, num_items=30, length=8, seed=5).with_columns(pl.col("item") + 15)
    target = target.rename({"user": "user_id", "item": "item_id"})  # the default column names
    target.write_csv(tmp_path / "target.csv")
    child = tmp_path / "child"
    common = ["--set", f"data.path={tmp_path / 'target.csv'}", "--set", "training.epochs=1", "-o", str(child)]

    result = runner.invoke(app, ["finetune", str(parent), *common])
    assert result.exit_code != 0  # --strategy is required
    result = runner.invoke(app, ["finetune", str(parent), "--strategy", "partial", *common])
    assert result.exit_code == 2 and "--strategy must be one of" in result.output
    result = runner.invoke(
        app, ["finetune", str(parent), "--strategy", "adapters", "--set", "model.hidden=8"]
    )
    assert result.exit_code == 2 and "finetune takes data.*" in result.output

    result = runner.invoke(
        app,
        ["finetune", str(parent), "--strategy", "adapters", "--map-ids", "items", "--no-progress", *common],
    )
    assert result.exit_code == 0, result.output
    assert "items: 15 of 30 mapped to pre-trained rows" in result.output
    assert "trainable parameters:" in result.output and "test metrics" in result.output
    header = json.loads((child / "config.json").read_text())
    assert header["transfer"]["parent_run"] == str(parent)
    assert header["transfer"]["strategy"] == "adapters" and header["config"]["model"]["adapter_size"] == 32
    result = runner.invoke(app, ["recommend", str(child), "--user", "3", "--k", "3"])
    assert result.exit_code == 0, result.output
