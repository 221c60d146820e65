"""``automm search``: its options are the common ones plus every method's own (`SearchMethod.options`)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import optuna
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from automm import attrs, results
from automm.budget import DEFAULT_TIME_BUDGET, format_duration, parse_duration
from automm.cli.app import app, out, user_errors
from automm.ensemble import differs_from_best
from automm.errors import AutommError
from automm.folds import estimate
from automm.methods import DEFAULT_METHOD, METHODS, MethodOption
from automm.reporting.tables import GENERATION_COLUMNS, cells
from automm.study import PRUNERS, Study

COMMON_OPTIONS: dict[str, tuple[Any, Any]] = {  # name -> (annotation, default)
    "dataset": (Annotated[str, typer.Option(help="Registered data set (see `automm datasets`).")], "digits"),
    "data": (
        Annotated[
            Path | None,
            typer.Option(help="Your own data: a .mat or .npz file or a folder of .npy files (overrides --dataset)."),
        ],
        None,
    ),
    "data_dir": (Annotated[Path | None, typer.Option(help="Where registered data sets live.")], None),
    "trials": (
        Annotated[int | None, typer.Option(help="Finished trials the study should hold (default: preset).")],
        None,
    ),
    "method": (
        Annotated[
            str | None,
            typer.Option(
                "--method",
                "--sampler",
                help=f"Search method, one of {', '.join(METHODS)} (default {DEFAULT_METHOD}; stored on resume).",
            ),
        ],
        None,
    ),
    "storage": (
        Annotated[str | None, typer.Option(help="Optuna storage URL (default sqlite:///RUNS_DIR/NAME.db).")],
        None,
    ),
    "study_name": (Annotated[str | None, typer.Option(help="Study name (default: the data set's name).")], None),
    "seed": (Annotated[int | None, typer.Option(help="Seed for split, sampler and training (default 0).")], None),
    "folds": (
        Annotated[
            int | None,
            typer.Option(
                help="Cross-validation folds scoring each candidate (1: one validation split; default: by size)."
            ),
        ],
        None,
    ),
    "ensemble_size": (
        Annotated[
            int | None,
            typer.Option(help="Greedy ensemble rounds for the delivered model (1: the best network alone)."),
        ],
        None,
    ),
    "tune": (
        Annotated[
            str | None,
            typer.Option(
                help="Training settings searched with the architecture, comma-separated: lr, weight_decay, "
                "dropout, fusion_dim."
            ),
        ],
        None,
    ),
    "time_budget": (
        Annotated[
            str | None,
            typer.Option(
                help="Wall time for this run, e.g. 10m, 2h, 90s: it stops where the next generation (KS-NAS) or "
                "trial would end past it. Default: none with a preset, 10m for data without one; 'none' for no limit."
            ),
        ],
        None,
    ),
    "jobs": (
        Annotated[int, typer.Option(help="Trials run at once, in processes sharing the study's storage.")],
        1,
    ),
    "threads": (
        Annotated[
            int | None,
            typer.Option(
                help="torch CPU threads per job (default: 1 for small networks, else the job's share of cores)."
            ),
        ],
        None,
    ),
    "timeout": (
        Annotated[float | None, typer.Option(help="Stop starting new trials after this many seconds.")],
        None,
    ),
    "pruner": (Annotated[str | None, typer.Option(help=f"One of {', '.join(PRUNERS)}.")], None),
    "artifact_dir": (
        Annotated[Path | None, typer.Option(help="Artifact store (default RUNS_DIR/NAME_artifacts).")],
        None,
    ),
    "minimize_params": (
        Annotated[bool, typer.Option("--minimize-params", help="Second objective: parameter count (Pareto front).")],
        False,
    ),
    "runs_dir": (Annotated[Path, typer.Option(help="Folder for the default SQLite storage.")], Path("runs")),
    "device": (
        Annotated[str | None, typer.Option(help="torch device (default: cuda if available, else cpu).")],
        None,
    ),
    "quiet": (
        Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table: one result line.")],
        False,
    ),
}


def method_options() -> dict[str, tuple[MethodOption, list[str]]]:
    """Every method's options by name, with the titles of the methods that have each."""
    found: dict[str, tuple[MethodOption, list[str]]] = {}
    for method in METHODS.values():
        for option in method.options:
            if option.param in found:
                known, titles = found[option.param]
                if (known.flags, known.type) != (option.flags, option.type):
                    raise RuntimeError(f"methods disagree on option {option.param}")  # a programming error
                titles.append(method.title)
            else:
                found[option.param] = (option, [method.title])
    return found


def _signature() -> inspect.Signature:
    params = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in COMMON_OPTIONS.items()
    ]
    for name, (option, titles) in method_options().items():
        help_text = f"{', '.join(titles)}: {option.help}"
        annotation = Annotated[option.type | None, typer.Option(*option.flags, help=help_text)]  # type: ignore[name-defined]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    return inspect.Signature(params)


