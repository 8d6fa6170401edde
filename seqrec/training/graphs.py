"""A training step captured once in a CUDA graph and replayed for every batch (``runtime.cuda_graphs``).

On a GPU at these models' sizes the host, not the card, bounds a step: a SASRec CE step on S3-Rec Beauty
launches ~200 kernels that keep an H100 busy for 1.1 ms of ~7 ms
(``benchmarks/results/step_profile_h100.md``). A CUDA graph records those launches once and replays them
with one call. What it records must not change between replays, so the step is made static:

- every batch is padded to the same ``[rows, width]`` (``pad_batch``: histories on the left, as the
  objectives pad them, and empty rows after the last short batch; padding has no target and no loss);
- the loss is ``DenseCrossEntropy``, which never asks the host how many targets a batch has;
- the optimizer is created ``capturable`` (its step counts live on the GPU), with a fixed learning rate;
- inputs (the batch and its loss weight, ``training.equal_target_weights``) are copied into the same
  device tensors before each replay, and the loss comes back in the same output tensor (read it, or add
  it to a running total, before the next replay).

Dropout stays random: PyTorch's CUDA generator gives every replay fresh offsets. The first ``WARMUP``
batches train eagerly on a side stream (the libraries set up their workspaces there, as the graph
capture needs), then the next batch's step is captured and replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

import torch
from torch import Tensor

from seqrec.data.batch import TrainBatch
from seqrec.nn.losses import Weight

WARMUP = 3
"""Eager steps, on a side stream, before the capture."""


def pad_batch(batch: TrainBatch, rows: int, width: int) -> TrainBatch:
    """``batch`` on the host padded to ``rows`` histories of ``width`` positions: ``[B]`` fields get zeros
    after the last row, ``[B, W, ...]`` fields zeros before the first position and after the last row."""
    padded: dict[str, Any] = {}
    for f in fields(batch):
        value = getattr(batch, f.name)
        if value is None:
            padded[f.name] = None
            continue
        b = value.shape[0]
        if b > rows or (value.dim() > 1 and value.shape[1] > width):
            raise ValueError(f"batch field {f.name} {tuple(value.shape)} exceeds [{rows}, {width}]")
        out = value.new_zeros((rows, width, *value.shape[2:]) if value.dim() > 1 else (rows,))
        if value.dim() > 1:
            out[:b, width - value.shape[1] :] = value
        else:
            out[:b] = value
        padded[f.name] = out
    return replace(batch, **padded)


class GraphedStep:
    """``step(batch, weight)``: the trainer's step (``Trainer.step``: forward and loss under optional bf16
    autocast, the loss times ``weight``, backward, optional gradient clipping, optimizer step) as a replay
    of a CUDA graph; returns the weighted loss as a device scalar that the next call overwrites."""

    def __init__(
        self,
        step: Callable[[TrainBatch, Weight, bool], Tensor],
        optimizer: torch.optim.Optimizer,
        *,
        rows: int,
        width: int,
        device: torch.device,
    ) -> None:
        """``step(batch, weight, autocast_cache)``: one eager step on a batch already on ``device``; the
        capture calls it with ``autocast_cache=False`` (autocast's cache of cast weights must not outlive
        a capture)."""
        if device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, not {device}")
        if not all(group.get("capturable") for group in optimizer.param_groups):
            raise ValueError("CUDA graphs need an optimizer created with capturable=True")
        self.step, self.optimizer = step, optimizer
        self.rows, self.width, self.device = rows, width, device
        self.inputs: TrainBatch | None = None  # the device tensors every replay reads
        self.weight = torch.ones((), device=device)  # the batch's loss weight, read by every replay
        self.output: Tensor | None = None  # the loss every replay writes
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warmup = WARMUP

    def _step(self, batch: TrainBatch) -> Tensor:
        return self.step(batch, self.weight, False)

    def _load(self, batch: TrainBatch) -> TrainBatch:
        host = pad_batch(batch, self.rows, self.width)
        if self.inputs is None:
            self.inputs = host.to(self.device)
        else:
            for f in fields(host):
                value = getattr(host, f.name)
                if value is not None:
                    getattr(self.inputs, f.name).copy_(value, non_blocking=True)
        return self.inputs

    def __call__(self, batch: TrainBatch, weight: float = 1.0) -> Tensor:
        inputs = self._load(batch)
        self.weight.fill_(weight)
        if self.graph is not None:
            self.graph.replay()
            assert self.output is not None
            return self.output
        if self.warmup > 0:  # eager steps on a side stream before the capture
            self.warmup -= 1
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                value = self._step(inputs)
            torch.cuda.current_stream(self.device).wait_stream(side)
            return value
        self.optimizer.zero_grad(set_to_none=True)  # the capture allocates the gradients it writes
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = self._step(inputs)
        self.graph.replay()  # the capture only recorded this batch's step
        return self.output
