"""InterFaceGAN-style linear SVM boundaries as tag directions."""

import numpy as np

from latentedit.directions.base import check_codes_labels, orient_toward, projection_auc, unit_rows


def select_extremes(column_scores, fraction):
    """Indices of the top and bottom `fraction` of samples by score (stable order on ties)."""
    n = len(column_scores)
    k = max(1, int(round(fraction * n)))
    order = np.argsort(-column_scores, kind="stable")
    return order[:k], order[n - k:]


def _fit_one(Xc, labels, C, max_iter, tol):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LinearSVC(C=C, dual=False, max_iter=max_iter, tol=tol).fit(Xc, labels)
    return model.coef_[0], model.n_iter_


class SVMDirections:
    """Normal of a linear SVM separating each tag's samples from the rest (InterFaceGAN).

    fraction: InterFaceGAN trains on the top and bottom 2% of samples ranked by attribute score
    (from 500k samples, i.e. 10k per side). Give the tagger's scores to `fit(X, Y, scores=...)`
    to rank by them; with 0/1 labels alone the ranking is by label, ties in sample order.
    With ~10k samples, 2% is ~200 per side in a 512-d space: always separable, and the margin is
    then set by a handful of points, so the default is fraction=None: all samples, labelled by Y.

    The SVM is scikit-learn's LinearSVC (squared hinge, primal solver) on codes centred on the
    mean of the samples used, so its regularised intercept does not bend the boundary. C is the
    usual inverse penalty; its scale depends on N and on the scale of the codes.
    Tags are fitted in parallel threads (`n_jobs`).

    Fitted: `directions_` (T, D) unit boundary normals pointing toward each tag, `n_positive_`
    (T,) (tag carriers among all samples), `n_train_` (T,) samples used, `score_` (T,): AUC of the
    projection X @ direction against Y on all samples.
    """

    def __init__(self, fraction=None, C=0.01, n_jobs=None, max_iter=1000, tol=1e-4):
        self.fraction = fraction
        self.C = C
        self.n_jobs = n_jobs
        self.max_iter = max_iter
        self.tol = tol

    def get_params(self, deep=True):
        return {"fraction": self.fraction, "C": self.C, "n_jobs": self.n_jobs,
                "max_iter": self.max_iter, "tol": self.tol}

    def _training_sets(self, X, Y, scores):
        Xc = X - X.mean(0) if self.fraction is None else None
        for j in range(Y.shape[1]):
            if self.fraction is None:
                yield Xc, Y[:, j].astype(np.int64)
                continue
            ranking = scores[:, j] if scores is not None else Y[:, j].astype(np.float64)
            top, bottom = select_extremes(ranking, self.fraction)
            rows = np.concatenate([top, bottom])
            Xs = X[rows]
            labels = np.r_[np.ones(len(top), np.int64), np.zeros(len(bottom), np.int64)]
            yield Xs - Xs.mean(0), labels

    def fit(self, X, Y, scores=None, tag_names=None):
        from joblib import Parallel, delayed

        X, Y, names = check_codes_labels(X, Y, tag_names)
        if self.fraction is not None and not 0 < self.fraction <= 0.5:
            raise ValueError(f"fraction must be in (0, 0.5] or None, got {self.fraction}")
        if scores is not None:
            scores = np.asarray(scores, dtype=np.float64).reshape(len(X), -1)
            if scores.shape != Y.shape:
                raise ValueError(f"scores shape {scores.shape} differs from Y shape {Y.shape}")
        results = Parallel(n_jobs=self.n_jobs, backend="threading")(
            delayed(_fit_one)(Xs, labels, self.C, self.max_iter, self.tol)
            for Xs, labels in self._training_sets(X, Y, scores))
        coef = np.array([r[0] for r in results])
        self.n_iter_ = np.array([r[1] for r in results])
        self.n_train_ = (np.full(Y.shape[1], len(X)) if self.fraction is None
                         else np.full(Y.shape[1], 2 * max(1, int(round(self.fraction * len(X))))))
        self.directions_ = orient_toward(unit_rows(coef, "SVM boundary normal", names), X, Y)
        self.n_positive_ = Y.sum(0)
        self.score_ = projection_auc(X, Y, self.directions_)
        return self
