"""Shared statistics: the tag threshold, per-tag labels (thresholds or MCut) and the one AUC.

The bottom layer of the package: numpy and scipy only, no latentedit imports.
"""

import numpy as np
from scipy.stats import rankdata

__all__ = ["TAG_THRESHOLD", "MCUT_FLOOR", "auc", "mcut_threshold", "tag_labels"]

# A tag is on when its tagger score is >= TAG_THRESHOLD (tagging, fitting, edits, scoring).
TAG_THRESHOLD = 0.5
# MCut's lower bound per tag category (the WD14 taggers' reference: characters at least 0.15).
MCUT_FLOOR = {"general": 0.0, "character": 0.15}


def mcut_threshold(scores) -> np.ndarray:
    """Maximum cut thresholding (Largeron et al., 2012) of each row of scores (N, T) -> (N,).

    The midpoint of the widest gap between a row's scores sorted high to low: the tags above
    the gap are on. A row of fewer than two scores gets -inf (everything on).
    """
    s = -np.sort(-np.asarray(scores, np.float64), axis=1)
    if s.shape[1] < 2:
        return np.full(len(s), -np.inf)
    t = np.argmax(s[:, :-1] - s[:, 1:], axis=1)[:, None]
    return ((np.take_along_axis(s, t, 1) + np.take_along_axis(s, t + 1, 1)) / 2)[:, 0]


def tag_labels(scores, thresholds=TAG_THRESHOLD, categories=None, mcut: bool = False) -> np.ndarray:
    """0/1 labels (N, T) uint8 of tag scores: score >= its tag's threshold (a float or one per tag).

    With `mcut`, the tags of each MCUT_FLOOR category are thresholded per image instead, at
    max(floor, mcut_threshold of that image's scores in the category); `categories` names each
    tag's category (e.g. "general", "character", "rating").
    """
    scores = np.asarray(scores)
    on = scores >= np.asarray(thresholds, dtype=np.float64)
    if mcut and categories is not None:
        categories = np.asarray(categories)
        for name, floor in MCUT_FLOOR.items():
            cols = np.flatnonzero(categories == name)
            if len(cols):
                cut = np.maximum(floor, mcut_threshold(scores[:, cols]))
                on[:, cols] = scores[:, cols] >= cut[:, None]
    return on.astype(np.uint8)


def auc(y_true, scores):
    """Area under the ROC curve (Mann-Whitney U / (n_pos n_neg), tied scores counted half).

    y_true: 0/1 (or bool) labels (N,) or (N, T); scores: the same shape. Returns a float for
    1-D input and a float64 array (T,) of per-column AUCs for 2-D input. 1.0: every positive
    scores above every negative; 0.5: chance; nan where a column has only one class.
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores)
    if y.shape != s.shape or y.ndim not in (1, 2):
        raise ValueError(f"auc needs labels and scores of one shape (N,) or (N, T), got {y.shape} and {s.shape}")
    ranks = rankdata(s, axis=0)
    n_pos = y.sum(0).astype(np.float64)
    n_neg = len(y) - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ((ranks * y).sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    out = np.where((n_pos == 0) | (n_neg == 0), np.nan, out)
    return float(out) if y.ndim == 1 else out
