"""``automm search``: its options are the common ones plus every method's own (`SearchMethod.options`)."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import optuna
import typer
from rich.markup import escape
from rich.progress import Progress

from automm.cli.app import BAR_COLUMNS, app, out, steps, user_errors
from automm.cli.summary import best_lines, delivered_line, generation_table, next_steps, summary_table, time_summary
from automm.core.errors import AutommError
from automm.delivery.export import ExportedModel
from automm.methods import DEFAULT_METHOD, METHODS, MethodOption
from automm.search.budget import DEFAULT_TIME_BUDGET, format_duration, parse_duration
from automm.store.trial_record import TrialRecord
from automm.study.study import PRUNERS, Study

COMMON_OPTIONS: dict[str, tuple[Any, Any]] = {  # name -> (annotation, default)
    "dataset": (Annotated[str, typer.Option(help="Registered data set (see `automm datasets`).")], "digits"),
    "data": (
        Annotated[
            Path | None,
            typer.Option(help="Your own data: a .mat or .npz file or a folder of .npy files (overrides --dataset)."),
        ],
        None,
    ),
    "views": (
        Annotated[
            str | None,
            typer.Option(
                help="Names for the data's views, in order, comma-separated, as modality/feature "
                "(e.g. image/googlenet,text/doc2vec); views of one modality share its name before '/'. Stored."
            ),
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
    "ops": (
        Annotated[
            str | None,
            typer.Option(
                help="Fusion operators of the fusion-tree methods (ksnas, tpe, random, nsga2), comma-separated: "
                "add, mul, concat, max, avg (the default) and BM-NAS's attention, glu."
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
        Annotated[
            str | None,
            typer.Option(help="Artifact store: a folder or s3://BUCKET (default RUNS_DIR/NAME_artifacts)."),
        ],
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
    "model_dir": (
        Annotated[
            Path | None,
            typer.Option(help="Where the delivered model is exported after the search (default RUNS_DIR/NAME_model)."),
        ],
        None,
    ),
    "no_export": (
        Annotated[bool, typer.Option("--no-export", help="Search only: do not train and export the model.")],
        False,
    ),
    "quiet": (
        Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table: the result lines only.")],
        False,
    ),
}


PANELS: dict[str, tuple[str, ...]] = {  # --help groups the common options in these panels, in this order
    "Data": ("dataset", "data", "views", "data_dir"),
    "Search": ("method", "trials", "seed", "folds", "tune", "ops", "pruner", "minimize_params"),
    "Budget and workers": ("time_budget", "timeout", "jobs", "threads", "device"),
    "Storage": ("storage", "study_name", "artifact_dir", "runs_dir"),
    "Delivery": ("ensemble_size", "model_dir", "no_export"),
    "Output": ("quiet",),
}
PANEL_OF = {name: panel for panel, names in PANELS.items() for name in names}


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
    """The command's parameters: the common options in their `PANELS`, then one panel per method."""
    params = []
    for name in sorted(COMMON_OPTIONS, key=list(PANEL_OF).index):
        annotation, default = COMMON_OPTIONS[name]
        annotation.__metadata__[0].rich_help_panel = PANEL_OF[name]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    for name, (option, titles) in method_options().items():
        panel = " and ".join(titles) + " (--method " + ", ".join(_method_names(titles)) + ")"
        option_info = typer.Option(*option.flags, help=option.help, rich_help_panel=panel)
        annotation = Annotated[option.type | None, option_info]  # type: ignore[name-defined]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    return inspect.Signature(params)


def _method_names(titles: list[str]) -> list[str]:
    return [name for name, method in METHODS.items() if method.title in titles]


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
        generation, note = TrialRecord.of(trial).generation, study.method.progress_note(trial)
        if generation is not None:
            parts.insert(0, f"gen {generation}")
        if note:
            parts.append(note)
        finished, now = study.n_finished(), time.time()
        if finished > finished_before:  # ETA: this run's pace, capped by the time budget
            eta = (now - started) / (finished - finished_before) * max(0, target - finished)
            if deadline is not None:
                eta = min(eta, max(0.0, deadline - now))
            parts.append(f"ETA {format_duration(eta)}")
        progress.update(task_id, completed=finished, description=" | ".join(parts))

    return callback


