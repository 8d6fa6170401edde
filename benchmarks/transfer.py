"""Transfer benchmarks (issue: pre-training and transfer), each against a from-scratch model of the same
size and budget on the target.

    python -m benchmarks.transfer --experiment ssept-wikipedia   # (a) SSE-PT ML-1M -> Wikipedia (ids)
    python -m benchmarks.transfer --experiment text-lastfm       # (b) text SASRec ML-1M -> LastFM
    python -m benchmarks.transfer --experiment attribute         # (c) ML-1M gender / age from histories

``ml-1m-head`` is PARTIAL MovieLens-1M (users 1..2998 with complete histories). Every arm trains with the
same epoch cap, patience and validation schedule on the target; test HR@10 / NDCG@10 are measured with
100 uniformly sampled negatives and with full ranking at epoch 0 (before any target training), 1, 5 and
at the end (best validation epoch). Writes ``transfer_<experiment>.json/.md/.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import RESULTS, environment, mirror, write_results
from seqrec import RuntimeOptions, SeqRec, SequenceDataset
from seqrec.config import build_config
from seqrec.evaluation.evaluator import evaluate
from seqrec.io import atomic_write
from seqrec.transfer import finetune
from seqrec.transfer.attributes import fit_user_attribute

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
WORK = Path(__file__).resolve().parent / ".work" / "transfer"
CHECKPOINTS = (1, 5)
SEED_NUMBERS = {"ssept-wikipedia": {"HR@10": 0.9035, "NDCG@10": 0.8689}}  # the seed, frozen encoder


def _yaml(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CONFIGS / name).read_text()))


def test_metrics(model: SeqRec, prefix: str = "") -> dict[str, float]:
    """Test HR@10 / NDCG@10, sampled-100 uniform and full ranking."""
    assert model.model is not None and model.data is not None
    out = {}
    for protocol in ("sampled", "full"):
        m = evaluate(
            model.model,
            model.data,
            model.config.evaluation,
            part="test",
            protocol=protocol,
            device=model.runtime.torch_device(),
            max_len=model.config.model.max_len,
        )
        for key in ("HR@10", "NDCG@10"):
            out[f"{prefix}{protocol} {key}"] = float(m[key])
    model.model.train()
    return out


def checkpoint_hook(holder: dict[str, SeqRec]) -> Callable[[int], dict[str, Any]]:
    """Test metrics after epochs 1 and 5 (the model is read from ``holder['model']`` when it exists)."""

    def hook(epoch: int) -> dict[str, Any]:
        if epoch not in CHECKPOINTS:
            return {}
        return {"test": test_metrics(holder["model"])}

    return hook


_SINK: list[Callable[[dict[str, Any]], None]] = []
"""Set by ``main``: called with every finished record, so a run cut short still leaves its results."""


def _emit(record: dict[str, Any]) -> None:
    for sink in _SINK:
        sink(record)


def run_arm(
    arm: str,
    target: SequenceDataset,
    *,
    parent: Path | None,
    strategy: str,
    scratch_config: dict[str, Any] | None,
    training: dict[str, Any],
    evaluation: dict[str, Any],
    runtime: RuntimeOptions,
) -> dict[str, Any]:
    """One arm: transfer from ``parent`` with ``strategy`` (or from scratch with ``scratch_config``)."""
    holder: dict[str, SeqRec] = {}
    t0 = time.perf_counter()
    if parent is None:
        assert scratch_config is not None
        raw = dict(scratch_config, training=dict(scratch_config["training"], **training))
        raw["evaluation"] = dict(raw.get("evaluation", {}), **evaluation)
        raw["data"] = target.info["preprocessing"]
        rec = SeqRec(build_config(raw), runtime=runtime)
        runtime.apply()
        rec.model, rec.data = rec.build_model(target).to(runtime.torch_device()), target
        trainable = sum(p.numel() for p in rec.model.parameters())
        counts = {"trainable_parameters": trainable, "total_parameters": trainable, "trainable_share": 1.0}
    else:
        rec = finetune(
            parent,
            target,
            strategy=strategy,
            training={"epochs": 0},
            evaluation=evaluation,
            runtime=runtime,
        )
        assert rec.transfer is not None
        counts = {k: rec.transfer[k] for k in ("trainable_parameters", "total_parameters", "trainable_share")}
        if training.get("epochs", 1) > 0:
            rec.config = build_config(
                {
                    **rec.config.model_dump(mode="json"),
                    "training": {**rec.config.training.model_dump(mode="json"), **training},
                }
            )
    setup_seconds = time.perf_counter() - t0
    epoch0 = test_metrics(rec)
    holder["model"] = rec
    curve: list[dict[str, Any]] = []
    if training.get("epochs", 1) > 0:
        rec.train(target, on_epoch_end=checkpoint_hook(holder))
        assert rec.fit_result is not None
        curve = rec.fit_result.history
    final = test_metrics(rec)
    record: dict[str, Any] = {
        "arm": arm,
        "strategy": strategy if parent is not None else "scratch",
        "dataset": target.name,
        **counts,
        **{f"epoch 0 {k}": v for k, v in epoch0.items()},
    }
    for row in curve:
        if "test" in row:
            record.update({f"epoch {row['epoch']} {k}": v for k, v in row["test"].items()})
    record.update({f"end {k}": v for k, v in final.items()})
    fit = rec.fit_result
    record.update(
        epochs=len(curve),
        best_epoch=fit.best_epoch if fit else 0,
        train_seconds=fit.seconds if fit else 0.0,
        seconds_per_epoch=(sum(r["seconds"] for r in curve) / len(curve)) if curve else 0.0,
        setup_seconds=setup_seconds,
        valid_curve=json.dumps(
            [[r["epoch"], r["valid"]["NDCG@10"], r["elapsed"]] for r in curve if "valid" in r]
        ),
        seed=runtime.seed,
        **environment(),
    )
    print(json.dumps({k: v for k, v in record.items() if k != "valid_curve"}), flush=True)
    _emit(record)
    return record


def pretrain(
    name: str, raw: dict[str, Any], runtime: RuntimeOptions, a: argparse.Namespace
) -> tuple[Path, dict[str, Any]]:
    """Train the source model (reused from ``<work>/<name>`` when it exists there)."""
    path = Path(a.work) / name
    epochs = a.source_epochs
    if epochs is not None:
        raw["training"]["epochs"] = epochs
    if (path / "model.safetensors").exists() and (path / "pretrain.json").exists():
        return path, dict(json.loads((path / "pretrain.json").read_text()))
    cfg = build_config(raw)
    rec = SeqRec(cfg, runtime=runtime).fit(SequenceDataset.from_config(cfg.data))
    rec.save(path)
    assert rec.fit_result is not None
    info = {
        "source": name,
        "source_epochs": len(rec.fit_result.history),
        "source_best_epoch": rec.fit_result.best_epoch,
        "source_train_seconds": rec.fit_result.seconds,
        **{f"source {k}": v for k, v in test_metrics(rec).items()},
    }
    (path / "pretrain.json").write_text(json.dumps(info))
    return path, info


def plot(records: list[dict[str, Any]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for r in records:
        curve = json.loads(r.get("valid_curve", "[]"))
        if curve:
            ax.plot([c[0] for c in curve], [c[1] for c in curve], "o-", ms=3, label=r["arm"])
    ax.set_xlabel("epoch on the target")
    ax.set_ylabel("validation NDCG@10 (full ranking)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)


COLUMNS = [
    "arm",
    "trainable_parameters",
    "trainable_share",
    "epoch 0 sampled HR@10",
    "epoch 0 sampled NDCG@10",
    "epoch 1 sampled NDCG@10",
    "epoch 5 sampled NDCG@10",
    "end sampled HR@10",
    "end sampled NDCG@10",
    "epoch 0 full NDCG@10",
    "epoch 1 full NDCG@10",
    "epoch 5 full NDCG@10",
    "end full HR@10",
    "end full NDCG@10",
    "epochs",
    "best_epoch",
    "seconds_per_epoch",
    "train_seconds",
]


Arm = tuple[str, Path | None, str, dict[str, Any] | None]
"""(name, parent run or None for from scratch, strategy, config trained from scratch)."""


def run_arms(
    arms: list[Arm],
    target: SequenceDataset,
    info: dict[str, Any],
    a: argparse.Namespace,
    runtime: RuntimeOptions,
    evaluation: dict[str, Any],
) -> list[dict[str, Any]]:
    """Every arm with the same budget (the ``zero-shot`` arm does not train)."""
    training = {"epochs": a.epochs, "eval_every": 1, "patience": a.patience}
    records = []
    for name, parent, strategy, scratch in arms:
        budget = {"epochs": 0} if name == "zero-shot" else training
        record = run_arm(
            name,
            target,
            parent=parent,
            strategy=strategy,
            scratch_config=scratch,
            training=budget,
            evaluation=evaluation,
            runtime=runtime,
        )
        records.append(dict(record, **info))
    return records


def ssept_wikipedia(a: argparse.Namespace, runtime: RuntimeOptions) -> tuple[list[dict[str, Any]], str]:
    source_raw = _yaml("ml-1m-head-ssept.yaml")
    source_raw["training"]["eval_every"] = 5
    parent, info = pretrain("ssept-ml-1m-head", source_raw, runtime, a)
    info["seed_reported sampled HR@10 / NDCG@10"] = "0.9035 / 0.8689"
    target = SequenceDataset.from_registry(
        "jodie-wikipedia", min_user_interactions=5, min_item_interactions=5
    )
    arms: list[Arm] = [("scratch", None, "full", source_raw)]
    arms += [(strategy, parent, strategy, None) for strategy in ("freeze-encoder", "adapters", "full")]
    # re-visits are the norm on Wikipedia: a repeated page is a hit, so seen items stay in the ranking
    records = run_arms(arms, target, info, a, runtime, {"filter_seen": False})
    return records, "SSE-PT pre-trained on ml-1m-head (PARTIAL ML-1M) -> JODIE Wikipedia"


def text_lastfm(a: argparse.Namespace, runtime: RuntimeOptions) -> tuple[list[dict[str, Any]], str]:
    source_raw = _yaml("ml-1m-head-text.yaml")
    source_raw["training"]["eval_every"] = 5
    parent, info = pretrain("text-sasrec-ml-1m-head", source_raw, runtime, a)
    target = SequenceDataset.from_registry(
        "lastfm-hetrec2011", missing_timestamps="drop", min_user_interactions=5, min_item_interactions=5
    )
    arms: list[Arm] = [
        ("ID SASRec from scratch", None, "full", _yaml("ml-1m-head.yaml")),
        ("text SASRec from scratch", None, "full", source_raw),
        ("zero-shot", parent, "full", None),
        ("adapters", parent, "adapters", None),
        ("full", parent, "full", None),
    ]
    records = run_arms(arms, target, info, a, runtime, {})
    return records, "Text SASRec pre-trained on ml-1m-head (PARTIAL ML-1M) titles+genres -> LastFM artists"


def attribute(a: argparse.Namespace, runtime: RuntimeOptions) -> tuple[list[dict[str, Any]], str]:
    source_raw = _yaml("ml-1m-head.yaml")
    source_raw["training"]["eval_every"] = 5
    parent, info = pretrain("sasrec-ml-1m-head", source_raw, runtime, a)
    model = SeqRec.load(parent, runtime=runtime)
    records = []
    for name in ("gender", "age"):
        for strategy in ("scratch", "freeze-encoder", "adapters", "full"):
            r = fit_user_attribute(
                model, name, strategy, epochs=a.epochs, patience=a.patience, runtime=runtime
            )
            curve = r.pop("curve")
            r.update(
                info,
                arm=f"{name} / {strategy}",
                valid_curve=json.dumps([[c["epoch"], c["valid"], c.get("elapsed", 0.0)] for c in curve]),
                seed=runtime.seed,
                **environment(),
            )
            r["classes"] = "|".join(r["classes"])
            r["users"] = json.dumps(r["users"])
            print(json.dumps({k: v for k, v in r.items() if k != "valid_curve"}), flush=True)
            _emit(r)
            records.append(r)
    return records, "User attributes of ml-1m-head (PARTIAL ML-1M) users from their histories"


ATTRIBUTE_COLUMNS = [
    "arm",
    "test_accuracy",
    "majority_accuracy",
    "trainable_parameters",
    "trainable_share",
    "best_epoch",
    "epochs",
    "seconds",
    "users",
]
EXPERIMENTS = {"ssept-wikipedia": ssept_wikipedia, "text-lastfm": text_lastfm, "attribute": attribute}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiment", choices=sorted(EXPERIMENTS), required=True)
    p.add_argument("--epochs", type=int, default=50, help="epoch cap on the target (every arm)")
    p.add_argument("--patience", type=int, default=5, help="validations without improvement before stopping")
    p.add_argument("--source-epochs", type=int, default=None, help="epoch cap of pre-training (config's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--work", type=Path, default=WORK, help="where pre-trained source runs are kept")
    a = p.parse_args()
    mirror()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    runtime = RuntimeOptions(device=a.device, threads=a.threads, seed=a.seed, progress=False)
    name = f"transfer_{a.experiment}"
    columns = ATTRIBUTE_COLUMNS if a.experiment == "attribute" else COLUMNS
    partial: list[dict[str, Any]] = []

    def sink(record: dict[str, Any]) -> None:
        partial.append(record)
        write_results(name, partial, columns, f"{a.experiment} (running)", NOTES[a.experiment], out=a.out)

    _SINK.append(sink)
    records, title = EXPERIMENTS[a.experiment](a, runtime)
    write_results(name, records, columns, title, NOTES[a.experiment], out=a.out)
    plot(records, title, a.out / f"{name}.png")


NOTES = {
    "ssept-wikipedia": """
