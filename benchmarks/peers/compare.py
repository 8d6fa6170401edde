"""seqrec against RecBole 1.2.1 and RecTools 0.19 in one run: same file, split, sizes, loss and threads.

    benchmarks/peers/install.sh                       # once: the peers' virtual environments
    python -m benchmarks.peers.compare --dataset s3rec-beauty --loss CE --epochs 5 --repeats 3 --threads 2

Every library trains ``--epochs`` epochs in batches of ``--batch-size`` (``--epochs-for LIB=N`` and
``--batch-size-for LIB=N`` change one library's) in its own process (so peak RSS is its own) on the file
written by ``benchmarks.peers.export``; runs are repeated, library after library within each repeat, and
medians reported. Records (one per library and repeat, plus one summary per library with the
seqrec/peer ratios) go to ``results/peers_<dataset>_<model>_<loss>.{json,md}``.

``--count-flops`` also counts each library's FLOPs per training epoch and per test pass with its own
command line (seqrec and RecTools: their drivers' ``--count-flops``, RecTools' training only; RecBole:
``recbole_flops.py``), and each median row gets them and its achieved GFLOP/s (FLOPs over its median
seconds). The counts do not depend on the timing, so ``--append --repeats 0 --count-flops`` adds them to
a comparison already run; ``--append --repeats 0`` alone writes its table again from its stored runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, environment, mirror, write_results
from benchmarks.peers.export import export
from benchmarks.peers.shared_args import add_masking_args

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".work"
RECTOOLS_LOSS = {"CE": "softmax", "BPR": "BCE"}


def _run(cmd: list[str]) -> dict[str, Any]:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def flop_commands(cmds: dict[str, list[str]], libraries: list[str], batches: int) -> dict[str, list[str]]:
    """Each counted library's FLOP-counting command: its run's command line, counting instead of training
    (RecBole: the same arguments to ``recbole_flops.py``, over ``batches`` batches)."""
    out = {lib: [*cmds[lib], "--count-flops"] for lib in libraries if lib != "RecBole"}
    if "RecBole" in libraries:
        python, _, *args = cmds["RecBole"]
        out["RecBole"] = [python, str(HERE / "recbole_flops.py"), *args, "--count-batches", str(batches)]
    return out


LIBRARIES = ("seqrec", "seqrec-bf16", "RecBole", "RecTools")


def per_library(default: int, overrides: list[str] | None, flag: str) -> dict[str, int]:
    """``default`` for every library, except where an override ``LIB=N`` of ``flag`` says otherwise."""
    out = dict.fromkeys(LIBRARIES, default)
    for item in overrides or []:
        lib, _, n = item.partition("=")
        if lib not in out or not n.isdigit():
            raise SystemExit(f"{flag} {item!r}: expected LIB=N with LIB one of {sorted(out)}")
        out[lib] = int(n)
    return out


def library_epochs(a: argparse.Namespace) -> dict[str, int]:
    """Epochs per library: ``--epochs``, except where ``--epochs-for LIB=N`` says otherwise."""
    return per_library(a.epochs, a.epochs_for, "--epochs-for")


def library_batch_sizes(a: argparse.Namespace) -> dict[str, int]:
    """Batch size per library: ``--batch-size``, except where ``--batch-size-for LIB=N`` says otherwise."""
    return per_library(a.batch_size, a.batch_size_for, "--batch-size-for")


def commands(
    a: argparse.Namespace, folder: Path, epochs: dict[str, int], batch_sizes: dict[str, int]
) -> dict[str, list[str]]:
    """Each library's command line; ``epochs`` and ``batch_sizes`` per library (``library_epochs``,
    ``library_batch_sizes``)."""
    batch = {lib: ["--batch-size", str(n)] for lib, n in batch_sizes.items()}
    common = [
        "--model",
        a.model,
        "--max-len",
        str(a.max_len),
        "--hidden",
        str(a.hidden),
        "--layers",
        str(a.layers),
        "--heads",
        str(a.heads),
        "--dropout",
        str(a.dropout),
        "--lr",
        str(a.lr),
        "--threads",
        str(a.threads),
        "--seed",
        str(a.seed),
        "--eval-passes",
        str(a.eval_passes),
        "--mask-prob",
        str(a.mask_prob),
        "--mask-last-prob",
        str(a.mask_last_prob),
    ]
    csv = str(folder / "interactions.csv")

    def seqrec(lib: str, precision: str) -> list[str]:
        return [
            sys.executable,
            str(HERE / "seqrec_run.py"),
            "--interactions",
            csv,
            "--loss",
            a.loss,
            "--inner",
            str(a.hidden),
            "--eval-every",
            str(a.eval_every),
            "--epochs",
            str(epochs[lib]),
            "--precision",
            precision,
            *(["--window-stride", str(a.window_stride)] if a.window_stride else []),
            *(["--per-batch-means"] if a.per_batch_means else []),
            *batch[lib],
            *common,
        ]

    return {
        "seqrec": seqrec("seqrec", "fp32"),
        "seqrec-bf16": seqrec("seqrec-bf16", "bf16"),  # training under bf16 autocast
        "RecBole": [
            str(WORK / "venv-recbole/bin/python"),
            str(HERE / "recbole_run.py"),
            "--data-dir",
            str(folder.parent),
            "--dataset",
            folder.name,
            "--loss",
            a.loss,
            "--inner",
            str(a.hidden),
            "--eval-every",
            str(a.eval_every),
            "--epochs",
            str(epochs["RecBole"]),
            *batch["RecBole"],
            *common,
        ],
        "RecTools": [
            str(WORK / "venv-rectools/bin/python"),
            str(HERE / "rectools_run.py"),
            "--interactions",
            csv,
            "--loss",
            RECTOOLS_LOSS[a.loss],
            "--epochs",
            str(epochs["RecTools"]),
            *batch["RecTools"],
            *common,
        ],
    }


def result_name(a: argparse.Namespace) -> str:
    return f"peers_{a.dataset}_{a.model}_{a.loss}" + (f"_{a.tag}" if a.tag else "")


def time_to_reach(curve: list[dict[str, Any]], target: float) -> float | None:
    """Wall seconds until the validation NDCG@10 first reaches ``target`` (None if never)."""
    for point in curve:
        if point["NDCG@10"] >= target:
            return float(point["elapsed"])
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="s3rec-beauty")
    p.add_argument("--model", default="SASRec", choices=["SASRec", "BERT4Rec"])
    p.add_argument("--loss", default="CE", choices=sorted(RECTOOLS_LOSS))
    p.add_argument("--libraries", nargs="+", default=["seqrec", "RecBole", "RecTools"])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument(
        "--epochs-for",
        nargs="+",
        metavar="LIB=N",
        help="another number of epochs for some libraries, e.g. seqrec=25 RecTools=1",
    )
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument(
        "--eval-passes",
        type=int,
        default=1,
        help="time each run's full-ranking test pass this many times (the run reports the median); with "
        "--epochs 0 (no training, --tag eval-only) a comparison of evaluation alone",
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument(
        "--batch-size-for",
        nargs="+",
        metavar="LIB=N",
        help="another batch size for some libraries, e.g. seqrec=64 (the others keep --batch-size)",
    )
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--vary-seed",
        action="store_true",
        help="repeat r runs with seed --seed + r (counting the runs kept by --append), so that the medians "
        "cover training noise as well as timing noise; without it every repeat runs with --seed",
    )
    add_masking_args(p)
    p.add_argument(
        "--window-stride",
        type=int,
        default=None,
        help="seqrec only: training.window_stride (several windows per long history and epoch)",
    )
    p.add_argument(
        "--per-batch-means",
        action="store_true",
        help="seqrec only: training.equal_target_weights: false (each batch's mean loss as it is)",
    )
    p.add_argument(
        "--count-flops",
        nargs="?",
        type=int,
        const=20,
        default=None,
        metavar="BATCHES",
        help="also count each library's FLOPs per epoch and per test pass (RecBole's epoch: per example "
        "over BATCHES batches, default 20)",
    )
    p.add_argument("--tag", default="", help="suffix of the results' file name, e.g. seqrec-batch64")
    p.add_argument(
        "--reuse",
        nargs="?",
        const="",
        default=None,
        metavar="TAG",
        help="take the runs of the libraries not run now from the results of this dataset, model and loss "
        "(untagged, or those of --tag TAG; their own settings, marked reused_from)",
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="keep the runs already in this comparison's results file and add the new ones after them "
        "(more repeats in several sittings)",
    )
    a = p.parse_args()
    mirror()
    folder = export(a.dataset, WORK / "peerdata")
    epochs, batch_sizes = library_epochs(a), library_batch_sizes(a)
    cmds = commands(a, folder, epochs, batch_sizes)
    runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in a.libraries}
    if a.reuse is not None:
        source = RESULTS / f"peers_{a.dataset}_{a.model}_{a.loss}{'_' + a.reuse if a.reuse else ''}.json"
        for r in json.loads(source.read_text()):
            if r["library"] not in a.libraries and "repeat" in r:
                # records written before runs stored their batch size ran at the default, 256
                reused = dict(r, reused_from=source.name, batch_size=r.get("batch_size", 256))
                runs.setdefault(r["library"], []).append(reused)
    first = 0
    if a.append:
        own = RESULTS / f"{result_name(a)}.json"
        kept = [r for r in json.loads(own.read_text()) if "repeat" in r] if own.exists() else []
        for r in kept:
            runs.setdefault(r["library"], []).append(r)
        first = max((r["repeat"] + 1 for r in kept), default=0)
    for repeat in range(first, first + a.repeats):
        seed = a.seed + repeat if a.vary_seed else a.seed
        if a.vary_seed:  # the command lines of this repeat's seed
            cmds = commands(argparse.Namespace(**{**vars(a), "seed": seed}), folder, epochs, batch_sizes)
        for lib in a.libraries:
            load_before = os.getloadavg()[0]
            record = _run(cmds[lib])
            record.update(load_avg_1m_before=load_before, load_avg_1m_after=os.getloadavg()[0])
            record.update(
                library=lib,  # seqrec-bf16's driver reports itself as seqrec
                run=f"{a.dataset}/{a.model}/{a.loss}/{lib}/{repeat}",
                dataset=a.dataset,
                repeat=repeat,
                seed=seed,
            )
            record.update(batch_size=batch_sizes[lib], lr=a.lr, epochs=epochs[lib], eval_passes=a.eval_passes)
            if lib.startswith("seqrec"):
                record.update(window_stride=a.window_stride, equal_target_weights=not a.per_batch_means)
            if a.model == "BERT4Rec":
                last = a.mask_last_prob if lib != "RecTools" else 0.0
                record.update(mask_prob=a.mask_prob, mask_last_prob=last)
            runs[lib].append(record)
            report(a, runs)  # after every run, so that an interrupted comparison keeps what finished
    if a.count_flops is not None:
        at = environment()["git_commit"]
        counted = flop_commands(cmds, a.libraries, a.count_flops)
        flops = {lib: {**_run(cmd), "flops_counted_at": at} for lib, cmd in counted.items()}
        report(a, runs, flops)
    elif not a.repeats:  # --append --repeats 0: the table again from the kept runs, as this code reports
        report(a, runs)


def report(
    a: argparse.Namespace,
    runs: dict[str, list[dict[str, Any]]],
    flops: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Medians per library, the seqrec/peer ratios, and the markdown table, from the runs so far;
    ``flops``: each counted library's FLOP record (``--count-flops``)."""
    runs = {lib: records for lib, records in runs.items() if records}
    summary = []
    for lib, records in runs.items():
        row: dict[str, Any] = {
            "run": f"{a.dataset}/{a.model}/{a.loss}/{lib}/median",
            "library": lib,
            "dataset": a.dataset,
            "model": a.model,
            "loss": a.loss,
            "repeats": len(records),
            "epochs": records[0].get("epochs", library_epochs(a)[lib]),
            "batch_size": records[0].get("batch_size", a.batch_size),
            "eval_passes": records[0].get("eval_passes", 1),
            "window_stride": records[0].get("window_stride") or "",
            "reused_from": records[0].get("reused_from", ""),
        }
        for key in ("seconds_per_epoch", "eval_seconds", "peak_rss_mb", "HR@10", "NDCG@10"):
            values = [r[key] for r in records if key in r]
            row[key] = statistics.median(values) if values else ""
        if flops and lib in flops:
            row["gflop_per_epoch"] = flops[lib]["flops_epoch"] / 1e9
            row["flops_counted_at"] = flops[lib]["flops_counted_at"]
            if row["seconds_per_epoch"]:
                row["achieved_gflops"] = row["gflop_per_epoch"] / row["seconds_per_epoch"]
            if "flops_eval" in flops[lib] and row["eval_seconds"]:
                row["eval_gflop"] = flops[lib]["flops_eval"] / 1e9
                row["eval_achieved_gflops"] = row["eval_gflop"] / row["eval_seconds"]
        summary.append(row)
    base = {r["library"]: r for r in summary}
    ours = [lib for lib in ("seqrec", "seqrec-bf16") if lib in base]  # the ratios' denominators
    for lib in ours:
        for row in summary:
            for key in ("seconds_per_epoch", "eval_seconds", "peak_rss_mb"):
                if row[key] and base[lib][key]:
                    row[f"{key} ratio (peer/{lib})"] = row[key] / base[lib][key]
    if ours and runs.get("RecBole") and runs["RecBole"][0].get("valid_curve"):
        target = statistics.median(max(c["NDCG@10"] for c in r["valid_curve"]) for r in runs["RecBole"])
        for row in summary:
            times = [time_to_reach(r.get("valid_curve", []), target) for r in runs[row["library"]]]
            known = [t for t in times if t is not None]
            reached = statistics.median(known) if known else "not reached"
            row["seconds_to_RecBole_best_valid_NDCG@10"] = reached
        for lib in ours:
            own = base[lib]["seconds_to_RecBole_best_valid_NDCG@10"]
            for row in summary:
                peer = row["seconds_to_RecBole_best_valid_NDCG@10"]
                if isinstance(own, float) and isinstance(peer, float):
                    row[f"seconds_to_RecBole_best ratio (peer/{lib})"] = peer / own
    env = environment()
    # a run kept from an earlier sitting (--append, --reuse) keeps its own commit and torch version
    kept = {lib: [{**env, **r} for r in runs[lib]] for lib in runs}
    # a median row names the commits of the runs it summarises (a FLOP count names its own)
    commits = {lib: "+".join(sorted({r["git_commit"] for r in kept[lib]})) for lib in kept}
    records = [r for lib in kept for r in kept[lib]]
    records += [{**r, **env, "git_commit": commits[r["library"]]} for r in summary]
    name = result_name(a)
    columns = [
        "library",
        "repeats",
        "seed",
        "epochs",
        "batch_size",
        "window_stride",
        "eval_passes",
        "seconds_per_epoch",
        *(f"seconds_per_epoch ratio (peer/{lib})" for lib in ours),
        "eval_seconds",
        *(f"eval_seconds ratio (peer/{lib})" for lib in ours),
        "peak_rss_mb",
        "HR@10",
        "NDCG@10",
        "seconds_to_RecBole_best_valid_NDCG@10",
        *(f"seconds_to_RecBole_best ratio (peer/{lib})" for lib in ours),
        *(
            ["gflop_per_epoch", "achieved_gflops", "eval_gflop", "eval_achieved_gflops", "flops_counted_at"]
            if flops
            else []
        ),
        "reused_from",
    ]
    write_results(name, records, columns, f"seqrec vs peers: {a.dataset}, {a.model}, {a.loss}", NOTES)


