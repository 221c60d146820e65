"""From a finished search to a delivered model: ensemble selection over out-of-fold predictions, the
linear candidate, training as delivered (fold bags, one network, the linear refit), test evaluation,
export (`model.onnx` checked in ONNX Runtime), `load_model` and predictions for new rows. Test rows become
tensors only here, after every choice.

Its modules are imported by name (``from automm.delivery import export``); importing the package itself loads nothing.
"""

__all__ = [
    "ensemble",
    "evaluation",
    "export",
    "final_trainer",
    "fold_bags",
    "linear_candidate",
    "loading",
    "networks",
    "onnx_export",
    "predictions",
    "trainer",
    "words",
]
