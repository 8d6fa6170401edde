"""Training and evaluation import neither the serving stack nor the text encoder."""

from __future__ import annotations

import subprocess
import sys


def test_import_seqrec_leaves_optional_stacks_alone() -> None:
    optional = ("faiss", "fastapi", "sentence_transformers", "uvicorn")
    code = (
        "import sys, seqrec, seqrec.api, seqrec.recommend, seqrec.evaluation.evaluator;"
        f"print(sorted(m for m in {optional!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
