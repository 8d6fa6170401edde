"""Runtime options: where and how a run executes, kept apart from what it computes."""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
HEAP_MMAP_THRESHOLD = 32 << 20
"""Allocations up to this size come from malloc's heap (glibc's adaptive default starts at 128 kB)."""
HEAP_TRIM_THRESHOLD = 512 << 20
"""Freed heap memory up to this size stays in the process for the next allocations."""


@functools.cache
def retain_freed_memory() -> bool:
    """Have glibc's malloc keep freed tensor memory for reuse instead of handing it back to the OS.

    PyTorch's CPU tensors come from malloc. By default glibc maps a large block fresh and unmaps it when
    it is freed, so the activations of every batch page-fault in again: 68k minor faults per full-ranking
    pass of the ML-1M head (SASRec, maxlen 50), about a third of its time; none with these settings. The
    process keeps at most ``HEAP_TRIM_THRESHOLD`` of freed memory. Returns whether the setting took
    effect (False where the C library is not glibc); set once per process."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the process's own symbols: glibc's mallopt
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD)
        and libc.mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD)
    )


def bar_disable(progress: bool) -> bool | None:
    """tqdm's ``disable`` for a run whose ``progress`` is as given: ``True`` (no bar) without progress,
    else ``None``, with which tqdm shows its bar only when its stream is a terminal, so that the log of a
    run whose output is redirected (a file, a pipe, CI) holds the per-epoch lines and no bar redrawn
    hundreds of times."""
    return None if progress else True


@dataclass(frozen=True)
class RuntimeOptions:
    """Device, threads, seed, precision and verbosity. Changing these never changes the configuration."""

    device: str = "cpu"
    """``cpu``, ``cuda``, ``cuda:1`` or ``auto`` (cuda when available)."""
    threads: int | None = None
    """Intra-op threads for torch on the CPU; ``None`` keeps torch's default."""
    seed: int = 42
    progress: bool = True
    """Show tqdm progress bars where their stream is a terminal (``bar_disable``)."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """Training arithmetic: ``fp32``, or ``bf16`` autocast (``torch.autocast``) around each training
    step's forward pass and loss; weights, optimizer state and evaluation stay float32. Validation
    scores stay float32 because bf16 scores tie often and ties count against the model. It pays where
    large products dominate and the device multiplies bf16 natively: on CPUs with AMX (e.g. Xeon Sapphire
    Rapids and later) the full-softmax CE runs its logits and gradient products in bf16 (a Beauty SASRec
    CE epoch 1.48x faster on 2 cores, ``benchmarks/results/peers_s3rec-beauty_SASRec_CE_xeon-rerun.md``).
    With one sampled negative there is no such product and bf16 is slower; on a GPU at hidden 64 the step
    is launch-bound and bf16 is slower too (``benchmarks/results/peers_gpu_h100.md``); on CPUs without
    native bf16 matmuls (AVX2 only) it is slower: see ``benchmarks/results/hardware.md``."""

    cuda_graphs: bool = False
    """Train with each step captured once in a CUDA graph and replayed (``seqrec.training.graphs``): on a
    GPU, where small models leave the card waiting for the host's kernel launches. CUDA only, the
    full-softmax CE (``training.loss: ce``, computed over every position at once), a fixed learning
    rate; batches are padded to ``batch_size`` x ``max_len``."""

    retain_memory: bool = True
    """Keep freed CPU memory in the process for reuse (``retain_freed_memory``, glibc only): no page
    faults for each batch's fresh tensors, at the price of holding up to 512 MB of freed memory."""

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
        """Seed every generator, set the thread count and (``retain_memory``) malloc's thresholds."""
        if self.retain_memory:
            retain_freed_memory()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
            os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))
        random.seed(self.seed)
        np.random.seed(self.seed % 2**32)
        torch.manual_seed(self.seed)