SSE-PT (configs/ml-1m-head-ssept.yaml) pre-trained on ml-1m-head, **partial** MovieLens-1M, then moved to
JODIE Wikipedia (5-core) with no shared ids: every item and user row on the target is new, the encoder
(attention and feed-forward blocks, positions) is what moves. `scratch`: the same architecture and
budget, randomly initialised. Sampled = 100 uniform negatives; full = whole-catalogue ranking; seen items
are not removed (page re-visits are most of Wikipedia's targets). The seed reports 0.9035 / 0.8689
(sampled HR@10 / NDCG@10) for the frozen encoder. Read with care: 74.9% of the 2,846 test targets are
the user's last input item again, so "repeat the last page" alone scores about 0.75 full-ranking
NDCG@10; even a randomly initialised SSE-PT scores high at epoch 0 because the residual path carries
the last item's own embedding to the output (tied item table), and the first updates of the from-scratch
model destroy that before it learns it back.
""",
    "text-lastfm": """
SASRec whose items are their text (all-MiniLM-L6-v2 vectors of title + genres / tags through a trainable
MoE whitening adaptor, no id table) pre-trained on ml-1m-head (**partial** MovieLens-1M), then moved to
LastFM hetrec2011 artists (interactions with a tagging time, 5-core): the two catalogues share no ids.
`zero-shot`: no target training. `adapters`: residual adapters, layer norms and the text adaptor train.
`full`: everything trains. Baselines: an id-based SASRec and a text SASRec trained from scratch on
LastFM with the same size and budget.
""",
    "attribute": """
PeterRec's user-level transfer: a SASRec pre-trained on ml-1m-head (**partial** MovieLens-1M) next-item
prediction reads each user's history; a new linear head predicts users.dat gender or age group. Users are
split 70/10/20 (stratified); test accuracy at the best validation epoch, against the majority class and
the same architecture trained from scratch on the labels.
""",
}


if __name__ == "__main__":
    main()