def search(**kwargs: Any) -> None:
    """Search fusion architectures, then train and export the delivered model; a re-run resumes."""
    trials, timeout, quiet = kwargs.pop("trials"), kwargs.pop("timeout"), kwargs.pop("quiet")
    budget_text, jobs, threads = kwargs.pop("time_budget"), kwargs.pop("jobs"), kwargs.pop("threads")
    model_dir, no_export = kwargs.pop("model_dir"), kwargs.pop("no_export")
    if trials is not None and trials < 1:
        raise AutommError(f"--trials must be at least 1, got {trials}")
    if jobs < 1:
        raise AutommError(f"--jobs must be at least 1, got {jobs}")
    budget = None if budget_text in (None, "none") else parse_duration(budget_text)  # checked before any work
    options = {name: kwargs.pop(name) for name in method_options()}
    kwargs["minimize_params"] = kwargs["minimize_params"] or None
    if kwargs["tune"] is not None:
        kwargs["tune"] = [name.strip() for name in kwargs["tune"].split(",") if name.strip()]
    study = Study(kwargs.pop("dataset"), options=options, **kwargs)
    target = trials if trials is not None else study.default_trials
    if budget_text is None and trials is None and not study.has_preset:
        budget = DEFAULT_TIME_BUDGET
    run = {
        "timeout": timeout,
        "time_budget": budget or "none",
        "jobs": jobs,
        "threads": threads,
        "reserve_delivery": not no_export,  # the budget covers the delivery after the search
    }
    if not no_export:
        model_dir = model_dir or Path(kwargs["runs_dir"]) / f"{study.study_name}_model"
        check_model_dir(model_dir, study.study_name)  # before the search, not after it
    started = time.time()
    steps.quiet = quiet
    if quiet:
        study.optimize(trials, **run)
    else:
        _search_with_progress(study, trials, target, budget, budget_text, run)
    took = time.time() - started
    delivered, reused = None, False
    if not no_export:
        delivered, reused = deliver(study, model_dir)
    if quiet:  # the delivered model, or with --no-export the best candidate
        line = best_lines(study)[0] if delivered is None else delivered_line(study, delivered, reused)
        out.print(line, highlight=False)
        return
    delivery = None if reused or delivered is None else time.time() - started - took
    out.print(time_summary(study, started, took, budget, delivery), highlight=False)
    for line in best_lines(study):
        out.print(line, highlight=False)
    if delivered is not None:
        out.print(delivered_line(study, delivered, reused), highlight=False)
    where = {k: kwargs[k] for k in ("storage", "artifact_dir")}
    where["runs_dir"] = None if kwargs["runs_dir"] == Path("runs") else kwargs["runs_dir"]
    for line in next_steps(study, None if delivered is None else delivered.path, where):
        out.print(escape(line), highlight=False, soft_wrap=True)


def _search_with_progress(
    study: Study, trials: int | None, target: int, budget: float | None, budget_text: str | None, run: dict
) -> None:
    method = study.method
    out.print(f"[bold]{escape(study.dataset.summary())}[/bold]", highlight=False)
    described = method.describe()
    mode = f" ({described})" if described else ""
    out.print(f"sampler {method.name}{mode}, storage {study.storage_url}, device {study.device}", highlight=False)
    out.print(study.progress_line(trials), highlight=False)
    if budget is not None:
        why = " (no preset for this data; --time-budget to change)" if budget_text is None else ""
        out.print(f"time budget {format_duration(budget)}{why}", highlight=False)
    deadline = None if budget is None else time.time() + budget
    with Progress(*BAR_COLUMNS, console=out, transient=False) as progress:
        task_id = progress.add_task("searching", total=target, completed=study.n_finished())
        callback = _progress_callback(progress, task_id, study, target, deadline)
        steps.progress = progress  # KB pretraining and the ensemble's fits show here
        try:
            study.optimize(trials, **run, callbacks=[callback])
        finally:
            steps.progress = None
    report = study.generation_report()
    if report:
        out.print(generation_table(report))
    table, genotypes = summary_table(study, top=method.summary_top)
    out.print(table)
    for line in genotypes:
        out.print(line, highlight=False)
    note = method.after_search_note()
    if note:
        out.print(note)


def check_model_dir(path: Path, study_name: str) -> None:
    """Refuse a model folder that holds something other than an earlier export of this study."""
    if not path.exists():
        return
    if not path.is_dir():
        raise AutommError(f"{path} exists and is not a folder; choose another --model-dir")
    if any(path.iterdir()) and _model_meta(path).get("study") != study_name:
        raise AutommError(f"{path} is not empty and is not a model of study {study_name!r}; choose another --model-dir")


def _model_meta(path: Path) -> dict:
    """An export's ``genotype.json`` (empty when the folder holds none, or an unreadable one)."""
    try:
        return json.loads((path / "genotype.json").read_text())
    except (OSError, ValueError):
        return {}


def deliver(study: Study, model_dir: Path) -> tuple[ExportedModel, bool]:
    """Train and export the delivered model to ``model_dir``, unless it already holds this study's
    model for the same finished trials; returns (the export, reused)."""
    meta = _model_meta(model_dir)
    if meta.get("study") == study.study_name and meta.get("search_trials") == study.n_finished():
        return ExportedModel(model_dir, meta), True
    return study.deliver(model_dir, overwrite=True), False


search.__signature__ = _signature()  # type: ignore[attr-defined]
app.command()(user_errors(search))
