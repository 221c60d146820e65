"""Commands on data sets and existing studies: datasets, retrain, export, report, dashboard."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import optuna
import typer
from rich.markup import escape
from rich.table import Table

from automm.cli.app import app, err, out, user_errors
from automm.data.registry import DATASETS, default_data_dir
from automm.delivery.words import delivery_words
from automm.inspection.tables import breakable
from automm.report.html import write_report
from automm.store.artifact_stores import artifact_location, artifact_store, shared_lock
from automm.store.liveness import fail_stale
from automm.store.storages import existing_storage, open_storage
from automm.study.study import Study


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
                    ", ".join(ds.view_labels()),
                    f"{len(s.train)}/{len(s.val)}/{len(s.test)}",
                ]
        table.add_row(*row)
    out.print(table)


StudyOpt = Annotated[str, typer.Option("--study", help="Study name.")]
StorageOpt = Annotated[str | None, typer.Option(help="Storage URL or journal:PATH (default RUNS_DIR/STUDY.db).")]
RunsOpt = Annotated[Path, typer.Option(help="Folder of the default SQLite storage.")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Where registered data sets live.")]
ArtifactOpt = Annotated[
    str | None, typer.Option(help="Artifact store: a folder or s3://BUCKET (default RUNS_DIR/STUDY_artifacts).")
]


def _open(study: str, storage: str | None, runs_dir: Path, data_dir: Path | None, artifact_dir: str | None) -> Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return Study.load(study, storage=storage, runs_dir=runs_dir, data_dir=data_dir, artifact_dir=artifact_dir)


@app.command()
@user_errors
def retrain(
    study: StudyOpt = "digits",
    top: Annotated[int, typer.Option(help="How many of the best genotypes (by validation score).")] = 1,
    seeds: Annotated[int, typer.Option(help="Retrainings per genotype and start.")] = 5,
    ensemble_size: Annotated[
        int | None, typer.Option(help="Greedy ensemble rounds (default: the study's; 1: no ensemble row).")
    ] = None,
    storage: StorageOpt = None,
    runs_dir: RunsOpt = Path("runs"),
    data_dir: DataDirOpt = None,
    artifact_dir: ArtifactOpt = None,
) -> None:
    """Retrain the best genotypes on train+validation (from the KB and from scratch); score the test split."""
    opened = _open(study, storage, runs_dir, data_dir, artifact_dir)
    rows = opened.retrain(top=top, seeds=seeds, ensemble_size=ensemble_size)
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
    start: Annotated[
        str,
        typer.Option(
            help="auto (with K > 1 folds the fold networks the search kept, else trained again; one split: one "
            "network), bag (the fold networks trained again), kb or scratch."
        ),
    ] = "auto",
    ensemble_size: Annotated[
        int | None, typer.Option(help="Greedy ensemble rounds (default: the study's; 1: the best network alone).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing export folder.")] = False,
    onnx: Annotated[
        bool | None,
        typer.Option(
            "--onnx/--no-onnx", help="Write model.onnx (default: when automm[onnx] is installed), checked first."
        ),
    ] = None,
    storage: StorageOpt = None,
    runs_dir: RunsOpt = Path("runs"),
    data_dir: DataDirOpt = None,
    artifact_dir: ArtifactOpt = None,
) -> None:
    """Train the delivered model (the study's ensemble, or one genotype) on train+validation and export it
    (JSON, safetensors, model.onnx for ONNX Runtime)."""
    opened = _open(study, storage, runs_dir, data_dir, artifact_dir)
    exported = opened.deliver(
        out_dir, genotype=genotype, start=start, overwrite=overwrite, ensemble_size=ensemble_size, onnx=onnx
    )
    path, meta = exported.path, exported.meta
    score = meta["test_metrics"][opened.metric]
    serving = "; serve model.onnx with ONNX Runtime" if meta.get("serving") else ""
    out.print(
        breakable(
            f"exported {delivery_words(meta['members'])} to {path} (test {opened.metric} {score:.4f}); load it "
            f"with automm.load_model({str(path)!r}){serving}"
        ),
        highlight=False,
        soft_wrap=True,
    )


@app.command()
@user_errors
def report(
    out_file: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    study: StudyOpt = "digits",
    top: Annotated[int, typer.Option(help="Architectures to show.")] = 3,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
    storage: StorageOpt = None,
    runs_dir: RunsOpt = Path("runs"),
    data_dir: DataDirOpt = None,
    artifact_dir: ArtifactOpt = None,
) -> None:
    """Write a self-contained HTML report of a study."""
    opened = _open(study, storage, runs_dir, data_dir, artifact_dir)
    path = write_report(opened, out_file, top=top, overwrite=overwrite)
    out.print(escape(f"wrote {path}"), highlight=False)


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


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
    from optuna_dashboard import run_server

    storage = existing_storage(study, storage, runs_dir)
    location = artifact_location(artifact_dir, runs_dir / f"{study}_artifacts")
    artifacts = artifact_store(location)
    opened = open_storage(storage)
    with contextlib.suppress(KeyError):  # a dead worker's trials are failed first, as when a study opens
        found = optuna.load_study(study_name=study, storage=opened)
        fail_stale(found, shared_lock(location, opened, study, runs_dir))
    out.print(f"optuna-dashboard for {storage} at http://{host}:{port}/dashboard (Ctrl-C to stop)", highlight=False)
    if host not in LOCAL_HOSTS:
        err.print(
            f"warning: {host} is reachable from other machines, and optuna-dashboard has no login: anyone who "
            "reaches it can delete studies and artifacts (the knowledge base included)",
            highlight=False,
        )
    run_server(opened, host=host, port=port, artifact_store=artifacts)
