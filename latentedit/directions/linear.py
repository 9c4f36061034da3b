"""Least-squares tag directions, all tags in one solve."""

import numpy as np

from latentedit.directions.base import check_codes_labels, orient_toward, projection_auc, unit_rows


class LinearDirections:
    """Ridge / minimum-norm least squares of every tag's 0/1 column on the codes.

    The thesis fitted scikit-learn's LinearRegression once per tag. Sampled w lie near the
    8-d image of z, so the covariance of the codes has a few large eigenvalues and many tiny
    ones: the raw normal equations are then ill-conditioned and their solution is mostly noise
    along the tiny eigen-directions. This fitter solves all tags at once from one eigen-
    decomposition of the code covariance C = Xc^T Xc / N:

        coef = V diag(1 / (e + alpha * mean(e))) V^T Xc^T Yc / N

    - alpha > 0: ridge with a penalty RELATIVE to the mean code variance mean(e) = trace(C) / D, so
      the same alpha means the same thing whatever the scale of the codes. 1e-3 leaves well-
      sampled directions untouched and damps those with less than ~1/1000 of the mean variance.
    - alpha = 0: minimum-norm least squares (pseudo-inverse, eigenvalues below `rcond` times the
      largest dropped), which is what lstsq returns on rank-deficient codes.
    - center=True fits an intercept (codes and labels centred), like LinearRegression; False
      regresses the raw labels on the raw codes, which makes the mean code part of the direction.

    Fitted: `directions_` (T, D) unit rows pointing toward each tag, `coef_` (T, D) raw
    coefficients, `intercept_` (T,), `n_positive_` (T,), `score_` (T,): AUC of the projection
    X @ direction for telling the tag's samples from the rest, on the training data.
    """

    def __init__(self, alpha=1e-3, center=True, rcond=1e-10):
        self.alpha = alpha
        self.center = center
        self.rcond = rcond

    def get_params(self, deep=True):
        return {"alpha": self.alpha, "center": self.center, "rcond": self.rcond}

    def fit(self, X, Y, tag_names=None):
        X, Y, names = check_codes_labels(X, Y, tag_names)
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        Yf = Y.astype(np.float64)
        x_mean = X.mean(0) if self.center else np.zeros(X.shape[1])
        y_mean = Yf.mean(0) if self.center else np.zeros(Y.shape[1])
        Xc = X - x_mean
        C = Xc.T @ Xc / len(X)
        B = Xc.T @ (Yf - y_mean) / len(X)
        eig, V = np.linalg.eigh(C)
        if self.alpha > 0:
            inverse = 1.0 / (np.maximum(eig, 0.0) + self.alpha * max(eig.mean(), 1e-300))
        else:
            keep = eig > self.rcond * eig.max()
            inverse = np.where(keep, 1.0 / np.where(keep, eig, 1.0), 0.0)
        coef = (V @ (inverse[:, None] * (V.T @ B))).T
        self.coef_ = coef
        self.intercept_ = y_mean - coef @ x_mean
        self.eigenvalues_ = eig[::-1].copy()
        self.directions_ = orient_toward(unit_rows(coef, "linear direction", names), X, Y)
        self.n_positive_ = Y.sum(0)
        self.score_ = projection_auc(X, Y, self.directions_)
        return self
