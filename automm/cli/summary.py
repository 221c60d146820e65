"""What ``automm search`` prints when it ends: tables, the delivered model, the time taken, what next."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from rich.table import Table

from automm.core import keys
from automm.delivery.ensemble import differs_from_best
from automm.delivery.export import ExportedModel
from automm.delivery.words import check_words, delivery_words, finished_words, member_words
from automm.inspection.tables import breakable, cells, generation_columns
from automm.search import queries
from automm.search.budget import format_duration
from automm.search.folds import estimate
from automm.study.study import Study


def time_summary(study: Study, started: float, took: float, budget: float | None, delivery: float | None) -> str:
    """How long the search took, why it stopped, what the best score did over the time, and how
    long delivering the model took."""
    line = f"search took {format_duration(took)}"
    if delivery is not None:
        line += f", delivering the model {format_duration(delivery)}"
    if budget is not None:
        stopped = study.last_budget is not None and study.last_budget.stopped_by_budget
        line += f": {format_duration(took + (delivery or 0.0))} of a {format_duration(budget)} budget" + (
            " (the search stopped where the next generation or trial, and the delivery after it, would not have fitted)"
            if stopped
            else ""
        )
    curve = queries.best_over_time(study.optuna_study, since=started)
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
    headers, rows = cells(generation_columns(report), report)
    for col in headers:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    return table


def summary_table(study: Study, top: int = 5) -> tuple[Table, list[str]]:
    """The top trials as a table of numbers, and their genotypes as lines below it (``#38: add(...)``):
    a genotype wraps between names at any width, where a table cell would fold inside one."""
    table = Table(
        title=f"study {study.study_name}: top {top} of {study.n_finished()} trials ({study.metric}, validation)"
    )
    rows = study.trials_table(top)
    for col in ("#", study.metric, "params", "epochs", "seconds"):
        table.add_column(col, overflow="fold")
    lines = []
    for row in rows:
        value = "pruned" if row["value"] is None or row["state"] == "PRUNED" else f"{row['value']:.4f}"
        if row["folds"] > 1:
            value += f" ± {row['std']:.4f} ({row['folds']} folds{', raced out' if row['raced_out'] else ''})"
        number = str(row["number"]) + (f" (+{row['repeats']} repeats)" if row["repeats"] else "")
        table.add_row(number, value, str(row["n_params"]), str(row["epochs"]), f"{row['seconds'] or 0:.1f}")
        lines.append(f"#{row['number']}: {breakable(str(row['genotype']))}")
    return table, lines


def best_lines(study: Study) -> list[str]:
    """The best candidate on validation and, when the delivered choice differs, that choice."""
    best = study.best_trial
    mean, std, folds = estimate(best)
    spread = f" ± {std:.4f} over {folds} folds" if folds > 1 else ""
    lines = [f"best {study.metric} {mean:.4f}{spread} (trial {best.number}, validation): {study.best_genotype}"]
    choice = study.optuna_study.user_attrs.get(keys.ENSEMBLE)  # chosen at the end of the search
    if differs_from_best(choice, str(study.best_genotype)):
        members = ", ".join(f"{w:.2f} x {g}" for g, w in zip(choice["genotypes"], choice["weights"], strict=True))
        what = "an ensemble" if len(choice["genotypes"]) > 1 else member_words({"genotype": choice["genotypes"][0]})
        lines.append(
            f"chosen for delivery: {what}, {study.metric} {choice['score']:.4f} out of fold (best single "
            f"{choice['best_single']:.4f}): {members}"
        )
        checked = check_words(choice)
        if checked:
            lines.append(f"checked: {checked}")
    finished = finished_words(choice)
    if finished:
        lines.append(f"finished: {finished}")
    return [breakable(line) for line in lines]


def delivered_line(study: Study, exported: ExportedModel, reused: bool) -> str:
    """The exported model: what it is, where, and its score on the test rows the search never saw."""
    path, meta = exported.path, exported.meta
    what = delivery_words(meta["members"])
    score = meta["test_metrics"][study.metric]
    again = " (unchanged since the last run)" if reused else ""
    line = f"delivered model{again}: {what} in {path}; test {study.metric} {score:.4f} (rows unseen by the search)"
    return breakable(line)


def next_steps(study: Study, model_dir: Path | None, where: dict[str, Any]) -> list[str]:
    """Commands that go on from here, with this study's name and storage flags."""
    flags = f"--study {shlex.quote(study.study_name)}"
    for name, value in where.items():
        if value is not None:
            flags += f" --{name.replace('_', '-')} {shlex.quote(str(value))}"
    steps = [
        (f"automm report {flags} --out report.html", "an HTML summary"),
        (f"automm dashboard {flags}", "every trial in optuna-dashboard"),
        (f"automm retrain {flags} --top 3", "test scores of the best over 5 seeds"),
    ]
    if model_dir is not None:
        load = f"import automm; print(automm.load_model({json.dumps(str(model_dir))}))"
        steps.append((f"python -c {shlex.quote(load)}", "load the model (then .predict(views))"))
    else:
        steps.append((f"automm export {flags} --out model", "train and export the delivered model"))
    return ["next:", *(line for command, why in steps for line in (f"  # {why}", f"  {command}"))]
