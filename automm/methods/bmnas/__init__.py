"""BM-NAS (bilevel multimodal NAS): cells that pick two inputs among the views and earlier cells
(upper level) and steps inside each cell that combine two nodes with a primitive op (lower level).

One Optuna trial is one complete bilevel search (`search`), the derivation of its genotype
(`space`), and the from-scratch training of the derived network (`model`) by the generic objective.
"""

__all__ = [
    "diagram",
    "method",
    "model",
    "ops",
    "search",
    "settings",
    "space",
    "supernet",
]
