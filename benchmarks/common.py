"""Shared helpers for benchmark scripts: flat result records, JSON + markdown output, medians."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.api import git_commit
from seqrec.config import build_config
from seqrec.evaluation.evaluator import evaluate
from seqrec.io import write_bytes_atomic, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"


def mirror() -> str:
    """The offline data mirror (``SEQREC_DATA_MIRROR``, else ``../shared/data`` beside the repository)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return os.environ.setdefault("SEQREC_DATA_MIRROR", str(default))


def cpuinfo(key: str) -> str | None:
    """The first ``key : value`` of ``/proc/cpuinfo`` (e.g. ``model name``, ``flags``), None if unreadable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_has(flag: str) -> bool:
    """Whether ``/proc/cpuinfo`` lists this CPU flag (False where it cannot be read)."""
    return flag in (cpuinfo("flags") or "").split()


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what ``platform`` knows."""
    return cpuinfo("model name") or platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    return {
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "",
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # e.g. AVX2, AVX512
        "amx_bf16": cpu_has("amx_bf16"),  # native bf16 matrix products (bf16 autocast pays off)
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


ARM_COLUMNS = [
    "run",
    "seed",
    "protocol",
    "HR@10",
    "NDCG@10",
    "epochs",
    "best_epoch",
    "seconds_per_epoch",
    "train_seconds",
    "peak_rss_mb",
    "git_commit",
]
"""The table of an accuracy benchmark's arms (``run_arms``)."""

ARM_MEDIANS = ("HR@10", "NDCG@10", "seconds_per_epoch", "train_seconds", "peak_rss_mb")


def fixed_epochs_sasrec(
    dataset: str, epochs: int, eval_every: int, training: dict[str, Any]
) -> dict[str, Any]:
    """SASRec at the peers' Beauty sizes (max length 50, d 64, 2 blocks, 2 heads, dropout 0.2, batches of
    256, lr 1e-3) trained for ``epochs`` epochs (validated every ``eval_every``, the best validated state
    kept), no coverage pass; ``training`` on top: the configuration of one arm of an accuracy benchmark."""
    return {
        "data": {"dataset": dataset},
        "model": {"name": "sasrec", "max_len": 50, "hidden": 64, "blocks": 2, "heads": 2, "dropout": 0.2},
        "training": {
            "batch_size": 256,
            "lr": 1e-3,
            "epochs": epochs,
            "eval_every": eval_every,
            "patience": 10**6,  # a fixed number of epochs: the best validated state is kept
        }
        | training,
        "evaluation": {"coverage": False},
    }


def run_arms(configs: dict[str, dict[str, Any]], seeds: Sequence[int], threads: int) -> list[dict[str, Any]]:
    """``train_and_evaluate`` for every arm (label -> configuration) and seed; the arms take turns within
    each seed, so that drifts of the machine hit them all. The records, then ``arm_medians`` over them."""
    records: list[dict[str, Any]] = []
    for seed in seeds:
        for run, raw in configs.items():
            records += train_and_evaluate(
                run, raw, RuntimeOptions(threads=threads, seed=seed, progress=False)
            )
    return records + arm_medians(records, list(configs), ARM_MEDIANS)


def arm_medians(
    records: list[dict[str, Any]], runs: Sequence[str], keys: Sequence[str]
) -> list[dict[str, Any]]:
    """A row per run (in the order of ``runs``) and protocol of ``train_and_evaluate``'s records: the
    medians of ``keys`` over the run's seeds."""
    rows = []
    for run in runs:
        for protocol in dict.fromkeys(r["protocol"] for r in records):
            group = [r for r in records if r["run"] == run and r["protocol"] == protocol]
            if not group:
                continue
            row: dict[str, Any] = {"run": run, "seed": f"median of {len(group)}", "protocol": protocol}
            row.update({key: statistics.median(r[key] for r in group) for key in keys})
            rows.append(row)
    return rows


def median_seconds(step: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall seconds of ``step()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return median(times)


def write_results(
    name: str,
    records: list[dict[str, Any]],
    columns: list[str],
    title: str,
    notes: str = "",
    out: Path | None = None,
) -> None:
    """Write ``<out>/<name>.json`` (list of flat records) and ``<out>/<name>.md`` (a table);
    ``out`` defaults to ``benchmarks/results``."""
    folder = out or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{name}.json", records)
    lines = [f"# {title}", ""]
    if notes:
        lines += [notes.strip(), ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for r in records:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |")
    write_bytes_atomic(folder / f"{name}.md", ("\n".join(lines) + "\n").encode("utf-8"))


def kernel_benchmark(
    doc: str,
    *,
    name: str,
    repeats: int,
    time_cases: Callable[[int], list[dict[str, Any]]],
    columns: list[str],
    title: str,
    timed: str,
    sizes: str,
) -> None:
    """``main`` of a micro-benchmark that times cases on this machine's CPU: ``--repeats`` (default
    ``repeats``), ``--threads`` (2) and ``--name`` (``name``) from the command line, then
    ``time_cases(repeats)``'s records with the environment, written under ``--name`` with ``doc`` and a
    line naming the CPU, the threads, what each median is of (``timed``) and the sizes (``sizes``)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=repeats)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--name", default=name, help="results file name under benchmarks/results")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    records = time_cases(a.repeats)
    env = environment()
    for r in records:
        r.update(env, repeats=a.repeats)
    notes = (
        f"CPU: {env.get('cpu_model')} ({env.get('cpu_capability')}), {a.threads} threads; medians of "
        f"{a.repeats} {timed} per case; {sizes}."
    )
    write_results(a.name, records, columns, title, doc + notes)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


PROTOCOLS = (("sampled", "uniform"), ("full", None))


def train_and_evaluate(
    run: str,
    raw_config: dict[str, Any],
    runtime: RuntimeOptions,
    paper: dict[str, dict[str, float]] | None = None,
    protocols: tuple[tuple[str, str | None], ...] = PROTOCOLS,
) -> list[dict[str, Any]]:
    """Train one configuration and evaluate its test split; one flat record per protocol.

    ``protocols``: (protocol, sampler) pairs; ``paper`` maps a protocol label such as
    ``sampled-100-uniform`` to the published HR@10 / NDCG@10 for that protocol.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    cfg = build_config(raw_config)
    data = SequenceDataset.from_config(cfg.data)
    model = SeqRec(cfg, runtime=runtime).fit(data)
    assert model.fit_result is not None and model.model is not None
    history = model.fit_result.history
    records = []
    for protocol, sampler in protocols:
        eval_cfg = (
            cfg.evaluation if sampler is None else cfg.evaluation.model_copy(update={"sampler": sampler})
        )
        t0 = time.perf_counter()
        metrics = evaluate(
            model.model,
            data,
            eval_cfg,
            part="test",
            protocol=protocol,  # type: ignore[arg-type]
            max_len=cfg.model.max_len,
        )
        eval_seconds = time.perf_counter() - t0
        label = "full" if protocol == "full" else f"sampled-{metrics['num_negatives']}-{metrics['sampler']}"
        ref = (paper or {}).get(label, {})
        records.append(
            {
                "run": run,
                "library": "seqrec",
                "model": cfg.model.name,
                "dataset": data.name,
                "partial_dataset": data.partial,
                "protocol": label,
                "filter_seen": metrics["filter_seen"],
                "loss": cfg.training.loss,
                "HR@10": metrics["HR@10"],
                "NDCG@10": metrics["NDCG@10"],
                "MRR": metrics["MRR"],
                "paper HR@10": ref.get("HR@10", ""),
                "paper NDCG@10": ref.get("NDCG@10", ""),
                "epochs": len(history),
                "max_epochs": cfg.training.epochs,
                "stopped_early": model.fit_result.stopped_early,
                "best_epoch": model.fit_result.best_epoch,
                "seconds_per_epoch": median([h["seconds"] for h in history]),
                "train_seconds": model.fit_result.seconds,
                "eval_seconds": eval_seconds,
                "peak_rss_mb": peak_rss_mb(),
                "seed": runtime.seed,
                "config": json.dumps(raw_config, sort_keys=True),
                **environment(),
            }
        )
        print(json.dumps(records[-1]), flush=True)
    return records


def merge_records(path: Path, run: str, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records of ``path`` (if any) with those of ``run`` replaced by ``new``."""
    old = json.loads(path.read_text()) if path.exists() else []
    return [r for r in old if r["run"] != run] + new
