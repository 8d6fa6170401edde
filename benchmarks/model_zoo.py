"""The model zoo on MovieLens-1M as it exists here (issue: model zoo), with SAS-FPT's ablations.

``ml-1m-head`` is PARTIAL: the complete histories of users 1..2998 (487,515 of 1,000,209 ratings), so
numbers are not the full dataset's. Each run is a ``configs/ml-1m-head-<model>.yaml`` (the papers' ML-1M
settings), for variants with a few config overrides, trained with early stopping on validation NDCG@10
(full ranking) under a generous epoch cap, and reported on the test split with 100 uniformly sampled
negatives (the SASRec / SSE-PT / TiSASRec papers' protocol), 100 popularity-sampled negatives (the
BERT4Rec paper's) and full ranking (seen items removed).

Runs (``--models`` / ``--variants``; see ``RUNS``):

* models: ``sasrec``, ``ssept``, ``bert4rec`` (paper config, lr 1e-4), ``tisasrec``, ``sasfpt``
* variants: ``bert4rec_lr1e-3`` (BERT4Rec with lr 1e-3), ``bert4rec_lr1e-3_rtd0.1``,
  ``bert4rec_lr1e-3_rtd1`` and ``bert4rec_lr1e-3_rtd10`` (the same with replaced-item detection,
  ``model.rtd_weight`` 0.1, 1 and 10), and
  the SAS-FPT ablation as overrides of
  ``configs/ml-1m-head-sasfpt.yaml``: ``tisasrec_plus`` (TiSASRec+: only the larger interval table,
  k = 1024), ``tisasrec_plusplus`` (TiSASRec++: + week-of-year), ``sasfpt`` (full model: + user embedding
  and group loss), ``sasfpt_coldstart`` (full model, no 5-core filter: min interactions 1). The
  ablation's "TiSASRec" row is the ``tisasrec`` model.

Records carry the run, seed, device (GPU name), epochs, stop reason and seconds per epoch; they merge
into ``OUT/model_zoo.json`` keyed by (run, seed, device) and ``OUT/model_zoo.md`` shows per-seed rows and
a mean ± std row per run and protocol. ``--deadline-at`` (Unix time) ends training gracefully: the best
validation state so far is evaluated and the record says ``stop_reason: deadline``.

    python -m benchmarks.model_zoo --models sasrec ssept bert4rec tisasrec sasfpt --seeds 1 2 3 --threads 1
    python -m benchmarks.model_zoo --variants tisasrec_plus tisasrec_plusplus sasfpt sasfpt_coldstart
    python -m benchmarks.model_zoo --models sasrec --device cuda --seeds 1 --out /tmp/zoo
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
RESULTS = Path(__file__).resolve().parent / "results"  # = benchmarks.common.RESULTS (no torch import here)
CONFIG_OF = {
    "sasrec": "ml-1m-head.yaml",
    "ssept": "ml-1m-head-ssept.yaml",
    "bert4rec": "ml-1m-head-bert4rec.yaml",
    "tisasrec": "ml-1m-head-tisasrec.yaml",
    "sasfpt": "ml-1m-head-sasfpt.yaml",
}
UNIFORM = "sampled-100-uniform"
POPULAR = "sampled-100-popularity"
PROTOCOLS = (("sampled", "uniform"), ("sampled", "popularity"), ("full", None))
PROTOCOL_ORDER = (UNIFORM, POPULAR, "full")

log = logging.getLogger("seqrec.model_zoo")


@dataclass(frozen=True)
class RunSpec:
    """One configuration of the zoo: a model's config file plus overrides and a stopping schedule."""

    model: str
    """Key of ``CONFIG_OF``: the config file the run starts from."""
    label: str
    overrides: dict[str, Any] = field(default_factory=dict)
    """Dotted keys (``model.user_embedding``) and values applied to the config file."""
    max_epochs: int = 400
    eval_every: int = 5
    patience: int = 5
    """Validations without improvement before stopping (``patience * eval_every`` epochs)."""


