"""Least-squares tag directions, all tags in one solve."""

import numpy as np

from latentedit.directions.base import DirectionEstimator, check_codes_labels


class LinearDirections(DirectionEstimator):
    """Ridge / minimum-norm least squares of every tag's 0/1 column on the codes.

    The thesis fitted scikit-learn's LinearRegression once per tag. Sampled w = mapping(z) lie
    near the 8-d image of z, so the covariance of the codes has a few large eigenvalues and many
    tiny ones. The raw normal equations then divide by those tiny eigenvalues: on codes in an
    exactly 8-d subspace their solution is noise of norm ~1e7 (cosine ~1e-9 with the true
    direction, see tests). This fitter solves all tags at once from one eigen-decomposition
    C = V diag(e) V^T of the code covariance C = Xc^T Xc / N:

        coef = V diag(1 / (e + alpha * max(e))) V^T Xc^T Yc / N

    - alpha > 0: ridge, RELATIVE to the largest code variance: it caps the effective condition
      number at ~1/alpha and does not depend on the scale of the codes. At 1e-3, directions with
      more than 1/1000 of the top variance are fitted almost unpenalised.
    - alpha = 0: minimum-norm least squares (pseudo-inverse, eigenvalues below `rcond` times the
      largest dropped), which is what lstsq returns on rank-deficient codes.
    - n_components = k: solve only within the top-k principal directions of the codes
      (principal-component regression). On a CURVED low-dimensional manifold the small
      eigen-directions hold the curvature, and least squares spends most of the direction's norm
      there (it predicts the tag through the bends). With k = the latent dimension (8 for GNR),
      the direction stays in the manifold's linear span: on codes w = MLP(z) it recovers the
      w-direction of a z-space tag with cosine 0.96-0.999 where ridge alone reaches 0.2-0.5
      (tests/test_directions.py). Off by default (it needs k); `fit_directions` sets it to the
      generator's latent_dim for w-space fits (`defaults_for`).
    - center=True fits an intercept (codes and labels centred), like LinearRegression; False
      regresses the raw labels on the raw codes, which makes the mean code part of the direction.

    Fitted: `directions_` (T, D) unit rows pointing toward each tag, `coef_` (T, D) raw
    coefficients, `intercept_` (T,), `eigenvalues_` (D,) code covariance spectrum (descending),
    `n_positive_` (T,), `names_` (T,), `score_` (T,): AUC of the projection X @ direction for
    telling the tag's samples from the rest, on the training data.
    """

    def __init__(self, alpha=1e-3, center=True, n_components=None, rcond=1e-10):
        self.alpha = alpha
        self.center = center
        self.n_components = n_components
        self.rcond = rcond

    @classmethod
    def defaults_for(cls, space, latent_dim, dim=None) -> dict:
        """In w space, solve within the latent_dim-dimensional span of w = mapping(z) (see above)."""
        return {"n_components": latent_dim} if space == "w" else {}

    def fit(self, X, Y=None, *, tag_names=None, scores=None, generator=None):
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
        eig = np.maximum(eig, 0.0)
        top = max(eig.max(), 1e-300)
        if self.alpha > 0:
            inverse = 1.0 / (eig + self.alpha * top)
        else:
            keep = eig > self.rcond * top
            inverse = np.where(keep, 1.0 / np.where(keep, eig, 1.0), 0.0)
        if self.n_components is not None:
            k = int(self.n_components)
            if not 1 <= k <= X.shape[1]:
                raise ValueError(f"n_components must be in 1..{X.shape[1]}, got {self.n_components}")
            inverse[: X.shape[1] - k] = 0.0
        coef = (V @ (inverse[:, None] * (V.T @ B))).T
        self.coef_ = coef
        self.intercept_ = y_mean - coef @ x_mean
        self.eigenvalues_ = eig[::-1].copy()
        return self._set_tag_directions(coef, X, Y, names, "linear direction")
