"""Sane bounds on what a user may ask for, and the checks that keep NaN and inf out of a run.

Every check raises a one-line error that says the bound. The numbers:

- Strengths: |A| <= `MAX_STRENGTH_IN_CODE_SCALE` (100) code scales. The decoder's modulated
  convolutions are demodulated, so its output grows linearly with a far-out code and never
  saturates back: on the demo generator (code scale 0.70) random unit steps of 100 code scales
  clip 14% of the pixels to white or black, 1000 code scales 82%, 1e30 (absolute) all of them,
  and float64 strengths past float32's range (--sub-strength 1e300) make the codes inf. 100 is
  2.5x the largest default (SVD's 40) and several times the norm of a typical code. A set
  without a code scale is bounded by `MAX_STRENGTH_ABSOLUTE` (1e4). In D-dimensional codes the bound
  is scaled by sqrt(D / 512), as default strengths are (`editing.strengths.default_scale`): in GNR's
  8-d z, 100 unscaled code scales turn 99% of the pixels' channels to 0 or 255. z, the mapping
  network's input, carries half as far (`MAX_Z_SHARE`): at the scaled bound (12.6 on the demo
  generator) the fitted z directions of the thesis's tags blew out (every channel clipped) up to
  33% of the pixels, at half of it up to 4.0% (tests/test_hardening.py::
  test_the_largest_z_strength_still_decodes_to_a_face).
- Counts: a sweep has at most `MAX_SWEEP_STEPS` columns (a grid of B x 101 images is already
  hard to read; 100,000 filled more than 2 GB), a run at most `MAX_SAMPLES` samples (the thesis
  used 10,200; a million PNGs take ~10 GB).
- Images: a side of at least `MIN_IMAGE_SIDE` pixels (a 1x1 selfie would be upscaled silently to
  the generator's size) and at most `MAX_IMAGE_PIXELS` (PIL's own decompression-bomb threshold).
"""

from __future__ import annotations

import math

import numpy as np

from latentedit.errors import InputError, NonFiniteError

MAX_STRENGTH_IN_CODE_SCALE = 100.0
MAX_Z_SHARE = 0.5
MAX_STRENGTH_ABSOLUTE = 1e4
MAX_SWEEP_STEPS = 101
MAX_SAMPLES = 1_000_000
MIN_IMAGE_SIDE = 16
MAX_IMAGE_PIXELS = 89_478_485  # PIL.Image.MAX_IMAGE_PIXELS: 1024 * 1024 * 1024 // 4 // 3


def strength_limit(code_scale: float | None, dim: int = 512, space: str = "w") -> float:
    """The largest |strength| an edit of `dim`-dimensional codes may use: 100 code scales x sqrt(dim / 512)
    (x MAX_Z_SHARE in z), or 1e4 when the scale is unknown."""
    if code_scale is None or not math.isfinite(code_scale) or code_scale <= 0:
        return MAX_STRENGTH_ABSOLUTE
    share = MAX_Z_SHARE if space == "z" else 1.0
    return MAX_STRENGTH_IN_CODE_SCALE * share * float(code_scale) * math.sqrt(dim / 512)


def check_strength_range(value: float, code_scale: float | None, name: str = "--strength", dim: int = 512,
                         space: str = "w") -> float:
    """`value` when |value| <= strength_limit(code_scale, dim, space); else an InputError that says the range."""
    x = float(value)
    limit = strength_limit(code_scale, dim, space)
    if not math.isfinite(x) or abs(x) > limit:
        share = MAX_Z_SHARE if space == "z" else 1.0
        unit = ("these directions carry no code scale" if limit == MAX_STRENGTH_ABSOLUTE else
                f"{MAX_STRENGTH_IN_CODE_SCALE * share:g} x the code scale {code_scale:.3g}"
                + (f" x sqrt({dim}/512)" if dim != 512 else ""))
        raise InputError(f"{name} {value:g} is more than style codes can carry: use a strength in "
                         f"[-{limit:.4g}, {limit:.4g}] ({unit})")
    return x


def check_count(value, name: str, low: int = 1, high: int | None = None) -> int:
    """An integer count in [low, high], or an InputError naming the option and the range."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a whole number, got {value!r}") from None
    if n != value and not isinstance(value, str):
        raise InputError(f"{name} must be a whole number, got {value!r}")
    if n < low or (high is not None and n > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high:,}"
        raise InputError(f"{name} must be {bound}, got {n}")
    return n


def check_sweep_steps(n: int, name: str = "--sweep") -> int:
    """The number of sweep columns, at most MAX_SWEEP_STEPS."""
    if n > MAX_SWEEP_STEPS:
        raise InputError(f"{name} asks for {n:,} strengths; at most {MAX_SWEEP_STEPS} columns fit a grid "
                         f"(sweep in several runs, or use fewer steps)")
    return n


def image_size_problem(width: int, height: int) -> str | None:
    """Why an image of this size is refused (below MIN_IMAGE_SIDE, over MAX_IMAGE_PIXELS), or None."""
    if min(width, height) < MIN_IMAGE_SIDE:
        return (f"{width}x{height} pixels is below the {MIN_IMAGE_SIDE}-pixel minimum side "
                "(it would be upscaled into a blur); use a larger picture")
    if width * height > MAX_IMAGE_PIXELS:
        return (f"{width}x{height} pixels ({width * height / 1e6:.0f} MP) is over the {MAX_IMAGE_PIXELS / 1e6:.1f} MP "
                "limit that guards against decompression bombs; downscale it first")
    return None


def count_non_finite(x) -> int:
    """Number of NaN/inf entries of a numpy array or torch tensor (0 for integer arrays)."""
    if hasattr(x, "is_floating_point"):  # torch
        import torch

        return 0 if not x.is_floating_point() else int(x.numel() - torch.isfinite(x).sum().item())
    a = np.asarray(x)
    return 0 if not np.issubdtype(a.dtype, np.inexact) else int(a.size - np.isfinite(a).sum())


def check_finite(x, what: str, hint: str = ""):
    """`x` unchanged when it holds no NaN/inf; else a NonFiniteError naming `what` and the count."""
    bad = count_non_finite(x)
    if bad:
        total = x.numel() if hasattr(x, "numel") else np.asarray(x).size
        raise NonFiniteError(f"{what} hold {bad:,} NaN/inf values of {total:,}" + (f"; {hint}" if hint else ""))
    return x
