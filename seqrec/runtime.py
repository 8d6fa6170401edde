"""Runtime options: where and how a run executes, kept apart from what it computes."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class RuntimeOptions:
    """Device, threads, seed and verbosity. Changing these never changes the configuration."""

    device: str = "cpu"
    """``cpu``, ``cuda``, ``cuda:1`` or ``auto`` (cuda when available)."""
    threads: int | None = None
    """Intra-op threads for torch on the CPU; ``None`` keeps torch's default."""
    seed: int = 42
    progress: bool = True
    """Show tqdm progress bars."""

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
