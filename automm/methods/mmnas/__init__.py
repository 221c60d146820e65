"""MMnas (Yu et al., 2020): a gated search of the operation of every block of an encoder-decoder over token views."""

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
