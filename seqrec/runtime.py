"""Runtime options: where and how a run executes, kept apart from what it computes."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch


@dataclass(frozen=True)
class RuntimeOptions:
    """Device, threads, seed, precision and verbosity. Changing these never changes the configuration."""

    device: str = "cpu"
    """``cpu``, ``cuda``, ``cuda:1`` or ``auto`` (cuda when available)."""
    threads: int | None = None
    """Intra-op threads for torch on the CPU; ``None`` keeps torch's default."""
    seed: int = 42
    progress: bool = True
    """Show tqdm progress bars."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """Training arithmetic: ``fp32``, or ``bf16`` autocast (``torch.autocast``) around each training
    step's forward pass and loss; weights, optimizer state and evaluation stay float32. Validation
    scores stay float32 because bf16 scores tie often and ties count against the model. On CPUs without
    native bf16 matmuls (AVX2 only) bf16 is slower, not faster: see ``benchmarks/results/hardware.md``."""

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"unknown precision {self.precision!r}: expected 'fp32' or 'bf16'")

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {self.device!r} requested but CUDA is not available")
        return device

    def apply(self) -> None:
        """Seed every generator and set the thread count."""
        if self.threads is not None:
            torch.set_num_threads(self.threads)
            os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))
        random.seed(self.seed)
        np.random.seed(self.seed % 2**32)
        torch.manual_seed(self.seed)
