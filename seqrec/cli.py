"""The ``seqrec`` command: train, finetune, evaluate, recommend, recommend-batch, build-index, serve,
datasets."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import polars as pl
import typer

from seqrec.api import SeqRec
from seqrec.config import ConfigError, DataConfig, apply_override, build_config, load_config
from seqrec.data.dataset import SequenceDataset
from seqrec.runtime import RuntimeOptions
from seqrec.training.trainer import check_graphs

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
datasets_app = typer.Typer(no_args_is_help=True, help="List, fetch and describe registered datasets.")
app.add_typer(datasets_app, name="datasets")

DeviceOpt = Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")]
ThreadsOpt = Annotated[int | None, typer.Option(help="Torch intra-op threads (default: torch's choice).")]
SeedOpt = Annotated[int, typer.Option(help="Seed for initialisation, shuffling and negatives.")]
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show progress bars (where stderr is a terminal).")
]
PrecisionOpt = Annotated[str, typer.Option(help="fp32, or bf16 (autocast for training).")]
CudaGraphsOpt = Annotated[
    bool, typer.Option(help="On a GPU, replay each training step from a CUDA graph (CE loss, fixed lr).")
]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _runtime(
    device: str, threads: int | None, seed: int, progress: bool, precision: str, cuda_graphs: bool = False
) -> RuntimeOptions:
    """Runtime options from the command line; a bad value is a clean error."""
    try:
        return RuntimeOptions(
            device=device,
            threads=threads,
            seed=seed,
            progress=progress,
            precision=precision,  # type: ignore[arg-type]
            cuda_graphs=cuda_graphs,
        )
    except ValueError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _setup_logging(ctx: typer.Context, run_dir: Path | None) -> None:
    """INFO lines to stderr, and to ``run_dir/run.log`` with a run directory, for the command of ``ctx``
    (typer passes the context to a command that declares a ``typer.Context`` parameter). When the command
    ends, its handlers are closed (the log file too) and the root logger's own handlers and level come
    back, so that a program that invokes the CLI in its own process (a test, a notebook) keeps its logging
    and no handler is left writing to a stream that has since been closed."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(run_dir / "run.log", encoding="utf-8"))
    formatter = logging.Formatter("%(asctime)s %(message)s")
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    before, level = root.handlers[:], root.level
    root.handlers[:] = handlers
    root.setLevel(logging.INFO)

    def restore() -> None:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.handlers[:] = before
        root.setLevel(level)

    ctx.call_on_close(restore)  # as the command ends, whether it succeeds or fails


def _metrics_table(records: list[dict[str, Any]]) -> str:
    keys = [k for k in ("HR@10", "NDCG@10", "MRR", "HR@1", "NDCG@5", "Coverage@10") if k in records[0]]
    header = f"{'split':<6} {'protocol':<22} {'users':>6} " + " ".join(f"{k:>11}" for k in keys)
    lines = [header]
    for r in records:
        proto = r["protocol"] + (
            " (filter seen)" if r["protocol"] == "full" and r["filter_seen"] is True else ""
        )
        if r["protocol"] == "sampled":
            proto = f"sampled-{r['num_negatives']} {r['sampler']}"
        vals = " ".join(f"{r[k]:>11.4f}" if k in r else f"{'-':>11}" for k in keys)
        lines.append(f"{r['split']:<6} {proto:<22} {r['users']:>6} {vals}")
    return "\n".join(lines)


def _show_recommendations(model: SeqRec, users: list[Any], k: int) -> None:
    assert model.data is not None
    data = model.data
    recs = model.recommend(users=users, k=k)
    for user in users:
        row = int(data.users.to_internal([user])[0]) - 1
        history = data.sequences.row(row)[-5:]
        typer.echo(f"\nuser {user}: last {len(history)} of {data.sequences.lengths[row]} items")
        titles = data.titles(history)
        ext = data.items.to_external(history).to_list()
        for item, title in zip(ext, titles, strict=True):
            typer.echo(f"    {item}  {title or ''}")
        typer.echo(f"  top {k} recommendations:")
        for rec in recs.filter(pl.col("user") == user).iter_rows(named=True):
            title = rec.get("title") or ""
            typer.echo(f"    {rec['rank']:>2}. {rec['item']}  {title}  ({rec['score']:.3f})")