NOTES = """
Medians over repeats, each library in its own process with the same torch threads, file and split
(seqrec's leave-one-out), model sizes and loss. HR@10 / NDCG@10: test split, full ranking without
removing seen items (RecBole's protocol; RecTools with filter_viewed=False). The table rows are the
median rows; the JSON also holds every repeat with its per-epoch times and validation curves.
`seconds_to_RecBole_best_valid_NDCG@10`: wall time from the start of training (validation passes
included) until the validation NDCG@10 first reaches the median of RecBole's best (a library's median
over its runs that reach it), and its ratio peer / seqrec. `reused_from`: runs
taken from an earlier comparison (`--reuse`) rather than run in this invocation. `window_stride`
(seqrec only): several training windows per long history and epoch (`training.window_stride`); empty:
one window per user, the last `max_len` items. RecTools drops users with too few training items from
its training data and gives them no list: they count as misses (`unscored_users` in the JSON).
`seqrec-bf16`: seqrec trained under bf16 autocast (`--precision bf16`; evaluation in float32), with
its own ratio columns. `eval_passes`: each run times its test pass this many times and reports the
median (every pass in `eval_pass_seconds`). With 0 epochs nothing is trained: the runs time the
full-ranking pass of each library's initialised model (its cost does not depend on the weights), and
their metrics are those of an untrained model. BERT4Rec: every library masks each position with
`mask_prob` (RecBole's default `mask_ratio`, 0.2), and seqrec and RecBole make a share `mask_last_prob`
of their samples mask only the last item (RecBole's default `ft_ratio`, 0.5, per batch; seqrec per
window; RecTools has no such samples), both in the JSON records (runs from before these were recorded
used seqrec's defaults then, 0.15 and none, RecBole's defaults and RecTools' `mask_prob` 0.15).
`gflop_per_epoch` (with `--count-flops`): training FLOPs per epoch counted by
`torch.utils.flop_counter.FlopCounterMode` (matmuls, batched matmuls, attention; forward and backward),
seqrec's and RecTools' over one whole epoch, RecBole's over its first batches per example times the
epoch's examples (each a prefix padded to the maximum length); `achieved_gflops`: that over the median
seconds per epoch; `eval_gflop`, `eval_achieved_gflops`: the same for one full-ranking test pass, over
the median `eval_seconds` (seqrec and RecBole); `flops_counted_at`: the commit that counted them.
"""


if __name__ == "__main__":
    main()
