"""A self-contained HTML report of a study: settings, generations, best architectures, figures, test scores."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.io

from automm.core import keys
from automm.core.atomic import atomic_write
from automm.core.errors import AutommError, option
from automm.delivery.ensemble import differs_from_best
from automm.delivery.words import check_words, choice_members, finished_words, member_words
from automm.inspection.dashboard import study_figures
from automm.inspection.tables import cells, generation_columns
from automm.search import queries
from automm.search.folds import estimate
from automm.store import optuna_internals
from automm.store.trial_record import TrialRecord

if TYPE_CHECKING:  # the report reads a Study; the study module never imports this one
    from automm.study.study import Study

STYLE = """
body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f2f2f2}code{background:#f6f6f6;padding:1px 4px}.arch{margin:1em 0 2em}
"""


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    return _html_table(columns, [[_fmt(r.get(c)) for c in columns] for r in rows])


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    """Numbers rounded to what matters: whole numbers bare, scores and rates to 4 significant digits,
    larger values to one decimal (seconds, epochs)."""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


def _spread(trial: Any) -> str:
    if trial is None:
        return ""
    _, std, n = estimate(trial)
    return f" ± {std:.4f} over {n} folds" if n > 1 else ""


def _settings(values: dict[str, Any]) -> str:
    return _table([{"setting": k, "value": v} for k, v in values.items()], ["setting", "value"])


def write_report(study: Study, path: str | Path, top: int = 3, overwrite: bool = False) -> Path:
    """Write the report to ``path`` (HTML, plotly.js inlined: opens offline); an existing file needs ``overwrite``."""
    path = Path(path).expanduser()
    if path.exists() and not overwrite:
        raise AutommError(f"{path} exists; pass {option('overwrite', 'True')} to replace it")
    optuna_study, method = study.optuna_study, study.method
    attrs_ = optuna_study.user_attrs
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>automm study {escape(study.study_name)}"
        f"</title><style>{STYLE}</style></head><body>",
        f"<h1>automm study <code>{escape(study.study_name)}</code></h1>",
        f"<p>{escape(study.dataset.summary())}</p>",
        f"<p>Sampler <b>{escape(method.name)}</b>; metric <b>{escape(study.metric)}</b> on validation data "
        f"during search; {study.n_finished()} finished trials"
        + (f"; multi-label threshold {study.config.threshold}" if study.dataset.task == "multilabel" else "")
        + ".</p>",
        "<h2>Settings</h2>",
        "<h3>Training and search (every method)</h3>",
        _settings(study.config.to_dict()),
    ]
    method_settings = method.settings_rows()
    if method_settings:
        parts += [f"<h3>{escape(method.title)}</h3>", _settings(method_settings)]
    generations = queries.generation_report(optuna_study, method)
    if generations:
        parts += ["<h2>Generations</h2>", _html_table(*cells(generation_columns(generations), generations))]
        cost = study.training_cost()
        parts.append(
            f"<p>Training cost: {cost['epochs']} epochs ({cost['pretrain_epochs']} of them KB pretraining, "
            f"{cost['finishing_epochs']} finishing chosen members), {cost['seconds']:.1f} s.</p>"
        )
    parts.append(f"<h2>Best {top} architectures (validation)</h2>")
    for rank, genotype in enumerate(study.top_genotypes(top), start=1):
        trial = queries.trial_of(optuna_study, genotype)
        score = trial.values[0] if trial is not None and trial.values else None
        diagram = study.diagram(genotype)
        parts.append(
            f"<div class='arch'><h3>{rank}. <code>{escape(str(genotype))}</code></h3>"
            f"<p>validation {study.metric} {_fmt(score)}{_spread(trial)}, trial {trial.number if trial else '-'}, "
            f"{TrialRecord.of(trial).n_params if trial else '-'} parameters</p>{diagram}</div>"
        )
    ensemble = attrs_.get(keys.ENSEMBLE)
    if differs_from_best(ensemble, str(study.best_genotype)):
        parts.append(
            f"<h2>The delivered model</h2><p>Greedy selection over out-of-fold predictions of "
            f"{ensemble['rows']} search rows: {study.metric} {_fmt(ensemble['score'])} (best single "
            f"{_fmt(ensemble['best_single'])}).</p>"
        )
        checked = check_words(ensemble)
        if checked:
            parts.append(f"<p>Checked: {escape(checked)}.</p>")
        finished = finished_words(ensemble)
        if finished:
            parts.append(f"<p>Finished: {escape(finished)}.</p>")
        linear = optuna_internals.study_system_attrs(study.optuna_study).get(keys.LINEAR) or {}
        members = choice_members(ensemble, len(study.fold_data), linear.get("c"))
        for member, number in zip(members, ensemble["trials"], strict=True):
            genotype = member["genotype"]
            diagram = study.diagram(study.final.parse(genotype))
            origin = f"trial {number}" if number is not None else "fitted on the search folds, not a trial"
            parts.append(
                f"<div class='arch'><h3>weight {member['weight']:.2f}: {escape(member_words(member))}</h3>"
                f"<p><code>{escape(genotype)}</code>, {origin}</p>{diagram}</div>"
            )
    parts.append("<h2>Test scores (best genotypes retrained on train+validation)</h2>")
    if attrs_.get(keys.RETRAIN):
        parts.append(_table(attrs_[keys.RETRAIN], ["rank", "genotype", "val", "start", "epochs", "mean", "std"]))
    elif attrs_.get(keys.EVALUATION):
        ev = attrs_[keys.EVALUATION]
        parts.append(
            f"<p><code>{escape(ev['genotype'])}</code>: {ev['mean']:.4f} ± {ev['std']:.4f} over "
            f"{len(ev['scores'])} seeds.</p>"
        )
    else:
        parts.append("<p>Not measured yet: run <code>automm retrain</code>.</p>")
    parts.append("<h2>Figures</h2>")
    for i, fig in enumerate(study_figures(optuna_study, study.metric, structure=method.structure_words).values()):
        parts.append(plotly.io.to_html(fig, full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    html = "\n".join(parts)
    return atomic_write(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
