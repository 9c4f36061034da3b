"""Semantic directions: fitters (one estimator per method), tag filtering, the direction file.

    from latentedit.directions import fit_directions, DirectionSet
    ds = fit_directions(run, "lasso", alpha=3e-4)       # -> DirectionSet, ds.code_scale set
    key = params_key("lasso", {"alpha": 3e-4}, "w", run)  # "alpha=0.0003" (non-default params)
    path = run.directions_path("lasso", "w", key)        # RUN/directions/lasso-w-alpha=0.0003.npz
    ds.save(path)
    ds = DirectionSet.load(path, generator_fingerprint=run.fingerprint, dim=512)
    n = ds.vector("long_hair")                           # unit (512,), points toward the tag

Every fitter is a scikit-learn estimator (`DirectionEstimator`) with one fit signature,
fit(X, Y=None, *, tag_names=None, scores=None, generator=None). Every supervised direction points
toward its tag. Direction files are keyed by their parameters (`keys`).
"""

from latentedit.directions.base import (DirectionEstimator, DirectionSet, code_scale, paired_difference,
                                        synthetic_codes)
from latentedit.directions.filtering import TagFilterResult, filter_tags
from latentedit.directions.fit import METHODS, estimator_class, fit_directions, make_estimator
from latentedit.directions.keys import direction_file_name, params_key
from latentedit.directions.lasso import LassoDirections
from latentedit.directions.linear import LinearDirections
from latentedit.directions.pca import PCADirections
from latentedit.directions.sefa import SeFa
from latentedit.directions.svd import SVDDirections
from latentedit.directions.svm import SVMDirections

load_directions = DirectionSet.load

__all__ = [
    "DirectionSet", "DirectionEstimator", "load_directions", "fit_directions", "make_estimator", "estimator_class", "METHODS",
    "code_scale", "params_key", "direction_file_name",
    "LinearDirections", "LassoDirections", "SVDDirections", "SVMDirections", "PCADirections", "SeFa",
    "paired_difference", "filter_tags", "TagFilterResult", "synthetic_codes",
]
