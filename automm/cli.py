"""The ``automm`` command line (Typer)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import optuna
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from automm.config import load_preset
from automm.data.registry import DATASETS, default_data_dir
from automm.errors import AutommError
from automm.samplers import SAMPLERS
from automm.study import PRUNERS, Study

app = typer.Typer(
    help="Search multimodal fusion architectures with Optuna.", no_args_is_help=True, pretty_exceptions_enable=False
)
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn `AutommError` into a one-line message and exit code 2; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AutommError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted: finished trials are saved; run the same command again to resume")
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
    data: Annotated[Path | None, typer.Option(help="Your own data: a .mat or .npz file (overrides --dataset).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where registered data sets live.")] = None,
    trials: Annotated[int | None, typer.Option(help="Finished trials the study should hold (default: preset).")] = None,
    sampler: Annotated[
        str | None, typer.Option(help=f"One of {', '.join(SAMPLERS)} (default tpe; stored on resume).")
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
    artifact_dir: Annotated[Path | None, typer.Option(help="Artifact store (default RUNS_DIR/NAME_artifacts).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder for the default SQLite storage.")] = Path("runs"),
    device: Annotated[str | None, typer.Option(help="torch device (default: cuda if available, else cpu).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table: one result line.")] = False,
) -> None:
    """Search fusion architectures; a re-run with the same study resumes it."""
    if trials is not None and trials < 1:
        raise AutommError(f"--trials must be at least 1, got {trials}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ksnas = {k: v for k, v in {"population_size": population, "generations": generations}.items() if v is not None}
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
    )
    target = trials if trials is not None else study.default_trials
    if quiet:
        study.optimize(trials, timeout=timeout)
    else:
        out.print(f"[bold]{study.dataset.summary()}[/bold]", highlight=False)
        mode = ""
        if study.sampler_name == "ksnas":
            ks = "on" if study.knowledge_sharing else "off"
            mode = f" (N={study.ksnas.population_size}, T={study.ksnas.generations}, knowledge sharing {ks})"
        out.print(
            f"sampler {study.sampler_name}{mode}, storage {study.storage}, device {study.device}", highlight=False
        )
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=out, transient=False) as progress:
            task_id = progress.add_task("searching", total=target, completed=study.n_finished())
            study.optimize(trials, timeout=timeout, callbacks=[_progress_callback(progress, task_id, study)])
        if study.sampler_name == "ksnas":
            out.print(_generation_table(study))
        out.print(_summary(study))
    best = study.best_trial
    line = f"best {study.metric} {study.best_value:.4f} (trial {best.number}): {study.best_genotype}"
    out.print(line, highlight=False, soft_wrap=True)


@app.command()
@user_errors
def datasets(
    data_dir: Annotated[Path | None, typer.Option(help="Where registered data sets live.")] = None,
) -> None:
    """List the registered data sets, where each is expected and whether it is present."""
    base = (data_dir or default_data_dir()).expanduser()
    table = Table(title=f"data sets (looked for in {base} and {base}/<name>)")
    for col in ("name", "task", "description", "expects", "preset trials", "status"):
        table.add_column(col, overflow="fold")
    for info in DATASETS.values():
        where = info.locate(base)
        status = "embedded" if info.embedded else (f"ready: {where}" if where else "missing")
        table.add_row(info.name, info.task, info.description, info.expected, str(load_preset(info.name).trials), status)
    out.print(table)
