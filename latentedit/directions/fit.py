"""Fit one method's directions over a run: codes + thresholded tag scores -> DirectionSet.

Every method is a `DirectionEstimator` with the one fit signature
fit(X, Y=None, *, tag_names=None, scores=None, generator=None), so `fit_directions` treats them
alike and asks each estimator class (not the method's name) what it needs: `requires_codes`,
`requires_labels`, `spaces`, `defaults_for`.
"""

import inspect

import numpy as np

from latentedit.directions.base import DirectionSet, code_scale
from latentedit.directions.filtering import filter_tags
from latentedit.directions.label import sample_w
from latentedit.directions.lasso import LassoDirections
from latentedit.directions.linear import LinearDirections
from latentedit.directions.pca import PCADirections
from latentedit.directions.sefa import SeFa
from latentedit.directions.svd import SVDDirections
from latentedit.directions.svm import SVMDirections
from latentedit.errors import DirectionError, RunError, TagError, unknown_name_message
from latentedit.limits import check_finite
from latentedit.models.generator import fingerprint

METHODS = {
    "linear": LinearDirections,
    "lasso": LassoDirections,
    "svd": SVDDirections,
    "svm": SVMDirections,
    "sefa": SeFa,
    "pca": PCADirections,
}
SPACES = ("w", "z")
# w codes sampled for the code scale of a set fitted without a run (SeFa from a generator alone).
SCALE_SAMPLES, SCALE_SEED = 1000, 0


def estimator_class(method: str):
    """The estimator class of `method` (a METHODS key); an unknown name fails in one line."""
    if method not in METHODS:
        raise DirectionError(unknown_name_message("method", method, METHODS))
    return METHODS[method]


def estimator_defaults(method: str) -> dict:
    """The constructor defaults of `method`'s estimator, in signature order."""
    parameters = inspect.signature(estimator_class(method).__init__).parameters
    return {name: p.default for name, p in parameters.items() if name != "self"}


def check_params(method: str, params) -> None:
    """Raise DirectionError naming the first of `params` that `method`'s estimator does not take."""
    allowed = list(estimator_defaults(method))
    for name in params:
        if name not in allowed:
            raise DirectionError(f"method {method} has no parameter {name!r}; its parameters: "
                                 f"{', '.join(allowed)}")


def make_estimator(method: str, **params):
    """A fresh estimator of `method` (a METHODS key) with `params`; bad names fail in one line."""
    check_params(method, params)
    return estimator_class(method)(**params)


def _run_name(run):
    return str(getattr(run, "path", run))


def _generator_fingerprint(generator, run):
    """Fingerprint of `generator` (if it can be computed) checked against the run's."""
    fp = fingerprint(generator) if generator is not None and hasattr(generator, "state_dict") else None
    run_fp = getattr(run, "fingerprint", None) if run is not None else None
    if fp and run_fp and fp != run_fp:
        raise DirectionError(f"the generator given ({fp}) is not the one run {_run_name(run)} was sampled "
                             f"with ({run_fp}); pass that generator")
    return fp or run_fp or ""


def _check_space(method, cls, space):
    if space not in SPACES:
        raise DirectionError(f"unknown latent space {space!r}; use one of {', '.join(SPACES)}")
    if space not in cls.spaces:
        raise DirectionError(f"{method} directions live in {' or '.join(cls.spaces)} space, not {space!r}; "
                             f"use space={cls.spaces[0]!r}")


def _codes(run, space):
    X = np.asarray(run.codes()[space])
    if X.ndim != 2 or len(X) == 0:
        raise RunError(f"run {_run_name(run)} has no samples; run latentedit sample first")
    return check_finite(X, f"the {space} codes of run {_run_name(run)}", "the run is damaged: sample it again "
                        f"with latentedit sample --out {_run_name(run)} --overwrite")


def _spread(X, directions):
    """Std of the codes projected on each direction (a statistic; strengths count in code scale)."""
    return (np.asarray(X, dtype=np.float64) @ np.asarray(directions, dtype=np.float64).T).std(axis=0)


def _labels(run, n, threshold):
    """Scores, tag names, 0/1 labels and the threshold used (None: the tagger's own per tag, or MCut)."""
    scores, vocab = run.tag_scores()
    scores = np.asarray(scores)
    if scores.shape != (n, len(vocab)):
        raise RunError(f"run {_run_name(run)} has tag scores of shape {scores.shape} for {n} samples and "
                       f"{len(vocab)} tags; re-run latentedit tag")
    if threshold is None:
        threshold = run.tag_threshold()
    labels = run.tag_labels(scores) if threshold is None else (scores >= threshold).astype(np.uint8)
    return scores, [str(t) for t in vocab], labels, threshold