def _progress_callback(
    progress: Progress, task_id: Any, study: Study, target: int, deadline: float | None
) -> Callable[..., None]:
    started, finished_before = time.time(), study.n_finished()

    def callback(optuna_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        try:
            best = f"{study.best_value:.4f}"
        except AutommError:
            best = "-"
        parts = [f"best {study.metric} {best}"]
        if attrs.GENERATION in trial.user_attrs:
            parts.insert(0, f"gen {trial.user_attrs[attrs.GENERATION]}")
        if attrs.KB_VERSION in trial.user_attrs:
            parts.append(f"KB v{trial.user_attrs[attrs.KB_VERSION]}")
        finished, now = study.n_finished(), time.time()
        if finished > finished_before:  # ETA: this run's pace, capped by the time budget
            eta = (now - started) / (finished - finished_before) * max(0, target - finished)
            if deadline is not None:
                eta = min(eta, max(0.0, deadline - now))
            parts.append(f"ETA {format_duration(eta)}")
        progress.update(task_id, completed=finished, description=" | ".join(parts))

    return callback


def time_summary(study: Study, started: float, budget: float | None) -> str:
    """How long this run took, why it stopped, and what the best score did over the time."""
    took = time.time() - started
    line = f"took {format_duration(took)}"
    if budget is not None:
        stopped = study.last_budget is not None and study.last_budget.stopped_by_budget
        line += f" of a {format_duration(budget)} budget" + (
            " (stopped: the next generation or trial would not have fitted)" if stopped else ""
        )
    curve = results.best_over_time(study.optuna_study, since=started)
    if curve:
        at_half = max((v for t, v in curve if t <= took / 2), default=None)
        points = ", ".join(f"{format_duration(max(t, 0))} {v:.4f}" for t, v in curve[-4:])
        line += f"; best {study.metric} over time: {points}"
        if at_half is not None:
            gain = curve[-1][1] - at_half
            hint = "more time will likely buy little" if gain < 0.002 else "more time may still help"
            line += f" (+{gain:.4f} in the second half of the run: {hint})"
    return line


def generation_table(report: list[dict[str, Any]]) -> Table:
    table = Table(title="generations (validation)")
    headers, rows = cells(GENERATION_COLUMNS, report)
    for col in headers:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    return table


def summary_table(study: Study, top: int = 5) -> Table:
    table = Table(
        title=f"study {study.study_name}: top {top} of {study.n_finished()} trials ({study.metric}, validation)"
    )
    for col in ("#", study.metric, "genotype", "params", "epochs", "seconds"):
        table.add_column(col, overflow="fold")
    for row in study.trials_table(top):
        value = "pruned" if row["value"] is None or row["state"] == "PRUNED" else f"{row['value']:.4f}"
        if row["folds"] > 1:
            value += f" ± {row['std']:.4f} ({row['folds']} folds{', raced out' if row['raced_out'] else ''})"
        table.add_row(
            str(row["number"]),
            value,
            str(row["genotype"]),
            str(row["n_params"]),
            str(row["epochs"]),
            f"{row['seconds'] or 0:.1f}",
        )
    return table


def search(**kwargs: Any) -> None:
    """Search fusion architectures; a re-run with the same study resumes it."""
    trials, timeout, quiet = kwargs.pop("trials"), kwargs.pop("timeout"), kwargs.pop("quiet")
    budget_text, jobs, threads = kwargs.pop("time_budget"), kwargs.pop("jobs"), kwargs.pop("threads")
    if trials is not None and trials < 1:
        raise AutommError(f"--trials must be at least 1, got {trials}")
    if jobs < 1:
        raise AutommError(f"--jobs must be at least 1, got {jobs}")
    budget = None if budget_text in (None, "none") else parse_duration(budget_text)  # checked before any work
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    options = {name: kwargs.pop(name) for name in method_options()}
    kwargs["minimize_params"] = kwargs["minimize_params"] or None
    if kwargs["tune"] is not None:
        kwargs["tune"] = [name.strip() for name in kwargs["tune"].split(",") if name.strip()]
    study = Study(kwargs.pop("dataset"), options=options, **kwargs)
    method = study.method
    target = trials if trials is not None else study.default_trials
    if budget_text is None and trials is None and not study.has_preset:
        budget = DEFAULT_TIME_BUDGET
    run = {"timeout": timeout, "time_budget": budget or "none", "jobs": jobs, "threads": threads}
    started = time.time()
    if quiet:
        study.optimize(trials, **run)
    else:
        out.print(f"[bold]{escape(study.dataset.summary())}[/bold]", highlight=False)
        described = method.describe()
        mode = f" ({described})" if described else ""
        out.print(f"sampler {method.name}{mode}, storage {study.storage_url}, device {study.device}", highlight=False)
        if budget is not None:
            why = " (no preset for this data; --time-budget to change)" if budget_text is None else ""
            out.print(f"time budget {format_duration(budget)}{why}", highlight=False)
        deadline = None if budget is None else started + budget
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=out, transient=False) as progress:
            task_id = progress.add_task("searching", total=target, completed=study.n_finished())
            callback = _progress_callback(progress, task_id, study, target, deadline)
            study.optimize(trials, **run, callbacks=[callback])
        report = study.generation_report()
        if report:
            out.print(generation_table(report))
        out.print(summary_table(study, top=method.summary_top))
        note = method.after_search_note()
        if note:
            out.print(note)
        out.print(time_summary(study, started, budget), highlight=False, soft_wrap=True)
    best = study.best_trial
    mean, std, folds = estimate(best)
    spread = f" ± {std:.4f} over {folds} folds" if folds > 1 else ""
    line = f"best {study.metric} {mean:.4f}{spread} (trial {best.number}): {study.best_genotype}"
    out.print(line, highlight=False, soft_wrap=True)
    choice = study.optuna_study.user_attrs.get(attrs.ENSEMBLE)  # chosen at the end of the search
    if differs_from_best(choice, str(study.best_genotype)):
        members = ", ".join(f"{w:.2f} x {g}" for g, w in zip(choice["genotypes"], choice["weights"], strict=True))
        what = "an ensemble" if len(choice["genotypes"]) > 1 else "one candidate"
        out.print(
            f"delivered: {what}, {study.metric} {choice['score']:.4f} out of fold (best single "
            f"{choice['best_single']:.4f}): {members}",
            highlight=False,
            soft_wrap=True,
        )


search.__signature__ = _signature()  # type: ignore[attr-defined]
app.command()(user_errors(search))
