"""Shared statistics: the tag threshold and the one AUC (rank-based, ties averaged).

The bottom layer of the package: numpy and scipy only, no latentedit imports.
"""

import numpy as np
from scipy.stats import rankdata

__all__ = ["TAG_THRESHOLD", "auc"]

# A tag is on when its tagger score is >= TAG_THRESHOLD (tagging, fitting, edits, scoring).
TAG_THRESHOLD = 0.5


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
