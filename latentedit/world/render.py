"""Procedural faces of the demo world in two domains that share one geometry.

Geometry (the GNR *content*: where things are) is sampled by `sample_geometry`: face centre,
scale, tilt, jaw width, chin length, and a per-face noise seed. The *style* decides how things
look: `render_anime` draws the anime face a style code z stands for (attributes from
`latentedit.world.truth.attributes`), `render_selfie` draws a photo-like face with the same
geometry (the selfie domain GNR translates from).

Shapes are polygons in face-local coordinates (unit = image width, origin at the face centre,
y down); `_Frame` scales, rotates and shifts them into pixels of a canvas SUPERSAMPLE times
larger than the output, which is then downsampled with a box filter for antialiasing.
Everything is numpy + Pillow and deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from . import truth

SUPERSAMPLE = 3

OUTLINE = (45, 30, 38)
ANIME_SKIN = (255, 226, 206)
ANIME_SKIN_SHADE = (238, 196, 178)
SHIRT = (86, 98, 150)
ANIME_HAIR = {
    "black": (38, 34, 48),
    "brown": (128, 78, 42),
    "blonde": (246, 214, 112),
    "red": (214, 48, 48),
    "blue": (58, 110, 226),
}
ANIME_EYES = {
    "blue": (40, 110, 240),
    "red": (214, 24, 36),
    "green": (30, 172, 70),
    "brown": (124, 74, 34),
}
BACKGROUND_PALETTE = np.array([
    (250, 200, 210), (250, 232, 180), (200, 238, 200), (190, 226, 246), (218, 204, 244),
], dtype=np.float64)
WHITE_BACKGROUND = (250, 250, 250)

SELFIE_HAIR = {
    "black": (28, 22, 22),
    "brown": (88, 58, 38),
    "blonde": (186, 156, 104),
    "red": (128, 58, 34),
    "blue": (62, 60, 66),
}
SELFIE_IRIS = {"blue": (70, 96, 120), "red": (90, 60, 40), "green": (80, 100, 70), "brown": (60, 40, 28)}
SKIN_LIGHT = np.array((236, 200, 176), dtype=np.float64)
SKIN_DARK = np.array((150, 104, 78), dtype=np.float64)

# Hair length (z . e0) -> where the hair ends: short above the jaw, medium between chin and
# shoulders, long past the shoulders (see truth.SHORT_BELOW / LONG_ABOVE = -0.5 / 0.5).
HAIR_LENGTH_KNOTS = (-2.0, -0.5, 0.5, 1.0, 2.0)
HAIR_BOTTOM_KNOTS = (-0.06, 0.05, 0.33, 0.55, 0.7)

GEOMETRY_FIELDS = ("cx", "cy", "scale", "tilt", "jaw", "chin", "seed")


# --------------------------------------------------------------------------- geometry

def sample_geometry(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Random face geometry for `n` faces: dict of (n,) arrays named GEOMETRY_FIELDS.

    cx, cy: face centre as a fraction of the image; scale: face size (1 = nominal);
    tilt: in-plane rotation in radians; jaw, chin: face shape; seed: noise seed of the selfie.
    """
    return {
        "cx": rng.uniform(0.44, 0.56, n),
        "cy": rng.uniform(0.42, 0.52, n),
        "scale": rng.uniform(0.88, 1.1, n),
        "tilt": np.clip(rng.normal(0.0, 0.08, n), -0.2, 0.2),
        "jaw": rng.uniform(0.8, 1.1, n),
        "chin": rng.uniform(0.9, 1.12, n),
        "seed": rng.integers(0, 2**31 - 1, n),
    }


def canonical_geometry(n: int = 1) -> dict[str, np.ndarray]:
    """`n` identical faces at the centre of `sample_geometry`'s ranges, upright: the one geometry of the
    content-free demo generators (demo StyleGAN2 and DCGAN draw every code with it)."""
    centre = {"cx": 0.5, "cy": 0.47, "scale": 0.99, "tilt": 0.0, "jaw": 0.95, "chin": 1.01}
    return {**{k: np.full(n, v) for k, v in centre.items()}, "seed": np.zeros(n, dtype=np.int64)}


def take(batch: dict[str, np.ndarray], i: int) -> dict:
    """Row `i` of a dict of arrays (geometry or attributes) as a dict of scalars."""
    return {k: v[i].item() if hasattr(v[i], "item") else v[i] for k, v in batch.items()}


