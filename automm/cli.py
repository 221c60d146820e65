"""The ``automm`` command line (Typer)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import optuna
import torch
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from automm.data.registry import DATASETS, default_data_dir
from automm.errors import AutommError
from automm.extract.backbones import IMAGE_BACKBONES, TEXT_BACKBONES
from automm.report import write_report
from automm.samplers import DEFAULT_SAMPLER, SAMPLERS
from automm.study import PRUNERS, Study, existing_storage, open_storage

app = typer.Typer(
    help="Search multimodal fusion architectures with Optuna.", no_args_is_help=True, pretty_exceptions_enable=False
)
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F, interrupted: str = "finished trials are saved") -> F:
    """Turn `AutommError` into a one-line message and exit code 2; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AutommError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print(f"interrupted: {interrupted}; run the same command again to resume")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _progress_callback(progress: Progress, task_id: Any, study: Study) -> Callable[..., None]:
    def callback(optuna_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        try:
            best = f"{study.best_value:.4f}"
        except AutommError:
            best = "-"
        parts = [f"best {study.metric} {best}"]
        if "generation" in trial.user_attrs:
            parts.insert(0, f"gen {trial.user_attrs['generation']}")
        if "kb_version" in trial.user_attrs:
            parts.append(f"KB v{trial.user_attrs['kb_version']}")
        progress.update(task_id, completed=study.n_finished(), description=" | ".join(parts))

    return callback


def _generation_table(study: Study) -> Table:
    table = Table(title="generations (validation)")
    for col in ("gen", "trials", "best", "mean", "epochs/individual", "train s", "KB", "into next KB"):
        table.add_column(col)
    for row in study.generation_report():
        kb = "-" if row["kb_version"] is None else f"v{row['kb_version']}"
        table.add_row(
            str(row["generation"]),
            str(row["trials"]),
            f"{row['best']:.4f}",
            f"{row['mean']:.4f}",
            f"{row['epochs_mean']:.1f}",
            f"{row['seconds']:.1f}",
            kb,
            str(row["contributors"]),
        )
    return table


def _summary(study: Study, top: int = 5) -> Table:
    table = Table(
        title=f"study {study.study_name}: top {top} of {study.n_finished()} trials ({study.metric}, validation)"
    )
    for col in ("#", study.metric, "genotype", "params", "epochs", "seconds"):
        table.add_column(col, overflow="fold")
    for row in study.trials_table(top):
        value = "pruned" if row["value"] is None or row["state"] == "PRUNED" else f"{row['value']:.4f}"
        table.add_row(
            str(row["number"]),
            value,
            str(row["genotype"]),
            str(row["n_params"]),
            str(row["epochs"]),
            f"{row['seconds'] or 0:.1f}",
        )
    return table


@app.command()
@user_errors
def search(
    dataset: Annotated[str, typer.Option(help="Registered data set (see `automm datasets`).")] = "digits",
    data: Annotated[
        Path | None,
        typer.Option(help="Your own data: a .mat or .npz file or a folder of .npy files (overrides --dataset)."),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where registered data sets live.")] = None,
    trials: Annotated[int | None, typer.Option(help="Finished trials the study should hold (default: preset).")] = None,
    sampler: Annotated[
        str | None, typer.Option(help=f"One of {', '.join(SAMPLERS)} (default {DEFAULT_SAMPLER}; stored on resume).")
    ] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL (default sqlite:///RUNS_DIR/NAME.db).")
    ] = None,
    study_name: Annotated[str | None, typer.Option(help="Study name (default: the data set's name).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for split, sampler and training (default 0).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop starting new trials after this many seconds.")] = None,
    pruner: Annotated[str | None, typer.Option(help=f"One of {', '.join(PRUNERS)}.")] = None,
    population: Annotated[int | None, typer.Option(help="KS-NAS population size N (default: preset).")] = None,
    generations: Annotated[int | None, typer.Option(help="KS-NAS generations T; trials default to N x T.")] = None,
    knowledge_sharing: Annotated[
        bool | None, typer.Option("--knowledge-sharing/--no-knowledge-sharing", help="Warm-start from the KB.")
    ] = None,
    fair_selection: Annotated[
        bool | None,
        typer.Option(
            "--fair-selection/--no-fair-selection", help="Only individuals beating the worst parent feed the KB."
        ),
    ] = None,
    kb_epochs: Annotated[int | None, typer.Option(help="Supernet pretraining epochs for the first KB.")] = None,
    surrogate_pool: Annotated[
        int | None, typer.Option(help="KS-NAS: breed this many offspring per slot; the surrogate picks one.")
    ] = None,
    mfas_k: Annotated[int | None, typer.Option(help="MFAS: architectures sampled per step (K).")] = None,
    mfas_iterations: Annotated[int | None, typer.Option(help="MFAS: search iterations (E_search).")] = None,
    mfas_layers: Annotated[int | None, typer.Option(help="MFAS: maximum fusion layers (L).")] = None,
    weight_sharing: Annotated[
        bool | None, typer.Option("--weight-sharing/--no-weight-sharing", help="MFAS: inherit layer weights.")
    ] = None,
    artifact_dir: Annotated[Path | None, typer.Option(help="Artifact store (default RUNS_DIR/NAME_artifacts).")] = None,
    minimize_params: Annotated[
        bool, typer.Option("--minimize-params", help="Second objective: parameter count (Pareto front).")
    ] = False,
    runs_dir: Annotated[Path, typer.Option(help="Folder for the default SQLite storage.")] = Path("runs"),
    device: Annotated[str | None, typer.Option(help="torch device (default: cuda if available, else cpu).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table: one result line.")] = False,
) -> None:
    """Search fusion architectures; a re-run with the same study resumes it."""
    if trials is not None and trials < 1:
        raise AutommError(f"--trials must be at least 1, got {trials}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ksnas = {
        k: v
        for k, v in {
            "population_size": population,
            "generations": generations,
            "surrogate_pool": surrogate_pool,
        }.items()
        if v is not None
    }
    mfas = {
        k: v
        for k, v in {
            "k": mfas_k,
            "iterations": mfas_iterations,
            "max_layers": mfas_layers,
            "weight_sharing": weight_sharing,
        }.items()
        if v is not None
    }
    knowledge = {k: v for k, v in {"fair_selection": fair_selection, "kb_epochs": kb_epochs}.items() if v is not None}
    study = Study(
        dataset,
        data=data,
        data_dir=data_dir,
        sampler=sampler,
        storage=storage,
        study_name=study_name,
        seed=seed,
        pruner=pruner,
        runs_dir=runs_dir,
        device=device,
        ksnas=ksnas or None,
        knowledge=knowledge or None,
        knowledge_sharing=knowledge_sharing,
        artifact_dir=artifact_dir,
        minimize_params=minimize_params or None,
        mfas=mfas or None,
    )
    target = trials if trials is not None else study.default_trials
    if quiet:
        study.optimize(trials, timeout=timeout)
    else:
        out.print(f"[bold]{escape(study.dataset.summary())}[/bold]", highlight=False)
        mode = ""
        if study.sampler_name == "ksnas":
            ks = "on" if study.knowledge_sharing else "off"
            mode = f" (N={study.ksnas.population_size}, T={study.ksnas.generations}, knowledge sharing {ks})"
        elif study.sampler_name == "mfas":
            m = study.mfas
            mode = f" (K={m.k}, E_search={m.iterations}, L={m.max_layers}, {m.epochs} epochs per candidate)"
        out.print(
            f"sampler {study.sampler_name}{mode}, storage {study.storage}, device {study.device}", highlight=False
        )
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=out, transient=False) as progress:
            task_id = progress.add_task("searching", total=target, completed=study.n_finished())
            study.optimize(trials, timeout=timeout, callbacks=[_progress_callback(progress, task_id, study)])
        if study.sampler_name == "ksnas":
            out.print(_generation_table(study))
        out.print(_summary(study, top=study.mfas.k if study.sampler_name == "mfas" else 5))
        if study.sampler_name == "mfas":
            out.print("MFAS scores are 2-epoch proxies: run `automm retrain --top 5` to train the best to convergence.")
    best = study.best_trial
    line = f"best {study.metric} {study.best_value:.4f} (trial {best.number}): {study.best_genotype}"
    out.print(line, highlight=False, soft_wrap=True)


@app.command()
@user_errors
def datasets(
    data_dir: Annotated[Path | None, typer.Option(help="Where registered data sets live.")] = None,
    details: Annotated[
        bool, typer.Option("--details", help="Load each present data set: views, sizes (may build caches).")
    ] = False,
) -> None:
    """List the registered data sets, where each is expected and whether it is present."""
    base = (data_dir or default_data_dir()).expanduser()
    table = Table(title=f"data sets (looked for in {base} and {base}/<name>)")
    columns = ["name", "task", "description", "expects", "status"] + (["views", "train/val/test"] if details else [])
    for col in columns:
        table.add_column(col, overflow="fold")
    for info in DATASETS.values():
        where = info.locate(base)
        status = "embedded" if info.embedded else (f"ready: {where}" if where else "missing")
        if where is not None and info.form is not None:
            status += f" ({info.form(where)})"
        row = [info.name, info.task, info.description, info.expected, status]
        if details:
            if where is None:
                row += ["-", "-"]
            else:
                ds = info.load(where, 0)
                s = ds.splits
                row += [
                    ", ".join(f"{v}[{d}]" for v, d in ds.view_dims.items()),
                    f"{len(s.train)}/{len(s.val)}/{len(s.test)}",
                ]
        table.add_row(*row)
    out.print(table)


StudyOpt = Annotated[str, typer.Option("--study", help="Study name.")]
StorageOpt = Annotated[str | None, typer.Option(help="Storage URL or journal:PATH (default RUNS_DIR/STUDY.db).")]
RunsOpt = Annotated[Path, typer.Option(help="Folder of the default SQLite storage.")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Where registered data sets live.")]
ArtifactOpt = Annotated[Path | None, typer.Option(help="Artifact store (default RUNS_DIR/STUDY_artifacts).")]


def _parse_levels(specs: list[str]) -> dict[str, list[str]]:
    """``BACKBONE=L1,L2`` options -> {backbone: [levels]}."""
    levels: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name or not value:
            raise AutommError(
                f"--levels {spec!r}: expected BACKBONE=LEVEL[,LEVEL...], e.g. efficientnet_lite0=stage3,head"
            )
        levels[name.strip()] = [v.strip() for v in value.split(",") if v.strip()]
    return levels


@app.command()
@functools.partial(user_errors, interrupted="finished batches are in the feature cache")
def extract(
    manifest: Annotated[
        Path | None, typer.Argument(help="CSV/JSONL manifest: image:<name>, text:<name>, label(s), split columns.")
    ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the features here (.npz) for --data.")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Instead of a manifest: a raw registered data set (mmimdb).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where registered data sets live.")] = None,
    image_backbone: Annotated[
        list[str] | None, typer.Option(help=f"Image backbone, repeatable: {', '.join(IMAGE_BACKBONES)}.")
    ] = None,
    text_backbone: Annotated[
        list[str] | None, typer.Option(help=f"Text backbone, repeatable: {', '.join(TEXT_BACKBONES)}.")
    ] = None,
    levels: Annotated[
        list[str] | None,
        typer.Option(
            help="Depths to keep, repeatable: BACKBONE=L1,L2. Known: efficientnet_lite0 stage1..stage7, head; "
            "vgg19 pool3, pool4, pool5, fc6, fc7; minilm embeddings, layer1..layer6."
        ),
    ] = None,
    vgg19_weights: Annotated[
        Path | None, typer.Option(help="torchvision's vgg19-dcbb9e9d.pth (else hub cache).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Inputs per forward pass.")] = 32,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Feature cache (default $AUTOMM_CACHE_DIR or ~/.cache/automm).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="torch device (default: cuda if available, else cpu).")] = None,
) -> None:
    """Turn raw images and texts into multi-level features from pretrained backbones (cached on disk)."""
    from automm.data.mmimdb import load_mmimdb_raw, raw_present, read_raw_manifest
    from automm.extract import extract_views, load_backbone, read_manifest, to_dataset, write_features
    from automm.extract.pipeline import ConsoleProgress

    if (manifest is None) == (dataset is None):
        raise AutommError("give a manifest file or --dataset mmimdb (one of them)")
    if batch_size < 1:
        raise AutommError(f"--batch-size must be at least 1, got {batch_size}")
    images = image_backbone or ["efficientnet_lite0"]
    texts = text_backbone or ["minilm"]
    for name in images:
        if name not in IMAGE_BACKBONES:
            raise AutommError(f"--image-backbone {name!r}: known image backbones are {', '.join(IMAGE_BACKBONES)}")
    for name in texts:
        if name not in TEXT_BACKBONES:
            raise AutommError(f"--text-backbone {name!r}: known text backbones are {', '.join(TEXT_BACKBONES)}")
    chosen = _parse_levels(levels or [])
    stray = set(chosen) - set(images) - set(texts)
    if stray:
        raise AutommError(f"--levels names backbone(s) not in use: {', '.join(sorted(stray))}")
    if dataset is not None:
        if dataset.lower() != "mmimdb":
            raise AutommError(f"--dataset {dataset!r}: only mmimdb has a raw form to extract")
        base = (data_dir or default_data_dir()).expanduser()
        folder = next((d for d in (base, base / "mmimdb") if raw_present(d)), None)
        if folder is None:
            raise AutommError(f"mmimdb: no raw release (split.json + dataset/) in {base} or {base / 'mmimdb'}")
        defaults = images == ["efficientnet_lite0"] and texts == ["minilm"] and not chosen
        if out_file is None and not defaults:
            raise AutommError(
                "`search --dataset mmimdb` uses the default backbones; pass --out FILE.npz to keep these "
                "features and search them with --data FILE.npz"
            )
        if out_file is None:
            ds = load_mmimdb_raw(folder, cache_dir=cache_dir)
            out.print(f"[bold]{escape(ds.summary())}[/bold]: features cached; run `automm search --dataset mmimdb`")
            return
        rows = read_raw_manifest(folder)
    else:
        assert manifest is not None
        rows = read_manifest(manifest)
    torch_device = torch.device(device) if device else None
    backbones = []
    for name in (*(images if rows.images else []), *(texts if rows.texts else [])):
        options: dict[str, Any] = {"device": torch_device}
        if name == "vgg19":
            options["weights"] = vgg19_weights
        backbones.append(load_backbone(name, chosen.get(name), **options))
    with ConsoleProgress(err) as bars:
        views = extract_views(rows, backbones, cache_dir=cache_dir, batch_size=batch_size, progress=bars)
    ds = to_dataset(rows, views)
    table = Table(title=f"{rows.name}: {len(rows)} samples, {ds.task}, {len(rows.class_names)} classes")
    table.add_column("view")
    table.add_column("width", justify="right")
    for view, arr in views.items():
        table.add_row(view, str(arr.shape[1]))
    out.print(table)
    if out_file is None:
        out.print("features cached; pass --out FILE.npz to write them for `automm search --data FILE.npz`")
        return
    path = write_features(out_file, rows, views)
    out.print(escape(f"wrote {path}; search it with: automm search --data {path}"), highlight=False, soft_wrap=True)


