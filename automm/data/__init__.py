"""Data: `MultimodalDataset` and one module per source."""

from automm.data.dataset import MultimodalDataset, Splits, view_modality
from automm.data.features import to_dataset
from automm.data.preprocess import Standardizer
from automm.data.registry import DATASETS, default_data_dir, load_dataset
from automm.data.splits import make_splits

__all__ = [
    "DATASETS",
    "MultimodalDataset",
    "Splits",
    "Standardizer",
    "default_data_dir",
    "load_dataset",
    "make_splits",
    "to_dataset",
    "view_modality",
]
