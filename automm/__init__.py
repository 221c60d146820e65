"""automm: search multimodal fusion architectures with Optuna."""

from automm.config import SearchConfig
from automm.data import MultimodalDataset, load_dataset
from automm.errors import AutommError
from automm.model import FusionNet
from automm.space import Genotype, SearchSpace
from automm.study import Evaluation, Study

__version__ = "0.1.0"

__all__ = [
    "AutommError",
    "Evaluation",
    "FusionNet",
    "Genotype",
    "MultimodalDataset",
    "SearchConfig",
    "SearchSpace",
    "Study",
    "load_dataset",
]
