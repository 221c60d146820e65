"""What a study delivers, as methods of `automm.Study`: test scores of retrained candidates, the
ensemble, and the exported model; each a thin door to `automm.delivery.final_trainer.FinalTrainer`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automm.delivery.ensemble import EnsembleChoice
from automm.delivery.evaluation import Evaluation
from automm.delivery.export import ExportedModel
from automm.delivery.final_trainer import FinalTrainer
from automm.inspection.dashboard import Inspector
from automm.methods import SearchContext, SearchMethod


class StudyDelivery:
    """Mixed into `automm.Study`, which supplies the attributes below (``_final`` starts as None)."""

    context: SearchContext
    method: SearchMethod
    space: Any
    inspector: Inspector
    best_genotype: Any
    _final: FinalTrainer | None

    @property
    def final(self) -> FinalTrainer:
        if self._final is None:
            self._final = FinalTrainer(self.context, self.method, self.space)
        return self._final

    def _genotype(self, genotype: Any) -> Any:
        return self.best_genotype if genotype is None else self.space.parse(str(genotype))

    def evaluate(self, seeds: int = 1, genotype: Any = None, start: str = "auto") -> Evaluation:
        """Retrain a genotype (default: the best) on train+validation and score it on the test split.

        The result for the best genotype is stored in the study (``evaluation``); see `FinalTrainer.recipe`.
        """
        return self.final.evaluate(self._genotype(genotype), seeds=seeds, start=start, store=genotype is None)

    def retrain(self, top: int = 1, seeds: int = 5, ensemble_size: int | None = None) -> list[dict[str, Any]]:
        """Retrain the ``top`` genotypes (and the ensemble, when it has several members); see `FinalTrainer.retrain`."""
        return self.final.retrain(top=top, seeds=seeds, ensemble_size=ensemble_size)

    def export(
        self,
        out_dir: str | Path,
        genotype: Any = None,
        start: str = "auto",
        overwrite: bool = False,
        ensemble_size: int | None = None,
        onnx: bool | None = None,
    ) -> Path:
        """Train the delivered model on train+validation and export it (see `automm.delivery.export`).

        Default: the study's greedy ensemble (``ensemble_size`` rounds, default the study's
        setting; 1: the best candidate alone); a ``genotype`` exports that network alone.
        ``onnx``: write ``model.onnx`` (True: or fail; None: when the ``onnx`` extra is installed).
        Returns the folder; `deliver` returns the metadata written too.
        """
        return self.deliver(out_dir, genotype, start, overwrite, ensemble_size, onnx).path

    def deliver(
        self,
        out_dir: str | Path,
        genotype: Any = None,
        start: str = "auto",
        overwrite: bool = False,
        ensemble_size: int | None = None,
        onnx: bool | None = None,
    ) -> ExportedModel:
        """`export`, returning the folder and the metadata written into it."""
        chosen = None if genotype is None else self.final.parse(genotype)
        return self.final.export(
            chosen, out_dir, start=start, overwrite=overwrite, ensemble_size=ensemble_size, onnx=onnx
        )

    def ensemble(self, size: int | None = None) -> EnsembleChoice:
        """The greedy ensemble over out-of-fold predictions (see `automm.delivery.ensemble`), stored in the study."""
        choice = self.final.ensemble(size)
        self.inspector.refresh()
        return choice

    def evaluate_ensemble(self, seeds: int = 1, ensemble_size: int | None = None, start: str = "auto") -> Evaluation:
        """Retrain the delivered ensemble on train+validation ``seeds`` times and score it on the test split."""
        return self.final.evaluate_ensemble(seeds=seeds, ensemble_size=ensemble_size, start=start)