def _select_tags(run, vocab, Y, tags, threshold, min_count, max_count, include, exclude):
    result = filter_tags(vocab, Y, len(Y), min_count, max_count, include, exclude, run.tag_categories())
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
            on = "by the tagger's thresholds" if threshold is None else f"score >= {threshold}"
            raise TagError(f"no sample of run {_run_name(run)} has tag {tag!r} ({on}); "
                           f"lower the threshold or sample more")
        reason = result.reason(tag)
        if reason is not None:
            raise TagError(f"tag {tag!r} was filtered out: {reason}; pass min_count/max_count or "
                           f"include it to fit it anyway")
    return tags, result


def latent_dim(run, space: str = "z"):
    """Dimension of the run's z (8 for GNR), or of its w with space "w"; None if unknown."""
    try:
        g = run.manifest["generator"]
        key = "latent_dim" if space == "z" else "style_dim"
        return int(g.get(key) or g["config"][key])  # (runs before the generator interface: GNR's config)
    except (AttributeError, KeyError, TypeError):
        return None


def run_defaults(method, space, run) -> dict:
    """The estimator parameters `fit_directions` uses for `method` on `run` when none are given."""
    dims = (latent_dim(run), latent_dim(run, space)) if run is not None else None
    extra = estimator_class(method).defaults_for(space, *dims) if dims else {}
    return {**estimator_defaults(method), **extra}


def _scale_without_codes(generator):
    """Code scale of seeded w = mapping(z) when a set is fitted from a generator alone; None for a bare state dict."""
    if not hasattr(generator, "mapping"):
        return None
    return code_scale(sample_w(generator, SCALE_SAMPLES, SCALE_SEED).cpu().numpy())


def fit_directions(run, method, space="w", tags=None, threshold=None, generator=None, min_count=None,
                   max_count=None, include=(), exclude=(), **params) -> DirectionSet:
    """Fit `method`'s directions on a run's codes and return them as a DirectionSet.

    Supervised methods (linear, lasso, svd, svm) use `run.codes()[space]` as X and the tag
    scores thresholded at `threshold` as Y (None: as the run's tagger thresholds them, 0.5 for
    DeepDanbooru, per category or by MCut for WD14 taggers: `Run.tag_labels`); tags are those passing `filter_tags` (or exactly
    `tags`, each of which must pass it). pca uses the codes only; sefa uses `generator` (and the
    run, if given, to check the generator is the one it was sampled with, and for its codes'
    scale). `params` go to the estimator (e.g. alpha=1e-3). Linear fits in w space default to
    n_components = the generator's latent_dim: GNR's w = mapping(z) lie near a latent_dim-dimensional
    surface, and least squares over all 512 coordinates puts most of the direction's length into
    that surface's bends (see LinearDirections); pass n_components=None for the thesis's plain fit.

    The set is ready to edit: its `code_scale` (the unit of default edit strengths) is that of the
    run's codes in `space`; for sefa without a run, of SCALE_SAMPLES w = mapping(z) sampled with
    SCALE_SEED (None if `generator` is a bare state dict).
    The set's stats: "score" (see each estimator), "std" (spread of the codes along each
    direction, a statistic, not the strength unit; for sefa only when a run is given; pca's is
    its component std), and for supervised methods "n_positive"; svd adds "characteristic_sign"
    (see SVDDirections), sefa "eigenvalue". params record the estimator's parameters, the number
    of codes, what the fit found (sefa: layer_indices, n_rows), and for supervised methods the
    filter bounds and, per dropped tag, why it was dropped ("dropped").
    """
    cls = estimator_class(method)
    _check_space(method, cls, space)
    check_params(method, params)
    estimator = cls(**{**run_defaults(method, space, run), **params})
    record = {"estimator": estimator.get_params(), "space": space}
    if run is None and cls.requires_codes:
        raise RunError(f"{method} directions are fitted on a run's codes; pass a run")
    fp = _generator_fingerprint(generator, run)
    X = _codes(run, space) if run is not None else None
    if X is not None:
        record["n_samples"] = int(len(X))

    Y = scores = names = None
    if cls.requires_labels:
        scores, vocab, labels, threshold = _labels(run, len(X), threshold)
        names, result = _select_tags(run, vocab, labels, tags, threshold, min_count, max_count, include, exclude)
        columns = [vocab.index(t) for t in names]
        Y, scores = labels[:, columns], scores[:, columns]
        record.update(threshold=None if threshold is None else float(threshold), min_count=result.min_count, max_count=result.max_count,
                      include=list(include), exclude=list(exclude), dropped=result.dropped)
    estimator.fit(X, Y, tag_names=names, scores=scores, generator=generator)
    record.update(estimator.fit_record())
    stats = estimator.direction_stats()
    if X is not None:
        stats.setdefault("std", _spread(X, estimator.directions_))
    scale = code_scale(X) if X is not None else _scale_without_codes(generator)
    return DirectionSet(method, space, estimator.names_, estimator.directions_.astype(np.float32), stats,
                        fp, record, scale)
