"""Fit one method's directions over a run: codes + thresholded tag scores -> DirectionSet."""

import inspect

import numpy as np

from latentedit.directions.base import DirectionSet, supervised_stats
from latentedit.directions.filtering import filter_tags
from latentedit.directions.lasso import LassoDirections
from latentedit.directions.linear import LinearDirections
from latentedit.directions.pca import PCADirections
from latentedit.directions.sefa import SeFa
from latentedit.directions.svd import SVDDirections
from latentedit.directions.svm import SVMDirections
from latentedit.errors import DirectionError, RunError, TagError, unknown_name_message
from latentedit.stats import TAG_THRESHOLD

METHODS = {
    "linear": LinearDirections,
    "lasso": LassoDirections,
    "svd": SVDDirections,
    "svm": SVMDirections,
    "sefa": SeFa,
    "pca": PCADirections,
}
SUPERVISED = ("linear", "lasso", "svd", "svm")
SPACES = ("w", "z")


def make_estimator(method: str, **params):
    """A fresh estimator of `method` (a METHODS key) with `params`; bad names fail in one line."""
    if method not in METHODS:
        raise DirectionError(unknown_name_message("method", method, METHODS))
    cls = METHODS[method]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for name in params:
        if name not in allowed:
            raise DirectionError(f"method {method} has no parameter {name!r}; its parameters: "
                                 f"{', '.join(allowed)}")
    return cls(**params)


def _run_name(run):
    return str(getattr(run, "path", run))


def _generator_fingerprint(generator, run):
    """Fingerprint of `generator` (if it can be computed) checked against the run's."""
    fp = None
    if generator is not None and hasattr(generator, "state_dict"):
        try:
            from latentedit.models.checkpoint import fingerprint
        except ImportError:
            fingerprint = None
        if fingerprint is not None:
            fp = fingerprint(generator)
    run_fp = getattr(run, "fingerprint", None) if run is not None else None
    if fp and run_fp and fp != run_fp:
        raise DirectionError(f"the generator given ({fp}) is not the one run {_run_name(run)} was sampled "
                             f"with ({run_fp}); pass that generator")
    return fp or run_fp or ""


def _codes(run, space):
    if space not in SPACES:
        raise DirectionError(f"unknown latent space {space!r}; use one of {', '.join(SPACES)}")
    codes = run.codes()
    X = np.asarray(codes[space])
    if X.ndim != 2 or len(X) == 0:
        raise RunError(f"run {_run_name(run)} has no samples; run latentedit sample first")
    return codes, X


def _spread(X, directions):
    """Std of the codes projected on each direction: the unit edits count strengths in."""
    return (np.asarray(X, dtype=np.float64) @ np.asarray(directions, dtype=np.float64).T).std(axis=0)


def _labels(run, n, threshold):
    scores, vocab = run.tag_scores()
    scores = np.asarray(scores)
    if scores.shape != (n, len(vocab)):
        raise RunError(f"run {_run_name(run)} has tag scores of shape {scores.shape} for {n} samples and "
                       f"{len(vocab)} tags; re-run latentedit tag")
    return scores, [str(t) for t in vocab], (scores >= threshold).astype(np.uint8)


def _select_tags(run, vocab, Y, tags, threshold, min_count, max_count, include, exclude):
    result = filter_tags(vocab, Y, len(Y), min_count, max_count, include, exclude)
    if not tags:
        if not result.kept:
            raise TagError(f"no tag passes the filter ({result.summary()}); lower min_count or tag "
                           f"more samples")
        return result.kept, result
    tags = list(dict.fromkeys(str(t) for t in tags))
    for tag in tags:
        if tag not in result.counts:
            raise TagError(unknown_name_message("tag", tag, vocab))
        if result.counts[tag] == 0:
            raise TagError(f"no sample of run {_run_name(run)} has tag {tag!r} (score >= {threshold}); "
                           f"lower the threshold or sample more")
        reason = result.reason(tag)
        if reason is not None:
            raise TagError(f"tag {tag!r} was filtered out: {reason}; pass min_count/max_count or "
                           f"include it to fit it anyway")
    return tags, result


