"""A demo selfie video whose face moves across a wider frame, with its true face box per frame.

So that `latentedit video` runs with no file of the user's, the demo world renders one selfie
(`render.render_selfie`) into a landscape frame and moves it: a sideways sweep of about a third
of the frame, a bob, a slow zoom and a head tilt. Each frame's *true box* is the square (x, y,
side) in frame pixels whose crop shows the face exactly as the demo generator was trained to
see it (the nominal geometry of `render.sample_geometry`), so a face tracker can be scored
against it, and `geometry_in_box` gives the geometry a crop of ANY box shows (what the pixel
readout needs to judge a translated crop). Everything is seeded and deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import render, truth

DEFAULT_FRAMES = 48
DEFAULT_FPS = 12
FRAME_WIDTH, FRAME_HEIGHT = 256, 144
BOX_SIDE = 72  # nominal side of the true box, pixels
SEED_OFFSET = 31_337


@dataclass(frozen=True)
class DemoVideo:
    """Frames of the demo video and what is known about them.

    frames: uint8 (T, H, W, 3); boxes: float (T, 3) true face boxes (x, y, side) in frame pixels;
    centres: float (T, 2) face centre (x, y) in frame pixels; geometry: the face geometry in
    frame units (render.GEOMETRY_FIELDS arrays of length T, fractions of the square canvas of
    side `canvas` whose rows `top`.. are the frame); z_selfie: (8,) the selfie's appearance code.
    """

    frames: np.ndarray
    boxes: np.ndarray
    centres: np.ndarray
    geometry: dict
    z_selfie: np.ndarray
    fps: int
    canvas: int
    top: int
    seed: int


def trajectory(n_frames: int, width: int = FRAME_WIDTH, height: int = FRAME_HEIGHT, side: float = BOX_SIDE):
    """True boxes (T, 3) and tilts (T,) of a face sweeping sideways, bobbing, zooming and tilting.

    One period of the sweep spans the clip; x moves over about 0.36 of the frame width, so a box
    fixed on the first frame loses the face for much of the clip.
    """
    t = np.arange(n_frames) / max(n_frames, 1) * 2 * math.pi
    s = side * (1 + 0.12 * np.sin(t + 1.0))
    cx = width / 2 + 0.28 * width * np.sin(t)
    cy = height / 2 + 0.08 * height * np.sin(2 * t + 0.4)
    boxes = np.stack([cx - s / 2, cy - s / 2, s], axis=1)
    return boxes, 0.12 * np.sin(t + 0.6)


def demo_video(n_frames: int = DEFAULT_FRAMES, seed: int = 0, width: int = FRAME_WIDTH,
               height: int = FRAME_HEIGHT, side: float = BOX_SIDE) -> DemoVideo:
    """Render the demo selfie video: one seeded face (geometry and look) moving along `trajectory`."""
    if height > width:
        raise ValueError("the demo video is landscape: height must be <= width")
    rng = np.random.default_rng(seed + SEED_OFFSET)
    base = render.take(render.sample_geometry(rng, 1), 0)
    z_selfie = rng.standard_normal(truth.LATENT_DIM)
    appearance = render.take(render.selfie_appearance(z_selfie), 0)
    boxes, tilt = trajectory(n_frames, width, height, side)
    canvas, top = width, (width - height) // 2
    # the face sits in its box where the nominal geometry puts it in a crop
    x = boxes[:, 0] + base["cx"] * boxes[:, 2]
    y = boxes[:, 1] + base["cy"] * boxes[:, 2]
    geometry = {k: np.full(n_frames, v) for k, v in base.items()}
    geometry.update(cx=x / canvas, cy=(y + top) / canvas, scale=base["scale"] * boxes[:, 2] / canvas,
                    tilt=base["tilt"] + tilt, seed=np.full(n_frames, base["seed"], dtype=np.int64))
    frames = np.stack([render.render_selfie(render.take(geometry, i), appearance, canvas)[top : top + height]
                       for i in range(n_frames)])
    return DemoVideo(frames=frames, boxes=boxes, centres=np.stack([x, y], axis=1), geometry=geometry,
                     z_selfie=z_selfie, fps=DEFAULT_FPS, canvas=canvas, top=top, seed=seed)


def geometry_in_box(video: DemoVideo, boxes) -> dict:
    """The face geometry each frame's crop of `boxes` (T, 3: x, y, side) shows, as fractions of the crop.

    This is what an anime translation of that crop should draw; `render.render_anime(take(g, t),
    ...)` of it is the ground truth the pixel readout compares against.
    """
    b = np.asarray(boxes, dtype=np.float64)
    g = dict(video.geometry)
    g["cx"] = (video.centres[:, 0] - b[:, 0]) / b[:, 2]
    g["cy"] = (video.centres[:, 1] - b[:, 1]) / b[:, 2]
    g["scale"] = video.geometry["scale"] * video.canvas / b[:, 2]
    return g


# --------------------------------------------------------------------------- measuring a translation

MIN_SKIN_PIXELS = 20  # fewer anime-skin pixels than this: the output frame shows no face


def skin_centre(image: np.ndarray) -> np.ndarray:
    """(x, y) mean of an anime image's face-skin pixels, in its pixels; NaN when it shows no face."""
    mask = np.abs(image.astype(np.int16) - np.array(render.ANIME_SKIN, np.int16)).sum(-1) < 40
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()]) if len(xs) >= MIN_SKIN_PIXELS else np.full(2, np.nan)


