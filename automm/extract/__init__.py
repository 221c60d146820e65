"""Raw inputs -> multi-level features: manifest -> backbones -> feature cache -> views / `.npz`.

The backbones need the optional ``extract`` extra (``pip install 'automm[extract]'``); without it
they raise a one-line `AutommError` naming the extra. Importing this package needs only torch.
"""

from automm.core.paths import default_cache_dir
from automm.extract.backbones import IMAGE_BACKBONES, TEXT_BACKBONES, Backbone, load_backbone
from automm.extract.cache import FeatureCache
from automm.extract.manifest import Manifest, read_manifest
from automm.extract.pipeline import extract_views, write_features

__all__ = [
    "IMAGE_BACKBONES",
    "TEXT_BACKBONES",
    "Backbone",
    "FeatureCache",
    "Manifest",
    "default_cache_dir",
    "extract_views",
    "load_backbone",
    "read_manifest",
    "write_features",
]
