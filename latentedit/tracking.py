"""Follow a face through a video: a square box per frame, smoothed over time without lag.

GNR translates a square face crop. A box fixed on the first frame loses a face that moves, so
`track_faces` gives one box per frame, every frame kept:

1. **Seed**: the first box is given (`first_box`, e.g. `--crop X,Y,SIZE`), or found by OpenCV's
   bundled Haar frontal-face cascade (its model ships inside opencv-python-headless, so this
   works offline) on the first frame where it finds a face, widened by `TrackConfig.expand`
   from the cascade's inner-face box to a GNR-style head-and-shoulders crop.
2. **Track**: normalised cross-correlation (OpenCV `matchTemplate`) of the seed frame's crop,
   at three scales, in a window around the box predicted from the last two frames, frame by
   frame as they are read (frames before a detector's seed frame count as missing). A frame
   whose best match scores below `min_score` counts as missing (the smoother bridges it).
3. **Smooth**: a constant-velocity Kalman filter over (centre x, centre y, log side) followed by
   a Rauch-Tung-Striebel backward pass (`smooth_boxes`). Because the whole clip is known, the
   smoothed box has no lag, unlike a moving average or a causal filter, so motion is neither
   delayed nor slowed, and there is still exactly one box per frame.

Measured on the demo world's moving-face video (benchmarks/bench_video_tracking.py), the
template tracker beat OpenCV's model-free MIL tracker and the Haar cascade alone (the cascade
misses tilted demo faces in about a third of the frames); the cascade only seeds.

Boxes are float arrays (x, y, side) in pixels: top-left corner and side of the square.
Everything here is pure: frames in, boxes out; no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

HAAR_CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class TrackConfig:
    """How faces are found, followed and smoothed.

    expand: crop side / side of the cascade's face box (2.44 +- 0.08 measured on the demo world,
    whose crops show head and shoulders like GNR's selfie crops); shift_y: vertical offset of the
    crop centre from the detected face centre, in face-box sides (-0.09 measured the same way:
    the crop centre sits a little above the detected face centre). search: half-width of the
    search window around the predicted box, in box sides. scales: relative box sides tried per
    frame (follows zoom). min_score: correlation below which a frame's match is dropped.
    max_side: frames are tracked shrunk to at most this many pixels wide and high (speed).
    max_backtrack: at most this many frames before a detector's first face are tracked backwards.
    process_noise: std of the per-frame change of the centre's velocity, in box sides per
    frame^2; measurement_noise: std of a measured centre, in box sides (both scaled by the
    clip's median box side, so a face's motion is smoothed alike at any resolution); the
    side_* pair: the same for the log of the side.
    """

    expand: float = 2.44
    shift_y: float = -0.09
    search: float = 0.5
    scales: tuple[float, ...] = (1 / 1.04, 1.0, 1.04)
    min_score: float = 0.5
    process_noise: float = 0.02
    measurement_noise: float = 0.02
    side_process_noise: float = 0.004
    side_measurement_noise: float = 0.02
    max_side: int = 480
    max_backtrack: int = 600


def as_box(box) -> np.ndarray:
    """(x, y, side) as float64; side must be positive."""
    b = np.asarray(box, dtype=np.float64).reshape(3)
    if not b[2] > 0:
        raise InputError(f"a face box needs a positive side, got {tuple(float(v) for v in b)}")
    return b


# --------------------------------------------------------------------------- detection

def _cascade():
    import cv2

    c = cv2.CascadeClassifier(cv2.data.haarcascades + HAAR_CASCADE)
    if c.empty():
        raise InputError(f"OpenCV's bundled face cascade {HAAR_CASCADE} could not be loaded "
                         "(reinstall opencv-python-headless)")
    return c


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(frame[..., :3]), cv2.COLOR_RGB2GRAY)


def detect_faces(frame: np.ndarray, cascade=None) -> np.ndarray:
    """Faces OpenCV's Haar cascade finds in an RGB uint8 frame: (K, 4) x, y, w, h, largest first."""
    cascade = _cascade() if cascade is None else cascade
    h, w = frame.shape[:2]
    found = cascade.detectMultiScale(_gray(frame), scaleFactor=1.05, minNeighbors=3,
                                     minSize=(max(12, min(h, w) // 12),) * 2)
    found = np.asarray(found, dtype=np.float64).reshape(-1, 4)
    return found[np.argsort(-found[:, 2] * found[:, 3], kind="stable")]


def crop_box_of(face: np.ndarray, config: TrackConfig = TrackConfig()) -> np.ndarray:
    """The crop box (x, y, side) around a detected face box (x, y, w, h)."""
    x, y, w, h = np.asarray(face, dtype=np.float64)[:4]
    side = config.expand * w
    cx, cy = x + w / 2, y + h / 2 + config.shift_y * w
    return np.array([cx - side / 2, cy - side / 2, side])


# --------------------------------------------------------------------------- tracking

def crop(frame: np.ndarray, box, out_side: int | None = None) -> np.ndarray:
    """The square `box` of a frame, rounded to whole pixels; parts outside the frame repeat its edge.

    With `out_side`, resized (area filter) to out_side x out_side.
    """
    import cv2

    x, y, s = (int(round(v)) for v in as_box(box))
    s = max(s, 1)
    h, w = frame.shape[:2]
    pad = max(0, -x, -y, x + s - w, y + s - h)
    if pad:
        frame = cv2.copyMakeBorder(np.ascontiguousarray(frame), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x, y = x + pad, y + pad
    patch = np.ascontiguousarray(frame[y : y + s, x : x + s])
    if out_side is not None and out_side != s:
        patch = cv2.resize(patch, (out_side, out_side), interpolation=cv2.INTER_AREA)
    return patch


def _match(frame: np.ndarray, template: np.ndarray, predicted: np.ndarray, config: TrackConfig):
    """Best (score, box) of the template near the predicted box over config.scales; score -1 if none fits."""
    import cv2

    h, w = frame.shape[:2]
    best = (-1.0, predicted)
    for scale in config.scales:
        side = predicted[2] * scale
        s = int(round(side))
        if s < 8:
            continue
        cx, cy = predicted[0] + predicted[2] / 2, predicted[1] + predicted[2] / 2
        reach = config.search * side + s / 2
        x0, y0 = int(max(0, np.floor(cx - reach))), int(max(0, np.floor(cy - reach)))
        x1, y1 = int(min(w, np.ceil(cx + reach))), int(min(h, np.ceil(cy + reach)))
        if x1 - x0 < s or y1 - y0 < s:
            continue
        t = cv2.resize(template, (s, s), interpolation=cv2.INTER_AREA)
        scores = cv2.matchTemplate(frame[y0:y1, x0:x1], t, cv2.TM_CCOEFF_NORMED)
        _, score, _, (dx, dy) = cv2.minMaxLoc(scores)
        if np.isfinite(score) and score > best[0]:
            # sub-pixel peak: a parabola through the peak and its neighbours
            fx = _parabola_peak(scores, dy, dx, axis=1)
            fy = _parabola_peak(scores, dy, dx, axis=0)
            best = (float(score), np.array([x0 + dx + fx, y0 + dy + fy, float(s)]))
    return best


def _parabola_peak(scores: np.ndarray, i: int, j: int, axis: int) -> float:
    n = scores.shape[axis]
    k = j if axis == 1 else i
    if k <= 0 or k >= n - 1:
        return 0.0
    a, b, c = ((scores[i, k - 1], scores[i, k], scores[i, k + 1]) if axis == 1
               else (scores[k - 1, j], scores[k, j], scores[k + 1, j]))
    d = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / d, -0.5, 0.5)) if d < 0 else 0.0


@dataclass
class Track:
    """Per-frame boxes (T, 3): raw matches (NaN where dropped), smoothed; match scores (T,)."""

    raw: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    seed_frame: int
    seeded_by: str  # "given" or "detector"


def _small(frame: np.ndarray, factor: float) -> np.ndarray:
    """Grey uint8 copy of an RGB frame, shrunk by `factor` (<= 1) for tracking."""
    import cv2

    g = _gray(frame)
    if factor < 1:
        h, w = g.shape
        g = cv2.resize(g, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return g


class _Follower:
    """Template tracking from a seed box, one shrunk grey frame at a time (either direction)."""

    def __init__(self, small: np.ndarray, box: np.ndarray, config: TrackConfig):
        self.template = crop(small, box).astype(np.float32)
        self.prev = self.prev2 = box
        self.config = config

    def step(self, small: np.ndarray):
        """(score, box or None) in shrunk pixels."""
        prev, prev2 = self.prev, self.prev2
        predicted = np.array([2 * prev[0] - prev2[0], 2 * prev[1] - prev2[1], prev[2]])
        score, found = _match(small.astype(np.float32), self.template, predicted, self.config)
        if score >= self.config.min_score:
            self.prev2, self.prev = prev, found
            return score, found
        self.prev2 = prev  # lost: keep searching around the last box, with no velocity
        return score, None


def track_faces(frames, first_box=None, config: TrackConfig = TrackConfig(), progress=None) -> Track:
    """One smoothed square face box per frame of `frames` (any iterable of RGB uint8 arrays).

    Frames are consumed one at a time and tracked shrunk to at most `config.max_side` pixels; only
    the frames before a detector's seed frame are kept (small and grey, at most
    `config.max_backtrack`) to be tracked backwards from it. first_box: (x, y, side) on the first
    frame; None = the Haar cascade seeds on the first frame where it finds a face. `progress(n)`
    is called once per frame if given.
    """
    cascade = _cascade() if first_box is None else None
    box = None if first_box is None else as_box(first_box)
    raw, scores, pending = [], [], []
    seed_frame, factor, follower = -1, 1.0, None
    for t, frame in enumerate(frames):
        if t == 0:
            factor = min(1.0, config.max_side / max(frame.shape[:2]))
        small = _small(frame, factor)
        if follower is not None:
            score, found = follower.step(small)
            scores.append(score)
            raw.append(np.full(3, np.nan) if found is None else found / factor)
        else:
            if box is None:
                faces = detect_faces(frame, cascade)
                box = crop_box_of(faces[0], config) if len(faces) else None
            if box is None:
                raw.append(np.full(3, np.nan))
                scores.append(np.nan)
                pending.append(small if len(pending) < config.max_backtrack else None)
            else:
                seed_frame, follower = t, _Follower(small, box * factor, config)
                raw.append(box.copy())
                scores.append(1.0)
                back = _Follower(small, box * factor, config)
                for k in range(len(pending) - 1, -1, -1):  # the frames before the seed, backwards
                    if pending[k] is None:
                        continue
                    scores[k], found = back.step(pending[k])
                    if found is not None:
                        raw[k] = found / factor
                pending = []
        if progress is not None:
            progress(1)
    n = len(raw)
    if n == 0:
        raise InputError("a video with no frames has no face to track")
    if follower is None:
        raise InputError(f"no face found in any of the {n} frames by OpenCV's {HAAR_CASCADE}; "
                         "pass the first frame's face box with --crop X,Y,SIZE")
    raw = np.array(raw)
    return Track(raw=raw, boxes=smooth_boxes(raw, config), scores=np.array(scores), seed_frame=seed_frame,
                 seeded_by="detector" if first_box is None else "given")


# --------------------------------------------------------------------------- smoothing

def _rts(z: np.ndarray, q: float, r: float) -> np.ndarray:
    """Constant-velocity Kalman filter + Rauch-Tung-Striebel smoother of one series (NaN = missing)."""
    n = len(z)
    F = np.array([[1.0, 1.0], [0.0, 1.0]])
    Q = q**2 * np.array([[0.25, 0.5], [0.5, 1.0]])  # white acceleration, one frame
    first = np.flatnonzero(np.isfinite(z))[0]
    x = np.array([z[first], 0.0])
    P = np.diag([r**2, 100.0 * r**2 + 1.0])
    xs_f, Ps_f, xs_p, Ps_p = np.zeros((n, 2)), np.zeros((n, 2, 2)), np.zeros((n, 2)), np.zeros((n, 2, 2))
    for t in range(n):
        if t > 0:
            x, P = F @ x, F @ P @ F.T + Q
        xs_p[t], Ps_p[t] = x, P
        if np.isfinite(z[t]):
            s = P[0, 0] + r**2
            k = P[:, 0] / s
            x = x + k * (z[t] - x[0])
            P = P - np.outer(k, P[0])
        xs_f[t], Ps_f[t] = x, P
    xs = xs_f.copy()
    for t in range(n - 2, -1, -1):
        C = Ps_f[t] @ F.T @ np.linalg.inv(Ps_p[t + 1])
        xs[t] = xs_f[t] + C @ (xs[t + 1] - xs_p[t + 1])
    return xs[:, 0]


def smooth_boxes(raw, config: TrackConfig = TrackConfig()) -> np.ndarray:
    """Smoothed boxes (T, 3) from raw per-frame boxes (T, 3; rows of NaN = no measurement).

    Centre x, centre y and log side are smoothed separately, forwards and backwards (zero lag);
    every frame gets a box, missing ones bridged by the constant-velocity model.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != 3:
        raise ValueError(f"boxes must have shape (T, 3), got {raw.shape}")
    if not np.isfinite(raw).all(axis=1).any():
        raise InputError("the face was lost in every frame; pass the first frame's face box with --crop X,Y,SIZE")
    ok = np.isfinite(raw).all(axis=1)
    raw = np.where(ok[:, None], raw, np.nan)
    unit = float(np.median(raw[ok, 2]))
    q, r = config.process_noise * unit, config.measurement_noise * unit
    cx = _rts(raw[:, 0] + raw[:, 2] / 2, q, r)
    cy = _rts(raw[:, 1] + raw[:, 2] / 2, q, r)
    side = np.exp(_rts(np.log(raw[:, 2]), config.side_process_noise, config.side_measurement_noise))
    return np.stack([cx - side / 2, cy - side / 2, side], axis=1)
