"""Merge the GPU run's records (fetched from the device's $OUT) into benchmarks/results/model_zoo.*.

    .venv/bin/python -m benchmarks.gpu.merge_back DEVICE_FILES_DIR   [--results benchmarks/results]

Reads ``FOLDER/model_zoo_gpu.json`` (and ``jobs.json`` for a summary), keeps every record already in
``RESULTS/model_zoo.json`` (the CPU runs) except those of the same (run, seed, GPU), adds the GPU records
(each names its card in ``gpu`` / ``device_name``; the markdown shows the card in the device column) and
rewrites ``model_zoo.json`` and ``model_zoo.md``.

The GPU machine has no git history, so its records say ``git_commit: unknown`` unless the run was given
one. Each carries ``source_fingerprint``, a hash of seqrec/, benchmarks/ and configs/ as they were there;
this script compares it with HEAD's and with the working tree's here and fills ``git_commit`` with HEAD's
hash when they match, else with ``<HEAD>+uncommitted`` (the working tree matched: uncommitted changes
were measured) or ``unknown (source differs from HEAD and the working tree)``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import model_zoo as zoo  # noqa: E402
from benchmarks.gpu.run_zoo import source_fingerprint  # noqa: E402


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def head_fingerprint() -> tuple[str, str]:
    """(short HEAD hash, fingerprint of HEAD's files), via a checkout of those files into a temp dir."""
    head = _git("rev-parse", "--short", "HEAD").strip()
    names = _git("ls-tree", "-r", "--name-only", "HEAD", "--", "seqrec", "benchmarks", "configs").split()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            target = Path(tmp) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            blob = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=ROOT, capture_output=True, check=True)
            target.write_bytes(blob.stdout)
        return head, source_fingerprint(Path(tmp))


def commit_for(fingerprint: str | None) -> str:
    if not fingerprint:
        return "unknown"
    head, at_head = head_fingerprint()
    if fingerprint == at_head:
        return head
    if fingerprint == source_fingerprint(ROOT):
        return f"{head}+uncommitted"
    return "unknown (source differs from HEAD and the working tree)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="the fetched files (model_zoo_gpu.json, jobs.json, ...)")
    parser.add_argument("--results", type=Path, default=zoo.RESULTS)
    args = parser.parse_args()
    gpu: list[dict[str, Any]] = zoo.read_records(args.folder / "model_zoo_gpu.json")
    if not gpu:
        raise SystemExit(f"no records in {args.folder / 'model_zoo_gpu.json'}")
    jobs_path = args.folder / "jobs.json"
    if jobs_path.exists():
        jobs = json.loads(jobs_path.read_text())
        counts: dict[str, int] = {}
        for job in jobs["jobs"]:
            counts[job["status"]] = counts.get(job["status"], 0) + 1
        print(f"jobs: {counts}; wall {jobs['meta'].get('elapsed_s')} s of {jobs['meta'].get('budget_s')}")
        for job in jobs["jobs"]:
            if job["status"] != "ok":
                print(f"  {job['job']}: {job['status']} {job['last']}")
    commits: dict[str, str] = {}
    for record in gpu:
        if not record.get("gpu"):
            raise SystemExit(f"record {record.get('run')} seed {record.get('seed')} names no GPU: not merged")
        fingerprint = record.get("source_fingerprint")
        if record.get("git_commit") in (None, "", "unknown"):
            key = str(fingerprint)
            if key not in commits:
                commits[key] = commit_for(fingerprint)
            record["git_commit"] = commits[key]
    old = zoo.read_records(args.results / "model_zoo.json")
    merged = zoo.merge_records(old, gpu)
    zoo.write_results(merged, args.results)
    kept = len(merged) - len(gpu)
    cards = sorted({str(r["gpu"]) for r in gpu})
    runs = sorted({(str(r["run"]), int(r["seed"])) for r in gpu})
    digest = hashlib.sha256(json.dumps(gpu, sort_keys=True, default=str).encode()).hexdigest()[:12]
    print(
        f"merged {len(gpu)} GPU records ({len(runs)} run-seeds on {', '.join(cards)}; "
        f"git_commit {sorted(set(commits.values())) or 'as recorded'}) with {kept} kept records "
        f"into {args.results / 'model_zoo.json'} and .md [{digest}]"
    )


if __name__ == "__main__":
    main()