def clear_long_hair_code(seed: int = 5, margin: float = 0.5) -> np.ndarray:
    """A long-haired style code (1, 8) whose other attributes all sit clear of their thresholds.

    The style the video checks translate with: small random codes put the mouth and smile scores
    next to their thresholds (0.2, 0.25) and the eye colours next to a tie, where the generator
    draws either side; this code has hair length 1.5, mouth and smile `margin` below their
    thresholds and its eye colour's vector added once.
    """
    z = 0.3 * np.random.default_rng(seed).standard_normal((1, truth.LATENT_DIM))
    z = z + truth.EYE_VECTORS[int(np.argmax(z @ truth.EYE_VECTORS.T))]
    V = np.stack([truth.VECTORS["hair_length"], truth.VECTORS["mouth"], truth.VECTORS["smile"]])
    target = np.array([1.5, truth.MOUTH_THRESHOLD - margin, truth.SMILE_THRESHOLD - margin])
    z = z + (V.T @ np.linalg.solve(V @ V.T, target - V @ z[0]))[None]
    return z.astype(np.float32)


def follow_figures(video: DemoVideo, outputs: np.ndarray, boxes, z) -> dict:
    """How a translation of the demo video follows the face and keeps the style's attributes.

    outputs: uint8 (T, S, S, 3) translations of the crops `boxes` (T, 3) with the style code z (8,).
    The output face's centre (its skin pixels) is mapped back into the frame through its box and
    compared with the input face's centre measured the same way on the true render: correlation of
    x and of y and mean error in frame pixels over the frames that show a face (`faces` of them).
    attributes_ok: the share of frames in which the world's reader (`batch_readout.BatchReader`)
    reads every attribute of z but the background correctly (judged against the geometry the crop
    of that box shows).
    """
    from .batch_readout import ATTRIBUTES, BatchReader, truth_reads

    boxes = np.asarray(boxes, dtype=np.float64)
    s = outputs.shape[1]
    codes = np.repeat(np.asarray(z, np.float64).reshape(1, -1), len(outputs), axis=0)
    attrs = render.take(truth.attributes(codes[:1]), 0)
    used, true = geometry_in_box(video, boxes), geometry_in_box(video, video.boxes)
    reads, shown_attrs = BatchReader(used, codes, s).read(outputs), truth_reads(codes)
    ok_attrs = np.all([reads[k] == shown_attrs[k] for k in ATTRIBUTES if k != "background"], axis=0)
    got, want = [], []
    for t, image in enumerate(outputs):
        got.append(boxes[t, :2] + skin_centre(image) / s * boxes[t, 2])
        ref = render.render_anime(render.take(true, t), attrs, s)
        want.append(video.boxes[t, :2] + skin_centre(ref) / s * video.boxes[t, 2])
    got, want = np.array(got), np.array(want)
    shown = np.isfinite(got).all(axis=1)
    corr = [float(np.corrcoef(got[shown, k], want[shown, k])[0, 1]) if shown.sum() > 2 else float("nan")
            for k in (0, 1)]
    err = np.hypot(*(got[shown] - want[shown]).T)
    return {"faces": int(shown.sum()), "frames": len(outputs), "corr_x": corr[0], "corr_y": corr[1],
            "error_px": float(err.mean()) if len(err) else float("nan"), "attributes_ok": float(np.mean(ok_attrs))}