# Caps are far above where early stopping ends the causal models (SASRec stopped at 120 on the CPU);
# BERT4Rec's paper lr 1e-4 needs far more steps (the paper: 400k steps of batch 256; an epoch here is
# 12 steps), so its cap is higher and it validates every 10 epochs (a validation costs about as much as
# a few of its 12-step epochs). lr 1e-3 (RecBole's default and common BERT4Rec re-implementations')
# is run beside it as a separate record: same architecture and objective, only the step size.
CAUSAL_CAP, BERT_CAP, BERT_FAST_CAP = 400, 2000, 800
RTD_WEIGHTS = (0.1, 1.0, 10.0)
SASFPT_ABLATION_OFF = {"model.user_embedding": False, "model.group_loss_weight": 0}
RUNS: dict[str, RunSpec] = {
    "sasrec": RunSpec("sasrec", "SASRec"),
    "ssept": RunSpec("ssept", "SSE-PT"),
    "bert4rec": RunSpec("bert4rec", "BERT4Rec (paper lr 1e-4)", max_epochs=BERT_CAP, eval_every=10),
    "tisasrec": RunSpec("tisasrec", "TiSASRec"),
    "sasfpt": RunSpec("sasfpt", "SAS-FPT"),
    "bert4rec_lr1e-3": RunSpec(
        "bert4rec", "BERT4Rec (lr 1e-3)", {"training.lr": 0.001}, max_epochs=BERT_FAST_CAP
    ),
    **{  # replaced-item detection at three weights lambda (model.rtd_weight)
        f"bert4rec_lr1e-3_rtd{weight:g}": RunSpec(
            "bert4rec",
            f"BERT4Rec (lr 1e-3) + replaced-item detection, lambda {weight:g}",
            {"training.lr": 0.001, "model.rtd_weight": weight},
            max_epochs=BERT_FAST_CAP,
        )
        for weight in RTD_WEIGHTS
    },
    "tisasrec_plus": RunSpec(
        "sasfpt", "TiSASRec+ (k=1024)", {"model.week_embedding": False, **SASFPT_ABLATION_OFF}
    ),
    "tisasrec_plusplus": RunSpec("sasfpt", "TiSASRec++ (+week)", dict(SASFPT_ABLATION_OFF)),
    "sasfpt_coldstart": RunSpec(
        "sasfpt",
        "SAS-FPT cold start (min 1)",
        {"data.min_user_interactions": 1, "data.min_item_interactions": 1},
    ),
}
MODELS = ["sasrec", "ssept", "bert4rec", "tisasrec", "sasfpt"]
VARIANTS = [
    "bert4rec_lr1e-3",
    *(f"bert4rec_lr1e-3_rtd{weight:g}" for weight in RTD_WEIGHTS),
    "tisasrec_plus",
    "tisasrec_plusplus",
    "sasfpt",
    "sasfpt_coldstart",
]
ABLATION = ["tisasrec", "tisasrec_plus", "tisasrec_plusplus", "sasfpt", "sasfpt_coldstart"]

# Published ML-1M numbers (full ML-1M, leave-one-out), keyed by run; see shared/reference/PUBLISHED.md.
# SAS-FPT's ablation rows (TiSASRec+, TiSASRec++, cold start): no published numbers were found
# (../shared/reference has no SAS-FPT entry), so those paper columns stay empty.
PAPER: dict[str, dict[str, dict[str, float]]] = {
    "sasrec": {UNIFORM: {"HR@10": 0.8245, "NDCG@10": 0.5905}},
    "ssept": {UNIFORM: {"HR@10": 0.8641, "NDCG@10": 0.6281}},
    "tisasrec": {UNIFORM: {"HR@10": 0.8038, "NDCG@10": 0.5706}},
    "sasfpt": {UNIFORM: {"HR@10": 0.8056, "NDCG@10": 0.5702}},
    "bert4rec": {POPULAR: {"HR@10": 0.6970, "NDCG@10": 0.4818}},
    "bert4rec_lr1e-3": {POPULAR: {"HR@10": 0.6970, "NDCG@10": 0.4818}},
}


def resolve_runs(models: Iterable[str], variants: Iterable[str]) -> list[str]:
    """Run names in the order given, without repeats (``sasfpt`` is both a model and a variant)."""
    return list(dict.fromkeys([*models, *variants]))


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """``raw["a"]["b"] = value`` for ``key = "a.b"``; every section must exist."""
    *path, last = key.split(".")
    node = raw
    for part in path:
        if not isinstance(node.get(part), dict):
            raise KeyError(f"{key}: no section {part!r} in the config")
        node = node[part]
    node[last] = value


def parse_set(assignment: str) -> tuple[str, Any]:
    """``section.key=value`` with the value parsed as YAML (as ``seqrec train --set``)."""
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set {assignment!r}: expected section.key=value")
    return key.strip(), yaml.safe_load(value)


