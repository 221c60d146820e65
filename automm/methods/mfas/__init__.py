"""MFAS (multimodal fusion architecture search): the fusion-chain space, `MFASNet`, the progressive
surrogate-guided sampler, the layer bank (weight sharing), the diagram, and `MFASMethod`.
"""

__all__ = [
    "diagram",
    "layer_bank",
    "method",
    "model",
    "sampler",
    "settings",
    "space",
]
