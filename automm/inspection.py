"""What optuna-dashboard shows of a study: trial diagrams, a study note, figures.

`Inspector.attach_diagram` runs inside each trial (a finished trial takes no new artifacts):
it uploads the trial's fusion diagram as an SVG artifact; the learning curve is the per-epoch
validation values the objective reports. Called after each trial, the inspector rewrites the
study note (one row per generation: best, mean, epochs, KB version) and the plotly figures
when a KS-NAS generation completes; `refresh` does it at the end of a search.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.artifacts import upload_artifact
from optuna_dashboard import save_note, save_plotly_graph_object

from automm.figures import best_score_figure, epochs_per_generation_figure, score_vs_params_figure

if TYPE_CHECKING:
    from automm.study import Study

DIAGRAM_ATTR = "diagram_artifact"


def study_note(study: Study) -> str:
    """Markdown: data set, settings, generations, KB versions, best trials, test scores."""
    lines = [f"# automm study `{study.study_name}`", "", study.dataset.summary(), ""]
    lines.append(f"Sampler **{study.sampler_name}**, metric **{study.metric}** (validation during search).")
    if study.sampler_name == "ksnas":
        ks = study.ksnas
        lines.append(
            f"N = {ks.population_size}, T = {ks.generations}, knowledge sharing "
            f"{'on' if study.knowledge_sharing else 'off'}."
        )
    report = study.generation_report()
    if report:
        lines += [
            "",
            "| generation | trials | best | mean | epochs/individual | train s | KB | into next KB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in report:
            kb = "-" if r["kb_version"] is None else f"v{r['kb_version']}"
            lines.append(
                f"| {r['generation']} | {r['trials']} | {r['best']:.4f} | {r['mean']:.4f} | "
                f"{r['epochs_mean']:.1f} | {r['seconds']:.1f} | {kb} | {r['contributors']} |"
            )
    versions = study.kb_versions()
    if versions:
        lines += [
            "",
            "Knowledge-base versions: "
            + ", ".join(f"v{p['version']} ({p['bytes'] / 1e6:.2f} MB, sha256 {p['sha256'][:10]})" for p in versions),
        ]
    top = study.trials_table(top=5)
    if top:
        lines += ["", "| trial | score | genotype | params | epochs |", "|---|---|---|---|---|"]
        lines += [
            f"| {r['number']} | {r['value'] if r['value'] is None else round(r['value'], 4)} | "
            f"`{r['genotype']}` | {r['n_params']} | {r['epochs']} |"
            for r in top
        ]
    evaluation = study.optuna_study.user_attrs.get("evaluation")
    if evaluation:
        lines += [
            "",
            f"Test {evaluation['metric']} of `{evaluation['genotype']}` retrained on train+validation: "
            f"{evaluation['mean']:.4f} ± {evaluation['std']:.4f} over {len(evaluation['scores'])} seeds.",
        ]
    return "\n".join(lines)


class Inspector:
    """Keeps a study inspectable in optuna-dashboard (see module docstring)."""

    def __init__(self, study: Study) -> None:
        self.study = study

    def __call__(self, optuna_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        generation = trial.user_attrs.get("generation")
        if generation is not None and trial.state == optuna.trial.TrialState.COMPLETE:
            done = sum(
                1
                for t in optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if t.user_attrs.get("generation") == generation
            )
            if done == self.study.ksnas.population_size:
                self.refresh()

    def attach_diagram(self, trial: optuna.Trial, genotype: Any) -> str:
        """Upload ``genotype``'s SVG diagram as an artifact of the running ``trial``."""
        svg = self.study.space.diagram(genotype, self.study.dataset.view_dims, self.study.config.fusion_dim)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"trial{trial.number}_fusion.svg"
            path.write_text(svg)
            artifact_id = upload_artifact(
                artifact_store=self.study.artifact_store,
                file_path=str(path),
                study_or_trial=trial,
                mimetype="image/svg+xml",
            )
        trial.set_user_attr(DIAGRAM_ATTR, artifact_id)
        return artifact_id

    def refresh(self) -> None:
        """Rewrite the study note and figures from the current trials."""
        study = self.study
        save_note(study.optuna_study, study_note(study))
        rows = study.trials_table()
        figures: dict[str, Any] = {
            "automm-best-score": best_score_figure(rows, study.metric),
            "automm-score-vs-params": score_vs_params_figure(rows, study.metric, study.pareto_front_numbers()),
        }
        report = study.generation_report()
        if report:
            figures["automm-epochs-per-generation"] = epochs_per_generation_figure(report)
        for graph_id, fig in figures.items():
            save_plotly_graph_object(study.optuna_study, fig, graph_object_id=graph_id)
