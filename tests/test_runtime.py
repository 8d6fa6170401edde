"""``RuntimeOptions``' memory setting: freed tensor memory is reused, not faulted in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import resource, sys
import torch
from seqrec.runtime import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2):  # warm up
    [torch.ones(1 << 20) for _ in range(16)]
start = faults()
for _ in range(10):  # 16 tensors of 4 MB alive at once, then freed: an activation-sized working set
    [torch.ones(1 << 20) for _ in range(16)]
print(faults() - start)
"""


def minor_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc's thresholds are glibc's")
def test_freed_memory_is_reused_without_page_faults() -> None:
    default, retained = minor_faults("default"), minor_faults("retain")
    assert default > 10_000  # 640 MB allocated in 4 kB pages: the default maps it fresh each time
    assert retained < default / 20
