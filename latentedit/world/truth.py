"""Ground truth of the demo world: style code z (8-d) -> attributes -> DeepDanbooru-style tags.

The demo generator is trained so that decode(content, z) draws exactly the attributes this module
computes from z, so every direction and edit can be checked against the truth instead of a tagger.

How attributes follow from z ~ N(0, I_8)
----------------------------------------
A fixed orthonormal basis e0..e7 of z-space (QR of an 8x8 Gaussian drawn with
numpy.random.default_rng(BASIS_SEED), BASIS_SEED = 20220601) keeps the planted vectors off the
coordinate axes. In that basis, with s(v) = z . v for a unit vector v:

- hair_length = s(e0), continuous. short_hair if < -0.5, long_hair if > 0.5, medium_hair between.
- hair colour: argmax_k z . h_k over black, brown, blonde, red, blue, with
  h_k = cos(a_k) e5 + sin(a_k) e6 + l_k e0 (a_k = 72 deg steps). l_k > 0 for blonde and blue
  hair and < 0 for black, so long hair is more often blonde or blue, short hair more often black.
- eye colour: argmax_k z . g_k over blue, red, green, brown, with g_k in the plane of e7 and e6;
  the blue and brown eye vectors lean the way blue and brown hair do, so those colours co-occur.
- open_mouth if s(mouth) > 0.2 with mouth = e1 (closed_mouth otherwise).
- smile if s(smile) > 0.25 with smile = 0.5 e1 + 0.866 e2 (cosine 0.5 with mouth).
- closed_eyes if s(eyes) > 0.85 with eyes = unit(0.35 e2 + e4) (smiling faces close eyes a bit
  more often).
- blush if s(blush) > 0.9 with blush = unit(0.5 smile + 0.866 e3) (cosine 0.5 with smile).
- background = Phi(s(bg)) in (0, 1), bg = unit(e7 - e3): the hue of a plain background;
  white_background if background > 0.8. simple_background is on for every image.

Frequencies under N(0, I) (measured on 200k codes; tests keep them in range): every tag except
simple_background is on for roughly 15-60% of codes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

LATENT_DIM = 8
BASIS_SEED = 20220601

HAIR_COLORS = ("black", "brown", "blonde", "red", "blue")
EYE_COLORS = ("blue", "red", "green", "brown")
HAIR_LENGTHS = ("short", "medium", "long")

SHORT_BELOW = -0.5
LONG_ABOVE = 0.5
MOUTH_THRESHOLD = 0.2
SMILE_THRESHOLD = 0.25
EYES_THRESHOLD = 0.85
BLUSH_THRESHOLD = 0.9
WHITE_BACKGROUND_ABOVE = 0.8

# Lean of each hair colour vector towards long hair (e0), and its angle in the e5-e6 plane.
_HAIR_LENGTH_LEAN = {"black": -0.35, "brown": 0.0, "blonde": 0.45, "red": 0.0, "blue": 0.25}
_HAIR_ANGLES = {name: 2 * math.pi * k / len(HAIR_COLORS) for k, name in enumerate(HAIR_COLORS)}
# Eye colour vectors in the e7-e6 plane: blue and brown point where blue and brown hair lie on e6.
_EYE_ANGLES = {"blue": math.radians(-70), "red": math.radians(190), "green": math.radians(10),
               "brown": math.radians(100)}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _basis() -> np.ndarray:
    """Columns e0..e7: a fixed random orthonormal basis of z-space."""
    q, r = np.linalg.qr(np.random.default_rng(BASIS_SEED).standard_normal((LATENT_DIM, LATENT_DIM)))
    return q * np.sign(np.diag(r))


_E = _basis().T  # _E[i] is e_i

VECTORS: dict[str, np.ndarray] = {
    "hair_length": _E[0],
    "mouth": _E[1],
    "smile": _unit(0.5 * _E[1] + 0.866 * _E[2]),
    "eyes_closed": _unit(0.35 * _E[2] + _E[4]),
    "background": _unit(_E[7] - _E[3]),
}
VECTORS["blush"] = _unit(0.5 * VECTORS["smile"] + 0.866 * _E[3])

HAIR_VECTORS = np.stack([
    math.cos(_HAIR_ANGLES[c]) * _E[5] + math.sin(_HAIR_ANGLES[c]) * _E[6] + _HAIR_LENGTH_LEAN[c] * _E[0]
    for c in HAIR_COLORS
])
EYE_VECTORS = np.stack([math.cos(_EYE_ANGLES[c]) * _E[7] + math.sin(_EYE_ANGLES[c]) * _E[6] for c in EYE_COLORS])

ATTRIBUTES = (
    "hair_length",      # continuous, z . e0
    "hair_length_class",  # 0 short, 1 medium, 2 long
    "hair_color",       # index into HAIR_COLORS
    "eye_color",        # index into EYE_COLORS
    "mouth_score",      # continuous
    "open_mouth",       # 0/1
    "smile_score",
    "smile",
    "eyes_score",
    "closed_eyes",
    "blush_score",
    "blush",
    "background",       # continuous in (0, 1)
)

TAGS = [
    "short_hair", "medium_hair", "long_hair",
    *[f"{c}_hair" for c in HAIR_COLORS],
    *[f"{c}_eyes" for c in EYE_COLORS],
    "closed_eyes", "open_mouth", "closed_mouth", "smile", "blush",
    "simple_background", "white_background",
]


def _as_codes(z) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != LATENT_DIM:
        raise ValueError(f"style codes must have shape (N, {LATENT_DIM}), got {z.shape}")
    return z


def attributes(z) -> dict[str, np.ndarray]:
    """Every attribute of each style code: continuous scores and 0/1 or categorical values, (N,)."""
    z = _as_codes(z)
    s = {name: z @ v for name, v in VECTORS.items()}
    length = s["hair_length"]
    return {
        "hair_length": length,
        "hair_length_class": np.digitize(length, [SHORT_BELOW, LONG_ABOVE]).astype(np.int64),
        "hair_color": np.argmax(z @ HAIR_VECTORS.T, axis=1).astype(np.int64),
        "eye_color": np.argmax(z @ EYE_VECTORS.T, axis=1).astype(np.int64),
        "mouth_score": s["mouth"],
        "open_mouth": (s["mouth"] > MOUTH_THRESHOLD).astype(np.int64),
        "smile_score": s["smile"],
        "smile": (s["smile"] > SMILE_THRESHOLD).astype(np.int64),
        "eyes_score": s["eyes_closed"],
        "closed_eyes": (s["eyes_closed"] > EYES_THRESHOLD).astype(np.int64),
        "blush_score": s["blush"],
        "blush": (s["blush"] > BLUSH_THRESHOLD).astype(np.int64),
        "background": ndtr(s["background"]),
    }


def _tag_columns(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(a["hair_length"])
    cols = {
        "short_hair": a["hair_length_class"] == 0,
        "medium_hair": a["hair_length_class"] == 1,
        "long_hair": a["hair_length_class"] == 2,
        "closed_eyes": a["closed_eyes"] == 1,
        "open_mouth": a["open_mouth"] == 1,
        "closed_mouth": a["open_mouth"] == 0,
        "smile": a["smile"] == 1,
        "blush": a["blush"] == 1,
        "simple_background": np.ones(n, bool),
        "white_background": a["background"] > WHITE_BACKGROUND_ABOVE,
    }
    for k, c in enumerate(HAIR_COLORS):
        cols[f"{c}_hair"] = a["hair_color"] == k
    for k, c in enumerate(EYE_COLORS):
        cols[f"{c}_eyes"] = a["eye_color"] == k
    return cols


def tag_matrix(z) -> np.ndarray:
    """Ground-truth tags of each style code: (N, len(TAGS)) uint8, columns in TAGS order."""
    return tags_of(attributes(z))


def tags_of(attrs: dict[str, np.ndarray]) -> np.ndarray:
    """The tags of attribute values (as `attributes` returns them): (N, len(TAGS)) uint8."""
    cols = _tag_columns(attrs)
    return np.stack([cols[t] for t in TAGS], axis=1).astype(np.uint8)


def _binary(tag: str):
    def fn(z) -> np.ndarray:
        return _tag_columns(attributes(z))[tag].astype(np.uint8)

    fn.__name__ = tag
    fn.__doc__ = f"1 where the style code has the tag {tag}."
    return fn


# Tags a direction can be evaluated on (simple_background is constant, so it is left out).
BINARY_ATTRIBUTES = {t: _binary(t) for t in TAGS if t != "simple_background"}


def attribute_vector(name: str) -> np.ndarray:
    """Unit vector in z-space along which the attribute or tag `name` switches on.

    Threshold tags return their planted vector (negated for the "off" side: closed_mouth,
    short_hair). Argmax tags (hair and eye colours) return their vector minus the mean of its
    rivals, the direction that raises that colour above all others. medium_hair has none.
    """
    if name in ("hair_length", "long_hair"):
        return VECTORS["hair_length"].copy()
    if name == "short_hair":
        return -VECTORS["hair_length"]
    if name in ("open_mouth", "mouth_score"):
        return VECTORS["mouth"].copy()
    if name == "closed_mouth":
        return -VECTORS["mouth"]
    if name in ("smile", "smile_score"):
        return VECTORS["smile"].copy()
    if name in ("closed_eyes", "eyes_score"):
        return VECTORS["eyes_closed"].copy()
    if name in ("blush", "blush_score"):
        return VECTORS["blush"].copy()
    if name in ("background", "white_background"):
        return VECTORS["background"].copy()
    for vectors, names, suffix in ((HAIR_VECTORS, HAIR_COLORS, "_hair"), (EYE_VECTORS, EYE_COLORS, "_eyes")):
        for k, c in enumerate(names):
            if name == f"{c}{suffix}":
                rivals = np.delete(vectors, k, axis=0).mean(axis=0)
                return _unit(vectors[k] - rivals)
    raise KeyError(f"no planted vector for {name!r}; known: {', '.join(BINARY_ATTRIBUTES)}")