@app.command()
def train(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML run configuration.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Registered dataset name (sets data.dataset).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="Override: section.key=value")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Run directory (default runs/<dataset>-<model>).")
    ] = None,
    show_users: Annotated[
        int, typer.Option(help="Print recommendations for this many users at the end.")
    ] = 2,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    seed: SeedOpt = 42,
    progress: ProgressOpt = True,
    precision: PrecisionOpt = "fp32",
    cuda_graphs: CudaGraphsOpt = False,
) -> None:
    """Prepare the data, train, evaluate on the test split (full + sampled), save, show recommendations."""
    overrides = list(set_ or [])
    if dataset is not None:
        overrides = [f"data.dataset={dataset}", "data.path=null", *overrides]
    try:
        cfg = load_config(config, overrides)
    except ConfigError as exc:
        _fail(str(exc))
        return
    if cfg.data.dataset is None and cfg.data.path is None:
        _fail("no data: pass --dataset NAME, or a config with data.dataset / data.path")
    name = cfg.data.dataset or Path(str(cfg.data.path)).stem
    run_dir = output or Path("runs") / f"{name}-{cfg.model.name}"
    _setup_logging(ctx, run_dir)
    runtime = _runtime(device, threads, seed, progress, precision, cuda_graphs)
    data = _prepare(cfg.data)
    if cuda_graphs:
        try:
            check_graphs(cfg, data.num_items, runtime.torch_device())
        except (ValueError, RuntimeError) as exc:
            _fail(str(exc))
    model = SeqRec(cfg, runtime=runtime).fit(data, run_dir=run_dir)
    _report(model, run_dir, show_users)


def _prepare(cfg: DataConfig) -> SequenceDataset:
    """Load and prepare a dataset, print its size; a bad file or option is a clean error."""
    try:
        data = SequenceDataset.from_config(cfg)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        _fail(str(exc))
        raise AssertionError from exc  # unreachable: _fail exits
    stats = data.stats()
    partial = " (PARTIAL dataset)" if data.partial else ""
    typer.echo(
        f"dataset {data.name}{partial}: {stats['users']} users, {stats['items']} items, "
        f"{stats['interactions']} interactions, split {stats['split']}"
    )
    return data


def _report(model: SeqRec, run_dir: Path, show_users: int) -> None:
    """After training: the fit summary, test metrics (full + sampled), save, a few recommendations."""
    assert model.data is not None
    data = model.data
    if model.fit_result is not None:
        typer.echo(
            f"trained {len(model.fit_result.history)} epochs in {model.fit_result.seconds:.1f}s; "
            f"best validation {model.config.training.early_stopping_metric} "
            f"{model.fit_result.best_metric:.4f} at epoch {model.fit_result.best_epoch}"
        )
    records = [model.evaluate("test", "full"), model.evaluate("test", "sampled")]
    model.save(run_dir)
    partial = " (PARTIAL dataset)" if data.partial else ""
    typer.echo(f"\ntest metrics ({data.name}{partial}):\n" + _metrics_table(records))
    if show_users:
        users = data.users.to_external(np.arange(1, min(show_users, data.num_users) + 1)).to_list()
        _show_recommendations(model, users, 10)
    typer.echo(f"\nrun saved to {run_dir}")


@app.command()
def finetune(
    ctx: typer.Context,
    parent: Annotated[Path, typer.Argument(help="The pre-trained run directory.")],
    strategy: Annotated[
        str, typer.Option(help="full, freeze-encoder or adapters (what trains on the target).")
    ],
    dataset: Annotated[
        str | None, typer.Option(help="Registered target dataset (sets data.dataset).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML with the target's data section.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override data.*, training.* or evaluation.* (key=value)."),
    ] = None,
    map_ids: Annotated[
        str, typer.Option(help="Map shared external ids to pre-trained rows: none, items, users, both.")
    ] = "none",
    adapter_size: Annotated[int | None, typer.Option(help="Adapter bottleneck width (adapters).")] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Run directory (default runs/<dataset>-<model>-<strategy>)."),
    ] = None,
    show_users: Annotated[int, typer.Option(help="Print recommendations for this many users.")] = 2,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    seed: SeedOpt = 42,
    progress: ProgressOpt = True,
    precision: PrecisionOpt = "fp32",
) -> None:
    """Fine-tune a trained run on another dataset (training.epochs=0: evaluate the transfer zero-shot)."""
    from seqrec.transfer import STRATEGIES
    from seqrec.transfer import finetune as run_finetune

    if strategy not in STRATEGIES:
        _fail(f"--strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    raw: dict[str, Any] = {}
    if config is not None:
        raw = load_config(config).model_dump(mode="json", include={"data"})
    sections: dict[str, dict[str, Any]] = {
        "data": dict(raw.get("data", {})),
        "training": {},
        "evaluation": {},
    }
    if dataset is not None:
        sections["data"].update(dataset=dataset, path=None)
    try:
        for assignment in set_ or []:
            section = assignment.split(".", 1)[0]
            if section not in sections:
                raise ConfigError(
                    f"{assignment}: finetune takes data.*, training.* and evaluation.* overrides"
                )
            apply_override(sections, assignment)
        data_cfg = build_config({"data": sections["data"]}, source="finetune").data
    except ConfigError as exc:
        _fail(str(exc))
        return
    if data_cfg.dataset is None and data_cfg.path is None:
        _fail("no target data: pass --dataset NAME, or --config with a data section")
    runtime = _runtime(device, threads, seed, progress, precision)
    parent_run = _load(parent, runtime)
    name = data_cfg.dataset or Path(str(data_cfg.path)).stem
    run_dir = output or Path("runs") / f"{name}-{parent_run.config.model.name}-{strategy}"
    _setup_logging(ctx, run_dir)
    data = _prepare(data_cfg)
    try:
        model = run_finetune(
            parent_run,
            data,
            strategy=strategy,
            map_ids=map_ids,  # type: ignore[arg-type]
            adapter_size=adapter_size,
            training=sections["training"],
            evaluation=sections["evaluation"],
            runtime=runtime,
            run_dir=run_dir,
        )
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
        return
    assert model.transfer is not None
    model.transfer["parent_run"] = str(parent)
    _report(model, run_dir, show_users)


@app.command("evaluate")
def evaluate_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `seqrec train`.")],
    split: Annotated[str, typer.Option(help="valid or test.")] = "test",
    protocol: Annotated[str, typer.Option(help="full, sampled or both.")] = "both",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
) -> None:
    """Evaluate a saved run on its validation or test targets."""
    model = _load(run_dir, RuntimeOptions(device=device, threads=threads, progress=False))
    protocols = ["full", "sampled"] if protocol == "both" else [protocol]
    try:
        records = [model.evaluate(split, p) for p in protocols]
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(json.dumps(records, indent=2) if as_json else _metrics_table(records))


