"""BM-NAS as a `SearchMethod`: each trial runs a bilevel search, derives a genotype, trains it from scratch.

Optuna's TPE proposes the search's own settings (`BMNASSpace`); the first trial runs the
settings' defaults, so ``--trials 1`` is one plain BM-NAS run. `BilevelHooks.derive` searches on
the trial's training rows (weights) and validation rows (architecture), stores the search's
summary on the trial and its per-epoch architecture weights as a JSON artifact, and returns the
derived genotype, which the generic objective then trains from scratch with early stopping. The
supernet at the derivation epoch is kept as a safetensors artifact (`supernet_weights` reads it back).
"""

from __future__ import annotations

from typing import Any, ClassVar

import optuna
import torch
from torch import nn

from automm.core import keys
from automm.core.errors import AutommError
from automm.engine.training import TensorData
from automm.methods.base import MethodOption, SearchContext, TrialHooks
from automm.methods.bmnas.diagram import bmnas_svg
from automm.methods.bmnas.model import BMNASNet
from automm.methods.bmnas.search import bilevel_search
from automm.methods.bmnas.settings import BMNASSettings
from automm.methods.bmnas.space import BMNASGenotype, BMNASRecipe, BMNASSpace
from automm.methods.recipes import RecipeHooks, RecipeMethod
from automm.settings import SearchConfig
from automm.store import artifacts


class BilevelHooks(RecipeHooks):
    """Runs each trial's bilevel search (see module docstring); a recipe searched before is not searched again."""

    recipe_attr = keys.BMNAS_RECIPE
    kept_attrs = (keys.BMNAS_SEARCH, keys.BMNAS_HISTORY, keys.BMNAS_SUPERNET)

    def __init__(self, settings: BMNASSettings, context: SearchContext, space: BMNASSpace) -> None:
        super().__init__(space, context)
        self.settings = settings

    def search(self, trial: optuna.Trial, recipe: BMNASRecipe, train: TensorData, val: TensorData, seed: int) -> Any:
        ds, config = self.context.dataset, self.context.config
        result = bilevel_search(
            recipe,
            self.settings,
            train,
            val,
            ds.task,
            n_outputs=ds.n_classes,
            batch_size=config.batch_size,
            dropout=config.dropout,
            threshold=config.threshold,
            seed=seed,
        )
        trial.set_user_attr(keys.BMNAS_SEARCH, result.summary())
        self.keep_history(trial, keys.BMNAS_HISTORY, recipe, result.arch_lr, result.history)
        name = f"trial{trial.number}_bmnas_supernet.safetensors"
        pointer = artifacts.upload_weights(self.context.artifact_store, result.state, trial, name)
        trial.set_user_attr(keys.BMNAS_SUPERNET, pointer)
        return result.genotype


def supernet_weights(artifact_store: Any, trial: optuna.trial.FrozenTrial) -> dict[str, torch.Tensor]:
    """The supernet of ``trial``'s search at its derivation epoch (`automm.methods.bmnas.supernet`), read
    from its safetensors artifact and checked against the sha256 recorded on the trial."""
    pointer = trial.user_attrs.get(keys.BMNAS_SUPERNET)
    if pointer is None:
        raise AutommError(f"trial {trial.number} holds no BM-NAS supernet")
    return artifacts.get_weights(artifact_store, pointer, f"the BM-NAS supernet of trial {trial.number}")


class BMNASMethod(RecipeMethod):
    """BM-NAS (Yin et al., 2022): bilevel differentiable search of fusion cells (see module docstring)."""

    name = "bmnas"
    title = "BM-NAS"
    family = "bmnas"
    structure_words: ClassVar[dict[str, str | None]] = {"bmnas": None, "cell": "cells"}  # cells hold the steps
    sections: ClassVar[dict[str, Any]] = {"bmnas": BMNASSettings}
    search_name = "a BM-NAS search"
    uses_tokens = True  # a token view's chunks become the feature map's positions (`FeatureMap`)
    options = (
        MethodOption("bmnas_channels", ("--bmnas-channels",), "bmnas", "channels", int, "Channels C of a feature map."),
        MethodOption("bmnas_length", ("--bmnas-length",), "bmnas", "length", int, "Positions L of a feature map."),
        MethodOption("bmnas_cells", ("--bmnas-cells",), "bmnas", "cells", int, "Fusion cells."),
        MethodOption("bmnas_steps", ("--bmnas-steps",), "bmnas", "steps", int, "Steps per cell."),
        MethodOption("bmnas_epochs", ("--bmnas-epochs",), "bmnas", "epochs", int, "Search epochs per trial."),
        MethodOption(
            "bmnas_arch_lr", ("--bmnas-arch-lr",), "bmnas", "arch_lr", float, "Architecture learning rate (0: auto)."
        ),
    )

    @property
    def bmnas(self) -> BMNASSettings:
        return self.settings["bmnas"]

    def make_space(self, view_names: tuple[str, ...], config: SearchConfig) -> BMNASSpace:
        if len(view_names) < 2:
            raise AutommError("BM-NAS fuses two or more views; this data set has one")
        return BMNASSpace(view_names, self.bmnas)

    def build_net(
        self,
        space: BMNASSpace,
        genotype: BMNASGenotype,
        view_dims: dict[str, int],
        n_outputs: int,
        config: SearchConfig,
    ) -> nn.Module:
        return BMNASNet(genotype, view_dims, n_outputs, config.dropout)

    @classmethod
    def net_from_export(cls, meta: dict[str, Any]) -> nn.Module:
        genotype = BMNASGenotype.from_string(meta["genotype"])
        return BMNASNet(genotype, meta["view_dims"], len(meta["class_names"]), float(meta["dropout"]))

    def export_info(self, space: BMNASSpace, config: SearchConfig) -> dict[str, Any]:
        return {"space": self.family, "dropout": config.dropout}

    def diagram(
        self, space: BMNASSpace, genotype: BMNASGenotype, view_dims: dict[str, int], config: SearchConfig
    ) -> str:
        return bmnas_svg(genotype, view_dims)

    def hooks(self, context: SearchContext, space: BMNASSpace, train: TensorData) -> TrialHooks:
        return BilevelHooks(self.bmnas, context, space)

    def describe(self) -> str:
        b = self.bmnas
        lr = f"{b.arch_lr:g}" if b.arch_lr > 0 else "auto"
        shape = f"C={b.channels}, L={b.length}, {b.cells} cells x {b.steps} steps"
        return f"{shape}, {b.epochs} search epochs, arch lr {lr}"

    def trial_lines(self, user_attrs: dict[str, Any]) -> list[str]:
        """The search's recipe, how decided its architecture weights were, and its supernet scores."""
        search = user_attrs.get(keys.BMNAS_SEARCH)
        if not search:
            return []
        curve = search["supernet_val_curve"]
        return [
            f"- search: `{user_attrs.get(keys.BMNAS_RECIPE)}`, architecture lr {search['arch_lr']:g}, "
            f"{search['epochs']} epochs, {search['seconds']:.1f} s",
            f"- derived at epoch {search['best_epoch']} (best supernet validation score "
            f"{max(curve):.4f}; per epoch: {', '.join(f'{s:.3f}' for s in curve)})",
            f"- architecture weights decided by a mean margin of {search['margin_mean']:.3f} "
            f"(smallest {search['margin_min']:.3f}; 0 = uniform); per-epoch weights: the trial's JSON artifact",
        ]
