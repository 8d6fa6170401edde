"""Scaling curves for SASRec training (issue: speed and scale): time and peak memory per epoch as

* ``interactions`` grow: users of a registered dataset subsampled (below its size) or replicated with
  fresh user ids (above it), catalogue fixed;
* ``max_len`` grows (50 ... 1000) on ``ml-1m-head``, whose histories are long (PARTIAL MovieLens-1M);
* the catalogue grows (10^4 ... 10^6 items): the real interactions of ``s3rec-beauty`` with their items
  spread over N synthetic ids (many-to-one below the real catalogue), comparing full-softmax CE (chunked,
  and the code before chunking while memory allows) with sampled losses (a sampled softmax over 100
  negatives, BCE with one: Adam, and lazy Adam on the item rows each batch takes,
  ``training.sparse_item_updates``), plus full-ranking evaluation and top-100 recommendations for every
  user (`recommend-batch`);
* ``ce_memory``: s3rec-beauty CE with its real catalogue, chunked vs the code before, one full epoch.

Every point runs in a fresh subprocess (``--point JSON``): data arrays prepared once by the parent, a
model built, a warm-up of a few batches, then the timed part: a full epoch, or a fixed number of
batches whose time is extrapolated to the epoch by the batch count (the record says which). Extrapolated
points depend on which batches the shuffle puts first (with length bucketing, a batch of long histories
costs several times one of short ones), and that changes whenever a change of code draws random numbers
differently before them: drawing negatives at targets only (1179b20) moved the 6-batch sampled-softmax
points by up to 2x either way, where whole epochs of the two revisions took the same time. So the
full-softmax CE points, too slow for whole epochs at large catalogues, compare only with points of the
same batches; the sampled-softmax points time whole epochs. Memory is
the peak resident set size from the first training step on (``ru_maxrss`` after resetting the mark
through ``/proc/self/clear_refs``; on CUDA ``torch.cuda.max_memory_allocated``), next to the RSS
before it (data, model).
Growth is fitted as the slope of log(time) and log(extra memory) against log(x).

    python -m benchmarks.scaling --threads 2                     # every sweep, CPU sizes (~20 min)
    python -m benchmarks.scaling --sweeps catalogue --device cuda --preset gpu
    python -m benchmarks.scaling --preset smoke --no-write       # seconds: checks the plumbing
    python -m benchmarks.scaling --sweeps catalogue --only "ce ("  # remeasure some series, keep the rest
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.common import RESULTS, cpu_model, environment, mirror, peak_rss_mb, write_results
from seqrec import RuntimeOptions, SequenceDataset
from seqrec.config import build_config
from seqrec.data.batch import TrainBatch
from seqrec.data.sequences import Sequences, Split, leave_one_out
from seqrec.data.vocab import Vocabulary
from seqrec.evaluation import ranking
from seqrec.evaluation.evaluator import evaluate
from seqrec.io import atomic_write, write_json_atomic
from seqrec.models import build_model
from seqrec.nn import losses
from seqrec.serving.batch import write_recommendations
from seqrec.serving.recommender import Recommender
from seqrec.training.trainer import Trainer

SWEEPS = ("interactions", "max_len", "catalogue", "ce_memory")
ML1M = {"hidden": 50, "blocks": 2, "heads": 1, "dropout": 0.2, "batch_size": 128}  # SASRec paper, ML-1M
BEAUTY = {"hidden": 64, "blocks": 2, "heads": 2, "dropout": 0.2, "batch_size": 256}  # peers' Beauty sizes
SAMPLED_SERIES = (("sampled_softmax", 100), ("bce", 1))
"""The catalogue sweep's sampled losses (loss, negatives per position), each with Adam and with lazy Adam on
the rows a batch takes (``training.sparse_item_updates``)."""


def one_piece_ce(
    self: losses.FullCrossEntropy, hidden: Tensor, targets: Tensor, negatives: Tensor | None, table: Tensor
) -> Tensor:
    """The CE of the code before chunking (``ce (before)`` points): every position's ``[T, N]`` logits
    at once, differentiated by autograd (which keeps the log-probabilities for the backward pass)."""
    pos = targets > 0  # [B, L]
    logits = hidden[pos] @ table[1:].T  # [T, N]
    return F.cross_entropy(logits, targets[pos] - 1)


def ce_plan(loss: object, num_items: int, device: torch.device) -> str:
    """How the full-softmax CE takes the catalogue: ``rows`` positions per chunk of whole rows, or
    ``rows x items`` per block (``FullCrossEntropy.tiles``); empty for other losses."""
    if not isinstance(loss, losses.FullCrossEntropy):
        return ""
    tiles = loss.tiles(num_items, device)
    return f"{tiles[0]} x {tiles[1]}" if tiles else str(loss.chunk_rows(num_items, device))


# ---------------------------------------------------------------------------------------------- plan
def plan(preset: str, sweeps: list[str]) -> list[dict[str, Any]]:
    """The points to measure. ``cpu``: sized for ~20 minutes on 2 cores; ``gpu``: larger; ``smoke``: tiny."""
    points: list[dict[str, Any]] = []
    smoke = preset == "smoke"
    gpu = preset == "gpu"
    repeats = 1 if smoke else 3  # timed passes of the full-epoch points (median)

    def add(sweep: str, series: str, x: float, **spec: Any) -> None:
        points.append({"sweep": sweep, "series": series, "x": x, **spec})

    if "interactions" in sweeps:
        sizes = {
            "smoke": [20_000, 40_000],
            "cpu": [100_000, 200_000, 353_962, 700_000, 1_400_000],
            "gpu": [100_000, 353_962, 1_000_000, 3_000_000],
        }[preset]
        for n in sizes:
            add(
                "interactions",
                "bert4rec-beauty L=50 bce",
                n,
                dataset="bert4rec-beauty",
                interactions=n,
                max_len=50,
                loss="bce",
                repeats=repeats,
                **ML1M,
            )
        ml = {
            "smoke": [20_000],
            "cpu": [100_000, 200_000, 487_515, 1_000_000],
            "gpu": [100_000, 487_515, 2_000_000],
        }[preset]
        for n in ml:
            add(
                "interactions",
                "ml-1m-head L=200 bce",
                n,
                dataset="ml-1m-head",
                interactions=n,
                max_len=200,
                loss="bce",
                repeats=repeats,
                **ML1M,
            )
    if "max_len" in sweeps:
        lengths = {"smoke": [20, 50], "cpu": [50, 100, 200, 500, 1000], "gpu": [50, 200, 500, 1000, 2000]}
        for length in lengths[preset]:
            add(
                "max_len",
                "ml-1m-head bce",
                length,
                dataset="ml-1m-head",
                interactions=30_000 if smoke else None,
                max_len=length,
                loss="bce",
                repeats=repeats,
                **ML1M,
            )
    if "catalogue" in sweeps:
        sizes = {
            "smoke": [1_000, 10_000],
            "cpu": [10_000, 30_000, 100_000, 300_000, 1_000_000],
            "gpu": [10_000, 100_000, 1_000_000, 3_000_000],
        }[preset]
        batches = 2 if smoke else (20 if gpu else 6)
        base = {"dataset": "s3rec-beauty", "max_len": 50, "batches": batches, **BEAUTY}
        if smoke:
            base["interactions"] = 20_000
        # whole epochs for the sampled softmax (cheap enough): which few batches an epoch's shuffle puts
        # first, their lengths bucketed, moved its points by up to 2x (see the module's note)
        whole_epochs = {**base, "batches": batches if smoke else None}
        for n in sizes:
            add("catalogue", "ce (chunked)", n, num_items=n, loss="ce", **base)
            for (loss, k), sparse in itertools.product(SAMPLED_SERIES, (False, True)):
                add(
                    "catalogue",
                    f"{loss} {k}" + (", sparse updates" if sparse else ""),
                    n,
                    num_items=n,
                    loss=loss,
                    num_negatives=k,
                    sparse_item_updates=sparse,
                    **whole_epochs,
                )
            if n <= (100_000 if not gpu else 300_000):
                add(
                    "catalogue", "ce (before: one piece)", n, num_items=n, loss="ce", ce_impl="before", **base
                )
            add(
                "catalogue",
                "full-ranking eval",
                n,
                num_items=n,
                loss="bce",
                phase="eval",
                eval_users=256 if smoke else 2048,
                **{**base, "batches": None},
            )
            recommend = {"num_items": n, "loss": "bce", "phase": "recommend", "repeats": repeats}
            recommend["eval_users"] = 256 if smoke else 2048
            add("catalogue", "top-100 recommendations", n, **recommend, **{**base, "batches": None})
            if n > 2 * ranking.SCORE_ITEMS:
                add(
                    "catalogue",
                    "top-100 recommendations (before: whole rows)",
                    n,
                    scoring="whole rows",
                    **recommend,
                    **{**base, "batches": None},
                )
    if "ce_memory" in sweeps:
        base = {"dataset": "s3rec-beauty", "max_len": 50, "loss": "ce", "repeats": repeats, **BEAUTY}
        if smoke:
            base["interactions"] = 20_000
        add("ce_memory", "ce (chunked)", 12_101, **base)
        add("ce_memory", "ce (before: one piece)", 12_101, ce_impl="before", **base)
    return points


# ---------------------------------------------------------------------------------------------- data
def save_arrays(data: SequenceDataset, path: Path) -> None:
    s = data.sequences
    np.savez(
        path,
        offsets=s.offsets,
        items=s.items,
        timestamps=s.timestamps,
        num_items=np.int64(data.num_items),
        partial=np.bool_(data.partial),
    )


def resize_users(seqs: Sequences, target: int, rng: np.random.Generator) -> Sequences:
    """Whole users, in random order, until ``target`` interactions: subsampled below the dataset's size,
    cycled through again (fresh user rows, same items) above it."""
    lengths = seqs.lengths
    rounds = max(1, math.ceil(target / max(int(lengths.sum()), 1)))
    rows = np.concatenate([rng.permutation(seqs.num_users) for _ in range(rounds)])
    keep = int(np.searchsorted(np.cumsum(lengths[rows]), target)) + 1
    rows = rows[: min(keep, len(rows))]
    n = lengths[rows]
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    index = np.repeat(seqs.offsets[rows] - offsets[:-1], n) + np.arange(int(offsets[-1]))
    return Sequences(offsets, seqs.items[index], seqs.timestamps[index])


def spread_items(seqs: Sequences, num_items: int, new_items: int, rng: np.random.Generator) -> Sequences:
    """Item ids spread over ``new_items`` synthetic ids: injective (random) when the catalogue grows,
    random many-to-one when it shrinks."""
    if new_items >= num_items:
        mapping = rng.choice(new_items, size=num_items, replace=False) + 1
    else:
        mapping = rng.integers(1, new_items + 1, size=num_items)
    table = np.concatenate([[0], mapping]).astype(np.int64)
    return Sequences(seqs.offsets, table[seqs.items], seqs.timestamps)


def point_data(spec: dict[str, Any], arrays: Path) -> SequenceDataset:
    raw = np.load(arrays)
    seqs = Sequences(raw["offsets"], raw["items"], raw["timestamps"])
    num_items = int(raw["num_items"])
    rng = np.random.default_rng(spec.get("seed", 0))
    if spec.get("interactions"):
        seqs = resize_users(seqs, int(spec["interactions"]), rng)
    if spec.get("num_items"):
        seqs = spread_items(seqs, num_items, int(spec["num_items"]), rng)
        num_items = int(spec["num_items"])
    users = Vocabulary(pl.Series(np.arange(1, seqs.num_users + 1, dtype=np.int64)), "user")
    items = Vocabulary(pl.Series(np.arange(1, num_items + 1, dtype=np.int64)), "item")
    return SequenceDataset(
        spec["dataset"], users, items, seqs, leave_one_out(seqs), partial=bool(raw["partial"])
    )


# ---------------------------------------------------------------------------------------------- memory
def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


class PeakAbove:
    """Peak memory from now on, above the resident memory now: the RSS mark reset (``scope`` where that
    works, else the whole process's peak), on CUDA the allocator's peak (less what is allocated now with
    ``above_cuda_allocated``)."""

    def __init__(self, scope: str, device: torch.device, above_cuda_allocated: bool = False) -> None:
        self.device = device
        self.before = rss_mb()
        self.scope = scope if reset_peak_rss() else "whole process"
        self.cuda_before = 0.0
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            if above_cuda_allocated:
                self.cuda_before = torch.cuda.memory_allocated(device) / 2**20

    def record(self) -> dict[str, Any]:
        """``rss_before_mb``, ``peak_rss_mb``, ``peak_scope``, ``extra_mb`` (and ``cuda_peak_mb``)."""
        out = {"rss_before_mb": self.before, "peak_rss_mb": peak_rss_mb(), "peak_scope": self.scope}
        out["extra_mb"] = out["peak_rss_mb"] - self.before
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            out["cuda_peak_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
            out["extra_mb"] = out["cuda_peak_mb"] - self.cuda_before
        return out


# ---------------------------------------------------------------------------------------------- point
class FirstBatches:
    """An objective that yields only the first ``n`` batches of the wrapped objective's epoch."""

    def __init__(self, objective: Any, n: int) -> None:
        self.objective = objective
        self.n = n

    def epoch(self, batch_size: int, rng: np.random.Generator, **kwargs: Any) -> Iterator[TrainBatch]:
        return itertools.islice(self.objective.epoch(batch_size, rng, **kwargs), self.n)

    def num_batches(self, batch_size: int) -> int:
        return min(self.n, self.objective.num_batches(batch_size))


def run_point(spec: dict[str, Any], arrays: Path) -> dict[str, Any]:
    runtime = RuntimeOptions(
        device=spec.get("device", "cpu"), threads=spec.get("threads"), seed=0, progress=False
    )
    runtime.apply()
    device = runtime.torch_device()
    t0 = time.perf_counter()
    data = point_data(spec, arrays)
    prepare_s = time.perf_counter() - t0
    if spec.get("ce_impl") == "before":
        losses.FullCrossEntropy.__call__ = one_piece_ce  # type: ignore[method-assign]
    cfg = build_config(
        {
            "data": {},
            "model": {
                "name": "sasrec",
                "max_len": spec["max_len"],
                "hidden": spec["hidden"],
                "blocks": spec["blocks"],
                "heads": spec["heads"],
                "dropout": spec["dropout"],
            },
            "training": {
                "loss": spec["loss"],
                "num_negatives": spec.get("num_negatives", 1),
                "batch_size": spec["batch_size"],
                "sparse_item_updates": spec.get("sparse_item_updates", False),
            },
        }
    )
    model = build_model(cfg.model, data.num_items, data.num_users).to(device)
    lengths = data.split.train_end
    record: dict[str, Any] = {
        "interactions": int(data.sequences.offsets[-1]),
        "users": data.num_users,
        "num_items": data.num_items,
        "train_tokens": int(np.minimum(np.maximum(lengths - 1, 0), spec["max_len"]).sum()),
        "prepare_seconds": prepare_s,
    }
    if spec.get("phase") == "eval":
        return {**record, **eval_point(model, data, cfg, spec, device)}
    if spec.get("phase") == "recommend":
        return {**record, **recommend_point(model, data, cfg, spec, device)}
    trainer = Trainer(model, data, cfg, runtime)
    objective = trainer.objective
    epoch_batches = objective.num_batches(cfg.training.batch_size)
    # Memory baseline before any training step: data, model, sampler; the peak that follows includes
    # what training adds (Adam's state, activations, logits), warm-up and timed batches alike.
    memory = PeakAbove("training", device, above_cuda_allocated=True)
    trainer.objective = FirstBatches(objective, spec.get("warmup", 2))  # type: ignore[assignment]
    trainer.train_epoch(0)
    timed = spec.get("batches") or epoch_batches
    trainer.objective = FirstBatches(objective, timed)  # type: ignore[assignment]
    passes = [trainer.train_epoch(1 + i)["seconds"] for i in range(spec.get("repeats", 1))]
    seconds = float(np.median(passes))
    timed = min(timed, epoch_batches)
    record.update(
        {
            "batches_timed": timed,
            "batches_epoch": epoch_batches,
            "extrapolated": timed < epoch_batches,
            "timed_seconds": seconds,
            "timed_passes": [round(x, 3) for x in passes],
            "epoch_seconds": seconds * epoch_batches / timed,
            "ce_chunk_rows": ce_plan(trainer.loss, data.num_items, device),
            **memory.record(),
        }
    )
    return record


def eval_point(
    model: torch.nn.Module, data: SequenceDataset, cfg: Any, spec: dict[str, Any], device: torch.device
) -> dict[str, Any]:
    """Full-ranking test evaluation over the first ``eval_users`` test users, extrapolated to all."""
    test = data.split.test_pos
    has = np.flatnonzero(test >= 0)
    chosen = has[: spec["eval_users"]]
    limited = np.full_like(test, -1)
    limited[chosen] = test[chosen]
    split = Split(data.split.train_end, data.split.valid_pos, limited, data.split.kind)
    subset = SequenceDataset(data.name, data.users, data.items, data.sequences, split)
    memory = PeakAbove("evaluation", device)
    evaluate(model, subset, cfg.evaluation, part="test", protocol="full", device=device)  # warm-up
    t0 = time.perf_counter()
    evaluate(model, subset, cfg.evaluation, part="test", protocol="full", device=device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    return {
        "eval_users_timed": len(chosen),
        "eval_users": len(has),
        "eval_batch_size": cfg.evaluation.batch_size,
        "extrapolated": len(chosen) < len(has),
        "timed_seconds": seconds,
        "epoch_seconds": seconds * len(has) / len(chosen),
        **memory.record(),
    }


def recommend_point(
    model: torch.nn.Module, data: SequenceDataset, cfg: Any, spec: dict[str, Any], device: torch.device
) -> dict[str, Any]:
    """``seqrec recommend-batch`` (``write_recommendations``, k = 100, seen items removed, its default
    chunks) for the first ``eval_users`` users, the median of ``repeats`` passes after one warm-up,
    extrapolated to all. ``scoring="whole rows"``: the code before item blocks (the recommender's whole
    rows, chunks by ``SCORES_BYTES_PER_CHUNK``), which is the path below ``2 * SCORE_ITEMS`` items."""
    if spec.get("scoring") == "whole rows":
        ranking.SCORE_ITEMS = 1 << 62  # this point's own process: no catalogue uses item blocks
    rec = Recommender(model, data, max_len=spec["max_len"], device=device)
    users = data.users.to_external(np.arange(1, min(spec["eval_users"], data.num_users) + 1))
    passes = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "recs.parquet"
        write_recommendations(rec, out, users=users, k=100, progress=False)  # warm-up
        memory = PeakAbove("recommendations", device)
        for _ in range(spec.get("repeats", 1)):
            summary = write_recommendations(rec, out, users=users, k=100, progress=False)
            passes.append(summary.seconds)  # the summary's clock: whole passes, file written
    seconds = statistics.median(passes)
    return {
        "eval_users_timed": summary.users,
        "eval_users": data.num_users,
        "recommend_chunks": summary.chunks,
        "extrapolated": summary.users < data.num_users,
        "timed_passes": passes,
        "timed_seconds": seconds,
        "epoch_seconds": seconds * data.num_users / summary.users,
        **memory.record(),
    }


# ---------------------------------------------------------------------------------------------- parent
def run_all(points: list[dict[str, Any]], workdir: Path, timeout: float) -> list[dict[str, Any]]:
    arrays: dict[str, Path] = {}
    records = []
    for spec in points:
        name = spec["dataset"]
        if name not in arrays:
            t0 = time.perf_counter()
            arrays[name] = workdir / f"{name}.npz"
            save_arrays(SequenceDataset.from_registry(name), arrays[name])
            print(f"prepared {name} in {time.perf_counter() - t0:.1f}s", flush=True)
        t0 = time.perf_counter()
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.scaling",
            "--point",
            json.dumps(spec),
            "--arrays",
            str(arrays[name]),
        ]
        record = {
            **spec,
            "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_avg_1m": os.getloadavg()[0],  # other processes on the cores show here
        }
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
            lines = [x for x in proc.stdout.splitlines() if x.startswith("RECORD ")]
            if lines:
                record.update(json.loads(lines[-1][len("RECORD ") :]))
            else:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                record["error"] = f"exit {proc.returncode}: " + " | ".join(tail)[-400:]
        except subprocess.TimeoutExpired:
            record["error"] = f"timed out after {timeout:.0f}s"
        record["wall_seconds"] = time.perf_counter() - t0
        records.append(record)
        shown = {k: record.get(k) for k in ("sweep", "series", "x", "epoch_seconds", "extra_mb", "error")}
        print(json.dumps(shown), flush=True)
    return records


def fit(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """log-log slope of epoch seconds and of extra memory against x, per series."""
    fits = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        if "epoch_seconds" in r:
            groups.setdefault((r["sweep"], r["series"]), []).append(r)
    for (sweep, series), rows in groups.items():
        xs = np.array([r["x"] for r in rows], dtype=float)
        if len(set(xs)) < 2:
            continue
        out = {
            "sweep": sweep,
            "series": series,
            "points": len(rows),
            "x_range": f"{xs.min():g}..{xs.max():g}",
        }
        for key, label in (("epoch_seconds", "time"), ("extra_mb", "memory")):
            ys = np.array([max(float(r.get(key, float("nan"))), 1e-9) for r in rows])
            ok = np.isfinite(ys) & (ys > 1e-6)
            if ok.sum() >= 2:
                slope = float(np.polyfit(np.log(xs[ok]), np.log(ys[ok]), 1)[0])
                out[f"{label}_slope"] = slope
                out[f"{label}_growth"] = growth(slope)
        fits.append(out)
    return fits


def growth(slope: float) -> str:
    if slope < 0.2:
        return "flat"
    if slope < 0.8:
        return "sublinear"
    if slope <= 1.2:
        return "linear"
    if slope < 1.8:
        return "between linear and quadratic"
    if slope <= 2.2:
        return "quadratic"
    return "superquadratic"


def plot(records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = [s for s in ("interactions", "max_len", "catalogue") if any(r["sweep"] == s for r in records)]
    if not sweeps:
        return
    fig, axes = plt.subplots(2, len(sweeps), figsize=(5.2 * len(sweeps), 8), dpi=100, squeeze=False)
    labels = {"interactions": "interactions", "max_len": "maximum length", "catalogue": "catalogue size"}
    for col, sweep in enumerate(sweeps):
        rows = [r for r in records if r["sweep"] == sweep and "epoch_seconds" in r]
        for series in dict.fromkeys(r["series"] for r in rows):
            pts = sorted(
                (r["x"], r["epoch_seconds"], r.get("extra_mb", float("nan")))
                for r in rows
                if r["series"] == series
            )
            xs = [p[0] for p in pts]
            axes[0, col].plot(xs, [p[1] for p in pts], "o-", label=series)
            axes[1, col].plot(xs, [max(p[2], 1.0) for p in pts], "o-", label=series)
        for row, ylabel in (
            (0, "seconds per epoch (eval: per full pass)"),
            (1, "peak memory above baseline, MB"),
        ):
            ax = axes[row, col]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(labels[sweep])
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        axes[0, col].set_title(f"SASRec: {labels[sweep]}")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)


COLUMNS = [
    "sweep",
    "series",
    "x",
    "interactions",
    "users",
    "num_items",
    "max_len",
    "loss",
    "train_tokens",
    "batches_timed",
    "batches_epoch",
    "extrapolated",
    "epoch_seconds",
    "rss_before_mb",
    "peak_rss_mb",
    "extra_mb",
    "cuda_peak_mb",
    "load_avg_1m",
    "error",
]


def notes(records: list[dict[str, Any]], fits: list[dict[str, Any]], preset: str, seconds: float) -> str:
    env = records[0] if records else {}
    lines = [
        NOTES.strip(),
        "",
        f"Last invocation: preset `{preset}`, "
        f"device {env.get('device', '?')} ({env.get('device_name', '?')}), "
        f"torch {env.get('torch', '?')}, {env.get('threads', '?')} threads, "
        f"{seconds / 60:.1f} minutes (points of earlier invocations are kept unless remeasured).",
        "",
        "Fitted growth (slope of log y against log x; 1 = linear, 2 = quadratic):",
        "",
        "| sweep | series | points | x range | time slope | time growth | memory slope | memory growth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in fits:
        lines.append(
            f"| {f['sweep']} | {f['series']} | {f['points']} | {f['x_range']} | "
            f"{f.get('time_slope', float('nan')):.2f} | {f.get('time_growth', '')} | "
            f"{f.get('memory_slope', float('nan')):.2f} | {f.get('memory_growth', '')} |"
        )
    lines += ["", "![scaling curves](scaling.png)", ""]
    return "\n".join(lines)


NOTES = """
Produced by `python -m benchmarks.scaling` (method in its docstring). SASRec throughout; `interactions`
and `max_len` use the SASRec paper's ML-1M sizes (d 50, 2 blocks, 1 head, batch 128, BCE with one
negative), `catalogue` and `ce_memory` the peers' Beauty sizes (d 64, 2 blocks, 2 heads, batch 256,
max length 50). `x` is the swept value. `epoch_seconds`: one training epoch (all users once), measured
on `batches_timed` batches after 2 warm-up batches (full epochs: the median of 3 passes, listed in the
JSON's `timed_passes`) and scaled by `batches_epoch / batches_timed` when `extrapolated`; for
`full-ranking eval` rows it is one full-ranking pass over every test user, extrapolated from the first
`eval_users` users (the evaluator encodes 512 users at a time, in order of history length, and scores
them `SCORE_ROWS` at a time, 256 since 9205c81; above 32,768 items `SCORE_ITEMS` items at a time, 16,384,
since 569fdc5); for `top-100 recommendations` rows it is `seqrec recommend-batch` (`write_recommendations`: k
= 100, seen items removed, Parquet, its default chunks: `recommend_chunks`) for every user, extrapolated from
the median of 3 passes over the first `eval_users` (`timed_passes`); `(before: whole rows)` runs the
recommender without item blocks (whole rows, chunks of 64 MiB of scores), as before 2026-11-27.
`rss_before_mb`: resident memory before the first training step (data, model, negative sampler);
`peak_rss_mb`: peak from then on (warm-up and timed batches: Adam's state, activations, logits); `extra_mb` =
the difference (on CUDA: `torch.cuda.max_memory_allocated` above what was allocated before). Evaluation rows:
the same around two evaluation passes. Interactions above a dataset's size replicate its users (fresh user
ids, same items); `ml-1m-head` is PARTIAL MovieLens-1M (users 1..2998). `train_tokens`: positions with a
training target, at most `max_len` per user. Catalogue points spread s3rec-beauty's items over N synthetic ids
(real interactions, real sequences). `ce_chunk_rows`: positions per chunk of the chunked CE, or `positions x
items` per block where the catalogue is too large for whole rows (`FullCrossEntropy.tiles`, from 2026-11-27).
`ce (before: one piece)` runs the CE of the code before chunking (`one_piece_ce`: all `[T, N]` logits at once,
autograd keeping the log-probabilities for the backward pass). `load_avg_1m`: the machine's load when the
point started (2 = this run alone on the 2 cores).
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sweeps", nargs="+", choices=SWEEPS, default=list(SWEEPS))
    parser.add_argument("--preset", choices=["cpu", "gpu", "smoke"], default="cpu")
    parser.add_argument("--only", nargs="+", help="only the points whose series contains one of these")
    parser.add_argument("--x", nargs="+", type=float, help="only the points with these swept values")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per point at most")
    parser.add_argument(
        "--fresh", action="store_true", help="drop the earlier points of results/scaling.json"
    )
    parser.add_argument("--no-write", action="store_true", help="print records, write no result files")
    parser.add_argument("--point", help=argparse.SUPPRESS)
    parser.add_argument("--arrays", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point:
        record = run_point(json.loads(args.point), Path(args.arrays))
        print("RECORD " + json.dumps(record), flush=True)
        return
    mirror()
    RuntimeOptions(threads=args.threads).apply()
    info = environment()
    info["device"] = args.device
    info["device_name"] = torch.cuda.get_device_name(0) if args.device == "cuda" else cpu_model()
    points = [{**p, "device": args.device, "threads": args.threads} for p in plan(args.preset, args.sweeps)]
    points = [p for p in points if not args.only or any(o in p["series"] for o in args.only)]
    points = [p for p in points if not args.x or p["x"] in args.x]
    print(f"{len(points)} points", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seqrec-scaling-") as tmp:
        records = [{**info, **r} for r in run_all(points, Path(tmp), args.timeout)]
    seconds = time.perf_counter() - t0
    if args.no_write:
        for f in fit(records):
            print(json.dumps(f), flush=True)
        return
    if not args.fresh:
        records = merge(records, plan(args.preset, list(SWEEPS)))
    fits = fit(records)
    for f in fits:
        print(json.dumps(f), flush=True)
    title = "Scaling: SASRec time and memory per epoch"
    write_results("scaling", records, COLUMNS, title, notes(records, fits, args.preset, seconds))
    # the JSON also keeps the fits (the markdown shows them in its notes)
    write_json_atomic(RESULTS / "scaling.json", records + [{**info, "kind": "fit", **f} for f in fits])
    plot(records, RESULTS / "scaling.png")


def merge(new: list[dict[str, Any]], planned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The earlier points of ``results/scaling.json`` that ``new`` does not replace (same machine,
    threads, sweep, series and x) and whose series is still planned, then ``new``, in plan order."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r.get("device_name"), r.get("threads"), r["sweep"], r["series"], r["x"])

    path = RESULTS / "scaling.json"
    old = [r for r in json.loads(path.read_text()) if r.get("kind") != "fit"] if path.exists() else []
    series = {(p["sweep"], p["series"]) for p in planned}
    replaced = {key(r) for r in new}
    kept = [r for r in old if key(r) not in replaced and (r["sweep"], r["series"]) in series]
    order = {(p["sweep"], p["series"], p["x"]): i for i, p in enumerate(planned)}
    return sorted(kept + new, key=lambda r: order.get((r["sweep"], r["series"], r["x"]), len(order)))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