def _latent_dim(run):
    """Dimension of the style code z that the run's w were mapped from (8 for GNR)."""
    try:
        return int(run.manifest["generator"]["config"]["latent_dim"])
    except (AttributeError, KeyError, TypeError):
        return None


def fit_directions(run, method, space="w", tags=None, threshold=TAG_THRESHOLD, generator=None, min_count=None,
                   max_count=None, include=(), exclude=(), **params) -> DirectionSet:
    """Fit `method`'s directions on a run's codes and return them as a DirectionSet.

    Supervised methods (linear, lasso, svd, svm) use `run.codes()[space]` as X and the tag
    scores thresholded at `threshold` as Y; tags are those passing `filter_tags` (or exactly
    `tags`, each of which must pass it). pca uses the codes only; sefa uses only `generator`
    (and the run, if given, to check the generator is the one it was sampled with).
    `params` go to the estimator (e.g. alpha=1e-3). Linear fits in w space default to
    n_components = the generator's latent_dim: GNR's w = mapping(z) lie near a latent_dim-dimensional
    surface, and least squares over all 512 coordinates puts most of the direction's length into
    that surface's bends (see LinearDirections); pass n_components=None for the thesis's plain fit.

    The set's stats: "std" (spread of the codes along each direction, the unit of default edit
    strengths; for sefa only when a run is given), "score" (see each estimator), and for
    supervised methods "n_positive"; svd adds "characteristic_sign" (see SVDDirections), sefa
    "eigenvalue". params record the estimator's parameters, the filter bounds and, per dropped
    tag, why it was dropped ("dropped").
    """
    if method == "linear" and space == "w" and "n_components" not in params and run is not None:
        params["n_components"] = _latent_dim(run)
    estimator = make_estimator(method, **params)
    record = {"estimator": estimator.get_params(), "space": space}

    if method == "sefa":
        if generator is None:
            raise DirectionError("sefa directions come from the generator's weights; pass generator=")
        if space != "w":
            raise DirectionError(f"sefa directions live in w space, not {space!r}; use space='w'")
        fingerprint = _generator_fingerprint(generator, run)
        estimator.fit(generator)
        record["layer_indices"] = [int(i) for i in estimator.layer_indices_]
        record["n_rows"] = int(estimator.n_rows_)
        stats = {"score": estimator.score_, "eigenvalue": estimator.eigenvalues_}
        if run is not None:
            stats["std"] = _spread(_codes(run, "w")[1], estimator.directions_)
        return DirectionSet("sefa", "w", estimator.names_, estimator.directions_.astype(np.float32),
                            stats, fingerprint, record)

    if run is None:
        raise RunError(f"{method} directions are fitted on a run's codes; pass a run")
    fingerprint = _generator_fingerprint(generator, run)
    codes, X = _codes(run, space)
    record["n_samples"] = int(len(X))

    if method == "pca":
        estimator.fit(X)
        stats = {"score": estimator.score_, "std": estimator.std_}
        return DirectionSet("pca", space, estimator.names_, estimator.directions_.astype(np.float32),
                            stats, fingerprint, record)

    scores, vocab, Y = _labels(run, len(X), threshold)
    names, result = _select_tags(run, vocab, Y, tags, threshold, min_count, max_count, include, exclude)
    columns = [vocab.index(t) for t in names]
    if method == "svm":
        estimator.fit(X, Y[:, columns], scores=scores[:, columns], tag_names=names)
    else:
        estimator.fit(X, Y[:, columns], tag_names=names)
    record.update(threshold=float(threshold), min_count=result.min_count, max_count=result.max_count,
                  include=list(include), exclude=list(exclude), dropped=result.dropped)
    stats = supervised_stats(estimator)
    stats["std"] = _spread(X, estimator.directions_)
    if method == "svd":
        stats["characteristic_sign"] = estimator.characteristic_sign_
    return DirectionSet(method, space, names, estimator.directions_.astype(np.float32), stats,
                        fingerprint, record)
