"""Where a study lives: Optuna storages, the artifact store (a folder or an S3 bucket) and its lock,
weights as verified safetensors artifacts, and the liveness of trials whose worker died.

Its modules are imported by name (``from automm.store import artifacts``); importing the package itself loads nothing.
"""

__all__ = [
    "artifact_stores",
    "artifacts",
    "fold_networks",
    "liveness",
    "storages",
]
