"""From a finished search to a delivered model: ensemble selection over out-of-fold predictions, the
linear candidate, training as delivered (fold bags, one network, the linear refit), test evaluation,
export and `load_model`. Test rows become tensors only here, after every choice.

Its modules are imported by name (``from automm.delivery import export``); importing the package itself loads nothing.
"""

__all__ = [
    "ensemble",
    "evaluation",
    "export",
    "final_trainer",
    "fold_bags",
    "linear_candidate",
    "networks",
    "trainer",
    "words",
]
