"""latentedit: edit anime faces in the latent space of a GANs N' Roses generator.

Pipeline: generate (sample) -> tag (DeepDanbooru) -> fit directions -> edit -> re-score -> report.
The public API below is resolved on first use (`latentedit.sample` imports the sampling stage only
when it is called), so `import latentedit` is fast and imports nothing but the version; TensorFlow
is imported only when a tagger is loaded.
"""

import importlib

from latentedit._version import __version__

# public name -> the module that defines it (imported on first access)
_API = {
    # models
    "Generator": "latentedit.models.gnr",
    "load_generator": "latentedit.models.generator",
    "save_generator": "latentedit.models.checkpoint",
    "fingerprint": "latentedit.models.generator",
    # the run directory
    "Run": "latentedit.store",
    # tagging
    "Tagger": "latentedit.tagging",
    "load_tagger": "latentedit.tagging",
    # directions
    "DirectionSet": "latentedit.directions",
    "fit_directions": "latentedit.directions",
    "load_directions": "latentedit.directions",
    # editing
    "Edit": "latentedit.editing",
    "EditSpec": "latentedit.editing",
    "AutoOptions": "latentedit.pipeline.autoedit",
    "EditSession": "latentedit.editing",
    # scoring
    "Scorer": "latentedit.scoring.scorer",
    "load_scorer": "latentedit.scoring.scorer",
    "train_scorer": "latentedit.scoring.training",
    "rescore_matrix": "latentedit.scoring.rescore",
    # pipeline stages over a run
    "sample": "latentedit.pipeline.sample",
    "SampleRequest": "latentedit.pipeline.sample",
    "SampleResult": "latentedit.pipeline.sample",
    "tag_run": "latentedit.pipeline.tag",
    "Engine": "latentedit.pipeline.engine",  # sample, tag_run and report(..., engine=Engine("ray"))
    "ensure_directions": "latentedit.pipeline.fit",
    "edit": "latentedit.pipeline.edit",
    "session_for_run": "latentedit.pipeline.edit",
    "EditRequest": "latentedit.pipeline.edit",
    "edit_video": "latentedit.pipeline.video",
    "report": "latentedit.pipeline.report",
    "ReportRequest": "latentedit.pipeline.report",
    "ReportResult": "latentedit.pipeline.report",
    # errors
    "LatentEditError": "latentedit.errors",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module 'latentedit' has no attribute {name!r}")


def __dir__():
    return __all__
