"""Run the model zoo (models x variants x seeds) as parallel processes within a fixed time budget.

Meant for the lent GPU machine (one H100, 16 cores), started by ``benchmarks/gpu/run_zoo.sh``; runs
anywhere (``--device cpu``; ``--smoke`` for a seconds-long check). Each job is one
``python -m benchmarks.model_zoo`` process for one run and one seed, writing its records and log under
``--work``. Jobs start seed by seed (every run of the first seed, then the second, ...; the extra seeds of
BERT4Rec with the paper's lr 1e-4, which cannot converge in the budget, last), at most
``--concurrency`` at a time, and none later than ``--min-train`` seconds before the training deadline.

Time: the budget starts when this script starts. Training stops at ``budget - eval_reserve`` (each job
then evaluates its best validation state on the test split: see ``model_zoo --deadline-at``); a job still
running at ``budget - merge_reserve`` is killed. After every finished job, and every 20 s, everything so
far is merged into ``--out`` (few files, since only 8 files come back from the device's $OUT):

* ``model_zoo_gpu.json`` / ``model_zoo_gpu.md``: the records of every finished job (model_zoo's format)
* ``jobs.json``: each job's status (ok, failed, killed, skipped, running), times, last logged epoch
* ``zoo_logs.tar.gz``: every job's log, JSON and markdown, and the GPU utilisation samples

    python -m benchmarks.gpu.run_zoo --out "$OUT"                       # the GPU run (see run_zoo.sh)
    python -m benchmarks.gpu.run_zoo --smoke --out /tmp/zoo-smoke        # local check, CPU, ~1 minute
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a file rather than with -m
    sys.path.insert(0, str(ROOT))

from benchmarks import model_zoo as zoo  # noqa: E402  (light: no torch at import)

SLOW_RUNS = ("bert4rec",)
"""Runs whose seeds after the first go last: BERT4Rec at lr 1e-4 trains until the deadline."""
START_ORDER = [
    "bert4rec",
    "ssept",
    "sasfpt_coldstart",
    "sasfpt",
    "tisasrec_plusplus",
    "tisasrec_plus",
    "tisasrec",
    "bert4rec_lr1e-3",
    "sasrec",
]
"""Within a seed, the runs expected to take longest start first."""
EPOCH_LINE = re.compile(r" epoch \d+ (loss|\()")
SMOKE_ARGS = ["--epochs", "2", "--eval-every", "1", "--patience", "1", "--set", "model.max_len=20"]

PREFLIGHT = """
import json, sys, time
t = time.time()
import torch, numpy, polars, pydantic, yaml
import seqrec, benchmarks.common
from benchmarks import model_zoo as zoo
from seqrec.config import build_config
from seqrec.data import registry
device = sys.argv[1]
info = {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": numpy.__version__,
        "polars": polars.__version__, "pydantic": pydantic.__version__, "seqrec": seqrec.__version__,
        "cuda_available": torch.cuda.is_available()}
if device.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit("preflight: --device cuda but torch sees no GPU")
    info["gpu"] = torch.cuda.get_device_name(0)
    info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
for run in json.loads(sys.argv[2]):
    build_config(zoo.config_for(run), source=run)
info["data"] = {k: str(v) for k, v in registry.fetch("ml-1m-head").items()}
info["seconds"] = round(time.time() - t, 1)
print(json.dumps(info))
"""


@dataclass
class Job:
    run: str
    seed: int
    work: Path
    status: str = "pending"
    rc: int | None = None
    started: float | None = None
    ended: float | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.run}-s{self.seed}"

    @property
    def dir(self) -> Path:
        return self.work / self.name

    @property
    def log(self) -> Path:
        return self.dir / "log.txt"


def plan(runs: list[str], seeds: list[int], work: Path) -> list[Job]:
    """Seed-major order; within a seed, ``START_ORDER``; the slow runs' later seeds at the end."""
    ordered = sorted(runs, key=lambda r: START_ORDER.index(r) if r in START_ORDER else len(START_ORDER))
    first = [Job(r, s, work) for i, s in enumerate(seeds) for r in ordered if i == 0 or r not in SLOW_RUNS]
    late = [Job(r, s, work) for s in seeds[1:] for r in ordered if r in SLOW_RUNS]
    return first + late


def source_fingerprint(root: Path = ROOT) -> str:
    """sha256 over the code and configs that decide the numbers (seqrec, benchmarks, configs)."""
    paths = sorted(
        p
        for pattern in ("seqrec/**/*.py", "benchmarks/*.py", "benchmarks/gpu/*.py", "configs/*.yaml")
        for p in root.glob(pattern)
        if "__pycache__" not in p.parts
    )
    digest = hashlib.sha256()
    for p in paths:
        digest.update(
            f"{p.relative_to(root).as_posix()}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode()
        )
    return digest.hexdigest()[:16]