@app.command()
def recommend(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `seqrec train`.")],
    user: Annotated[list[str] | None, typer.Option(help="Known user id (repeatable).")] = None,
    item: Annotated[
        list[str] | None, typer.Option(help="History item id, oldest first (repeatable).")
    ] = None,
    title: Annotated[
        list[str] | None, typer.Option(help="History item title, oldest first (repeatable).")
    ] = None,
    k: Annotated[int, typer.Option(help="Number of recommendations.")] = 10,
    keep_seen: Annotated[bool, typer.Option(help="Do not remove history items from the list.")] = False,
    device: DeviceOpt = "cpu",
) -> None:
    """Top-k for known users, or for a history given as item ids or titles."""
    model = _load(run_dir, RuntimeOptions(device=device, progress=False))
    assert model.data is not None
    given = [x for x in (user, item, title) if x]
    if len(given) != 1:
        _fail("give --user, --item or --title (one kind)")
    try:
        if user:
            keys = [_coerce(u, model.data.users.dtype) for u in user]
            recs = model.recommend(users=keys, k=k, filter_seen=not keep_seen)
        elif item:
            items = [_coerce(i, model.data.items.dtype) for i in item]
            recs = model.recommend(histories={"history": items}, k=k, filter_seen=not keep_seen)
        else:
            recs = model.recommend(
                histories={"history": list(title or [])}, k=k, filter_seen=not keep_seen, titles=True
            )
    except (KeyError, ValueError) as exc:
        _fail(str(exc))
        return
    with pl.Config(tbl_rows=k * 20, fmt_str_lengths=60, tbl_hide_dataframe_shape=True):
        typer.echo(recs)


def _coerce(value: str, dtype: pl.DataType) -> Any:
    return int(value) if dtype.is_integer() and value.lstrip("-").isdigit() else value


def _load(run_dir: Path, runtime: RuntimeOptions) -> SeqRec:
    try:
        return SeqRec.load(run_dir, runtime=runtime)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
        raise


IndexKindOpt = Annotated[
    str, typer.Option("--index", help="Retrieval: auto, exact, hnsw, ivf, or none (score with the model).")
]


def _load_recommender(run_dir: Path, index: str, device: str, threads: int | None) -> Any:
    from seqrec.serving.index import IndexConfig
    from seqrec.serving.recommender import Recommender

    if threads is not None:
        _set_threads(threads)
    if index not in ("auto", "exact", "hnsw", "ivf", "none"):
        _fail(f"--index {index!r}: expected auto, exact, hnsw, ivf or none")
    try:
        return Recommender.load(
            run_dir,
            index=None if index == "none" else IndexConfig.model_validate({"kind": index}),
            device=device,
        )
    except (OSError, ValueError) as exc:
        _fail(str(exc))
        raise


def _set_threads(threads: int) -> None:
    """Intra-op threads for torch and FAISS (OpenMP)."""
    import faiss

    RuntimeOptions(threads=threads).apply()
    faiss.omp_set_num_threads(threads)


