"""GANSpace-style principal directions of sampled codes (unsupervised)."""

import numpy as np

from latentedit.directions.base import DirectionEstimator, orient_largest_positive


class PCADirections(DirectionEstimator):
    """Leading principal components of the codes, named pca_0, pca_1, ...

    GANSpace samples many w and edits along their principal axes in units of each axis's
    standard deviation; `std_` holds that unit, so an edit of strength s moves s * std_[k].
    Computed from the eigen-decomposition of the (float64) covariance; the sign of each component
    is fixed so that its largest-magnitude coordinate is positive.

    Unsupervised: fit uses X only (see `DirectionEstimator` for the shared signature).

    Fitted: `directions_` (k, D) unit rows, `names_` (k,), `std_` (k,), `explained_variance_` (k,),
    `explained_variance_ratio_` (k,), `mean_` (D,), `score_` (k,) = explained variance ratio.
    """

    requires_labels = False

    def __init__(self, n_components=10):
        self.n_components = n_components

    @classmethod
    def defaults_for(cls, space, latent_dim, dim=None) -> dict:
        return {"n_components": dim} if dim and dim < 10 else {}  # GNR's z, a DCGAN's z (= its w) are 8-d

    def fit(self, X, Y=None, *, tag_names=None, scores=None, generator=None):
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
        self.names_ = [f"pca_{i}" for i in range(k)]
        return self

    def direction_stats(self) -> dict:
        return {"score": self.score_, "std": self.std_}
