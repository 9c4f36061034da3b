"""Semantic directions: fitters (one estimator per method), tag filtering, the direction file.

    from latentedit.directions import fit_directions, DirectionSet
    ds = fit_directions(run, "lasso", alpha=1e-3)       # -> DirectionSet
    ds.save(run.directions_path("lasso", "w"))
    ds = DirectionSet.load(path, generator_fingerprint=run.fingerprint, dim=512)
    n = ds.vector("long_hair")                           # unit (512,), points toward the tag

Every supervised direction points toward its tag.
"""

from latentedit.directions.base import DirectionSet, paired_difference, synthetic_codes
from latentedit.directions.conditional import condition
from latentedit.directions.filtering import TagFilterResult, filter_tags
from latentedit.directions.fit import METHODS, fit_directions, make_estimator
from latentedit.directions.lasso import LassoDirections
from latentedit.directions.linear import LinearDirections
from latentedit.directions.pca import PCADirections
from latentedit.directions.sefa import SeFa
from latentedit.directions.svd import SVDDirections
from latentedit.directions.svm import SVMDirections

load_directions = DirectionSet.load

__all__ = [
    "DirectionSet", "load_directions", "fit_directions", "make_estimator", "METHODS",
    "LinearDirections", "LassoDirections", "SVDDirections", "SVMDirections", "PCADirections", "SeFa",
    "condition", "paired_difference", "filter_tags", "TagFilterResult", "synthetic_codes",
]