def _user_list(spec: str, dtype: pl.DataType) -> list[Any] | None:
    """``all``, a file with one user id per line, or comma-separated ids."""
    if spec == "all":
        return None
    path = Path(spec)
    values = path.read_text(encoding="utf-8").split() if path.is_file() else spec.split(",")
    return [_coerce(v.strip(), dtype) for v in values if v.strip()]


@app.command("recommend-batch")
def recommend_batch(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `seqrec train`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output Parquet file (written atomically).")],
    users: Annotated[
        str, typer.Option(help="'all', a file with one user id per line, or comma-separated ids.")
    ] = "all",
    k: Annotated[int, typer.Option(help="Recommendations per user.")] = 100,
    chunk_size: Annotated[
        int | None, typer.Option(help="Users per chunk / row group (default: scores fit in 64 MiB).")
    ] = None,
    keep_seen: Annotated[bool, typer.Option(help="Do not remove history items from the lists.")] = False,
    titles: Annotated[bool, typer.Option(help="Add a title column.")] = False,
    index: IndexKindOpt = "none",
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Top-k for many users into one Parquet file: chunked, streamed, one row group per chunk."""
    from seqrec.serving.batch import write_recommendations

    rec = _load_recommender(run_dir, index, device, threads)
    if k < 1:
        _fail("--k must be at least 1")
    try:
        chosen = _user_list(users, rec.data.users.dtype)
        summary = write_recommendations(
            rec,
            out,
            users=chosen,
            k=k,
            chunk_size=chunk_size,
            filter_seen=not keep_seen,
            titles=titles,
            progress=progress,
        )
    except (KeyError, ValueError, OSError) as exc:
        _fail(str(exc))
        return
    typer.echo(
        f"{summary.rows} recommendations for {summary.users} users in {summary.chunks} row groups, "
        f"{summary.seconds:.1f}s ({summary.users_per_second:.0f} users/s) -> {summary.path}"
    )


@app.command("build-index")
def build_index(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `seqrec train`.")],
    kind: Annotated[str, typer.Option(help="auto, exact, hnsw or ivf.")] = "auto",
    approximate_above: Annotated[
        int, typer.Option(help="With auto: catalogue size above which the index is approximate.")
    ] = 100_000,
    threads: ThreadsOpt = None,
) -> None:
    """Build the FAISS retrieval index beside the weights and report its recall against exact search."""
    from seqrec.serving.index import IndexConfig
    from seqrec.serving.recommender import Recommender

    if threads is not None:
        _set_threads(threads)
    try:
        config = IndexConfig.model_validate({"kind": kind, "approximate_above": approximate_above})
        rec = Recommender.load(run_dir, index=None)
        index = rec.load_or_build_index(config)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
        return
    info = index.info
    recall = ", ".join(f"{k} {v:.4f}" for k, v in info.recall.items())
    typer.echo(
        f"{info.kind} index over {info.num_items} items (dim {info.dim}, params {info.params}) "
        f"built in {info.build_seconds:.2f}s; {recall} vs exact on {info.recall_queries} user states"
    )
    typer.echo(f"saved to {run_dir / 'retrieval.faiss'}")


@app.command()
def serve(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `seqrec train`.")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    index: IndexKindOpt = "auto",
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted.")] = 256 * 1024,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
) -> None:
    """Serve the HTTP API and the demo page (http://HOST:PORT/) for a saved run."""
    import uvicorn

    from seqrec.serving.app import create_app

    _setup_logging(ctx, None)
    rec = _load_recommender(run_dir, index, device, threads)
    typer.echo(f"serving {run_dir} on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(create_app(rec, max_body_bytes=max_body_bytes), host=host, port=port, log_level="info")


@datasets_app.command("list")
def datasets_list() -> None:
    """Registered datasets with their source and licence."""
    from seqrec.data import registry

    for spec in registry.list_datasets():
        flag = " [PARTIAL]" if spec.partial else ""
        typer.echo(f"{spec.name}{flag}\n    {spec.description}\n    licence: {spec.licence}")


@datasets_app.command("fetch")
def datasets_fetch(name: str) -> None:
    """Fetch (mirror, cache or download) and verify the files of a dataset."""
    from seqrec.data import registry

    try:
        paths = registry.fetch(name)
    except registry.DatasetError as exc:
        _fail(str(exc))
        return
    for role, path in paths.items():
        typer.echo(f"{role}: {path} (sha256 verified)")


@datasets_app.command("stats")
def datasets_stats(name: str) -> None:
    """Statistics of a registered dataset as loaded (before any filtering)."""
    from seqrec.data import registry

    try:
        raw = registry.load(name)
    except registry.DatasetError as exc:
        _fail(str(exc))
        return
    typer.echo(json.dumps(registry.stats(raw), indent=2, default=str))


if __name__ == "__main__":
    app()
