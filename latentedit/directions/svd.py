"""The thesis's per-tag SVD directions ("characteristic" vector of a tag's codes)."""

import numpy as np

from latentedit.directions.base import DirectionEstimator, check_codes_labels, orient_toward, paired_difference


def leading_right_singular_vector(M):
    """Unit leading right singular vector of M (n, D), sign not fixed.

    Uses Lanczos (ARPACK, fixed start vector, so deterministic) on large matrices and a full SVD
    on small ones; both agree to machine precision.
    """
    if min(M.shape) <= 32:
        return np.linalg.svd(M, full_matrices=False)[2][0]
    from scipy.sparse.linalg import svds

    v0 = np.ones(min(M.shape)) / np.sqrt(min(M.shape))
    _, _, vt = svds(M, k=1, v0=v0, tol=0, solver="arpack")
    return vt[0]


class SVDDirections(DirectionEstimator):
    """Leading right singular vector of the matrix of codes of the samples that carry each tag.

    This is the thesis method. Uncentred (default, as the thesis), the leading singular vector of
    any subset of codes is mostly the mean code, so single-tag vectors are nearly parallel to
    each other and to the mean; what tells two opposite tags apart survives in their difference
    (`paired`), which is how the thesis used them. center=True subtracts the GLOBAL mean of all
    codes first (not each tag's own mean, which would discard the shift that defines the tag).

    The sign of a singular vector is arbitrary. `directions_` point toward the tag, like every
    fitter's (the thesis's vectors happened to point away, hence its negative SVD strengths).
    For uncentred vectors that sign is decided by the small part that is not the mean, so the
    vectors of two opposite tags may come out as +mean and -mean; their difference would then be
    the mean. `characteristic_` keeps the sign under which the tag's own codes project positively
    (all uncentred vectors then share the mean's sign), and `paired` subtracts those.

    Fitted: `directions_` (T, D) unit rows toward each tag, `characteristic_` (T, D) the same
    vectors signed so the tag's codes project positively, `characteristic_sign_` (T,) +-1 with
    characteristic_ = sign * directions_, `tag_means_` (T, D) mean code of each tag's samples,
    `singular_values_` (T,), `n_positive_` (T,), `names_` (T,), `score_` (T,): AUC of the projection
    X @ direction for telling the tag's samples from the rest (near 0.5 for uncentred single
    tags: they mostly measure the mean).
    """

    def __init__(self, center=False, n_jobs=None):
        self.center = center
        self.n_jobs = n_jobs

    def fit(self, X, Y=None, *, tag_names=None, scores=None, generator=None):
        from joblib import Parallel, delayed

        X, Y, self.names_ = check_codes_labels(X, Y, tag_names)
        self.mean_ = X.mean(0) if self.center else np.zeros(X.shape[1])
        Xc = X - self.mean_
        vectors = Parallel(n_jobs=self.n_jobs, backend="threading")(
            delayed(leading_right_singular_vector)(Xc[Y[:, j]]) for j in range(Y.shape[1]))
        V = np.array(vectors)
        Yf = Y.astype(np.float64)
        self.n_positive_ = Y.sum(0)
        self.tag_means_ = (Yf.T @ X) / self.n_positive_[:, None]
        self.singular_values_ = np.array([np.linalg.norm(Xc[Y[:, j]] @ V[j]) for j in range(Y.shape[1])])
        self.directions_, self.score_ = orient_toward(V, X, Y, return_auc=True)
        own = np.einsum("td,td->t", self.directions_, self.tag_means_ - self.mean_)
        self.characteristic_sign_ = np.where(own < 0, -1.0, 1.0)
        self.characteristic_ = self.directions_ * self.characteristic_sign_[:, None]
        return self

    def direction_stats(self) -> dict:
        return {**super().direction_stats(), "characteristic_sign": self.characteristic_sign_}

    def paired(self, positive: int, negative: int) -> np.ndarray:
        """Unit vector from tag `negative` to tag `positive` (column indices), e.g. long minus short hair.

        Difference of the two characteristic vectors, signed so that the positive tag's samples
        project higher than the negative tag's.
        """
        d = paired_difference(self.characteristic_[positive], self.characteristic_[negative])
        if d @ (self.tag_means_[positive] - self.tag_means_[negative]) < 0:
            d = -d
        return d