def last_epoch_line(log: Path) -> str:
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, log.stat().st_size - 32768))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return next((line for line in reversed(lines) if EPOCH_LINE.search(line)), lines[-1] if lines else "")


def tail(log: Path, n: int = 6) -> list[str]:
    try:
        return log.read_text("utf-8", "replace").splitlines()[-n:]
    except OSError:
        return []


class Runner:
    def __init__(self, args: argparse.Namespace, jobs: list[Job]) -> None:
        self.args = args
        self.jobs = jobs
        self.t0 = time.time()
        self.train_deadline = self.t0 + args.budget - args.eval_reserve
        self.kill_at = self.t0 + args.budget - args.merge_reserve
        self.last_start = self.train_deadline - args.min_train
        self.fingerprint = source_fingerprint()
        self.last_merge = 0.0

    def say(self, message: str) -> None:
        print(f"[{time.time() - self.t0:6.1f}s] {message}", flush=True)

    def command(self, job: Job) -> list[str]:
        a = self.args
        flag = "--models" if job.run in zoo.MODELS else "--variants"
        cmd = [sys.executable, "-u", "-m", "benchmarks.model_zoo", flag, job.run, "--seeds", str(job.seed)]
        cmd += ["--device", a.device, "--threads", str(a.threads), "--out", str(job.dir)]
        cmd += ["--deadline-at", f"{self.train_deadline:.1f}", "--concurrent-jobs", str(a.concurrency)]
        return cmd + list(a.extra)

    def start(self, job: Job) -> None:
        job.dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(self.args.threads), MKL_NUM_THREADS=str(self.args.threads))
        env["PYTHONUNBUFFERED"] = "1"
        cmd = self.command(job)
        with open(job.log, "wb") as log:
            log.write((" ".join(cmd) + "\n").encode())
            log.flush()
            # same process group: whatever ends this script's command also ends the jobs
            job.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        job.started, job.status = time.time(), "running"
        self.say(f"start {job.name} (pid {job.proc.pid})")

    def finish(self, job: Job, rc: int) -> None:
        job.ended, job.rc = time.time(), rc
        ok = rc == 0 and (job.dir / "model_zoo.json").exists()
        job.status = "ok" if ok else ("killed" if job.status == "killing" else "failed")
        seconds = job.ended - (job.started or job.ended)
        self.say(f"{job.status} {job.name} rc={rc} after {seconds:.0f}s: {last_epoch_line(job.log)[-120:]}")
        if not ok:
            for line in tail(job.log):
                self.say(f"    {line[-200:]}")

    def kill(self, job: Job) -> None:
        assert job.proc is not None
        job.status = "killing"
        self.say(f"kill {job.name}: past the budget")
        job.proc.terminate()
        try:
            job.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            job.proc.kill()
            job.proc.wait(timeout=10)

    def loop(self) -> None:
        pending = list(self.jobs)
        while True:
            now = time.time()
            running = [j for j in self.jobs if j.status in ("running", "killing")]
            while pending and len(running) < self.args.concurrency:
                if now > self.last_start:
                    for job in pending:
                        job.status = "skipped"
                    self.say(f"skip {len(pending)} jobs: under {self.args.min_train}s of training left")
                    pending = []
                    break
                job = pending.pop(0)
                self.start(job)
                running.append(job)
            changed = False
            for job in running:
                assert job.proc is not None
                rc = job.proc.poll()
                if rc is None and now > self.kill_at:
                    self.kill(job)
                    rc = job.proc.poll()
                    rc = -9 if rc is None else rc
                if rc is not None:
                    self.finish(job, rc)
                    changed = True
            if not pending and all(j.status not in ("running", "killing") for j in self.jobs):
                break
            if changed or now - self.last_merge > 20:
                self.merge()
            time.sleep(1.0)
        self.merge()
        done = sum(j.status == "ok" for j in self.jobs)
        self.say(f"done: {done}/{len(self.jobs)} jobs ok; wall {time.time() - self.t0:.0f}s")

    def records(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for job in self.jobs:
            path = job.dir / "model_zoo.json"
            if job.status != "ok" or not path.exists():
                continue
            try:
                new = zoo.read_records(path)
            except (OSError, ValueError) as exc:
                self.say(f"unreadable {path}: {exc}")
                continue
            for record in new:
                record["source_fingerprint"] = self.fingerprint
                if self.args.git_commit and record.get("git_commit") in (None, "", "unknown"):
                    record["git_commit"] = self.args.git_commit
            out = zoo.merge_records(out, new)
        return out

    def merge(self) -> None:
        """Write the merged records, the job table and the log archive to ``--out`` (each atomically)."""
        self.last_merge = time.time()
        out: Path = self.args.out
        out.mkdir(parents=True, exist_ok=True)
        try:
            zoo.write_results(self.records(), out, name="model_zoo_gpu")
        except Exception as exc:  # keep going: the logs below still say what happened
            self.say(f"merge of records failed: {exc!r}")
        now = time.time()
        jobs = [
            {
                "job": j.name,
                "run": j.run,
                "seed": j.seed,
                "status": j.status,
                "rc": j.rc,
                "start_s": None if j.started is None else round(j.started - self.t0, 1),
                "seconds": None if j.started is None else round((j.ended or now) - j.started, 1),
                "last": last_epoch_line(j.log)[-200:] if j.started else "",
            }
            for j in self.jobs
        ]
        meta = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.t0)),
            "elapsed_s": round(now - self.t0, 1),
            "budget_s": self.args.budget,
            "train_deadline_s": round(self.train_deadline - self.t0, 1),
            "kill_at_s": round(self.kill_at - self.t0, 1),
            "concurrency": self.args.concurrency,
            "threads": self.args.threads,
            "device": self.args.device,
            "extra_args": list(self.args.extra),
            "source_fingerprint": self.fingerprint,
            "git_commit": self.args.git_commit,
            "preflight": self.args.preflight_info,
        }
        _write_json(out / "jobs.json", {"meta": meta, "jobs": jobs})
        tmp = out / ".zoo_logs.tar.gz.tmp"
        try:
            with tarfile.open(tmp, "w:gz") as tar:
                tar.add(self.args.work, arcname="zoo")
            os.replace(tmp, out / "zoo_logs.tar.gz")
        except OSError as exc:
            self.say(f"log archive failed: {exc!r}")


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def preflight(args: argparse.Namespace, runs: list[str]) -> dict[str, Any]:
    """Import everything, see the GPU, validate every config and find the data, in a child process."""
    proc = subprocess.run(
        [sys.executable, "-c", PREFLIGHT, args.device, json.dumps(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, sep="\n", file=sys.stderr)
        raise SystemExit(f"preflight failed (rc {proc.returncode}); nothing was started")
    info: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="merged results (the device's $OUT)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/zoo"), help="per-job folders and logs")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--runs", nargs="+", choices=[*zoo.MODELS, *zoo.VARIANTS], default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job")
    parser.add_argument("--budget", type=float, default=320.0, help="seconds, from this script's start")
    parser.add_argument("--eval-reserve", type=float, default=45.0, help="seconds kept for test evaluation")
    parser.add_argument("--merge-reserve", type=float, default=10.0, help="seconds kept for the last merge")
    parser.add_argument("--min-train", type=float, default=60.0, help="no job starts with less left")
    parser.add_argument("--git-commit", default=os.environ.get("ZOO_GIT_COMMIT", ""))
    parser.add_argument("--smoke", action="store_true", help="CPU, 2 runs x 2 seeds, 2 epochs, length 20")
    parser.add_argument("extra", nargs="*", help="after --: more model_zoo arguments for every job")
    args = parser.parse_args()
    runs = args.runs or zoo.resolve_runs(zoo.MODELS, zoo.VARIANTS)
    if args.smoke:
        args.device, args.concurrency, args.budget = "cpu", 2, min(args.budget, 240.0)
        args.eval_reserve, args.min_train = min(args.eval_reserve, 60.0), min(args.min_train, 20.0)
        runs = args.runs or ["sasrec", "tisasrec_plus"]
        args.seeds = args.seeds[:2]
        args.extra = SMOKE_ARGS + list(args.extra)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.work.exists() and any(args.work.iterdir()):
        raise SystemExit(f"--work {args.work} is not empty")
    args.work.mkdir(parents=True, exist_ok=True)
    t = time.time()
    args.preflight_info = preflight(args, runs)
    print(f"preflight ({time.time() - t:.0f}s): {json.dumps(args.preflight_info)}", flush=True)
    jobs = plan(runs, args.seeds, args.work)
    runner = Runner(args, jobs)
    runner.say(
        f"{len(jobs)} jobs, concurrency {args.concurrency}, training deadline "
        f"{runner.train_deadline - runner.t0:.0f}s, kill at {runner.kill_at - runner.t0:.0f}s"
    )
    runner.loop()


if __name__ == "__main__":
    main()
