"""Edit algebra on style codes: small pure numpy functions, no file I/O, no torch.

An edit moves a code along a weighted sum of unit directions, delta = sum_k s_k n_k, either in w
(every layer gets the same step) or in chosen W+ layers (the step is zero on the others).
Conditional edits remove from delta its components along other attributes' directions
(InterFaceGAN's conditional manipulation, for any number of conditions).

Shapes: D is the code dimension, L the number of W+ layers, K the number of directions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["weighted_sum", "layer_mask", "layer_delta", "apply_delta", "span_basis", "project_out"]


def _vectors(vectors, name: str = "vectors") -> np.ndarray:
    V = np.asarray(vectors, dtype=np.float64)
    if V.ndim == 1:
        V = V[None]
    if V.ndim != 2:
        raise ValueError(f"{name} must be (K, D) or (D,), got shape {V.shape}")
    return V


def weighted_sum(vectors, weights) -> np.ndarray:
    """The delta of a weighted sum of directions: sum_k weights[k] * vectors[k].

    Args:
        vectors: (K, D) directions (usually unit rows).
        weights: (K,) signed strengths.

    Returns:
        float32 (D,), accumulated in float64.

    Raises:
        ValueError: when there are no directions or the weights do not match them.
    """
    V = _vectors(vectors)
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(V) == 0:
        raise ValueError("an edit needs at least one direction")
    if weights.shape != (len(V),):
        raise ValueError(f"{len(weights)} weights for {len(V)} directions")
    return (weights[:, None] * V).sum(axis=0).astype(np.float32)


def layer_mask(layers, n_layers: int) -> np.ndarray:
    """float32 (L, 1): 1 on the chosen W+ layers, 0 elsewhere.

    Args:
        layers: indices of the layers to edit, each in 0..n_layers-1.
        n_layers: L, the generator's number of W+ layers.

    Raises:
        ValueError: for an index out of range.
    """
    idx = np.asarray(list(layers), dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_layers):
        raise ValueError(f"layer indices must be in 0..{n_layers - 1}, got {idx.tolist()}")
    mask = np.zeros((int(n_layers), 1), np.float32)
    mask[idx] = 1
    return mask


def layer_delta(delta, layers, n_layers: int) -> np.ndarray:
    """A w step (D,) as a W+ step (L, D) that moves only `layers` (None: every layer).

    Raises:
        ValueError: when delta is not 1-D or a layer index is out of range.
    """
    delta = np.asarray(delta)
    if delta.ndim != 1:
        raise ValueError(f"delta must be a w step (D,), got shape {delta.shape}")
    mask = np.ones((int(n_layers), 1), np.float32) if layers is None else layer_mask(layers, n_layers)
    return (mask * delta).astype(delta.dtype, copy=False)


def apply_delta(codes, delta) -> np.ndarray:
    """codes + delta: w codes (B, D) or (D,) with a w step (D,); W+ (B, L, D) with (D,) or (L, D).

    A w code with a W+ step (L, D) becomes W+: every layer starts from the code.

    Raises:
        ValueError: when the code dimension or the layer count does not match.
    """
    x = np.asarray(codes, dtype=np.float32)
    delta = np.asarray(delta, dtype=np.float32)
    if x.shape[-1] != delta.shape[-1]:
        raise ValueError(f"codes have {x.shape[-1]} dimensions but the step has {delta.shape[-1]}")
    if delta.ndim == 2:
        if x.ndim == 3 and x.shape[1] != delta.shape[0]:
            raise ValueError(f"codes have {x.shape[1]} W+ layers but the step has {delta.shape[0]}")
        if x.ndim < 3:
            x = x[..., None, :] if x.ndim == 2 else x[None, :]
            x = np.repeat(x, delta.shape[0], axis=-2)
    elif delta.ndim != 1:
        raise ValueError(f"the step must be (D,) or (L, D), got shape {delta.shape}")
    return x + delta


def span_basis(vectors, rtol: float = 1e-10) -> np.ndarray:
    """Orthonormal rows (R, D) spanning the rows of `vectors` (K, D), R = their rank.

    Dependent or zero rows are allowed: singular values below `rtol` times the largest are
    dropped (an SVD, so the basis is the same whatever the order of dependent rows).
    """
    V = _vectors(vectors)
    if len(V) == 0:
        return np.zeros((0, V.shape[1]))
    _, s, vt = np.linalg.svd(V, full_matrices=False)
    if not s.size or s[0] == 0:
        return np.zeros((0, V.shape[1]))
    return vt[s > rtol * s[0]]


def project_out(delta, condition_vectors) -> np.ndarray:
    """The part of `delta` orthogonal to every condition direction (the complement of their span).

    Args:
        delta: a w step (D,), or a W+ step (L, D) projected layer by layer.
        condition_vectors: (K, D) (or (D,)) directions whose components are removed, any K >= 0;
            for a W+ step also (L, K, D), one set per layer. Dependent directions are fine.

    Returns:
        float32 array of delta's shape: delta - P delta, P the orthogonal projector onto the span.

    Raises:
        ValueError: for mismatched shapes.
    """
    d = np.asarray(delta, dtype=np.float64)
    C = np.asarray(condition_vectors, dtype=np.float64)
    if d.ndim not in (1, 2):
        raise ValueError(f"delta must be (D,) or (L, D), got shape {d.shape}")
    if C.size == 0:
        return d.astype(np.float32)
    if C.shape[-1] != d.shape[-1]:
        raise ValueError(f"condition directions have {C.shape[-1]} dimensions, the step has {d.shape[-1]}")
    if C.ndim == 3:
        if d.ndim != 2 or len(C) != len(d):
            raise ValueError(f"per-layer conditions {C.shape} need a W+ step with {len(C)} layers, got {d.shape}")
        return np.stack([project_out(d[i], C[i]) for i in range(len(d))])
    Q = span_basis(C)
    return (d - (d @ Q.T) @ Q).astype(np.float32)
