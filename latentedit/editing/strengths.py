"""Edit strengths: defaults per method in units of the code scale, and strength sweeps.

Directions are unit vectors, so a strength is a distance in w-space, and a strength given by the
user is exactly that (w' - w == A n_add - B n_sub). The thesis used (+15, -5) for regression
directions and (-10, +5) for its SVD ones (its SVD sign was arbitrary; ours points toward the
tag, so the equivalent is (+10, -5)), as absolute distances in the w-space of the released
checkpoint. Another generator's w has another scale, so `DEFAULT_STRENGTHS` count in units of
the generator's code scale: the RMS over coordinates of the std of the codes a direction set was
fitted on (`DirectionSet.code_scale`; 0.69-0.70 for the demo generator's w). On a generator whose
w coordinates spread with std 1, the regression defaults are the thesis's.

The unit also scales with the codes' dimension D as sqrt(D / 512) (`default_scale`), so that a
default step is the same share of a typical code's length (scale x sqrt(D)) in any space: 1 for
GNR's 512-d w, 1/8 for its 8-d z. Counted in code scales alone, a z step of 15 was five times a
z code's length and moved every attribute of the demo world: linear +long_hair -short_hair in z
changed the hair colour of 67% of 200 fresh samples, 51% with the factor.

Why that unit and these numbers (demo world, `latentedit.world.evaluate.measure_edits`: runs of
192 and 600 tagger-labelled samples, 200 fresh samples, attributes read from the pixels):
- The std of the codes along each direction, the other obvious unit, is unstable: it mostly
  measures fit noise (linear directions: 1.0-1.5 when fitted on 3,000 codes with true labels,
  2.4-5.5 on 600 tagger-labelled codes), while the strength an edit needs stayed put in absolute
  terms (linear closed_eyes flips at about 5, long_hair peaks at about 10 for both fits). The code
  scale is a property of the generator: 0.695 and 0.699 on the two runs.
- Regression (linear, lasso, svm): 15 units (10.4 on the demo) keep the thesis's numbers. Linear
  flips closed_eyes for 100% of the samples, long_hair (minus short_hair) for 65-66%, open_mouth
  (minus closed_mouth) for 45% (192 samples) to 99% (600); lasso open_mouth 94-100%, closed_eyes
  21% (192) to 96% (600), long_hair 13-16%. More overshoots the hair edit: linear long_hair
  flipped fewer samples at 25 than at 10 (this and the sweeps above were measured on the earlier,
  two-stage demo generator, code scale 0.68; the rates here on the shipped one).
- SVD: 10 units (7.0 on the demo) flip a third of the samples at best. An uncentred SVD vector is
  mostly the mean code, so only a small part of a step along it moves the attribute: 40 units
  (27.9) flip long_hair (minus short_hair) for 91-93% and closed_eyes for 100%, open_mouth 43-65%.
- SeFa (and PCA) eigenvectors named by labelling: 30 units (20.9): closed_eyes 100%, open_mouth
  74% (43% with closed_mouth subtracted), long_hair 27-28% (its hair eigenvector changes everything
  else too).
All keep the thesis's add:sub ratios (3:1 regression, 2:1 the others). No default makes every
method flip every tag: sweep to find the strength of a particular edit.
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
