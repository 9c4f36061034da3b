"""Checking an edit's tags against a direction set, with close-name suggestions and the reason a
tag was filtered out at fitting time; naming unnamed (SeFa, PCA) directions for the tags asked for.
"""

from __future__ import annotations


import numpy as np

from latentedit.directions import METHODS
from latentedit.directions.filtering import filter_tags
from latentedit.directions.label import label_directions, named_directions
from latentedit.errors import TagError, unknown_name_message
from latentedit.stats import TAG_THRESHOLD

__all__ = ["UNNAMED_METHODS", "filtered_reason", "check_tags", "name_for_tags"]

# Methods whose directions are numbered components (fitted without tags), named for tags by labelling.
UNNAMED_METHODS = tuple(m for m, cls in METHODS.items() if not cls.requires_labels)


def filtered_reason(directions, tag: str, run=None) -> str | None:
    """Why `tag` got no direction at fitting time, or None when it was not filtered out.

    Read from the set's params ("dropped": {tag: reason}) when the fitter recorded it, otherwise
    recomputed from the run's tags with the filter settings the set was fitted with.
    """
    params = getattr(directions, "params", None) or {}
    dropped = params.get("dropped")
    if isinstance(dropped, dict):
        return None if dropped.get(tag) is None else str(dropped[tag])
    if run is None or directions.method in UNNAMED_METHODS or not run.has_tags():
        return None
    scores, vocab = run.tag_scores()
    if tag not in vocab:
        return None
    threshold = params.get("threshold", TAG_THRESHOLD)  # None: the tagger's own thresholds (or MCut)
    Y = run.tag_labels(scores) if threshold is None else (scores >= threshold).astype(np.uint8)
    result = filter_tags(vocab, Y, len(Y), params.get("min_count"), params.get("max_count"),
                         [t for t in params.get("include", ()) if t in vocab],
                         [t for t in params.get("exclude", ()) if t in vocab], run.tag_categories())
    return result.reason(tag)


def check_tags(directions, tags, run=None) -> None:
    """Raise a TagError for the first of `tags` the set has no direction for.

    The message suggests close names, or says why the fit filtered the tag out (from `run`'s tag
    counts when the set does not record it).
    """
    known = directions.names
    for t in tags:
        if t in known:
            continue
        reason = filtered_reason(directions, t, run)
        where = f"the {directions.method} directions"
        if reason is not None:
            raise TagError(f"tag {t!r} has no direction in {where}: it was filtered out at fitting time "
                           f"({reason}); pass --include {t} to fit it anyway")
        raise TagError(f"{unknown_name_message('tag', t, list(known))} (the {directions.method} directions have "
                       f"{len(known)} tags)")


def name_for_tags(generator, directions, tags, tagger, n: int = 64, seed: int = 0):
    """An unnamed set (SeFa, PCA) named by `tags`: each tag's component found by labelling with
    `tagger` (a loaded tagger, or a callable that loads one only when labelling is needed).

    Returns the set itself when every tag already has a direction.
    """
    tags = list(tags)
    if all(t in directions.names for t in tags):
        return directions
    tg = tagger() if callable(tagger) and not hasattr(tagger, "score") else tagger
    for t in tags:
        if t not in tg.tags:
            raise TagError(f"{unknown_name_message('tag', t, tg.tags)} (the tagger labelling the "
                           f"{directions.method} directions does not know it)")
    labels = label_directions(generator, directions, tg, n=n, seed=seed, top=None)
    return named_directions(directions, labels, tags)
