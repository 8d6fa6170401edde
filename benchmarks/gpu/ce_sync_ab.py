"""Full-softmax CE on an accelerator: the two ways of finding likely targets, checked and timed.

    python benchmarks/gpu/ce_sync_ab.py [--out DIR] [--device cuda] [--rounds 7] [--steps 30]

``seqrec.nn.losses.CE_SYNC_FREE`` picks how each chunk finds the rows whose target is likely (P >= 1/2):
``False`` asks the host which rows they are (a sync per chunk, then only those rows are summed), ``True``
sums every row's other probabilities on the device (one more pass over the chunk, no sync). This script

1. checks both against float64 autograd cross-entropy on the device: random logits, a target at
   P = 1 - 6e-8 and a target whose probability underflows, in float32 and under bf16 autocast;
2. times SASRec training steps (forward, CE over all 12,101 items of S3-Rec Beauty, backward, fused Adam;
   batch 256 x 50, hidden 64, 2 blocks, 2 heads, random histories) with each setting, alternating in
   rounds, float32 and bf16, and reports the median milliseconds per step.

Writes ``ce_sync_ab.json`` (and prints it) under ``--out``. Here, ``--merge NAME RUN.json ...`` writes
the runs brought back as ``benchmarks/results/NAME.{json,md}``: the medians per setting over every round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import write_results  # noqa: E402
from seqrec.data.batch import TrainBatch  # noqa: E402
from seqrec.models.sasrec import SASRec  # noqa: E402
from seqrec.nn import losses  # noqa: E402
from seqrec.nn.losses import FullCrossEntropy  # noqa: E402

NUM_ITEMS = 12_101  # S3-Rec Beauty
BATCH, LENGTH = 256, 50
CHECK_LOSS = FullCrossEntropy(chunk_bytes=8 * 4 * NUM_ITEMS)  # 8 positions per chunk (16 in bf16)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _check(device: torch.device) -> dict[str, float]:
    """Largest relative error of loss and gradients against float64 autograd, per case and setting."""
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 40, 64, generator=g, dtype=torch.float64)  # [B, L, D]
    hidden[0, 1] = 0.0
    hidden[0, 1, 3] = 20.0  # item 4 at P = 1 - 6e-8 below (rows 1..30 of the table are units)
    hidden[0, 2] = 0.0
    hidden[0, 2, 3] = -200.0  # item 4 underflows
    table = torch.randn(NUM_ITEMS + 1, 64, generator=g, dtype=torch.float64) * 0.1
    table[1:31] = torch.eye(30, 64, dtype=torch.float64)
    targets = torch.randint(1, NUM_ITEMS + 1, (3, 40), generator=g)
    targets[0, 1] = targets[0, 2] = 4
    targets[2, :5] = 0

    def value_and_grads(fn, h: torch.Tensor, e: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
        h = h.detach().to(device).requires_grad_(True)
        e = e.detach().to(device).requires_grad_(True)
        value = fn(h, e)
        value.backward()
        return [value.detach().double().cpu(), h.grad.double().cpu(), e.grad.double().cpu()]

    def reference(h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        pos = targets.to(device) > 0
        return F.cross_entropy(h[pos] @ e[1:].T, targets.to(device)[pos] - 1)

    exact = value_and_grads(reference, hidden, table)
    errors: dict[str, float] = {}
    for sync_free in (False, True):
        losses.CE_SYNC_FREE = sync_free
        for precision in ("fp32", "bf16"):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                got = value_and_grads(
                    lambda h, e: CHECK_LOSS(h, targets.to(device), None, e),
                    hidden.float(),
                    table.float(),
                )
            for name, a, b in zip(("loss", "grad_hidden", "grad_table"), exact, got, strict=True):
                err = float((a - b).abs().max() / a.abs().max())
                errors[f"{'sync-free' if sync_free else 'sync-per-chunk'} {precision} {name}"] = err
                limit = 1e-4 if precision == "fp32" else 3e-2
                assert err < limit, (sync_free, precision, name, err)
            # the confident and the underflowing targets' own gradient entries
            for row, col in ((1, 3), (2, 3)):
                a, b = exact[1][0, row, col], got[1][0, row, col]
                assert torch.isfinite(b) and abs(float(a - b)) <= 1e-2 * abs(float(a)) + 1e-9, (row, a, b)
    losses.CE_SYNC_FREE = None
    return errors


def _time_steps(device: torch.device, rounds: int, steps: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    model = SASRec(NUM_ITEMS, max_len=LENGTH, hidden=64, blocks=2, heads=2, dropout=0.2, ff_hidden=64)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    loss = FullCrossEntropy()
    items = torch.randint(1, NUM_ITEMS + 1, (BATCH, LENGTH + 1), device=device)
    batch = TrainBatch(
        items=items[:, :-1],
        users=torch.zeros(BATCH, dtype=torch.long, device=device),
        timestamps=torch.zeros(BATCH, LENGTH, dtype=torch.long, device=device),
        targets=items[:, 1:],
    )
    model.train()
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for precision in ("fp32", "bf16"):
            for sync_free in (False, True):
                losses.CE_SYNC_FREE = sync_free
                for step in range(steps + 3):  # 3 warm-up steps
                    if step == 3:
                        _sync(device)
                        began = time.perf_counter()
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                        value = model.training_loss(batch, loss)
                    optimizer.zero_grad(set_to_none=True)
                    value.backward()
                    optimizer.step()
                _sync(device)
                key = f"{precision} {'sync-free' if sync_free else 'sync-per-chunk'}"
                times.setdefault(key, []).append((time.perf_counter() - began) / steps * 1e3)
    losses.CE_SYNC_FREE = None
    return times


def merge(name: str, runs: list[Path]) -> None:
    """One row per run and setting, then the median over every round of every run, per setting."""
    records = [json.loads(path.read_text()) for path in runs]
    rows: list[dict[str, object]] = []
    pooled: dict[str, list[float]] = {}
    for path, record in zip(runs, records, strict=True):
        for setting, times in record["ms_per_step"].items():
            pooled.setdefault(setting, []).extend(times)
            row = {"run": path.name, "device": record["device"], "torch": record["torch"], "setting": setting}
            rows.append(
                row
                | {"rounds": len(times), "median_ms_per_step": statistics.median(times), "ms_per_step": times}
            )
    for setting, times in pooled.items():
        rows.append(
            {
                "run": "all",
                "setting": setting,
                "rounds": len(times),
                "median_ms_per_step": statistics.median(times),
                "ms_per_step": times,
            }
        )
    checks = {
        k: max(r["check_max_relative_error"][k] for r in records)
        for k in records[0]["check_max_relative_error"]
    }
    notes = (
        "`benchmarks/gpu/ce_sync_ab.py`: SASRec training steps (batch 256 x 50, hidden 64, 2 blocks, "
        "2 heads, full-softmax CE over 12,101 items, fused Adam) with `CE_SYNC_FREE` off (a host sync "
        "per CE chunk) and on (every row summed on the device), alternating, each round 20 steps after "
        "3 warm-ups. "
        "Largest relative error against float64 autograd (loss, gradients; random, confident and "
        "underflowing targets), over the runs: " + "; ".join(f"{k} {v:.1e}" for k, v in checks.items())
    )
    columns = ["run", "device", "torch", "setting", "rounds", "median_ms_per_step"]
    write_results(
        name,
        rows,
        columns,
        f"CE chunks with and without a host sync on the {records[0]['device']}",
        notes,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--merge", nargs="+", metavar="NAME RUN.json", help="write the runs' results table")
    p.add_argument("--out", type=Path, default=Path("."))
    p.add_argument("--device", default="cuda")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    if args.merge:
        merge(args.merge[0], [Path(run) for run in args.merge[1:]])
        return
    device = torch.device(args.device)
    errors = _check(device)
    times = _time_steps(device, args.rounds, args.steps)
    record = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "check_max_relative_error": errors,
        "ms_per_step": times,
        "median_ms_per_step": {k: statistics.median(v) for k, v in times.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ce_sync_ab.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(record["median_ms_per_step"]), json.dumps(errors))


if __name__ == "__main__":
    main()
