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
            best = f"{optuna_study.best_value:.4f}"
        except ValueError:
            best = "-"
        progress.update(task_id, completed=study.n_finished(), description=f"best {study.metric} {best}")

    return callback


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
    runs_dir: Annotated[Path, typer.Option(help="Folder for the default SQLite storage.")] = Path("runs"),
    device: Annotated[str | None, typer.Option(help="torch device (default: cuda if available, else cpu).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table: one result line.")] = False,
) -> None:
    """Search fusion architectures; a re-run with the same study resumes it."""
    if trials is not None and trials < 1:
        raise AutommError(f"--trials must be at least 1, got {trials}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
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
    )
    target = trials if trials is not None else study.preset_trials
    if quiet:
        study.optimize(target, timeout=timeout)
    else:
        out.print(f"[bold]{study.dataset.summary()}[/bold]", highlight=False)
        out.print(f"sampler {study.sampler_name}, storage {study.storage}, device {study.device}", highlight=False)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=out, transient=False) as progress:
            task_id = progress.add_task("searching", total=target, completed=study.n_finished())
            study.optimize(target, timeout=timeout, callbacks=[_progress_callback(progress, task_id, study)])
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
