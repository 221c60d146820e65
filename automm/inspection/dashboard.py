"""What optuna-dashboard shows of a study: trial diagrams, a study note, figures.

`Inspector.attach_diagram` runs inside each trial (a finished trial takes no new artifacts):
it uploads the trial's architecture diagram as an SVG artifact and writes the trial's note, which
the dashboard shows first on the trial's page: the genotype and what it is made of, in words
(the trial's parameters are the sampler's encoding). The learning curve is the per-epoch
validation values the objective reports. Called after each trial, the inspector
rewrites the study note (one row per generation: best, mean, epochs, KB version) and the
plotly figures when a generation completes; `refresh` does it at the end of a search.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import optuna
from optuna_dashboard import save_note, save_plotly_graph_object

try:  # how optuna-dashboard stores notes and figures: written here in one transaction, not one a chunk
    from optuna_dashboard._custom_plot_data import SYSTEM_ATTR_PLOT_DATA, split_plot_data
    from optuna_dashboard._note import note_str_key_prefix, note_ver_key, split_body
except ImportError:  # pragma: no cover - another optuna-dashboard: its public savers, a write a chunk
    split_body = None

from automm.core import keys
from automm.delivery.ensemble import differs_from_best
from automm.delivery.words import check_words, choice_members, finished_words, member_words
from automm.inspection.figures import Figure, best_score_figure, epochs_per_generation_figure, score_vs_params_figure
from automm.inspection.importance import architecture_features, importance_figure, importance_rows
from automm.inspection.tables import generation_columns, markdown
from automm.search import queries
from automm.store import optuna_internals
from automm.store.artifacts import write_bytes
from automm.store.trial_record import TrialRecord, as_attrs

if TYPE_CHECKING:  # reporting reads what methods and the study give it; it imports neither
    from automm.data.dataset import MultimodalDataset
    from automm.methods.base import SearchMethod


def study_note(study: optuna.Study, method: SearchMethod, dataset_summary: str, metric: str) -> str:
    """Markdown: data set, method and settings, generations, best trials, test scores."""
    lines = [f"# automm study `{study.study_name}`", "", dataset_summary, ""]
    lines.append(f"Sampler **{method.name}**, metric **{metric}** (validation during search).")
    lines += method.note_lines(study)
    report = queries.generation_report(study, method)
    if report:
        lines += ["", *markdown(generation_columns(report), report)]
    top = queries.trials_table(study, top=5)
    if top:
        lines += ["", "| trial | score | genotype | params | epochs |", "|---|---|---|---|---|"]
        lines += [
            f"| {r['number']} | {r['value'] if r['value'] is None else round(r['value'], 4)} | "
            f"`{r['genotype']}` | {r['n_params']} | {r['epochs']} |"
            for r in top
        ]
    ensemble = study.user_attrs.get(keys.ENSEMBLE)
    best = queries.best_trial(study) if queries.candidates(study) else None
    if best is not None and differs_from_best(ensemble, str(TrialRecord.of(best).genotype)):
        lines += [
            "",
            f"Delivered ({metric} {ensemble['score']:.4f} out of fold, best single {ensemble['best_single']:.4f}):",
        ]
        checked = check_words(ensemble)
        if checked:
            lines += [f"Checked: {checked}.", ""]
        finished = finished_words(ensemble)
        if finished:
            lines += [f"Finished: {finished}.", ""]
        folds = TrialRecord.of(best).folds or 1
        linear = optuna_internals.study_system_attrs(study).get(keys.LINEAR) or {}
        members = choice_members(ensemble, folds, linear.get("c"))
        lines += [f"- {m['weight']:.2f} x {member_words(m)} (`{m['genotype']}`)" for m in members]
    evaluation = study.user_attrs.get(keys.EVALUATION)
    if evaluation:
        lines += [
            "",
            f"Test {evaluation['metric']} of `{evaluation['genotype']}` retrained on train+validation: "
            f"{evaluation['mean']:.4f} ± {evaluation['std']:.4f} over {len(evaluation['scores'])} seeds.",
        ]
    return "\n".join(lines)


def trial_note(
    genotype: str, views: list[str], baseline: str | None = None, structure: Mapping[str, str | None] | None = None
) -> str:
    """Markdown for a trial's page: the genotype, its views, its fusion steps and searched settings
    (``structure``: the method's `SearchMethod.structure_words`)."""
    architecture, _, settings = genotype.partition(" | ")
    features = architecture_features(genotype, views, structure or {})
    used = [v for v in views if features.get(f"uses {v}")]
    steps = {k[: -len(" steps")]: int(n) for k, n in features.items() if k.endswith(" steps") and k != "fusion steps"}
    lines = [f"### `{architecture}`", ""]
    if baseline:
        lines.append(f"A first try: **{baseline}**.")
        lines.append("")
    lines.append(f"- views: {len(used)} of {len(views)} ({', '.join(used) or 'none'})")
    counted = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in steps.items())
    lines.append(f"- fusion steps: {sum(steps.values())}" + (f" ({counted})" if counted else ""))
    if settings:
        lines.append(f"- searched settings: {settings}")
    lines += ["", "The diagram is this trial's SVG artifact; the parameters below encode the genotype for the sampler."]
    return "\n".join(lines)


