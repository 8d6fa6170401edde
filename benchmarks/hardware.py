"""How much of the hardware the training loop uses (issue: speed and scale).

In one run, on the device chosen with ``--device``:

1. **Matmul peak**: ``torch.mm`` of square ``n x n`` matrices in float32 and, where it runs, bfloat16;
   the median of timed repeats after a warm-up, reported as GFLOP/s (2 n^3 FLOPs per product). The best
   size's median is the "peak" that the models are compared with.
2. **FLOPs per training epoch** of each model with its ``configs/`` file (the papers' sizes on
   ``ml-1m-head``: PARTIAL MovieLens-1M, users 1..2998; ``sasrec-ce``: the setting of the side-by-side
   benchmarks with the peers, SASRec with the full-softmax CE on S3-Rec Beauty), on the file's dataset
   or on ``--dataset``, with the file's batch size or ``--batch-size``. Counted with
   ``torch.utils.flop_counter.FlopCounterMode`` over one complete real training epoch (every batch,
   forward + backward; the optimizer step does no matmuls), split by module into the encoder (the
   transformer blocks, ``model.encoder``) and the rest (embeddings, input projections, the loss with its
   output scoring against the item table).
3. **Achieved FLOP/s**: real epochs (``Trainer.train_epoch``, data preparation and optimizer included)
   are timed, the median is taken, and FLOPs / second is reported overall and as a share of the measured
   fp32 (or bf16) matmul peak. The encoder's time is **measured**, not estimated: its forward and
   backward are rerun alone on the inputs captured from the counted epoch (same batches, same shapes);
   encoder FLOP/s = encoder FLOPs / that time.

``--bf16 [MODEL ...]`` repeats models under bf16 autocast (``RuntimeOptions.precision``); ``--compile
[MODEL ...]`` adds a run with ``model.encoder`` compiled by ``torch.compile`` (its error text is recorded
when compilation fails); without model names they apply to every model. Records merge into
``results/hardware.{json,md}`` keyed by device, threads, model, dataset, batch size, precision and
compile, so CPU and GPU runs sit side by side.

    python -m benchmarks.hardware --device cpu --threads 2 --epochs 3 --bf16 sasrec --compile sasrec
    python -m benchmarks.hardware --device cuda --epochs 5 --bf16 --compile
    python -m benchmarks.hardware --models sasrec-ce --bf16 sasrec-ce
    python -m benchmarks.hardware --models sasrec-ce --bf16 sasrec-ce --dataset sasrec-games --batch-size 64
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from benchmarks.common import RESULTS, cpu_model, environment, median, mirror, write_results
from seqrec import RuntimeOptions, SequenceDataset
from seqrec.config import build_config
from seqrec.models import build_model
from seqrec.training.trainer import Trainer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CONFIG_OF = {
    "sasrec": "ml-1m-head.yaml",
    "bert4rec": "ml-1m-head-bert4rec.yaml",
    "ssept": "ml-1m-head-ssept.yaml",
    "tisasrec": "ml-1m-head-tisasrec.yaml",
    "sasfpt": "ml-1m-head-sasfpt.yaml",
    "sasrec-ce": "s3rec-beauty-sasrec-ce.yaml",
}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


# ---------------------------------------------------------------------------------------------- device
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_info(device: torch.device) -> dict[str, Any]:
    """What the records say about the machine: device, its name, torch, threads."""
    info = environment()
    info["device"] = device.type
    info["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    info["cpu_model"] = cpu_model()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
        info["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        info["device_name"] = info["gpu"]
    else:
        info["device_name"] = info["cpu_model"]
    return info


# ---------------------------------------------------------------------------------------------- peak
def matmul_gflops(
    device: torch.device, dtype: torch.dtype, n: int, repeats: int, budget_s: float
) -> tuple[float, int, float]:
    """Median GFLOP/s of ``n x n @ n x n`` (after one warm-up), the repeats timed and the warm-up seconds.

    Stops repeating once ``budget_s`` seconds have been spent on this size (at least one timed repeat).
    """
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    sync(device)
    t0 = time.perf_counter()
    torch.mm(a, b)
    sync(device)
    warmup = time.perf_counter() - t0
    times: list[float] = []
    spent = 0.0
    while len(times) < repeats and (not times or spent < budget_s):
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return 2.0 * n**3 / statistics.median(times) / 1e9, len(times), warmup


def matmul_peak(
    device: torch.device, sizes: list[int], dtypes: list[str], repeats: int, budget_s: float
) -> list[dict[str, Any]]:
    """One record per (dtype, size), sizes ascending; a size whose product is predicted (from the last
    size's rate, time ~ n^3) to take longer than ``budget_s`` is skipped with the larger ones."""
    records = []
    for name in dtypes:
        rate = float("inf")  # GFLOP/s of the last size measured
        for n in sorted(sizes):
            predicted = 2.0 * n**3 / 1e9 / rate
            if predicted > budget_s:
                print(
                    f"matmul {name}: n >= {n} skipped (one product would take ~{predicted:.0f}s)", flush=True
                )
                break
            try:
                gflops, timed, _ = matmul_gflops(device, DTYPES[name], n, repeats, budget_s)
            except RuntimeError as exc:  # a dtype the device cannot multiply
                records.append(
                    {
                        "kind": "matmul",
                        "model": f"torch.mm n={n}",
                        "precision": name,
                        "dtype": name,
                        "size": n,
                        "error": str(exc)[:300],
                    }
                )
                break
            records.append(
                {
                    "kind": "matmul",
                    "model": f"torch.mm n={n}",
                    "precision": name,
                    "dtype": name,
                    "size": n,
                    "gflops": gflops,
                    "achieved_gflops": gflops,
                    "repeats": timed,
                }
            )
            print(f"matmul {name} {n}: {gflops:.1f} GFLOP/s ({timed} repeats)", flush=True)
            rate = gflops
    return records


def peaks(records: list[dict[str, Any]]) -> dict[str, float]:
    """Best median GFLOP/s per dtype; each matmul record gets its share of that peak."""
    best: dict[str, float] = {}
    for r in records:
        if "gflops" in r:
            best[r["dtype"]] = max(best.get(r["dtype"], 0.0), r["gflops"])
    for r in records:
        if "gflops" in r:
            r["peak_gflops"] = best[r["dtype"]]
            r["share_of_peak"] = r["gflops"] / best[r["dtype"]]
    return best


# ---------------------------------------------------------------------------------------------- FLOPs
def extra_flop_formulas() -> dict[Any, Any]:
    """FLOP formulas for the matmul ops seqrec runs that ``FlopCounterMode`` does not count.

    - The CPU flash-attention kernels: without dropout (evaluation, or ``dropout_p = 0``) PyTorch's CPU
      ``scaled_dot_product_attention`` runs ``_scaled_dot_product_flash_attention_for_cpu``; the formulas
      are the ones torch registers for the CUDA kernels (two batched matmuls forward, five backward;
      causal masking not discounted).
    - The in-place ``addmm_``: the full-softmax CE accumulates the item table's gradient with it, one
      product as large as the logits' (torch's formula for ``addmm``; its ``out=`` forms are counted
      already). Records before this was counted are marked ``inplace_addmm_counted: false``.
    - oneDNN's fused linear (``torch.ops.mkldnn._linear_pointwise`` and its ``binary`` form), which
      ``seqrec.nn.linear`` takes at inference: ``2 rows in out``, the post-ops not counted.
    """
    aten = torch.ops.aten

    def addmm(bias: Any, a: Any, b: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return 2 * a[0] * a[1] * b[1]  # [m, k] @ [k, n]: 2 m k n; the added term not (as torch's addmm)

    def onednn_linear(x: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return 2 * math.prod(x) * out_shape[-1]  # x [..., in] -> [..., out]

    mapping: dict[Any, Any] = {aten.addmm_: addmm}
    if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        mapping[torch.ops.mkldnn._linear_pointwise] = onednn_linear

    def forward(q: Any, k: Any, v: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return int(sdpa_flop_count(q, k, v))

    def backward(g: Any, q: Any, k: Any, v: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return int(sdpa_backward_flop_count(g, q, k, v))

    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = forward
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = backward
    return mapping


class EncoderInputs:
    """Captures (detached) the arguments of every ``model.encoder`` call while installed."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.handle = encoder.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        def keep(value: Any) -> Any:
            if isinstance(value, torch.Tensor):
                value = value.detach().clone()
                return value.requires_grad_(True) if value.is_floating_point() else value
            return value

        self.calls.append((tuple(keep(a) for a in args), {k: keep(v) for k, v in kwargs.items()}))

    def remove(self) -> None:
        self.handle.remove()


def count_epoch(trainer: Trainer) -> tuple[dict[str, Any], EncoderInputs]:
    """One complete training epoch under ``FlopCounterMode``: total and encoder FLOPs, and the
    encoder's inputs of every batch (for timing the encoder alone)."""
    model = trainer.model
    capture = EncoderInputs(model.encoder)
    counter = FlopCounterMode(display=False, depth=None, custom_mapping=extra_flop_formulas())
    with counter:
        row = trainer.train_epoch(0)
    capture.remove()
    counts = counter.get_flop_counts()
    total = int(counter.get_total_flops())
    # The tracker names modules from the outermost one *called*: models are used through methods
    # (training_loss, encode), so the encoder is usually a root named by its class.
    names = [f"{type(model).__name__}.encoder", type(model.encoder).__name__]
    found = [n for n in names if n in counts]
    if not found:
        raise RuntimeError(f"FlopCounterMode has no entry {names}; keys: {sorted(counts)[:20]}")
    encoder = int(sum(counts[found[0]].values()))
    by_op = {str(op).rsplit(".", 1)[-1]: int(v) for op, v in counts.get("Global", {}).items()}
    return (
        {
            "flops_epoch": total,
            "flops_encoder": encoder,
            "flops_rest": total - encoder,
            "flops_by_op": json.dumps(by_op, sort_keys=True),
            "inplace_addmm_counted": True,
            "batches": len(capture.calls),
            "counted_epoch_seconds": row["seconds"],
        },
        capture,
    )


def time_encoder(
    encoder: torch.nn.Module, capture: EncoderInputs, device: torch.device, precision: str
) -> float:
    """Seconds for the encoder's forward + backward over every captured batch (one epoch's worth), under
    the same autocast as training."""
    encoder.train()
    sync(device)
    t0 = time.perf_counter()
    for args, kwargs in capture.calls:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = encoder(*args, **kwargs)
        out.backward(torch.ones_like(out))
    sync(device)
    seconds = time.perf_counter() - t0
    encoder.zero_grad(set_to_none=True)
    for args, _ in capture.calls:
        for a in args:
            if isinstance(a, torch.Tensor):
                a.grad = None
    return seconds


def time_phases(trainer: Trainer, device: torch.device) -> dict[str, Any]:
    """One more training epoch, the trainer's own, with each phase timed by hooks (no step is re-written):
    the encoder's forward (``model.encoder``'s hooks), the rest of ``model.training_loss`` (the loss; for
    a full-softmax CE that is the whole CE, its gradients included, formed in its forward), the
    optimizer's step (its hooks), the rest of each step (the backward pass, ``zero_grad``), and the rest
    of the epoch (building the batches). Also the epoch's number of targets. On a GPU every boundary
    waits for the device, which the plain epochs do not."""
    model = trainer.model
    clock = dict.fromkeys(("encoder", "training_loss", "optimizer", "steps"), 0.0)
    started: dict[str, float] = {}
    targets = 0

    def begin(name: str, *hook_args: Any) -> None:  # hooks pass their module / optimizer and arguments
        sync(device)
        started[name] = time.perf_counter()

    def end(name: str, *hook_args: Any) -> None:
        sync(device)
        clock[name] += time.perf_counter() - started[name]

    def timed(name: str, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            begin(name)
            out = fn(*args, **kwargs)
            end(name)
            return out

        return call

    def counted(batch: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal targets
        targets += int(torch.count_nonzero(batch.targets))
        return training_loss(batch, *args, **kwargs)

    training_loss = timed("training_loss", model.training_loss)
    handles = [
        model.encoder.register_forward_pre_hook(functools.partial(begin, "encoder")),
        model.encoder.register_forward_hook(functools.partial(end, "encoder")),
        trainer.optimizer.register_step_pre_hook(functools.partial(begin, "optimizer")),
        trainer.optimizer.register_step_post_hook(functools.partial(end, "optimizer")),
    ]
    model.training_loss = counted  # type: ignore[method-assign]
    trainer.step = timed("steps", trainer.step)  # type: ignore[method-assign]
    try:
        epoch = trainer.train_epoch(0)["seconds"]
    finally:
        for handle in handles:
            handle.remove()
        del model.training_loss, trainer.step  # the instance attributes: the methods again
    return {
        "phase_epoch_seconds": epoch,
        "phase_batches_seconds": epoch - clock["steps"],
        "phase_encoder_forward_seconds": clock["encoder"],
        "phase_loss_seconds": clock["training_loss"] - clock["encoder"],
        "phase_backward_seconds": clock["steps"] - clock["training_loss"] - clock["optimizer"],
        "phase_optimizer_seconds": clock["optimizer"],
        "targets_epoch": targets,
    }


# ---------------------------------------------------------------------------------------------- models
def model_config(model: str, dataset: str | None, batch_size: int | None) -> dict[str, Any]:
    """``model``'s config file, with ``dataset`` and ``batch_size`` in place of its own where given."""
    raw = yaml.safe_load((CONFIGS / CONFIG_OF[model]).read_text())
    if dataset is not None:
        raw["data"]["dataset"] = dataset
    if batch_size is not None:
        raw["training"]["batch_size"] = batch_size
    return raw


def run_model(
    model: str,
    data: SequenceDataset,
    raw: dict[str, Any],
    runtime: RuntimeOptions,
    epochs: int,
    compile_encoder: bool,
    peak: dict[str, float],
) -> dict[str, Any]:
    cfg = build_config(raw)
    runtime.apply()
    device = runtime.torch_device()
    net = build_model(cfg.model, data.num_items, data.num_users).to(device)
    trainer = Trainer(net, data, cfg, runtime)
    record: dict[str, Any] = {
        "kind": "model",
        "model": model,
        "precision": runtime.precision,
        "compile": compile_encoder,
        "max_len": cfg.model.max_len,
        "hidden": cfg.model.hidden,
        "batch_size": cfg.training.batch_size,
        "loss": cfg.training.loss,
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    record["load_avg_1m_start"] = os.getloadavg()[0]  # other processes sharing the cores show here
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    counted, capture = count_epoch(trainer)  # also the warm-up epoch (eager)
    record.update(counted)
    if compile_encoder:
        try:
            net.encoder.compile()
            # compiles (and recompiles for new widths) outside the timing
            record["compile_epoch_seconds"] = trainer.train_epoch(0)["seconds"]
        except Exception as exc:  # compilation problems vary by machine: record them, go on
            record["compile_error"] = f"{type(exc).__name__}: {exc}"[:2000]
            print(traceback.format_exc(), flush=True)
            return record
    seconds = [trainer.train_epoch(e)["seconds"] for e in range(1, epochs + 1)]
    encoder_seconds = time_encoder(net.encoder, capture, device, runtime.precision)
    record.update(time_phases(trainer, device))
    if cfg.training.loss == "ce":  # the CE's three products over the real targets (padding rows left out)
        rows, width = net.item_table().shape  # [N + 1, D]
        ce_flops = 3 * 2 * record["targets_epoch"] * (rows - 1) * width
        record["ce_gflops"] = ce_flops / record["phase_loss_seconds"] / 1e9
        record["ce_share_of_peak"] = record["ce_gflops"] / peak.get(runtime.precision, float("nan"))
    epoch_s = median(seconds)
    ref = peak.get(runtime.precision, float("nan"))
    achieved = record["flops_epoch"] / epoch_s / 1e9
    encoder_gflops = record["flops_encoder"] / encoder_seconds / 1e9
    record.update(
        {
            "epochs_timed": len(seconds),
            "epoch_seconds": epoch_s,
            "epoch_seconds_all": [round(s, 3) for s in seconds],
            "gflop_epoch": record["flops_epoch"] / 1e9,
            "encoder_flop_share": record["flops_encoder"] / max(record["flops_epoch"], 1),
            "achieved_gflops": achieved,
            "peak_gflops": ref,
            "share_of_peak": achieved / ref,
            "share_of_fp32_peak": achieved / peak.get("fp32", float("nan")),
            "encoder_seconds": encoder_seconds,
            "encoder_time_share": encoder_seconds / epoch_s,
            "encoder_time_method": "measured: encoder forward+backward rerun alone on the epoch's inputs",
            "encoder_gflops": encoder_gflops,
            "encoder_share_of_peak": encoder_gflops / ref,
            "encoder_share_of_fp32_peak": encoder_gflops / peak.get("fp32", float("nan")),
            # the rest's FLOP/s only where the encoder leaves a measurable part of the epoch
            "rest_gflops": (
                record["flops_rest"] / (epoch_s - encoder_seconds) / 1e9
                if epoch_s - encoder_seconds > 0.05 * epoch_s
                else None
            ),
        }
    )
    record["load_avg_1m_end"] = os.getloadavg()[0]
    if device.type == "cuda":
        record["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return record


# ---------------------------------------------------------------------------------------------- output
COLUMNS = [
    "device_name",
    "kind",
    "model",
    "dataset",
    "loss",
    "batch_size",
    "precision",
    "compile",
    "epoch_seconds",
    "gflop_epoch",
    "encoder_flop_share",
    "achieved_gflops",
    "peak_gflops",
    "share_of_peak",
    "share_of_fp32_peak",
    "encoder_time_share",
    "encoder_gflops",
    "encoder_share_of_peak",
    "rest_gflops",
    "phase_loss_seconds",
    "ce_gflops",
    "ce_share_of_peak",
    "threads",
    "load_avg_1m_start",
    "inplace_addmm_counted",
    "compile_error",
]


def record_key(r: dict[str, Any]) -> tuple[Any, ...]:
    if r["kind"] == "matmul":
        return ("matmul", r["device_name"], r["threads"], r["dtype"], r["size"])
    return (
        "model",
        r["device_name"],
        r["threads"],
        r["model"],
        r["dataset"],
        r["batch_size"],
        r["precision"],
        r["compile"],
    )


def merge(new: list[dict[str, Any]], fresh: bool = False) -> list[dict[str, Any]]:
    """Earlier records not replaced by ``new`` (``fresh``: none of the machines of ``new``), then ``new``."""
    path = RESULTS / "hardware.json"
    old = json.loads(path.read_text()) if path.exists() else []
    if fresh:
        machines = {r["device_name"] for r in new}
        old = [r for r in old if r["device_name"] not in machines]
    keys = {record_key(r) for r in new}
    merged = [r for r in old if record_key(r) not in keys] + new
    for r in merged:  # records counted before ``addmm_`` was (``extra_flop_formulas``)
        if r["kind"] == "model":
            r.setdefault("inplace_addmm_counted", False)
    for r in merged:  # records written before rest_gflops needed a measurable rest of the epoch
        if r["kind"] == "model" and r.get("encoder_time_share", 0.0) > 0.95:
            r["rest_gflops"] = None
    # records written before the fp32-share columns existed: derive them from the same machine's peak
    fp32 = {
        (r["device_name"], r["threads"]): r["peak_gflops"]
        for r in merged
        if r["kind"] == "matmul" and r["dtype"] == "fp32" and "peak_gflops" in r
    }
    for r in merged:
        peak = fp32.get((r["device_name"], r["threads"]))
        if r["kind"] == "model" and "achieved_gflops" in r and peak and "share_of_fp32_peak" not in r:
            r["share_of_fp32_peak"] = r["achieved_gflops"] / peak
            r["encoder_share_of_fp32_peak"] = r["encoder_gflops"] / peak
    return merged


def notes(records: list[dict[str, Any]]) -> str:
    lines = [NOTES.strip(), ""]
    datasets = sorted({(r["dataset"], r["partial_dataset"]) for r in records if r["kind"] == "model"})
    for name, partial in datasets:
        state = "PARTIAL (MovieLens-1M users 1..2998 only)" if name == "ml-1m-head" else "partial"
        lines.append(f"Dataset: `{name}`" + (f", {state}." if partial else "."))
    machines = sorted({(r["device_name"], r["torch"], r["threads"]) for r in records})
    for name, version, threads in machines:
        lines.append(f"Machine: {name}, torch {version}, {threads} threads.")
    return "\n".join(lines)


NOTES = """
Produced by `python -m benchmarks.hardware` (see its docstring for the method). FLOPs are counted by
`torch.utils.flop_counter.FlopCounterMode` (matmuls, batched matmuls and attention kernels only;
elementwise work, layer norms, softmax, embedding lookups and the optimizer count zero) over one
complete training epoch, forward + backward. `encoder_flop_share`: the encoder's part of those FLOPs.
`achieved_gflops` = epoch FLOPs / median seconds of the timed epochs (whole `Trainer.train_epoch`:
batching in NumPy, host-to-device copies, optimizer included); `share_of_peak` divides it by the best
measured `torch.mm` GFLOP/s of the same dtype on the same device. `encoder_time_share` and
`encoder_gflops` come from **measured** encoder time (forward + backward rerun alone on the inputs
captured from the counted epoch), not from the FLOP share. `rest_gflops`: the other FLOPs over the rest
of the epoch's time. `compile`: `model.encoder` compiled with `torch.compile` (default inductor backend).
`phase_*_seconds`: one more epoch of the trainer's own, its phases timed by hooks (``time_phases``):
`phase_loss_seconds` is `model.training_loss` less the encoder's forward, for a full-softmax CE the whole
CE with its gradients; `ce_gflops`: the CE's three products over the epoch's real targets (6 T N D) in
that time, `ce_share_of_peak` of the same dtype's peak.
`inplace_addmm_counted`: whether the in-place `addmm_` was counted (`FlopCounterMode` skips it); the
full-softmax CE (`loss` ce) accumulates the item table's gradient with it, so the ce rows marked false
leave out about a third of the CE's products and understate FLOPs and FLOP/s.
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per model (median)")
    parser.add_argument("--models", nargs="+", choices=list(CONFIG_OF), default=list(CONFIG_OF))
    parser.add_argument("--dataset", help="a registered dataset in place of each config file's own")
    parser.add_argument("--batch-size", type=int, help="in place of each config file's batch size")
    parser.add_argument(
        "--bf16",
        nargs="*",
        choices=list(CONFIG_OF),
        help="also run these models (none given: every model) under bf16 autocast",
    )
    parser.add_argument(
        "--compile",
        nargs="*",
        choices=list(CONFIG_OF),
        help="also run these models (none given: every model) with model.encoder under torch.compile",
    )
    parser.add_argument(
        "--sizes", nargs="+", type=int, help="matmul sizes (default 1024 2048 4096; cuda +8192)"
    )
    parser.add_argument("--matmul-repeats", type=int, default=7)
    parser.add_argument("--matmul-budget", type=float, default=8.0, help="seconds per matmul size at most")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true", help="print records, write no result files")
    parser.add_argument(
        "--rewrite", action="store_true", help="only rewrite results/hardware.md from hardware.json"
    )
    parser.add_argument("--fresh", action="store_true", help="drop earlier records of this machine")
    args = parser.parse_args()
    if args.rewrite:
        merged = merge([])
        write_results("hardware", merged, COLUMNS, "Hardware efficiency", notes(merged))
        return
    mirror()
    runtime = RuntimeOptions(device=args.device, threads=args.threads, seed=args.seed, progress=False)
    runtime.apply()
    device = runtime.torch_device()
    info = device_info(device)
    sizes = args.sizes or ([1024, 2048, 4096] + ([8192] if device.type == "cuda" else []))
    matmuls = matmul_peak(device, sizes, ["fp32", "bf16"], args.matmul_repeats, args.matmul_budget)
    peak = peaks(matmuls)
    records = [{**info, **r} for r in matmuls]

    data_cache: dict[str, SequenceDataset] = {}
    for model in args.models:
        raw = model_config(model, args.dataset, args.batch_size)
        key = json.dumps(raw["data"], sort_keys=True)
        if key not in data_cache:
            data_cache[key] = SequenceDataset.from_config(build_config(raw).data)
        data = data_cache[key]
        if data.partial:
            print(f"dataset {data.name} is PARTIAL", flush=True)
        variants = [("fp32", False)]
        if args.bf16 is not None and (not args.bf16 or model in args.bf16):
            variants.append(("bf16", False))
        if args.compile is not None and (not args.compile or model in args.compile):
            variants.append(("fp32", True))
        for precision, compiled in variants:
            rec = run_model(
                model, data, raw, replace(runtime, precision=precision), args.epochs, compiled, peak
            )
            rec = {**info, "dataset": data.name, "partial_dataset": data.partial, **rec}
            print(json.dumps(rec), flush=True)
            records.append(rec)
            if not args.no_write:
                merged = merge(records, args.fresh)
                write_results("hardware", merged, COLUMNS, "Hardware efficiency", notes(merged))
    if not args.no_write:
        merged = merge(records, args.fresh)
        write_results("hardware", merged, COLUMNS, "Hardware efficiency", notes(merged))


if __name__ == "__main__":
    main()
