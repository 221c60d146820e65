"""automm: search multimodal fusion architectures with Optuna.

One folder per layer of the flow, each importing only the ones before it: ``core`` -> ``settings`` ->
``extract`` -> ``data`` -> ``engine`` -> ``store`` -> ``methods`` (one wing per search method) -> ``search``
-> ``delivery`` -> ``inspection`` -> ``study`` -> ``report`` -> ``cli``.

This module is the public surface: the user API (`Study`, the scikit-learn estimator `FusionClassifier`, data,
`load_model`, verbosity) and the extension
API for a new search method (`SearchMethod`, `RecipeMethod`, `RecipeSpace`, `TrialHooks`, `MethodOption`,
`SearchContext`). Anything else is internal and may move between releases. `Genotype`, `SearchSpace` and
`FusionNet` are the fusion-tree space and network that KS-NAS and Optuna's samplers (tpe, random, nsga2) search.
"""

from automm._version import __version__
from automm.core.errors import AutommError
from automm.core.log import get_verbosity, set_verbosity
from automm.data import MultimodalDataset, load_dataset
from automm.delivery.evaluation import Evaluation
from automm.delivery.loading import FusionModel, load_model
from automm.methods import METHODS, MethodOption, SearchContext, SearchMethod, TrialHooks
from automm.methods.ksnas.model import FusionNet
from automm.methods.ksnas.space import Genotype, SearchSpace
from automm.methods.recipes import RecipeMethod, RecipeSpace
from automm.settings import SearchConfig
from automm.study import FusionClassifier, Study

__all__ = [
    "METHODS",
    "AutommError",
    "Evaluation",
    "FusionClassifier",
    "FusionModel",
    "FusionNet",
    "Genotype",
    "MethodOption",
    "MultimodalDataset",
    "RecipeMethod",
    "RecipeSpace",
    "SearchConfig",
    "SearchContext",
    "SearchMethod",
    "SearchSpace",
    "Study",
    "TrialHooks",
    "__version__",
    "get_verbosity",
    "load_dataset",
    "load_model",
    "set_verbosity",
]