def study_figures(
    study: optuna.Study, metric: str, importance: bool = True, structure: Mapping[str, str | None] | None = None
) -> dict[str, Figure]:
    """The plotly figures of a study (`automm.inspection.figures.Figure`), by graph id (``importance``:
    with the architecture importance over readable features; ``structure``: the method's
    `SearchMethod.structure_words`)."""
    rows = queries.trials_table(study, repeats=True)
    figures: dict[str, Figure] = {
        "automm-best-score": best_score_figure(rows, metric),
        "automm-score-vs-params": score_vs_params_figure(rows, metric, queries.pareto_front_numbers(study)),
    }
    report = queries.generation_report(study)
    if report:
        figures["automm-epochs-per-generation"] = epochs_per_generation_figure(report)
    views = list(study.user_attrs.get(keys.META, {}).get("views", {}))
    once = queries.trials_table(study)  # each candidate once
    ranked = importance_rows(once, views, structure=structure or {}) if importance else []
    if ranked:
        figures["automm-architecture-importance"] = importance_figure(ranked, metric)
    return figures


class Inspector:
    """Keeps a study inspectable in optuna-dashboard (see module docstring)."""

    def __init__(
        self,
        study: optuna.Study,
        method: SearchMethod,
        dataset: MultimodalDataset,
        metric: str,
        artifact_store: Any,
        draw: Callable[[Any], str],
    ) -> None:
        """``draw(genotype)``: the SVG diagram of a candidate (`Study.diagram`)."""
        self.study = study
        self.method = method
        self.dataset = dataset
        self.metric = metric
        self.artifact_store = artifact_store
        self.draw = draw

    def __call__(self, optuna_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        generation = TrialRecord.of(trial).generation
        size = self.method.generation_size
        if generation is None or size is None or trial.state != optuna.trial.TrialState.COMPLETE:
            return
        done = sum(1 for t in queries.completed(optuna_study) if TrialRecord.of(t).generation == generation)
        if done == size:
            self.refresh(importance=False)  # that figure's forest is fitted once, at the end of a run

    def attach_diagram(self, trial: optuna.Trial, genotype: Any) -> str:
        """Upload ``genotype``'s SVG diagram as an artifact of the running ``trial`` and write its note."""
        user_attrs = trial.user_attrs
        record_so_far = TrialRecord.of(trial)
        note = trial_note(str(genotype), self.dataset.view_names, record_so_far.first_try, self.method.structure_words)
        extra = self.method.trial_lines(user_attrs)
        if extra:
            note += "\n\n" + "\n".join(extra)
        svg = self.draw(genotype).encode()
        artifact_id = write_bytes(self.artifact_store, svg)
        listing = optuna_internals.artifact_listing(artifact_id, f"trial{trial.number}_fusion.svg", "image/svg+xml")
        optuna_internals.set_attrs_together(trial, user=as_attrs(diagram=artifact_id), system=listing)
        if split_body is None:
            save_note(trial, note)
        else:  # a new trial's note is its version 1: nothing older to read or clear
            trial_id = optuna_internals.trial_id(trial)
            attrs = {note_ver_key(trial_id): 1, **split_body(note, trial_id)}
            optuna_internals.set_study_system_attrs_together(trial.study, attrs, trial=trial)
        return artifact_id

    def refresh(self, importance: bool = True) -> None:
        """Rewrite the study note and figures from the current trials (``importance``: that figure too)."""
        note = study_note(self.study, self.method, self.dataset.summary(), self.metric)
        figures = study_figures(self.study, self.metric, importance, self.method.structure_words)
        if split_body is None:
            save_note(self.study, note)
            import plotly.graph_objects as go  # its saver takes a figure object

            for graph_id, fig in figures.items():
                save_plotly_graph_object(self.study, go.Figure(fig), graph_object_id=graph_id)
            return
        stored = optuna_internals.study_system_attrs(self.study)  # read once: versions and older chunks
        attrs: dict[str, Any] = {note_ver_key(None): stored.get(note_ver_key(None), 0) + 1, **split_body(note, None)}
        attrs |= _cleared(stored, note_str_key_prefix(None), len(attrs) - 1)
        for graph_id, fig in figures.items():
            prefix = f"{SYSTEM_ATTR_PLOT_DATA}{graph_id}:"
            chunks = split_plot_data(json.dumps(fig), prefix)
            attrs |= chunks | _cleared(stored, prefix, len(chunks))
        optuna_internals.set_study_system_attrs_together(self.study, attrs)


def _cleared(stored: Mapping[str, Any], prefix: str, kept: int) -> dict[str, str]:
    """Empty the chunks ``prefix``N, N >= ``kept``, of an older and longer note or figure (as
    optuna-dashboard's own savers do)."""
    older = sum(1 for key in stored if key.startswith(prefix))
    return {f"{prefix}{i}": "" for i in range(kept, older)}
