"""The training loop: read in one sitting.

Each epoch draws batches from the objective (data side, chosen and configured by the model's registry
entry), computes the configured loss, steps Adam (with optional gradient clipping; with
``lr_step_epochs`` the learning rate is multiplied by 0.1 every that many epochs; with
``sparse_item_updates`` lazy Adam on the item rows each batch takes), and every
``eval_every`` epochs validates with full ranking. The best validation state is kept (in memory and,
with a run directory, as ``model.safetensors``); training stops after ``patience`` validations without
improvement. Progress goes to tqdm, TensorBoard scalars, a JSON-lines log and a PNG of the curves.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from seqrec.config import RunConfig
from seqrec.data.batch import TrainBatch
from seqrec.data.dataset import SequenceDataset
from seqrec.data.negatives import NegativeSampler
from seqrec.data.objectives import OBJECTIVES, Objective
from seqrec.evaluation.evaluator import evaluate
from seqrec.io import atomic_write
from seqrec.models import OBJECTIVE_OF, objective_options
from seqrec.models.base import SequenceModel
from seqrec.nn.embeddings import ItemEmbedding
from seqrec.nn.losses import DenseCrossEntropy, Weight, make_loss
from seqrec.runtime import RuntimeOptions, bar_disable
from seqrec.training.checkpoint import save_weights, state_to_cpu
from seqrec.training.graphs import GraphedStep

log = logging.getLogger("seqrec")

BUCKET_POOL = 64
"""Batches per length-sorted pool when ``training.length_bucketing`` is on."""

FUSED_ADAM_DEVICES = ("cpu", "cuda")
"""Devices where Adam runs as PyTorch's fused kernel (one pass over all parameters) rather than a loop of
small ops per parameter tensor; same update rule. With the reused evaluation blocks it made a SASRec BCE
epoch on Beauty 1.14x faster on the 2-core CPU (``benchmarks/results/ab_fused-adam-eval-buffers.md``)."""


@dataclass
class FitResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = float("-inf")
    best_valid: dict[str, Any] | None = None
    seconds: float = 0.0
    stopped_early: bool = False
    stop_requested: str | None = None
    """Why training ended before its epochs when ``Trainer.stop_requested`` was set (e.g. a deadline)."""


def negative_sampler(data: SequenceDataset, cfg: RunConfig) -> NegativeSampler | None:
    """The sampler of training negatives (items of each user's training part are never drawn); ``None``
    for the full-softmax CE, which takes none."""
    if cfg.training.loss == "ce":
        return None
    return NegativeSampler(
        data.sequences, data.num_items, limit=data.split.train_end, kind=cfg.training.negative_sampler
    )


def log_q(sampler: NegativeSampler, device: torch.device) -> torch.Tensor | float:
    """The sampled softmax's logQ correction for ``sampler``'s draws: log q(i) per item ``[N + 1]`` on
    ``device``, or one number where every item has the same chance (uniform draws)."""
    log_probs = sampler.log_probabilities()  # [N + 1]
    if sampler.kind == "uniform":
        return float(log_probs[1])
    return torch.from_numpy(log_probs).float().to(device)


def build_objective(
    model_name: str, data: SequenceDataset, cfg: RunConfig, sampler: NegativeSampler | None
) -> Objective:
    objective_cls = OBJECTIVES[OBJECTIVE_OF[model_name]]
    return objective_cls(
        data.sequences,
        data.split.train_end,
        max_len=cfg.model.max_len,
        num_items=data.num_items,
        sampler=sampler,
        num_negatives=cfg.training.num_negatives,
        window_stride=cfg.training.window_stride,
        **objective_options(cfg.model, data),
    )


class Trainer:
    def __init__(
        self,
        model: SequenceModel,
        data: SequenceDataset,
        config: RunConfig,
        runtime: RuntimeOptions,
        run_dir: Path | None = None,
        on_epoch_end: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        """``on_epoch_end(epoch)``: extra measurements merged into the epoch's log row (e.g. test
        metrics for learning curves); its time is excluded from ``elapsed``."""
        self.on_epoch_end = on_epoch_end
        self.stop_requested: str | None = None
        """Set (to a reason) from a subclass or a hook to end training after the current epoch; the best
        validated state is kept as usual."""
        self.model = model
        self.data = data
        self.config = config
        self.runtime = runtime
        self.run_dir = run_dir
        self.device = runtime.torch_device()
        tc = config.training
        sampler = negative_sampler(data, config)
        self.loss = make_loss(
            tc.loss,
            num_items=data.num_items,
            num_negatives=tc.num_negatives,
            gbce_t=tc.gbce_t,
            sparse_table=tc.sparse_item_updates,
            log_q=log_q(sampler, self.device) if sampler is not None and tc.corrects_logq else None,
        )
        self.objective = build_objective(config.model.name, data, config, sampler)
        self.trainable = trainable_parameters(model)  # transfer strategies freeze some
        if not self.trainable:
            raise ValueError("the model has no trainable parameters")
        if runtime.cuda_graphs:  # the step held in a CUDA graph (seqrec.training.graphs)
            check_graphs(config, data.num_items, self.device)
            self.loss = DenseCrossEntropy()  # the same CE, every position at once; the same batches
        sparse = sparse_item_table(model, config.model.name) if tc.sparse_item_updates else None
        self.optimizers = build_optimizers(self.trainable, sparse, config, self.device, runtime.cuda_graphs)
        """Stepped together: Adam, and lazy Adam on the item table with ``training.sparse_item_updates``."""
        self.optimizer = self.optimizers[0]
        """The first: the learning rate the log reads, the one CUDA graphs capture (Adam alone there)."""
        self.graphed = (
            GraphedStep(
                self.step, self.optimizer, rows=tc.batch_size, width=config.model.max_len, device=self.device
            )
            if runtime.cuda_graphs
            else None
        )
        self.schedulers = (
            [
                torch.optim.lr_scheduler.StepLR(o, step_size=tc.lr_step_epochs, gamma=0.1)
                for o in self.optimizers
            ]
            if tc.lr_step_epochs is not None
            else []
        )
        self.rng = np.random.default_rng(runtime.seed)
        self.targets_seen, self.batches_seen = 0, 0  # for training.equal_target_weights

    def step(self, batch: TrainBatch, weight: Weight, autocast_cache: bool = True) -> torch.Tensor:
        """One eager training step on ``batch`` (its mean loss times ``weight``); the weighted loss, on the
        device, without waiting for it. ``autocast_cache=False``: bf16 autocast casts the weights at each
        use (as a CUDA-graph capture needs, ``GraphedStep``)."""
        bf16 = self.runtime.precision == "bf16"
        with torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=autocast_cache
        ):
            loss = self.model.training_loss(batch.to(self.device), self.loss, weight)
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.training.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.config.training.grad_clip)
        for optimizer in self.optimizers:
            optimizer.step()
        return loss.detach().float()

    def batch_weight(self, batch: TrainBatch) -> float:
        """The factor on a batch's mean loss that weighs each of its targets equally with every other
        target (``training.equal_target_weights``): its number of targets over the mean number per batch
        so far, this one included (1.0 without equal weights, or for a batch without targets)."""
        targets = int(torch.count_nonzero(batch.targets))  # on the host, before the batch moves
        if not self.config.training.equal_target_weights or targets == 0:
            return 1.0
        self.targets_seen += targets
        self.batches_seen += 1
        return targets * self.batches_seen / self.targets_seen

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        tc = self.config.training
        self.model.train()
        total, batches = torch.zeros((), device=self.device), 0  # read back once per epoch (below)
        start = time.perf_counter()
        n_batches = self.objective.num_batches(tc.batch_size)
        bar = tqdm(
            self.objective.epoch(
                tc.batch_size, self.rng, bucket_pool=BUCKET_POOL if tc.length_bucketing else 0
            ),
            total=n_batches,
            desc=f"epoch {epoch}",
            disable=bar_disable(self.runtime.progress),
            leave=False,
        )
        step = self.graphed if self.graphed is not None else self.step
        for batch in bar:
            total += step(batch, self.batch_weight(batch))
            batches += 1
            if not bar.disable:  # reading the loss waits for the step: only where it is shown
                bar.set_postfix(loss=f"{float(total) / batches:.4f}")
        # one read per epoch: on a GPU a read after every step made the host wait for each step to end
        # (SASRec CE on S3-Rec Beauty, H100: 7.60 ms per step against 7.05;
        # benchmarks/results/step_profile_h100.md)
        mean = float(total) / max(batches, 1)
        if not math.isfinite(mean):
            raise FloatingPointError(f"epoch {epoch}: training loss became {mean}")
        lr = self.optimizer.param_groups[0]["lr"]
        for scheduler in self.schedulers:
            scheduler.step()
        return {
            "epoch": epoch,
            "loss": mean,
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }

    def validate(self) -> dict[str, Any]:
        return evaluate(
            self.model,
            self.data,
            self.config.evaluation,
            part="valid",
            protocol="full",
            device=self.device,
            progress=self.runtime.progress,
            max_len=self.config.model.max_len,
        )

    def fit(self) -> FitResult:
        tc = self.config.training
        self.model.to(self.device)
        writer = _summary_writer(self.run_dir)
        result = FitResult()
        best_state = state_to_cpu(self.model)
        bad_validations = 0
        t0 = time.perf_counter()
        has_valid = bool((self.data.split.valid_pos >= 0).any())
        for epoch in range(1, tc.epochs + 1):
            row = self.train_epoch(epoch)
            if writer is not None:
                writer.add_scalar("train/loss", row["loss"], epoch)
                writer.add_scalar("train/seconds_per_epoch", row["seconds"], epoch)
            if has_valid and (epoch % tc.eval_every == 0 or epoch == tc.epochs):
                valid = self.validate()
                metric = float(valid[tc.early_stopping_metric])
                row["valid"] = {k: v for k, v in valid.items() if isinstance(v, float)}
                if writer is not None:
                    for key, value in row["valid"].items():
                        writer.add_scalar(f"valid/{key}", value, epoch)
                if metric > result.best_metric:
                    result.best_metric, result.best_epoch, result.best_valid = metric, epoch, valid
                    best_state = state_to_cpu(self.model)
                    bad_validations = 0
                    if self.run_dir is not None:
                        save_weights(best_state, self.run_dir / "model.safetensors")
                else:
                    bad_validations += 1
                log.info(
                    "epoch %d loss %.4f (%.1fs) valid %s %.4f (best %.4f @ %d)",
                    epoch,
                    row["loss"],
                    row["seconds"],
                    tc.early_stopping_metric,
                    metric,
                    result.best_metric,
                    result.best_epoch,
                )
            else:
                log.info("epoch %d loss %.4f (%.1fs)", epoch, row["loss"], row["seconds"])
            row["elapsed"] = time.perf_counter() - t0  # wall time since fit() began, validation included
            if self.on_epoch_end is not None:
                extra_start = time.perf_counter()
                row.update(self.on_epoch_end(epoch))
                t0 += time.perf_counter() - extra_start
            result.history.append(row)
            self._append_log(row)
            if bad_validations >= tc.patience:
                result.stopped_early = True
                break
            if self.stop_requested is not None:
                log.info("stopping after epoch %d: %s", epoch, self.stop_requested)
                result.stop_requested = self.stop_requested
                break
        if not has_valid:  # nothing to select on: keep the last state
            best_state, result.best_epoch = state_to_cpu(self.model), len(result.history)
            if self.run_dir is not None:
                save_weights(best_state, self.run_dir / "model.safetensors")
        self.model.load_state_dict(best_state)
        result.seconds = time.perf_counter() - t0
        if writer is not None:
            writer.close()
        if self.run_dir is not None:
            plot_curves(result.history, tc.early_stopping_metric, self.run_dir / "curves.png")
        return result

    def _append_log(self, row: dict[str, Any]) -> None:
        if self.run_dir is None:
            return
        with open(self.run_dir / "train_log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


GRAPH_MODELS = ("sasrec", "ssept", "bert4rec", "tisasrec")
"""Models whose training step a CUDA graph can hold (their batches are plain ``TrainBatch``es)."""

GRAPH_LOGIT_BYTES = 4 << 30
"""Largest float32 ``[batch_size x max_len, N]`` logits that ``runtime.cuda_graphs`` forms at once."""


def check_graphs(config: RunConfig, num_items: int, device: torch.device) -> None:
    """A clear error where ``runtime.cuda_graphs`` cannot train this configuration."""
    tc, mc = config.training, config.model
    problems = []
    if device.type != "cuda":
        problems.append(f"a CUDA device (the device is {device})")
    if tc.loss != "ce":
        problems.append(f"training.loss 'ce' (it is {tc.loss!r})")
    if tc.lr_step_epochs is not None:
        problems.append("a fixed learning rate (training.lr_step_epochs is set)")
    if mc.name not in GRAPH_MODELS:
        problems.append(f"one of the models {', '.join(GRAPH_MODELS)} (model.name is {mc.name!r})")
    if getattr(mc, "rtd_weight", 0.0) > 0:
        problems.append("model.rtd_weight 0 (replaced-item detection draws data-dependent replacements)")
    size = DenseCrossEntropy.logit_bytes(tc.batch_size, mc.max_len, num_items)
    if size > GRAPH_LOGIT_BYTES:
        problems.append(
            f"logits of at most {GRAPH_LOGIT_BYTES >> 30} GiB (batch_size x max_len x items = "
            f"{tc.batch_size} x {mc.max_len} x {num_items} floats, {size / 2**30:.1f} GiB)"
        )
    if problems:
        raise ValueError("runtime.cuda_graphs needs " + "; ".join(problems))


def sparse_item_table(model: SequenceModel, name: str) -> torch.Tensor:
    """The item embedding's weight that ``model`` scores with, its lookups switched to sparse gradients
    (``training.sparse_item_updates``); the losses' gathers are made sparse by ``make_loss``. A clear
    error where the model scores through a table derived from it (BERT4Rec's output bias column, SSE-PT's
    column of ones, text-based items), whose gradient is dense."""
    table = model.item_table()
    for module in model.modules():
        if isinstance(module, ItemEmbedding) and module.weight is table:
            module.sparse = True  # nn.Embedding's own switch: F.embedding(..., sparse=True)
            return module.weight
    raise ValueError(
        f"training.sparse_item_updates: model {name!r} scores items through a table derived from its "
        "item embedding, whose gradient is dense (models that take it: sasrec, tisasrec, sasfpt)"
    )


def build_optimizers(
    trainable: list[torch.nn.Parameter],
    sparse: torch.Tensor | None,
    config: RunConfig,
    device: torch.device,
    capturable: bool = False,
) -> list[torch.optim.Optimizer]:
    """Adam over ``trainable``; where the ``sparse`` item table is among them, Adam over the others and
    PyTorch's lazy Adam (``torch.optim.SparseAdam``) over the table. Either may be missing where a transfer
    strategy froze its parameters. ``capturable``: Adam's step counts on the device (CUDA graphs)."""
    tc = config.training
    dense = [p for p in trainable if p is not sparse]
    table = [p for p in trainable if p is sparse]
    optimizers: list[torch.optim.Optimizer] = []
    if dense:
        fused = device.type in FUSED_ADAM_DEVICES
        optimizers.append(
            torch.optim.Adam(
                dense,
                lr=tc.lr,
                betas=tc.betas,
                weight_decay=tc.weight_decay,
                fused=fused,
                capturable=capturable,
            )
        )
    if table:
        optimizers.append(torch.optim.SparseAdam(table, lr=tc.lr, betas=tc.betas))
    return optimizers


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _summary_writer(run_dir: Path | None) -> Any:
    if run_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def plot_curves(history: list[dict[str, Any]], metric: str, path: Path) -> None:
    """Training loss and validation metric per epoch, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    losses = [r["loss"] for r in history]
    valid = [(r["epoch"], r["valid"][metric]) for r in history if "valid" in r]
    fig, ax1 = plt.subplots(figsize=(7, 4), dpi=100)
    ax1.plot(epochs, losses, color="tab:blue", label="training loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss", color="tab:blue")
    if valid:
        ax2 = ax1.twinx()
        ax2.plot(
            [e for e, _ in valid], [v for _, v in valid], "o-", color="tab:orange", label=f"valid {metric}"
        )
        ax2.set_ylabel(f"validation {metric} (full ranking)", color="tab:orange")
    ax1.set_title("seqrec training curves")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)