def config_for(
    run: str,
    *,
    epochs: int | None = None,
    eval_every: int | None = None,
    patience: int | None = None,
    sets: Sequence[str] = (),
) -> dict[str, Any]:
    """The raw config of ``run``: its model's file, the run's overrides, the schedule, then ``sets``."""
    spec = RUNS[run]
    raw: dict[str, Any] = yaml.safe_load((CONFIGS / CONFIG_OF[spec.model]).read_text())
    for key, value in spec.overrides.items():
        set_dotted(raw, key, copy.deepcopy(value))
    raw["training"].update(
        epochs=epochs or spec.max_epochs,
        eval_every=eval_every or spec.eval_every,
        patience=patience or spec.patience,
    )
    for assignment in sets:
        set_dotted(raw, *parse_set(assignment))
    return raw


# ------------------------------------------------------------------------------------------ training
def device_fields(device: Any) -> dict[str, Any]:
    """What a record says about where it ran: ``device`` (cpu / cuda), its name, the GPU, CUDA."""
    import torch

    from benchmarks.common import cpu_model

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return {"device": "cuda", "device_name": name, "gpu": name, "cuda": torch.version.cuda}
    return {"device": "cpu", "device_name": cpu_model(), "gpu": "", "cuda": ""}


def train_run(
    run: str,
    raw: dict[str, Any],
    runtime: Any,
    deadline_at: float | None = None,
) -> list[dict[str, Any]]:
    """Train ``raw`` and evaluate its test split with ``PROTOCOLS``; one record per protocol.

    With ``deadline_at`` (Unix time), training stops after the epoch during which it passes
    (``Trainer.stop_requested``) and the best validation state so far is the one evaluated.
    """
    import torch

    import seqrec.api as api
    from benchmarks.common import train_and_evaluate
    from seqrec.training.trainer import Trainer

    hit: dict[str, int] = {}

    class DeadlineTrainer(Trainer):
        def train_epoch(self, epoch: int) -> dict[str, Any]:
            row = super().train_epoch(epoch)
            if deadline_at is not None and time.time() >= deadline_at and "epoch" not in hit:
                hit["epoch"] = epoch
                self.stop_requested = f"deadline reached after epoch {epoch}"
            return row

    device = runtime.torch_device()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    original = api.Trainer
    api.Trainer = DeadlineTrainer  # type: ignore[misc]  # SeqRec.fit builds seqrec.api.Trainer
    try:
        records = train_and_evaluate(run, raw, runtime, PAPER.get(run), PROTOCOLS)
    finally:
        api.Trainer = original  # type: ignore[misc]
    training = raw["training"]
    extra = {
        "variant": RUNS[run].label if run in RUNS else run,
        **device_fields(device),
        "precision": getattr(runtime, "precision", "fp32"),
        "eval_every": training["eval_every"],
        "patience": training["patience"],
        "stop_reason": "deadline"
        if "epoch" in hit
        else ("early_stopping" if records[0]["stopped_early"] else "epoch_cap"),
        "gpu_peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20
        if device.type == "cuda"
        else "",
    }
    return [{**r, **extra} for r in records]


# ------------------------------------------------------------------------------------------ results
def device_key(record: dict[str, Any]) -> str:
    """The machine part of a record's identity: the GPU's name, or ``cpu`` (old records have no device)."""
    return str(record.get("gpu") or "cpu")


def record_key(record: dict[str, Any]) -> tuple[str, int, str]:
    return (str(record["run"]), int(record.get("seed", 0)), device_key(record))


