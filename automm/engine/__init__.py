"""Training networks: tensors on the device, the optimiser, training to convergence with early stopping, the linear
network, and bags of networks whose predictions are averaged. Knows nothing of Optuna studies.

Its modules are imported by name (``from automm.engine import training``); importing the package itself loads nothing.
"""

__all__ = [
    "bagged",
    "linear_net",
    "optimiser",
    "training",
]
