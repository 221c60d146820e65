"""MFAS as a `SearchMethod`: progressive surrogate-guided search over fusion chains, shared layer weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import optuna
from torch import nn

from automm.core import keys
from automm.engine.training import FitResult, TensorData
from automm.methods.base import MethodOption, SearchContext, SearchMethod, TrialHooks
from automm.methods.mfas.diagram import mfas_svg
from automm.methods.mfas.layer_bank import LayerBank
from automm.methods.mfas.model import MFASNet
from automm.methods.mfas.sampler import MFASSampler
from automm.methods.mfas.settings import MFASSettings
from automm.methods.mfas.space import MFASGenotype, MFASSpace
from automm.settings import SearchConfig, TrainConfig


class LayerBankHooks(TrialHooks):
    """E_train epochs per candidate (no early stopping); inherit and share fusion layers when a bank is given."""

    def __init__(self, epochs: int, bank: LayerBank | None) -> None:
        self.epochs = epochs
        self.bank = bank

    def prepare(self, trial: optuna.Trial, genotype: Any) -> str:
        if self.bank is not None:  # shared weights keep changing: every evaluation is new
            return f"{genotype}@trial{trial.number}"
        return str(genotype)

    def before_fit(self, trial: optuna.Trial, net: nn.Module, fold: int = 0) -> bool:
        if self.bank is not None:
            trial.set_user_attr(keys.INHERITED_LAYERS, self.bank.warm_start(net))
        return False  # inherited layers are a head start, not a converged warm start

    def train_config(self, config: TrainConfig, warm: bool) -> TrainConfig:
        return replace(config, max_epochs=self.epochs, patience=self.epochs)

    def after_fit(self, trial: optuna.Trial, net: nn.Module, result: FitResult, fold: int = 0) -> None:
        if self.bank is not None:
            self.bank.offer(trial, net)


class MFASMethod(SearchMethod):
    """MFAS (Pérez-Rúa et al., 2019): chains of fusion layers, unfolded level by level."""

    name = "mfas"
    title = "MFAS"
    family = "mfas"
    sections: ClassVar[dict[str, Any]] = {"mfas": MFASSettings}
    proxy_scores = True
    tunes_settings = False  # its progressive schedule proposes architectures only
    options = (
        MethodOption("mfas_k", ("--mfas-k",), "mfas", "k", int, "Architectures sampled per step (K)."),
        MethodOption("mfas_iterations", ("--mfas-iterations",), "mfas", "iterations", int, "Search iterations."),
        MethodOption("mfas_layers", ("--mfas-layers",), "mfas", "max_layers", int, "Maximum fusion layers (L)."),
        MethodOption(
            "weight_sharing",
            ("--weight-sharing/--no-weight-sharing",),
            "mfas",
            "weight_sharing",
            bool,
            "Inherit fusion-layer weights.",
        ),
    )

    @property
    def mfas(self) -> MFASSettings:
        return self.settings["mfas"]

    @property
    def summary_top(self) -> int:  # type: ignore[override]
        return self.mfas.k

    def make_space(self, view_names: tuple[str, ...], config: SearchConfig) -> MFASSpace:
        return MFASSpace(view_names, self.mfas.max_layers, hidden=self.mfas.hidden)

    def make_sampler(self, space: MFASSpace, seed: int, n_existing: int, lock_dir: Path | None) -> MFASSampler:
        # the schedule's randomness comes from (seed, step): the same seed on resume continues exactly
        return MFASSampler(space, self.mfas, seed=seed, lock_dir=lock_dir)

    def build_net(
        self, space: MFASSpace, genotype: MFASGenotype, view_dims: dict[str, int], n_outputs: int, config: SearchConfig
    ) -> nn.Module:
        """``config.fusion_dim`` is not used: MFAS layers have the space's ``hidden`` width."""
        return MFASNet(genotype, view_dims, n_outputs, space.hidden, config.dropout)

    @classmethod
    def net_from_export(cls, meta: dict[str, Any]) -> nn.Module:
        genotype = MFASGenotype.from_string(meta["genotype"])
        n_out = len(meta["class_names"])
        return MFASNet(genotype, meta["view_dims"], n_out, int(meta["hidden"]), float(meta["dropout"]))

    def diagram(self, space: MFASSpace, genotype: MFASGenotype, view_dims: dict[str, int], config: SearchConfig) -> str:
        return mfas_svg(genotype, view_dims, space.hidden)

    def export_info(self, space: MFASSpace, config: SearchConfig) -> dict[str, Any]:
        return {"space": "mfas", "hidden": space.hidden, "fusion_dim": config.fusion_dim, "dropout": config.dropout}

    def default_trials(self, space: MFASSpace, preset_trials: int) -> int:
        return self.mfas.total_trials(space)

    def hooks(self, context: SearchContext, space: MFASSpace, train: TensorData) -> TrialHooks:
        bank = None
        if self.mfas.weight_sharing:
            bank = LayerBank(context.optuna_study, context.artifact_store, context.lock_dir)
        return LayerBankHooks(self.mfas.epochs, bank)

    def after_search_note(self) -> str:
        return (
            f"MFAS scores are {self.mfas.epochs}-epoch proxies: run `automm retrain --top 5` to train the best to "
            "convergence."
        )

    def describe(self) -> str:
        m = self.mfas
        return f"K={m.k}, E_search={m.iterations}, L={m.max_layers}, {m.epochs} epochs per candidate"