def merge_records(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with every (run, seed, device) present in ``new`` replaced by ``new``'s records."""
    replaced = {record_key(r) for r in new}
    return [r for r in old if record_key(r) not in replaced] + list(new)


def read_records(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())) if path.exists() else []


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_results(records: list[dict[str, Any]], out: Path, name: str = "model_zoo") -> None:
    """``out/<name>.json`` (flat records) and ``out/<name>.md`` (tables)."""
    _write_atomic(out / f"{name}.json", json.dumps(records, indent=1, default=str) + "\n")
    _write_atomic(out / f"{name}.md", render_markdown(records))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _mean_std(values: list[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def _stop(record: dict[str, Any]) -> str:
    if "stop_reason" in record:
        return str(record["stop_reason"])
    return "early_stopping" if record.get("stopped_early") else "epoch_cap"


def _device_label(record: dict[str, Any]) -> str:
    gpu = record.get("gpu")
    if gpu:
        return str(gpu)
    cores = record.get("cores")
    return f"cpu ({cores} cores)" if cores else "cpu"


def _order(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(device label, run) groups: devices in order of appearance, runs in zoo order."""
    known = [*MODELS, *VARIANTS]
    groups = dict.fromkeys((_device_label(r), str(r["run"])) for r in records)
    devices = list(dict.fromkeys(d for d, _ in groups))
    return sorted(
        groups,
        key=lambda g: (devices.index(g[0]), known.index(g[1]) if g[1] in known else len(known), g[1]),
    )


def _table(columns: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _summary_rows(records: list[dict[str, Any]], runs: list[str] | None = None) -> list[list[str]]:
    rows = []
    for device, run in _order(records):
        if runs is not None and run not in runs:
            continue
        for protocol in PROTOCOL_ORDER:
            group = [
                r
                for r in records
                if _device_label(r) == device and r["run"] == run and r["protocol"] == protocol
            ]
            if not group:
                continue
            stops: dict[str, int] = {}
            for r in group:
                stops[_stop(r)] = stops.get(_stop(r), 0) + 1
            first = group[0]
            rows.append(
                [
                    run,
                    str(first.get("variant") or (RUNS[run].label if run in RUNS else "")),
                    device,
                    protocol,
                    str(len(group)),
                    _mean_std([float(r["HR@10"]) for r in group]),
                    _mean_std([float(r["NDCG@10"]) for r in group]),
                    _fmt(first.get("paper HR@10", "")),
                    _fmt(first.get("paper NDCG@10", "")),
                    "/".join(str(r["epochs"]) for r in sorted(group, key=lambda r: int(r.get("seed", 0)))),
                    ", ".join(f"{k} x{v}" for k, v in sorted(stops.items())),
                    _fmt(statistics.median(float(r["seconds_per_epoch"]) for r in group)),
                ]
            )
    return rows


def render_markdown(records: list[dict[str, Any]]) -> str:
    lines = ["# Model zoo on MovieLens-1M head (PARTIAL)", "", NOTES.strip(), ""]
    summary_cols = [
        "run",
        "variant",
        "device",
        "protocol",
        "seeds",
        "HR@10 (mean ± std)",
        "NDCG@10 (mean ± std)",
        "paper HR@10",
        "paper NDCG@10",
        "epochs (per seed)",
        "stop",
        "s/epoch (median)",
    ]
    lines += ["## Summary: mean ± std over seeds", ""]
    lines += _table(summary_cols, _summary_rows(records))
    ablation = [r for r in records if r["run"] in ABLATION]
    if ablation:
        lines += [
            "",
            "## SAS-FPT ablation (test split)",
            "",
            "TiSASRec = the `tisasrec` model (k = 256); TiSASRec+ = SAS-FPT with week embedding, user "
            "embedding and group loss off (only the larger interval table, k = 1024); TiSASRec++ = + "
            "week-of-year embedding; SAS-FPT = + user embedding and group-wise user loss (weight 0.01, "
            "demographic pairs); cold start = full SAS-FPT without the 5-core filter "
            "(`data.min_user_interactions=1`, `data.min_item_interactions=1`: more, rarer items). The "
            "seed's ablation numbers were not found in `../shared/reference`, so only SAS-FPT's and "
            "TiSASRec's headline numbers fill the paper columns.",
            "",
        ]
        lines += _table(summary_cols, _summary_rows(ablation, ABLATION))
    detail_cols = [
        "run",
        "device",
        "protocol",
        "seed",
        "HR@10",
        "NDCG@10",
        "MRR",
        "paper HR@10",
        "paper NDCG@10",
        "epochs",
        "max_epochs",
        "best_epoch",
        "stop",
        "seconds_per_epoch",
        "threads",
    ]
    rows = []
    for device, run in _order(records):
        for protocol in PROTOCOL_ORDER:
            group = sorted(
                (
                    r
                    for r in records
                    if _device_label(r) == device and r["run"] == run and r["protocol"] == protocol
                ),
                key=lambda r: int(r.get("seed", 0)),
            )
            for r in group:
                rows.append(
                    [
                        run,
                        device,
                        protocol,
                        str(r.get("seed", "")),
                        *(_fmt(r.get(c, "")) for c in ("HR@10", "NDCG@10", "MRR")),
                        _fmt(r.get("paper HR@10", "")),
                        _fmt(r.get("paper NDCG@10", "")),
                        *(str(r.get(c, "")) for c in ("epochs", "max_epochs", "best_epoch")),
                        _stop(r),
                        _fmt(r.get("seconds_per_epoch", "")),
                        str(r.get("threads", "")),
                    ]
                )
            if len(group) > 1:
                rows.append(
                    [
                        f"**{run}**",
                        device,
                        protocol,
                        f"**mean ± std (n={len(group)})**",
                        *(_mean_std([float(r[c]) for r in group]) for c in ("HR@10", "NDCG@10", "MRR")),
                        *[""] * 8,
                    ]
                )
    lines += ["", "## Per seed", ""]
    lines += _table(detail_cols, rows)
    return "\n".join(lines) + "\n"


NOTES = """
Produced by `python -m benchmarks.model_zoo` (CPU) and `benchmarks/gpu/run_zoo.sh` (GPU; merged with
`benchmarks/gpu/merge_back.py`). Dataset `ml-1m-head`: **partial** MovieLens-1M (users 1..2998 with
complete histories; 487,515 of 1,000,209 ratings), 5-core (cold start: no filter), leave-one-out. The
paper columns are the published full-ML-1M numbers for the protocol of that row (SASRec, SSE-PT,
TiSASRec, SAS-FPT: 100 uniform negatives; BERT4Rec: 100 popularity-sampled negatives): not comparable
with this partial dataset. `epochs` is what ran under the `max_epochs` cap with early stopping on
validation full-ranking NDCG@10 (`patience` validations without improvement, every `eval_every` epochs;
both in the JSON records); `stop` says what ended a run: `early_stopping`, `epoch_cap` (still improving:
not converged) or `deadline` (the GPU run's time budget; the best validation state so far was
evaluated: not converged). `seconds_per_epoch` is the median training epoch. On the GPU several runs
(`concurrent_jobs` in the JSON) shared one card and its 16 CPU cores, so GPU seconds per epoch are upper
bounds; the CPU rows ran on this project's 2-core machine, which two or three benchmark processes shared.
Test metrics: HR@10 / NDCG@10 / MRR; the mean ± std rows use the sample standard deviation over seeds.
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="*", choices=MODELS, default=None, help="default: all")
    parser.add_argument("--variants", nargs="*", choices=VARIANTS, default=[])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--epochs", type=int, default=None, help="epoch cap for every run (default: RUNS)")
    parser.add_argument("--eval-every", type=int, default=None, help="default: per run (RUNS)")
    parser.add_argument("--patience", type=int, default=None, help="default: per run (RUNS)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (model_zoo.json/.md)")
    parser.add_argument("--deadline-at", type=float, default=None, help="Unix time: stop training then")
    parser.add_argument("--concurrent-jobs", type=int, default=1, help="recorded: processes sharing it")
    parser.add_argument("--dry-run", action="store_true", help="validate every config, train nothing")
    args = parser.parse_args()
    models = MODELS if args.models is None and not args.variants else (args.models or [])
    runs = resolve_runs(models, args.variants)
    schedule = {"epochs": args.epochs, "eval_every": args.eval_every, "patience": args.patience}
    configs = {run: config_for(run, **schedule, sets=args.sets) for run in runs}

    from benchmarks.common import mirror
    from seqrec import RuntimeOptions
    from seqrec.config import build_config

    for run, raw in configs.items():
        build_config(raw, source=f"{run} ({CONFIG_OF[RUNS[run].model]})")  # fail before any training
    if args.dry_run:
        for run, raw in configs.items():
            print(f"{run}: {json.dumps(raw['training'])} overrides {RUNS[run].overrides}")
        return
    mirror()
    options: dict[str, Any] = {"device": args.device, "threads": args.threads, "progress": False}
    if args.precision != "fp32":
        options["precision"] = args.precision
    for run, raw in configs.items():
        for seed in args.seeds:
            runtime = RuntimeOptions(seed=seed, **options)
            new = train_run(run, raw, runtime, args.deadline_at)
            for record in new:
                record["concurrent_jobs"] = args.concurrent_jobs
            records = merge_records(read_records(args.out / "model_zoo.json"), new)
            write_results(records, args.out)


if __name__ == "__main__":
    main()