class _Frame:
    """Maps face-local points (unit = image width) to canvas pixels: scale, rotate, shift."""

    def __init__(self, geom: dict, canvas: int):
        self.canvas = canvas
        self.s = geom["scale"] * canvas
        self.c, self.n = math.cos(geom["tilt"]), math.sin(geom["tilt"])
        self.ox, self.oy = geom["cx"] * canvas, geom["cy"] * canvas

    def __call__(self, pts) -> list[tuple[float, float]]:
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        x = p[:, 0] * self.s
        y = p[:, 1] * self.s
        return list(zip(self.ox + self.c * x - self.n * y, self.oy + self.n * x + self.c * y))

    def width(self, w: float) -> int:
        return max(1, int(round(w * self.s)))


def _ellipse(cx, cy, rx, ry, n=28, a0=0.0, a1=2 * math.pi) -> np.ndarray:
    t = np.linspace(a0, a1, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _curve(p0, p1, p2, n=12) -> np.ndarray:
    """Quadratic Bezier from p0 to p2 pulled towards p1."""
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _face_outline(geom: dict, half_width=0.2, top=0.25) -> np.ndarray:
    """Closed face contour: a cranium arc, cheeks, a jaw of width geom['jaw'] and a chin."""
    jaw, chin = geom["jaw"], geom["chin"]
    cranium = _ellipse(0, 0, half_width, top, 20, math.pi, 2 * math.pi)
    chin_y = 0.2 * chin
    right = _curve((half_width, 0), (half_width * 0.98, 0.1), (0.09 * jaw, chin_y - 0.02), 8)
    left = _curve((-0.09 * jaw, chin_y - 0.02), (-half_width * 0.98, 0.1), (-half_width, 0), 8)
    bottom = _curve((0.09 * jaw, chin_y - 0.02), (0, chin_y + 0.012), (-0.09 * jaw, chin_y - 0.02), 6)
    return np.concatenate([cranium, right, bottom[1:-1], left])


def hair_bottom(hair_length: float) -> float:
    """Face-local y where the hair ends: above the jaw when short, below the frame when long."""
    return float(np.interp(hair_length, HAIR_LENGTH_KNOTS, HAIR_BOTTOM_KNOTS))


# --------------------------------------------------------------------------- anime

def _background_colour(bg: float) -> tuple[int, int, int]:
    if bg > truth.WHITE_BACKGROUND_ABOVE:
        return WHITE_BACKGROUND
    x = bg / truth.WHITE_BACKGROUND_ABOVE * (len(BACKGROUND_PALETTE) - 1)
    k = min(int(x), len(BACKGROUND_PALETTE) - 2)
    c = BACKGROUND_PALETTE[k] * (1 - (x - k)) + BACKGROUND_PALETTE[k + 1] * (x - k)
    return tuple(int(round(v)) for v in c)


def _hair_back(bottom: float) -> np.ndarray:
    """Hair behind the head: a cap over the cranium that falls to `bottom`, flaring when long."""
    flare = 0.24 + 0.08 * max(0.0, min(1.0, (bottom - 0.1) / 0.4))
    cap = _ellipse(0, -0.01, 0.245, 0.29, 22, math.pi, 2 * math.pi)
    right = _curve((0.245, -0.01), (0.25, bottom * 0.6), (flare, bottom), 6)
    left = _curve((-flare, bottom), (-0.25, bottom * 0.6), (-0.245, -0.01), 6)
    return np.concatenate([cap, right, left])


def _side_lock(sign: float, bottom: float) -> np.ndarray:
    """A lock of hair in front of the face edge, from the temple down to `bottom`."""
    top, outer = -0.09, 0.235
    inner = 0.16 if bottom < 0.15 else 0.175
    return np.array([
        (sign * 0.2, top), (sign * outer, top),
        (sign * (outer + 0.02), bottom), (sign * (inner + 0.01), bottom + 0.015),
        (sign * inner, max(top + 0.05, bottom * 0.5)),
    ])


def _bangs() -> np.ndarray:
    """Fringe over the forehead with a zig-zag lower edge that stops above the eyes."""
    arc = _ellipse(0, -0.005, 0.235, 0.275, 18, math.pi, 2 * math.pi)
    tips = [(0.225, -0.02), (0.17, -0.07), (0.12, -0.025), (0.06, -0.075), (0.01, -0.03),
            (-0.05, -0.08), (-0.1, -0.03), (-0.16, -0.075), (-0.225, -0.02)]
    return np.concatenate([arc, np.array(tips)])


def _draw_eye(d: ImageDraw.ImageDraw, f: _Frame, x: float, closed: bool, iris) -> None:
    y = 0.03
    if closed:
        d.line(f(_curve((x - 0.052, y - 0.005), (x, y + 0.05), (x + 0.052, y - 0.005), 10)),
               fill=OUTLINE, width=f.width(0.014), joint="curve")
        return
    d.polygon(f(_ellipse(x, y, 0.05, 0.062)), fill=(255, 255, 255))
    d.polygon(f(_ellipse(x, y + 0.006, 0.038, 0.056)), fill=iris)
    d.polygon(f(_ellipse(x, y + 0.014, 0.018, 0.03, 16)), fill=tuple(int(c * 0.35) for c in iris))
    d.polygon(f(_ellipse(x - 0.014, y - 0.014, 0.012, 0.012, 12)), fill=(255, 255, 255))
    d.line(f(_curve((x - 0.06, y - 0.03), (x, y - 0.085), (x + 0.06, y - 0.03), 10)),
           fill=OUTLINE, width=f.width(0.016), joint="curve")


def _draw_mouth(d: ImageDraw.ImageDraw, f: _Frame, open_: bool, smile: bool) -> None:
    y = 0.145
    dark, tongue = (128, 28, 42), (236, 110, 120)
    if open_ and smile:
        d.polygon(f(_ellipse(0, y, 0.048, 0.05, 16, 0, math.pi)), fill=dark, outline=OUTLINE, width=f.width(0.006))
        d.polygon(f(_ellipse(0, y + 0.032, 0.028, 0.016, 12, math.pi, 2 * math.pi)), fill=tongue)
    elif open_:
        d.polygon(f(_ellipse(0, y + 0.012, 0.028, 0.036, 20)), fill=dark, outline=OUTLINE, width=f.width(0.006))
        d.polygon(f(_ellipse(0, y + 0.03, 0.018, 0.014, 12, math.pi, 2 * math.pi)), fill=tongue)
    elif smile:
        d.line(f(_curve((-0.045, y - 0.008), (0, y + 0.04), (0.045, y - 0.008), 10)),
               fill=OUTLINE, width=f.width(0.01), joint="curve")
    else:
        d.line(f([(-0.025, y + 0.01), (0.025, y + 0.01)]), fill=OUTLINE, width=f.width(0.01))


def _draw_blush(d: ImageDraw.ImageDraw, f: _Frame) -> None:
    for sx in (-1, 1):
        d.polygon(f(_ellipse(sx * 0.115, 0.095, 0.042, 0.022, 16)), fill=(246, 140, 154))
        for k in (-1, 0, 1):
            x = sx * 0.115 + k * 0.018
            d.line(f([(x + 0.006, 0.083), (x - 0.006, 0.107)]), fill=(214, 84, 104), width=f.width(0.005))


def _draw_body(d: ImageDraw.ImageDraw, f: _Frame, skin, shirt) -> None:
    d.polygon(f([(-0.065, 0.1), (0.065, 0.1), (0.07, 0.36), (-0.07, 0.36)]), fill=skin)
    torso = np.concatenate([_curve((-0.42, 0.75), (-0.36, 0.34), (-0.07, 0.31), 10),
                            _curve((0.07, 0.31), (0.36, 0.34), (0.42, 0.75), 10)])
    d.polygon(f(torso), fill=shirt, outline=OUTLINE, width=f.width(0.008))
    d.polygon(f(_curve((-0.07, 0.31), (0, 0.42), (0.07, 0.31), 8)), fill=skin)


def render_anime(geom: dict, attrs: dict, size: int = 64) -> np.ndarray:
    """Anime face with the given geometry and attributes (one row of truth.attributes): uint8 HxWx3."""
    canvas = size * SUPERSAMPLE
    img = Image.new("RGB", (canvas, canvas), _background_colour(attrs["background"]))
    d = ImageDraw.Draw(img)
    f = _Frame(geom, canvas)
    hair = ANIME_HAIR[truth.HAIR_COLORS[int(attrs["hair_color"])]]
    bottom = hair_bottom(attrs["hair_length"])
    line = f.width(0.008)

    d.polygon(f(_hair_back(bottom)), fill=hair, outline=OUTLINE, width=line)
    _draw_body(d, f, ANIME_SKIN_SHADE, SHIRT)
    long_hair = attrs["hair_length"] > truth.LONG_ABOVE
    if long_hair:  # long hair falls over the shoulders
        for s in (-1, 1):
            d.polygon(f(_side_lock(s, bottom) * np.array([1.08, 1.0])), fill=hair, outline=OUTLINE, width=line)
    d.polygon(f(_face_outline(geom)), fill=ANIME_SKIN, outline=OUTLINE, width=line)
    for s in (-1, 1):
        d.polygon(f(_side_lock(s, min(bottom, 0.3) if long_hair else bottom)), fill=hair, outline=OUTLINE,
                  width=line)
    d.polygon(f(_bangs()), fill=hair, outline=OUTLINE, width=line)

    if attrs["blush"]:
        _draw_blush(d, f)
    iris = ANIME_EYES[truth.EYE_COLORS[int(attrs["eye_color"])]]
    for x in (-0.085, 0.085):
        _draw_eye(d, f, x, bool(attrs["closed_eyes"]), iris)
    d.line(f([(0.004, 0.095), (-0.002, 0.105)]), fill=(200, 140, 130), width=f.width(0.006))
    _draw_mouth(d, f, bool(attrs["open_mouth"]), bool(attrs["smile"]))
    return np.asarray(img.resize((size, size), Image.BOX))


# --------------------------------------------------------------------------- selfie

def selfie_appearance(z) -> dict[str, np.ndarray]:
    """How a selfie drawn from style code z looks: truth.attributes(z) plus skin tone in [0, 1].

    Real selfies carry style too (GNR's encoder predicts it); here it is the same world of
    attributes drawn in natural colours, so an encoder can regress z from a selfie.
    """
    a = truth.attributes(z)
    a["skin_tone"] = 1 / (1 + np.exp(-1.5 * a["blush_score"]))
    return a


def _lighting(geom: dict, size: int) -> np.ndarray:
    """Per-pixel brightness factor: light from the upper left, falling off away from the face."""
    ys, xs = np.mgrid[0:size, 0:size] / size
    dx, dy = xs - geom["cx"], ys - geom["cy"]
    r2 = (dx**2 + dy**2) / (0.3 * geom["scale"]) ** 2
    return (1.08 - 0.22 * np.clip(r2, 0, 1.5) - 0.35 * (dx + 0.5 * dy))[..., None]


def render_selfie(geom: dict, appearance: dict, size: int = 64) -> np.ndarray:
    """Photo-like face (shaded skin, natural colours, small eyes, sensor noise): uint8 HxWx3."""
    canvas = size * 2
    rng = np.random.default_rng(int(geom["seed"]))
    bg = 110 + 90 * np.array([appearance["background"], 0.6, 1 - appearance["background"]]) * 0.8
    img = Image.new("RGB", (canvas, canvas), tuple(int(c) for c in bg))
    d = ImageDraw.Draw(img)
    f = _Frame(geom, canvas)
    t = float(appearance["skin_tone"])
    skin = tuple(int(c) for c in SKIN_LIGHT * (1 - t) + SKIN_DARK * t)
    skin_shade = tuple(int(c * 0.86) for c in skin)
    hair = SELFIE_HAIR[truth.HAIR_COLORS[int(appearance["hair_color"])]]
    shirt = tuple(int(c) for c in rng.integers(40, 200, 3))
    bottom = hair_bottom(appearance["hair_length"])

    d.polygon(f(_hair_back(bottom) * np.array([0.95, 1.0])), fill=hair)
    _draw_body(d, f, skin_shade, shirt)
    d.polygon(f(_face_outline(geom, half_width=0.18, top=0.245)), fill=skin)
    d.polygon(f(_ellipse(0, -0.07, 0.2, 0.2, 20, math.pi, 2 * math.pi)), fill=hair)
    brow = tuple(int(c * 0.8) for c in hair)
    iris = SELFIE_IRIS[truth.EYE_COLORS[int(appearance["eye_color"])]]
    for x in (-0.07, 0.07):
        d.line(f([(x - 0.035, -0.015), (x + 0.03, -0.02)]), fill=brow, width=f.width(0.012))
        if appearance["closed_eyes"]:
            d.line(f(_curve((x - 0.03, 0.02), (x, 0.03), (x + 0.03, 0.02), 6)), fill=(70, 45, 40),
                   width=f.width(0.007))
        else:
            d.polygon(f(_ellipse(x, 0.02, 0.03, 0.013, 16)), fill=(228, 222, 216))
            d.polygon(f(_ellipse(x, 0.02, 0.012, 0.012, 12)), fill=iris)
            d.polygon(f(_ellipse(x, 0.02, 0.005, 0.005, 8)), fill=(15, 10, 10))
    d.line(f([(0.0, 0.02), (0.008, 0.085)]), fill=skin_shade, width=f.width(0.012))
    d.polygon(f(_ellipse(0, 0.09, 0.022, 0.008, 12)), fill=tuple(int(c * 0.7) for c in skin))
    lips = (170, 90, 90)
    if appearance["open_mouth"]:
        d.polygon(f(_ellipse(0, 0.14, 0.045, 0.022 if appearance["smile"] else 0.03, 18)), fill=lips)
        d.polygon(f(_ellipse(0, 0.14, 0.034, 0.012 if appearance["smile"] else 0.02, 16)), fill=(60, 20, 25))
        d.polygon(f(_ellipse(0, 0.132, 0.028, 0.005, 10)), fill=(235, 230, 220))
    else:
        lift = 0.016 if appearance["smile"] else 0.0
        d.polygon(f(np.concatenate([_curve((-0.045, 0.14 - lift), (0, 0.125), (0.045, 0.14 - lift), 8),
                                    _curve((0.045, 0.14 - lift), (0, 0.165), (-0.045, 0.14 - lift), 8)])),
                  fill=lips)

    a = np.asarray(img.resize((size, size), Image.BILINEAR), dtype=np.float64)
    a = a * _lighting(geom, size) + rng.normal(0, 5.0, a.shape)
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- batches

def anime_batch(geometry: dict, z: np.ndarray, size: int = 64) -> np.ndarray:
    """Render the anime face of every (geometry row, style code) pair: uint8 (N,H,W,3)."""
    attrs = truth.attributes(z)
    return np.stack([render_anime(take(geometry, i), take(attrs, i), size) for i in range(len(z))])


def selfie_batch(geometry: dict, z_selfie: np.ndarray, size: int = 64) -> np.ndarray:
    """Render the selfie of every (geometry row, appearance code) pair: uint8 (N,H,W,3)."""
    app = selfie_appearance(z_selfie)
    return np.stack([render_selfie(take(geometry, i), take(app, i), size) for i in range(len(z_selfie))])


def demo_selfies(n: int, seed: int = 0, size: int = 64, return_styles: bool = False):
    """`n` demo selfies: (uint8 (n,H,W,3), geometry) or, with return_styles, also their z (n,8)."""
    rng = np.random.default_rng(seed)
    geometry = sample_geometry(rng, n)
    z_selfie = rng.standard_normal((n, truth.LATENT_DIM))
    images = selfie_batch(geometry, z_selfie, size)
    return (images, geometry, z_selfie) if return_styles else (images, geometry)


def demo_anime(n: int, seed: int = 0, size: int = 64):
    """The 'real anime' domain (what FID compares against): (uint8 (n,H,W,3), z (n,8), geometry)."""
    rng = np.random.default_rng(seed + 1_000_003)
    geometry = sample_geometry(rng, n)
    z = rng.standard_normal((n, truth.LATENT_DIM))
    return anime_batch(geometry, z, size), z, geometry


def video_geometry(n_frames: int = 24, seed: int = 0) -> dict[str, np.ndarray]:
    """One face's geometry moving smoothly over `n_frames`: a sideways sway, a bob and a head tilt."""
    base = take(sample_geometry(np.random.default_rng(seed), 1), 0)
    t = np.arange(n_frames) / max(n_frames, 1) * 2 * math.pi
    g = {k: np.full(n_frames, v) for k, v in base.items()}
    g["cx"] = 0.5 + 0.06 * np.sin(t)
    g["cy"] = base["cy"] + 0.02 * np.sin(2 * t)
    g["tilt"] = 0.15 * np.sin(t + 0.6)
    g["seed"] = np.full(n_frames, base["seed"], dtype=np.int64)
    return g


def demo_video(n_frames: int = 24, seed: int = 0, size: int = 64):
    """Frames of one selfie whose head moves smoothly: (uint8 (T,H,W,3), geometry per frame)."""
    geometry = video_geometry(n_frames, seed)
    z_selfie = np.repeat(np.random.default_rng(seed + 7).standard_normal((1, truth.LATENT_DIM)), n_frames, axis=0)
    return selfie_batch(geometry, z_selfie, size), geometry


def write_video(path, frames: np.ndarray, fps: int = 12) -> None:
    """Write uint8 (T,H,W,3) frames to an mp4 (or any format imageio knows by the suffix)."""
    import imageio.v2 as imageio

    imageio.mimwrite(str(path), list(frames), fps=fps, macro_block_size=1)
