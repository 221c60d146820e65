"""A self-contained HTML report of a study: settings, generations, best architectures, figures, test scores."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automm.figures import best_score_figure, epochs_per_generation_figure, score_vs_params_figure

if TYPE_CHECKING:
    from automm.study import Study

STYLE = """
body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f2f2f2}code{background:#f6f6f6;padding:1px 4px}.arch{margin:1em 0 2em}
"""


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def write_report(study: Study, path: str | Path, top: int = 3) -> Path:
    """Write the report to ``path`` (HTML, plotly.js inlined: opens offline)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    attrs = study.optuna_study.user_attrs
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>automm study {escape(study.study_name)}"
        f"</title><style>{STYLE}</style></head><body>",
        f"<h1>automm study <code>{escape(study.study_name)}</code></h1>",
        f"<p>{escape(study.dataset.summary())}</p>",
        f"<p>Sampler <b>{escape(study.sampler_name)}</b>; metric <b>{escape(study.metric)}</b> on validation data "
        f"during search; {study.n_finished()} finished trials; multi-label threshold {study.config.threshold}.</p>",
        "<h2>Settings</h2>",
        _table([{"setting": k, "value": v} for k, v in study.config.to_dict().items()], ["setting", "value"]),
    ]
    if study.sampler_name == "ksnas":
        settings = {
            **study.ksnas.to_dict(),
            "knowledge_sharing": study.knowledge_sharing,
            **vars(study.knowledge_settings),
        }
        parts.append(_table([{"setting": k, "value": v} for k, v in settings.items()], ["setting", "value"]))
        report = study.generation_report()
        parts += [
            "<h2>Generations</h2>",
            _table(
                report, ["generation", "trials", "best", "mean", "epochs_mean", "seconds", "kb_version", "contributors"]
            ),
        ]
        cost = study.training_cost()
        parts.append(
            f"<p>Training cost: {cost['epochs']} epochs ({cost['pretrain_epochs']} of them KB pretraining), "
            f"{cost['seconds']:.1f} s.</p>"
        )
    parts.append(f"<h2>Best {top} architectures (validation)</h2>")
    for rank, genotype in enumerate(study.top_genotypes(top), start=1):
        trial = study._trial_of(genotype)
        score = trial.values[0] if trial is not None and trial.values else None
        parts.append(
            f"<div class='arch'><h3>{rank}. <code>{escape(str(genotype))}</code></h3>"
            f"<p>validation {study.metric} {_fmt(score)}, trial {trial.number if trial else '-'}, "
            f"{trial.user_attrs.get('n_params') if trial else '-'} parameters</p>"
            f"{study.space.diagram(genotype, study.dataset.view_dims, study.config.fusion_dim)}</div>"
        )
    parts.append("<h2>Test scores (best genotypes retrained on train+validation)</h2>")
    if attrs.get("retrain"):
        parts.append(_table(attrs["retrain"], ["rank", "genotype", "val", "start", "epochs", "mean", "std"]))
    elif attrs.get("evaluation"):
        ev = attrs["evaluation"]
        parts.append(
            f"<p><code>{escape(ev['genotype'])}</code>: {ev['mean']:.4f} ± {ev['std']:.4f} over "
            f"{len(ev['scores'])} seeds.</p>"
        )
    else:
        parts.append("<p>Not measured yet: run <code>automm retrain</code>.</p>")
    rows = study.trials_table()
    figures = [
        best_score_figure(rows, study.metric),
        score_vs_params_figure(rows, study.metric, study.pareto_front_numbers()),
    ]
    if study.sampler_name == "ksnas":
        figures.append(epochs_per_generation_figure(study.generation_report()))
    parts.append("<h2>Figures</h2>")
    for i, fig in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
