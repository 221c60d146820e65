"""automm: search multimodal fusion architectures with Optuna.

The flow, one place each: ``data/`` -> a method's space (``methods/<name>/``) -> its sampler ->
`automm.objective` -> the method's network and shared weights -> `automm.study` -> `automm.cli`.
"""

from automm._version import __version__
from automm.data import MultimodalDataset, load_dataset
from automm.errors import AutommError
from automm.evaluation import Evaluation
from automm.export import FusionModel, load_model
from automm.logs import get_verbosity, set_verbosity
from automm.methods import METHODS, SearchMethod
from automm.methods.ksnas.model import FusionNet
from automm.methods.ksnas.space import Genotype, SearchSpace
from automm.settings import SearchConfig
from automm.study import Study

__all__ = [
    "METHODS",
    "AutommError",
    "Evaluation",
    "FusionModel",
    "FusionNet",
    "Genotype",
    "MultimodalDataset",
    "SearchConfig",
    "SearchMethod",
    "SearchSpace",
    "Study",
    "__version__",
    "get_verbosity",
    "load_dataset",
    "load_model",
    "set_verbosity",
]
