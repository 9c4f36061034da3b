"""Conditional directions: move along one attribute while holding others (InterFaceGAN)."""

import numpy as np

from latentedit.errors import DirectionError


def condition(vector, others, tol=1e-6) -> np.ndarray:
    """Project `vector` (D,) off the span of `others` ((D,) or (K, D)) and re-normalise.

    Moving along the result leaves the projection on every conditioning direction unchanged, so
    e.g. condition(n(long_hair), [n(black_hair)]) changes hair length without moving the black-
    hair score (to the extent both are linear). Works for non-orthogonal `others` (uses an
    orthonormal basis of their span). Raises DirectionError if nothing is left.
    """
    v = np.asarray(vector, dtype=np.float64).ravel()
    B = np.atleast_2d(np.asarray(others, dtype=np.float64))
    if B.shape[1] != v.shape[0]:
        raise DirectionError(f"cannot condition a {v.shape[0]}-d direction on {B.shape[1]}-d directions")
    v_norm = np.linalg.norm(v)
    if v_norm == 0:
        raise DirectionError("cannot condition a zero direction")
    u, s, vt = np.linalg.svd(B, full_matrices=False)
    basis = vt[s > 1e-10 * max(s.max(initial=0.0), 1e-300)]
    residual = v - basis.T @ (basis @ v)
    norm = np.linalg.norm(residual)
    if norm <= tol * v_norm:
        raise DirectionError("the direction lies in the span of the directions it is conditioned on, "
                             "so nothing is left after projecting them out; condition on fewer directions")
    return (residual / norm).astype(np.result_type(np.asarray(vector).dtype, np.float32))
