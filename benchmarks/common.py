"""Shared helpers for benchmark scripts: flat result records, JSON + markdown output, medians."""

from __future__ import annotations

import os
import platform
import resource
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from seqrec.api import git_commit
from seqrec.io import write_bytes_atomic, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"


def mirror() -> str:
    """The offline data mirror (``SEQREC_DATA_MIRROR``, else ``../shared/data`` beside the repository)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return os.environ.setdefault("SEQREC_DATA_MIRROR", str(default))


def environment() -> dict[str, Any]:
    return {
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def write_results(
    name: str, records: list[dict[str, Any]], columns: list[str], title: str, notes: str = ""
) -> None:
    """Write ``results/<name>.json`` (list of flat records) and ``results/<name>.md`` (a table)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json_atomic(RESULTS / f"{name}.json", records)
    lines = [f"# {title}", ""]
    if notes:
        lines += [notes.strip(), ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for r in records:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |")
    write_bytes_atomic(RESULTS / f"{name}.md", ("\n".join(lines) + "\n").encode("utf-8"))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)
