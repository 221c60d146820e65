"""MFAS (multimodal fusion architecture search): the fusion-chain space, `MFASNet`, the progressive
surrogate-guided sampler, the layer bank (weight sharing), the diagram, and `MFASMethod`.
"""
