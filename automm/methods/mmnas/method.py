"""MMnas as a `SearchMethod`: each trial runs a gated search, derives a genotype, trains it from scratch.

Optuna's TPE proposes the search's own settings (`MMNASSpace`); the first trial runs the
settings' defaults, so ``--trials 1`` is one plain MMnas run. `GatedHooks.derive` searches on the
trial's training rows (weights) and validation rows (architecture), stores the search's summary on
the trial and its per-epoch op probabilities as a JSON artifact, and returns the derived genotype,
which the generic objective then trains from scratch with early stopping. The networks read token
views as tokens (`SearchMethod.uses_tokens`); a vector view is one token.
"""

from __future__ import annotations

from typing import Any, ClassVar

import optuna
from torch import nn

from automm.core import keys
from automm.data.dataset import MultimodalDataset
from automm.engine.training import TensorData
from automm.methods.base import MethodOption, SearchContext, TrialHooks
from automm.methods.mmnas.diagram import mmnas_svg
from automm.methods.mmnas.model import MMNASNet
from automm.methods.mmnas.search import gated_search
from automm.methods.mmnas.settings import MMNASSettings
from automm.methods.mmnas.space import MMNASGenotype, MMNASRecipe, MMNASSpace
from automm.methods.recipes import RecipeHooks, RecipeMethod
from automm.settings import SearchConfig


class GatedHooks(RecipeHooks):
    """Runs each trial's gated search (see module docstring); a recipe searched before is not searched again."""

    recipe_attr = keys.MMNAS_RECIPE
    kept_attrs = (keys.MMNAS_SEARCH, keys.MMNAS_HISTORY)
    space: MMNASSpace

    def __init__(self, settings: MMNASSettings, context: SearchContext, space: MMNASSpace) -> None:
        super().__init__(space, context)
        self.settings = settings

    def search(self, trial: optuna.Trial, recipe: MMNASRecipe, train: TensorData, val: TensorData, seed: int) -> Any:
        ds, config = self.context.dataset, self.context.config
        result = gated_search(
            recipe,
            self.space.sides(recipe),
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
        trial.set_user_attr(keys.MMNAS_SEARCH, result.summary())
        self.keep_history(trial, keys.MMNAS_HISTORY, recipe, result.arch_lr, result.history)
        return result.genotype


class MMNASMethod(RecipeMethod):
    """MMnas (Yu et al., 2020): gated search of an encoder-decoder's block ops over token views."""

    name = "mmnas"
    title = "MMnas"
    family = "mmnas"
    sections: ClassVar[dict[str, Any]] = {"mmnas": MMNASSettings}
    search_name = "an MMnas search"
    uses_tokens = True
    options = (
        MethodOption(
            "mmnas_encoder_blocks", ("--mmnas-encoder-blocks",), "mmnas", "encoder_blocks", int, "Encoder blocks E."
        ),
        MethodOption(
            "mmnas_decoder_blocks", ("--mmnas-decoder-blocks",), "mmnas", "decoder_blocks", int, "Decoder blocks D."
        ),
        MethodOption("mmnas_hidden", ("--mmnas-hidden",), "mmnas", "hidden", int, "Hidden size H."),
        MethodOption("mmnas_heads", ("--mmnas-heads",), "mmnas", "heads", int, "Attention heads."),
        MethodOption("mmnas_epochs", ("--mmnas-epochs",), "mmnas", "epochs", int, "Search epochs per trial."),
        MethodOption(
            "mmnas_arch_lr", ("--mmnas-arch-lr",), "mmnas", "arch_lr", float, "Architecture learning rate (0: auto)."
        ),
    )

    @property
    def mmnas(self) -> MMNASSettings:
        return self.settings["mmnas"]

    def make_space(self, view_names: tuple[str, ...], config: SearchConfig) -> MMNASSpace:
        return MMNASSpace(view_names, self.mmnas)

    def build_net(
        self,
        space: MMNASSpace,
        genotype: MMNASGenotype,
        view_dims: dict[str, int],
        n_outputs: int,
        config: SearchConfig,
    ) -> nn.Module:
        return MMNASNet(genotype, view_dims, n_outputs, config.dropout, self.mmnas.ffn_ratio)

    @classmethod
    def net_from_export(cls, meta: dict[str, Any]) -> nn.Module:
        genotype = MMNASGenotype.from_string(meta["genotype"])
        n_out = len(meta["class_names"])
        return MMNASNet(genotype, meta["view_dims"], n_out, float(meta["dropout"]), int(meta["ffn_ratio"]))

    def export_info(self, space: MMNASSpace, config: SearchConfig) -> dict[str, Any]:
        return {"space": self.family, "dropout": config.dropout, "ffn_ratio": self.mmnas.ffn_ratio}

    def diagram(
        self, space: MMNASSpace, genotype: MMNASGenotype, view_dims: dict[str, int], config: SearchConfig
    ) -> str:
        return mmnas_svg(genotype, view_dims)

    def hooks(self, context: SearchContext, space: MMNASSpace, train: TensorData) -> TrialHooks:
        return GatedHooks(self.mmnas, context, space)

    def batch_work(self, dataset: MultimodalDataset, config: SearchConfig) -> int:
        """Per token: its projection, and per block of the largest shape Optuna may try the attention's
        (4 H^2 + 2 L H) or the feed-forward's (2 ratio H^2) work, the larger."""
        m = self.mmnas
        hidden = max(m.choices()["hidden"])
        blocks = max(m.choices()["encoder_blocks"]) + max(m.choices()["decoder_blocks"])
        lengths = {v: dataset.token_lengths.get(v, 1) for v in dataset.view_names}
        tokens = sum(lengths.values())
        per_block = max(4 * hidden * hidden + 2 * tokens * hidden, 2 * m.ffn_ratio * hidden * hidden)
        project = sum(lengths[v] * d * hidden for v, d in dataset.view_dims.items())
        return config.batch_size * (project + tokens * blocks * per_block)

    def describe(self) -> str:
        m = self.mmnas
        lr = f"{m.arch_lr:g}" if m.arch_lr > 0 else "auto"
        shape = f"E={m.encoder_blocks}, D={m.decoder_blocks} blocks, H={m.hidden}, {m.heads} heads"
        return f"{shape}, {m.epochs} search epochs, arch lr {lr}"

    def trial_lines(self, user_attrs: dict[str, Any]) -> list[str]:
        """The search's recipe, how decided its op probabilities were, and its supernet scores."""
        search = user_attrs.get(keys.MMNAS_SEARCH)
        if not search:
            return []
        curve = search["supernet_val_curve"]
        return [
            f"- search: `{user_attrs.get(keys.MMNAS_RECIPE)}`, architecture lr {search['arch_lr']:g}, "
            f"{search['epochs']} epochs, {search['seconds']:.1f} s",
            f"- argmax network's validation score per search epoch: {', '.join(f'{s:.3f}' for s in curve)}",
            f"- mean probability of the chosen op per block {search['top_mean']:.3f} "
            "(uniform: 0.33-0.5); per-epoch probabilities: the trial's JSON artifact",
        ]
