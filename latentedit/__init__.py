"""latentedit: edit anime faces in the latent space of a GANs N' Roses generator.

Pipeline: generate (sample) -> tag (DeepDanbooru) -> fit directions -> edit -> re-score -> report.
Most of the public API is imported on first use, and TensorFlow only when tagging.
"""

import importlib

__version__ = "0.1.0"

_API = {
    "load_generator": "latentedit.models.checkpoint",
    "save_generator": "latentedit.models.checkpoint",
    "fingerprint": "latentedit.models.checkpoint",
    "Generator": "latentedit.models.gnr",
    "Run": "latentedit.store",
    "load_tagger": "latentedit.tagging",
    "tag_run": "latentedit.tagging",
    "fit_directions": "latentedit.directions",
    "DirectionSet": "latentedit.directions",
    "load_directions": "latentedit.directions",
    "Editor": "latentedit.edit",
    "load_scorer": "latentedit.models.scorer",
    "train_scorer": "latentedit.models.scorer",
    "rescore_matrix": "latentedit.rescore",
    "LatentEditError": "latentedit.errors",
}

# Functions named like their modules are bound eagerly: once a submodule is imported, Python sets
# the package attribute of that name to the module, which would shadow a lazily resolved function.
from .edit import edit  # noqa: E402
from .report import report  # noqa: E402
from .sample import sample  # noqa: E402

__all__ = sorted([*_API, "edit", "report", "sample"])


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'latentedit' has no attribute {name!r}")
