"""Edit strengths: defaults per method in units of the code scale, and strength sweeps.

Directions are unit vectors, so a strength is a distance in the directions' space, and a strength
given by the user is exactly that (w' - w == A n_add - B n_sub). `DEFAULT_STRENGTHS` count in
units of the generator's code scale (`DirectionSet.code_scale`, the RMS over coordinates of the
std of the codes a set was fitted on) times sqrt(D / 512) (`default_scale`), so a default step is
the same share of a typical code's length in any space and generator; on a 512-d w whose
coordinates spread with std 1 the regression defaults are the thesis's (+15, -5). Why this unit
and these numbers, measured: docs/disentangling.md, "Default strengths".
"""

from __future__ import annotations

import math

import numpy as np

from latentedit.directions.base import DirectionSet, code_scale
from latentedit.errors import DirectionError, InputError

__all__ = ["DEFAULT_STRENGTHS", "default_strengths", "check_strength", "default_scale", "with_spread",
           "sweep_strengths"]

# (add, sub) strength per method, in units of the code scale of 512-d codes (see the module docstring).
REFERENCE_DIM = 512
DEFAULT_STRENGTHS = {
    "linear": (15.0, 5.0),
    "lasso": (15.0, 5.0),
    "svm": (15.0, 5.0),
    "svd": (40.0, 20.0),
    "sefa": (30.0, 15.0),
    "pca": (30.0, 15.0),
}


def default_strengths(method: str) -> tuple[float, float]:
    """The (add, sub) default strengths of a method, in units of the code scale."""
    return DEFAULT_STRENGTHS.get(method, DEFAULT_STRENGTHS["svd"])


def check_strength(value, name: str = "strength") -> float:
    """A strength as a finite float; a one-line InputError naming `name` otherwise."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    return x


def with_spread(directions, codes):
    """The set with the spread of `codes` (N, D) recorded where it is missing, as default strengths need.

    Sets `code_scale` (`latentedit.directions.code_scale(codes)`) and stats['std'] (std of the
    codes along each direction), each only when missing: for sets made by hand or saved before
    sets carried their code scale. `fit_directions` sets both itself.
    """
    if directions.code_scale is not None and "std" in directions.stats:
        return directions
    X = np.asarray(codes, dtype=np.float64)
    stats = dict(directions.stats)
    stats.setdefault("std", (X @ directions.vectors.astype(np.float64).T).std(axis=0))
    scale = code_scale(X) if directions.code_scale is None else directions.code_scale
    return DirectionSet(directions.method, directions.space, directions.names, directions.vectors, stats,
                        directions.generator_fingerprint, directions.params, scale)


def default_scale(directions) -> float:
    """The unit default strengths count in: the code scale x sqrt(D / REFERENCE_DIM) for D-dimensional codes.

    The typical length of a code is its scale x sqrt(D), so the factor makes a default step the same
    share of that length in any space: for GNR's 512-d w it is 1 (the thesis's numbers), for its
    8-d z 1/8 (see the module docstring). A DirectionError when the set carries no code scale.
    """
    scale = directions.code_scale
    if scale is None:
        raise DirectionError(f"default strengths are counted in units of the code scale, which these "
                             f"{directions.method} directions do not carry; give explicit strengths "
                             f"(--strength/--sub-strength) or add it with "
                             f"latentedit.editing.with_spread(directions, codes)")
    return scale * math.sqrt(directions.vectors.shape[1] / REFERENCE_DIM)


def sweep_strengths(strengths, values=None, factors=None, default_ratios=None) -> list[tuple[float, ...]]:
    """The strengths of each step of a sweep, one tuple per step.

    Args:
        strengths: an edit's resolved strengths (s_0, s_1, ...); s_0 is the reference.
        values: s_0 takes each value and every other strength keeps its ratio to s_0
            (s_k -> v * (s_k / s_0)); when s_0 is 0 the ratios are `default_ratios`.
        factors: instead of values, every strength is multiplied by each factor (s_k -> s_k * f).
        default_ratios: (1, r_1, ...), the ratios of the method's default strengths, so that a
            sweep from a zero reference still passes through the default edit.

    Raises:
        ValueError: unless exactly one of values and factors is given, or when the reference is
            0 and no default_ratios of the right length are given.
    """
    if (values is None) == (factors is None):
        raise ValueError("give exactly one of values and factors")
    s = tuple(float(x) for x in strengths)
    if factors is not None:
        return [tuple(x * float(f) for x in s) for f in factors]
    if s[0]:
        ratios = [x / s[0] for x in s[1:]]
    elif default_ratios is not None and len(default_ratios) == len(s):
        ratios = [float(r) for r in default_ratios[1:]]
    else:
        raise ValueError(f"the reference strength is 0, so a sweep needs {len(s)} default_ratios")
    return [(float(v), *(float(v) * r for r in ratios)) for v in values]
