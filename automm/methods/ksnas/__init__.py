"""KS-NAS (knowledge-sharing evolutionary NAS): the fusion-tree space, `FusionNet` and its supernet,
the evolutionary sampler, the knowledge base and the trial hooks that use it, the diagram, and `KSNASMethod`
that ties them together.

Optuna's own samplers search the same space through `automm.methods.optuna_samplers`.
"""

__all__ = [
    "diagram",
    "knowledge",
    "knowledge_hooks",
    "method",
    "model",
    "ops",
    "sampler",
    "settings",
    "space",
]