def _open(study: str, storage: str | None, runs_dir: Path, data_dir: Path | None, artifact_dir: Path | None) -> Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return Study.load(study, storage=storage, runs_dir=runs_dir, data_dir=data_dir, artifact_dir=artifact_dir)


@app.command()
@user_errors
def retrain(
    study: StudyOpt = "digits",
    top: Annotated[int, typer.Option(help="How many of the best genotypes (by validation score).")] = 1,
    seeds: Annotated[int, typer.Option(help="Retrainings per genotype and start.")] = 5,
    storage: StorageOpt = None,
    runs_dir: RunsOpt = Path("runs"),
    data_dir: DataDirOpt = None,
    artifact_dir: ArtifactOpt = None,
) -> None:
    """Retrain the best genotypes on train+validation (from the KB and from scratch); score the test split."""
    opened = _open(study, storage, runs_dir, data_dir, artifact_dir)
    rows = opened.retrain(top=top, seeds=seeds)
    table = Table(title=f"test {opened.metric}, mean ± std over {seeds} seeds (stored in the study)")
    for col in ("rank", "genotype", "val", "start", "epochs", "test"):
        table.add_column(col, overflow="fold")
    for r in rows:
        val = "-" if r["val"] is None else f"{r['val']:.4f}"
        table.add_row(
            str(r["rank"]), r["genotype"], val, r["start"], str(r["epochs"]), f"{r['mean']:.4f} ± {r['std']:.4f}"
        )
    out.print(table)


