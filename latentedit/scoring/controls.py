"""Controls a side-effect rate is read against: the reader's noise, the per-face picture, a null edit.

- `reliability(reads, z)`: on the demo world, per attribute, how many unedited faces the reader
  reads as the truth of the codes they were decoded from. A side effect of a few % on an attribute
  the reader gets right on 90% of faces is not told apart from reading noise.
- `any_other_changed(before, after, own)`: per face, whether any attribute but the edit's own
  changed, and the share of such faces with its 95% Wilson interval: what a user meets, where
  "worst side effect" shows one attribute.
- `null_directions(k, length, directions, seed)`: k seeded random directions of a given length
  orthogonal to an edit's directions. The same procedure along them gives the change rate of every
  attribute that is noise, not the edit (the null-edit floor).
"""

from __future__ import annotations

import numpy as np

from latentedit.scoring.sideeffects import Rate, rate
from latentedit.world.batch_readout import agrees, changes

__all__ = ["reliability", "any_other_changed", "null_directions", "null_codes"]


def reliability(reads: dict, z) -> dict[str, Rate]:
    """{attribute: Rate of unedited faces whose reading agrees with the truth of their code z (N, 8)}.

    `reads` is `BatchReader.read` of the faces decoded from z (eye colour counts faces whose
    code has open eyes; the background agrees within `BACKGROUND_TOLERANCE`).
    """
    return {a: rate(hit) for a, hit in agrees(reads, z).items()}


def any_other_changed(before: dict, after: dict, own, change_fn=changes) -> tuple[np.ndarray, Rate]:
    """(per face: True where any attribute but `own` changed, the share of such faces).

    before, after: {attribute: (N,) values} read from the same faces before and after an edit;
    own: the edit's own attributes (e.g. ("open_mouth",)); change_fn(before, after) ->
    {attribute: (N,) bool} decides what counts as a change (the demo reader's `changes` by default;
    `sideeffects.sure_changes` for tag reads).
    """
    changed = change_fn(before, after)
    others = [a for a in changed if a not in set(own)]
    n = len(next(iter(before.values())))
    mask = np.any([np.asarray(changed[a], bool) for a in others], axis=0) if others else np.zeros(n, bool)
    return mask, rate(mask)


def null_directions(k: int, length: float, directions, seed: int = 0) -> np.ndarray:
    """(k, D) random directions of norm `length`, orthogonal to every row of `directions` (M, D).

    Drawn from np.random.default_rng(seed): the same seed gives the same directions. For "the
    same procedure with a random direction of the same length": `length` is the norm of the
    edit's step.
    """
    V = np.atleast_2d(np.asarray(directions, np.float64))
    _, s, vt = np.linalg.svd(V, full_matrices=False)
    Q = vt[s > 1e-10 * max(s.max(initial=0.0), 1e-300)]  # an orthonormal basis of the edit's directions
    if len(Q) >= V.shape[1]:
        raise ValueError(f"the edit's directions span all {V.shape[1]} dimensions: no direction is orthogonal to them")
    X = np.random.default_rng(seed).standard_normal((int(k), V.shape[1]))
    X -= (X @ Q.T) @ Q
    return float(length) * X / np.linalg.norm(X, axis=1, keepdims=True)


def null_codes(codes, edited, directions, draws: int, seed: int = 0) -> np.ndarray:
    """The null edit of `edited` (N, D) or (N, L, D) codes made from `codes` (N, D): each face's step
    (per W+ layer) replaced by a step of the same length along one of `draws` seeded random
    directions orthogonal to the edit's `directions` (M, D), face i along direction i mod draws, so
    the control costs one decode and one read."""
    codes, edited = np.asarray(codes), np.asarray(edited)
    base = codes[:, None] if edited.ndim == codes.ndim + 1 else codes  # w -> W+ when the edit has layers
    units = null_directions(draws, 1.0, directions, seed=seed)[np.arange(len(codes)) % draws]
    steps = np.linalg.norm(edited - base, axis=-1, keepdims=True) * (units[:, None] if base.ndim == 3 else units)
    return (base + steps).astype(np.float32)
