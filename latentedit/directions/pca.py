"""GANSpace-style principal directions of sampled codes (unsupervised)."""

import numpy as np

from latentedit.directions.base import orient_largest_positive


class PCADirections:
    """Leading principal components of the codes, named pca_0, pca_1, ...

    GANSpace samples many w and edits along their principal axes in units of each axis's
    standard deviation; `std_` holds that unit, so an edit of strength s moves s * std_[k].
    Computed from the eigen-decomposition of the (float64) covariance; the sign of each component
    is fixed so that its largest-magnitude coordinate is positive.

    Fitted: `directions_` (k, D) unit rows, `std_` (k,), `explained_variance_` (k,),
    `explained_variance_ratio_` (k,), `mean_` (D,), `score_` (k,) = explained variance ratio.
    """

    def __init__(self, n_components=10):
        self.n_components = n_components

    def get_params(self, deep=True):
        return {"n_components": self.n_components}

    def fit(self, X, Y=None):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 2:
            raise ValueError(f"X must be (N, D) with N >= 2, got shape {X.shape}")
        k = int(self.n_components)
        if not 1 <= k <= X.shape[1]:
            raise ValueError(f"n_components must be in 1..{X.shape[1]}, got {k}")
        self.mean_ = X.mean(0)
        Xc = X - self.mean_
        eig, V = np.linalg.eigh(Xc.T @ Xc / (len(X) - 1))
        order = np.argsort(eig)[::-1][:k]
        eig = np.maximum(eig, 0.0)
        self.explained_variance_ = eig[order]
        self.explained_variance_ratio_ = eig[order] / eig.sum()
        self.std_ = np.sqrt(self.explained_variance_)
        self.directions_ = orient_largest_positive(V[:, order].T)
        self.score_ = self.explained_variance_ratio_
        return self

    @property
    def names_(self):
        return [f"pca_{i}" for i in range(len(self.directions_))]