@app.command()
@user_errors
def export(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the model to.")],
    study: StudyOpt = "digits",
    genotype: Annotated[str | None, typer.Option(help="Genotype string (default: the best).")] = None,
    start: Annotated[str, typer.Option(help="auto, kb or scratch.")] = "auto",
    storage: StorageOpt = None,
    runs_dir: RunsOpt = Path("runs"),
    data_dir: DataDirOpt = None,
    artifact_dir: ArtifactOpt = None,
) -> None:
    """Train the best genotype on train+validation and export it (JSON, safetensors, TorchScript)."""
    opened = _open(study, storage, runs_dir, data_dir, artifact_dir)
    path = opened.export(out_dir, genotype=genotype, start=start)
    meta = json.loads((path / "genotype.json").read_text())
    score = meta["test_metrics"][opened.metric]
    out.print(
        f"exported {meta['genotype']} to {path} (test {opened.metric} {score:.4f}); "
        f"load it with automm.load_model({str(path)!r})",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
@user_errors
def report(
    out_file: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    study: StudyOpt = "digits",
    top: Annotated[int, typer.Option(help="Architectures to show.")] = 3,
    storage: StorageOpt = None,
    runs_dir: RunsOpt = Path("runs"),
    data_dir: DataDirOpt = None,
    artifact_dir: ArtifactOpt = None,
) -> None:
    """Write a self-contained HTML report of a study."""
    opened = _open(study, storage, runs_dir, data_dir, artifact_dir)
    path = write_report(opened, out_file, top=top)
    out.print(escape(f"wrote {path}"), highlight=False)


@app.command()
@user_errors
def dashboard(
    study: StudyOpt = "digits",
    storage: StorageOpt = None,
    runs_dir: RunsOpt = Path("runs"),
    artifact_dir: ArtifactOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind (localhost only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
) -> None:
    """Serve optuna-dashboard on the study's storage and artifact store (Ctrl-C stops it)."""
    from optuna.artifacts import FileSystemArtifactStore
    from optuna_dashboard import run_server

    storage = existing_storage(study, storage, runs_dir)
    artifacts = artifact_dir or runs_dir / f"{study}_artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    out.print(f"optuna-dashboard for {storage} at http://{host}:{port}/dashboard (Ctrl-C to stop)", highlight=False)
    run_server(open_storage(storage), host=host, port=port, artifact_store=FileSystemArtifactStore(str(artifacts)))
