"""automm: search multimodal fusion architectures with Optuna."""

from automm._version import __version__
from automm.config import SearchConfig
from automm.data import MultimodalDataset, load_dataset
from automm.errors import AutommError
from automm.export import FusionModel, load_model
from automm.model import FusionNet
from automm.space import Genotype, SearchSpace
from automm.study import Evaluation, Study

__all__ = [
    "AutommError",
    "Evaluation",
    "FusionModel",
    "FusionNet",
    "Genotype",
    "MultimodalDataset",
    "SearchConfig",
    "SearchSpace",
    "Study",
    "__version__",
    "load_dataset",
    "load_model",
]
