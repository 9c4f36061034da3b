"""latentedit: edit anime faces in the latent space of a GANs N' Roses generator.

Pipeline: generate (sample) -> tag (DeepDanbooru) -> fit directions -> edit -> re-score -> report.
The public API is imported lazily so that `import latentedit` stays fast and TensorFlow is only
loaded when tagging.
"""

import importlib

__version__ = "0.1.0"

_API = {
    "load_generator": "latentedit.models.checkpoint",
    "save_generator": "latentedit.models.checkpoint",
    "fingerprint": "latentedit.models.checkpoint",
    "Generator": "latentedit.models.gnr",
    "Run": "latentedit.store",
    "sample": "latentedit.sample",
    "load_tagger": "latentedit.tagging",
    "tag_run": "latentedit.tagging",
    "fit_directions": "latentedit.directions",
    "DirectionSet": "latentedit.directions",
    "load_directions": "latentedit.directions",
    "edit": "latentedit.edit",
    "Editor": "latentedit.edit",
    "load_scorer": "latentedit.models.scorer",
    "train_scorer": "latentedit.models.scorer",
    "rescore_matrix": "latentedit.rescore",
    "report": "latentedit.report",
    "LatentEditError": "latentedit.errors",
}

__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'latentedit' has no attribute {name!r}")
