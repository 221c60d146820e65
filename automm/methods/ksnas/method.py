"""KS-NAS as a `SearchMethod`: evolution over the fusion-tree space, warm starts from the knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import optuna
import torch
from torch import nn

from automm.core import keys
from automm.core.device import seed_torch
from automm.engine.training import TensorData
from automm.methods.base import MethodOption, SearchContext, SearchMethod, TrialHooks
from automm.methods.ksnas.diagram import genotype_svg
from automm.methods.ksnas.knowledge import KnowledgeBase, KnowledgeBuilder, kb_versions, pretrain_supernet, warm_start
from automm.methods.ksnas.knowledge_hooks import KnowledgeHooks
from automm.methods.ksnas.model import Supernet, build_fusion_net
from automm.methods.ksnas.sampler import KSNASSampler, trial_generation
from automm.methods.ksnas.settings import KnowledgeSettings, KSNASSettings
from automm.methods.ksnas.space import FusionNode, Genotype, SearchSpace
from automm.settings import SearchConfig, TrainConfig


class FusionTreeMethod(SearchMethod):
    """What every method over the KS-NAS fusion-tree space shares: space, network, diagram."""

    family = "ksnas"
    uses_ops = True
    keeps_fold_networks = True

    def make_space(self, view_names: tuple[str, ...], config: SearchConfig) -> SearchSpace:
        return SearchSpace(view_names, config.max_views, config.ops)

    def build_net(
        self, space: SearchSpace, genotype: Genotype, view_dims: dict[str, int], n_outputs: int, config: SearchConfig
    ) -> nn.Module:
        return build_fusion_net(genotype, view_dims, n_outputs, config.fusion_dim, config.dropout)

    def baseline_genotypes(self, space: SearchSpace, ranked_views: list[str]) -> list[tuple[str, Genotype]]:
        """The best single view; concatenation of the best ``max_views`` views into the head; and late
        fusion: their per-view encodings summed, so the linear head's logits are the sum of per-view logits."""
        views = [v for v in ranked_views if v in space.view_names][: space.max_views]
        out = [("best view", Genotype((views[0],)))]
        for name, op in (("concatenation", "concat"), ("late fusion", "add")):
            if len(views) > 1 and op in space.ops:
                out.append((name, _chain(views, op)))
        return out

    @classmethod
    def net_from_export(cls, meta: dict[str, Any]) -> nn.Module:
        genotype = Genotype.from_string(meta["genotype"])
        n_out = len(meta["class_names"])
        return build_fusion_net(genotype, meta["view_dims"], n_out, int(meta["fusion_dim"]), float(meta["dropout"]))

    def diagram(self, space: SearchSpace, genotype: Genotype, view_dims: dict[str, int], config: SearchConfig) -> str:
        return genotype_svg(genotype, view_dims, config.fusion_dim)

    def adopt_inputs(self, net: nn.Module, maps: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> bool:
        """Each view enters a `FusionNet` through ``align.<view>``'s Linear layer: W x + b with x = a z + c
        is (W diag(a)) z + (W c + b)."""
        align = getattr(net, "align", None)
        if align is None:
            return False
        with torch.no_grad():
            for view, (scale, shift) in maps.items():
                if view not in align:
                    continue
                layer = align[view][0]
                layer.bias.add_(layer.weight @ shift.to(layer.weight))
                layer.weight.mul_(scale.to(layer.weight))
        return True


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def _chain(views: list[str], op: str) -> Genotype:
    """``op(op(v0, v1), v2)...``: every view fused by one operator."""
    k = len(views)
    nodes = [FusionNode(0, 1, op)] + [FusionNode(k + j - 1, j + 1, op) for j in range(1, k - 1)]
    return Genotype(tuple(views), tuple(nodes))


class KSNASMethod(FusionTreeMethod):
    """KS-NAS: roulette wheel, adaptive crossover and mutation, elitist selection, a shared KB."""

    name = "ksnas"
    title = "KS-NAS"
    sections: ClassVar[dict[str, Any]] = {
        "ksnas": KSNASSettings,
        "knowledge_sharing": True,
        "knowledge": KnowledgeSettings,
    }
    options = (
        MethodOption("population", ("--population",), "ksnas", "population_size", int, "Population size N."),
        MethodOption("generations", ("--generations",), "ksnas", "generations", int, "Generations T; trials N x T."),
        MethodOption(
            "surrogate_pool",
            ("--surrogate-pool",),
            "ksnas",
            "surrogate_pool",
            int,
            "Breed this many offspring per slot; the surrogate picks one.",
        ),
        MethodOption(
            "knowledge_sharing",
            ("--knowledge-sharing/--no-knowledge-sharing",),
            "knowledge_sharing",
            None,
            bool,
            "Warm starts from the KB.",
        ),
        MethodOption(
            "fair_selection",
            ("--fair-selection/--no-fair-selection",),
            "knowledge",
            "fair_selection",
            bool,
            "Only individuals beating the worst parent feed the KB.",
        ),
        MethodOption("kb_epochs", ("--kb-epochs",), "knowledge", "kb_epochs", int, "Most supernet pretraining epochs."),
        MethodOption(
            "kb_patience",
            ("--kb-patience",),
            "knowledge",
            "kb_patience",
            int,
            "Pretraining stops after this many epochs without a better holdout loss.",
        ),
    )

    def make_space(self, view_names: tuple[str, ...], config: SearchConfig) -> SearchSpace:
        return SearchSpace(view_names, config.max_views, config.ops, readable=self.evolution.readable_params)

    @property
    def evolution(self) -> KSNASSettings:
        return self.settings["ksnas"]

    @property
    def knowledge(self) -> KnowledgeSettings:
        return self.settings["knowledge"]

    @property
    def knowledge_sharing(self) -> bool:
        return bool(self.settings["knowledge_sharing"])

    def make_sampler(self, space: SearchSpace, seed: int, n_existing: int, lock_dir: Path | None) -> KSNASSampler:
        # every trial's randomness comes from (seed, trial number): a resumed study continues exactly
        return KSNASSampler(space, self.evolution, seed=seed, lock_dir=lock_dir)

    def default_trials(self, space: SearchSpace, preset_trials: int) -> int:
        return self.evolution.population_size * self.evolution.generations

    @property
    def generation_size(self) -> int:
        return self.evolution.population_size

    def trials_to_boundary(self, optuna_study: optuna.Study) -> int:
        """Completed individuals the newest generation still lacks (0: it is complete)."""
        trials = optuna_study.get_trials(deepcopy=False)
        generations = [g for g in map(trial_generation, trials) if g is not None]
        if not generations:
            return 0
        newest = max(generations)
        complete = sum(
            1 for t in trials if t.state == optuna.trial.TrialState.COMPLETE and trial_generation(t) == newest
        )
        return max(0, self.evolution.population_size - complete)

    def is_done(self, optuna_study: optuna.Study) -> bool:
        """Whether generation T-1 holds N completed individuals."""
        last = self.evolution.generations - 1
        complete = optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        return sum(1 for t in complete if (trial_generation(t) or 0) >= last) >= self.evolution.population_size

    def cap_schedule(self, sampler: KSNASSampler, capped: bool) -> None:
        sampler.last_generation = self.evolution.generations - 1 if capped else None

    def time_budget_mode(self, sampler: KSNASSampler, under_time_budget: bool) -> None:
        """Under a time budget the best warm-started parent of each generation is confirmed from scratch
        (`KnowledgeSettings.confirm_best`)."""
        sampler.confirm_best = under_time_budget and self.knowledge_sharing and self.knowledge.confirm_best

    def finishes_members(self, under_time_budget: bool) -> bool:
        """As `KnowledgeSettings.finish_members` says (``budget``: under a time budget only)."""
        mode = self.knowledge.finish_members
        return self.knowledge_sharing and (mode == "always" or (mode == "budget" and under_time_budget))

    @classmethod
    def legacy_settings(cls, stored: dict[str, Any], preset: Any) -> dict[str, Any]:
        """A study stored before per-fold KBs kept one KB for fold 0, one stored before epoch racing
        trained every warm start to its patience (one stored before racing on one split did so on one
        split, one stored before confirmations reused warm results of repeats under a time budget too),
        and one stored before KB versions were bounded kept
        every version in float32, one stored before pretraining stopped early pretrained for all kb_epochs,
        and one stored before readable parameters stored genes: it resumes that way."""
        out = super().legacy_settings(stored, preset)
        evolution = stored.get("ksnas")
        if isinstance(evolution, dict) and "readable_params" not in evolution:  # stored its genes
            out["ksnas"] = {**evolution, "readable_params": False}
        knowledge = stored.get("knowledge")
        if isinstance(knowledge, dict):
            earlier = {
                "every_fold": False,
                "race_epochs": False,
                "stored_dtype": "float32",
                "prune_versions": False,
                "kb_patience": None,
                "retrain_repeats": True,
                "race_one_split": False,
                "confirm_repeats": False,
                "confirm_best": False,
            }
            before = {k: v for k, v in earlier.items() if k not in knowledge}
            if before:
                out["knowledge"] = {**knowledge, **before}
        return out

    def _knowledge_base(
        self, context: SearchContext, builder: KnowledgeBuilder | None = None, fold: int = 0
    ) -> KnowledgeBase:
        return KnowledgeBase(
            context.optuna_study,
            context.artifact_store,
            self.knowledge,
            lock_dir=context.lock_dir,
            builder=builder,
            fold=fold,
        )

    def hooks(self, context: SearchContext, space: SearchSpace, train: TensorData) -> TrialHooks:
        """One KB per fold (`KnowledgeSettings.every_fold`, K > 1 folds), each pretrained on its fold's
        training rows (``train`` is fold 0's) with its own seed, else fold 0's KB alone."""
        if not self.knowledge_sharing:
            return KnowledgeHooks(None)
        study, dataset, config = context.optuna_study, context.dataset, context.config
        sampler = study.sampler
        n_kbs = len(context.folds) if self.knowledge.every_fold else 1

        def builder(fold: int) -> KnowledgeBuilder:
            seed = context.seed if fold == 0 else context.seed + 7919 * fold  # fold 0: as with one KB
            rows = train if fold == 0 else context.folds.tensors(fold)[0]

            def make_supernet() -> Supernet:
                seed_torch(seed)
                net = Supernet(
                    dataset.view_dims, dataset.n_classes, config.fusion_dim, space.max_views, config.dropout, space.ops
                )
                return net.to(context.device)

            return KnowledgeBuilder(
                make_supernet=make_supernet,
                pretrain=lambda net: pretrain_supernet(
                    net,
                    space,
                    rows,
                    dataset.task,
                    config.train_config(),
                    epochs=self.knowledge.kb_epochs,
                    seed=seed,
                    patience=self.knowledge.kb_patience,
                ),
                population_size=self.evolution.population_size,
                parents_of=lambda g: sampler.get_parent_population(study, g),  # type: ignore[attr-defined]
            )

        kbs = [self._knowledge_base(context, builder(k), fold=k) for k in range(n_kbs)]
        return KnowledgeHooks(kbs, config.fusion_dim, patience=config.patience)

    def warm_folds(self, trial: optuna.trial.FrozenTrial) -> int:
        if not self.warm_started(trial):
            return 0
        return int(trial.user_attrs.get(keys.KB_FOLDS, 1))

    def warm_started(self, trial: optuna.trial.FrozenTrial) -> bool:
        return keys.KB_VERSION in trial.user_attrs

    def final_start(
        self, context: SearchContext, trial: optuna.trial.FrozenTrial, fold: int = 0
    ) -> dict[str, torch.Tensor] | None:
        if not self.warm_started(trial) or fold >= self.warm_folds(trial):
            return None
        kb, version = self._knowledge_base(context, fold=fold), int(trial.user_attrs[keys.KB_VERSION])
        if not kb.available(version):  # pruned: the trial left the delivery pool
            return None
        state, _ = kb.load(version)
        return state

    def warm_train_config(self, config: TrainConfig) -> TrainConfig:
        return self.knowledge.warm_config(config)

    def warm_start(self, net: nn.Module, state: dict[str, torch.Tensor]) -> None:
        warm_start(net, state)  # type: ignore[arg-type]

    def scratch_epochs_floor(self) -> int:
        """The KB's pretraining length: what KS-NAS allows random weights to become a useful start."""
        return self.knowledge.kb_epochs if self.knowledge_sharing else 0

    def describe(self) -> str:
        ks = "on" if self.knowledge_sharing else "off"
        return f"N={self.evolution.population_size}, T={self.evolution.generations}, knowledge sharing {ks}"

    def plan(self, n_trials: int) -> str:
        n, t = self.evolution.population_size, self.evolution.generations
        full, part = divmod(n_trials, n)
        each = f"{n} trials" + " each" * (full > 1)
        covered = f"generation{'s' * (full > 1)} {_span(0, full - 1)} ({each})" if full else ""
        if part:
            covered += f"{' and ' if full else ''}{part} of {n} trials of generation {full}"
        if n_trials == n * t:
            return f"{covered}: the full search"
        return f"{covered}; the full search is {t} generation{'s' * (t > 1)}, {n * t} trials"

    def trial_columns(self, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        # confirms: the earlier warm-started trial of the genotype this one trained again from scratch
        return {"kb_version": trial.user_attrs.get(keys.KB_VERSION), "confirms": trial.user_attrs.get(keys.CONFIRMS)}

    def generation_columns(self, trials: list[optuna.trial.FrozenTrial]) -> dict[str, str]:
        # a reused result keeps the older version its weights started from: the generation's is the newest
        versions = [int(t.user_attrs[keys.KB_VERSION]) for t in trials if keys.KB_VERSION in t.user_attrs]
        version = max(versions) if versions else None
        return {
            "KB": "-" if version is None else f"v{version}",
            "into next KB": str(sum(bool(t.user_attrs.get(keys.KB_CONTRIBUTES)) for t in trials)),
        }

    def progress_note(self, trial: optuna.trial.FrozenTrial) -> str | None:
        version = trial.user_attrs.get(keys.KB_VERSION)
        return None if version is None else f"KB v{version}"

    def note_lines(self, optuna_study: optuna.Study) -> list[str]:
        lines = [
            f"N = {self.evolution.population_size}, T = {self.evolution.generations}, knowledge sharing "
            f"{'on' if self.knowledge_sharing else 'off'}."
        ]
        versions = kb_versions(optuna_study)
        if versions:
            sizes = [f"v{p['version']} ({p['bytes'] / 1e6:.2f} MB, sha256 {p['sha256'][:10]})" for p in versions]
            lines += ["", "Knowledge-base versions: " + ", ".join(sizes)]
        return lines

    def pretraining_cost(self, optuna_study: optuna.Study) -> tuple[int, float]:
        """Pretraining of every fold's KB version 0 (one KB: fold 0's)."""
        epochs, seconds, fold = 0, 0.0, 0
        while versions := kb_versions(optuna_study, fold):
            kb0 = next((p for p in versions if p["version"] == 0), {})
            epochs += int(kb0.get("pretrain_epochs", 0))
            seconds += float(kb0.get("pretrain_seconds", 0.0))
            fold += 1
        return epochs, seconds
