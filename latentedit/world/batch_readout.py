"""The demo world's reader: every attribute of a decoded image, read off its pixels.

An image of sample i (its geometry, and its unedited style z_i as the context) shows the
attribute values whose render is nearest to it in mean absolute pixel difference. Attributes
drawn in the same place are read jointly, every combination of their values compared (so no
start can leave a group in a local optimum): hair length x hair colour (REREAD_LENGTHS and the
context's own length x 5 colours), closed eyes x eye colour (closed, or open in one of 4
colours), open mouth x smile (4), blush (2). The groups draw in different places (eyes, mouth and
blush over the skin, the hair around the face), so a group's best combination hardly depends on
the others': each group is compared on renders with the others at the context's values (start 1)
and, where the hair read differs from the context's (bangs reach the lashes), also at the hair
read (start 2); the combination with the lowest pixel error over both starts is the reading.

The background (a continuous hue position in 0..1, `truth.attributes()["background"]`) is read
from the mean colour of the pixels that show only background at every hair length, as the
nearest point of the renderer's background colour curve; the hair group is compared with that
background painted in. `BACKGROUND_TOLERANCE` is how far it must move to count as changed (a
tenth of the range: about half a step between two palette colours).

Each sample costs about 24 renders, once: the hair at each length (plus one render with another
hair colour and background, whose difference gives each pixel's hair and background coverage, so
every colour is painted in with numpy), the eyes open in the context's colour and in another
(the iris coverage) and closed, the other mouths and the blush. Every image of the sample (before
and after every edit) is then read with numpy alone. The coverages are also the regions of
`colour_drift` (CIELAB deltaE of the hair, eyes and background between two images of a face).
"""

from __future__ import annotations

import hashlib

import numpy as np

from latentedit.world import render, truth

__all__ = ["ATTRIBUTES", "BACKGROUND_TOLERANCE", "REREAD_LENGTHS", "BatchReader", "changes", "truth_reads", "agrees",
           "drift_summary"]

# What `BatchReader.read` returns, one (N,) array each; eye_color is -1 where the eyes are closed.
ATTRIBUTES = ("hair_length_class", "hair_color", "eye_color", "closed_eyes", "open_mouth", "smile", "blush",
              "background")
BACKGROUND_TOLERANCE = 0.1
REREAD_LENGTHS = (-1.0, -0.6, -0.4, 0.0, 0.4, 0.6, 1.0)  # hair lengths compared: two each side of each class boundary
REGIONS = ("hair", "eyes", "background")  # of `colour_drift`
_BG_GRID = np.linspace(0.0, 1.0, 201)
_BG_CURVE = np.array([render._background_colour(v) for v in _BG_GRID], np.float64)
_HAIR_RGB = np.array([render.ANIME_HAIR[c] for c in truth.HAIR_COLORS], np.float64)
_EYE_RGB = np.array([render.ANIME_EYES[c] for c in truth.EYE_COLORS], np.float64)
_PURE = 0.97  # coverage above which a pixel shows only that region
# The combinations of the groups drawn over the skin; the eyes' open colours are painted in.
_MOUTHS = tuple({"open_mouth": m, "smile": s} for m in (0, 1) for s in (0, 1))
_BLUSHES = ({"blush": 0}, {"blush": 1})


def _probe(colours: np.ndarray, base: np.ndarray) -> int:
    return int(np.argmax(np.abs(colours - base).sum(1)))


def _coverage(diff: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Per pixel, how much of each colour change (rows of `deltas`) explains `diff` (..., 3): least squares."""
    return np.clip(diff @ np.linalg.pinv(deltas), 0.0, 1.0).astype(np.float32)


class _Sample:
    """Renders of one sample, the coverages that paint colours into them, and the pixels each group draws."""

    def __init__(self, reader: "BatchReader", i: int):
        self.reader, self.i, self.context = reader, i, reader.base[i]
        self._read: dict[bytes, dict] = {}
        base = self.context
        self.lengths = np.array(sorted(set(REREAD_LENGTHS) | {round(float(base["hair_length"]), 4)}))
        self.at = int(np.argmin(np.abs(self.lengths - base["hair_length"])))  # the context's own length
        self.base = {**base, "hair_length": float(self.lengths[self.at])}
        self.h0, self.b0 = _HAIR_RGB[base["hair_color"]], _BG_CURVE[self._bg(np.array(render._background_colour(
            base["background"]), np.float64))]
        hp = _probe(_HAIR_RGB, self.h0)
        bp = max(range(0, len(_BG_GRID), 10), key=lambda k: np.linalg.svd(
            np.stack([_HAIR_RGB[hp] - self.h0, _BG_CURVE[k] - self.b0]), compute_uv=False)[-1])
        hair = [{**self.base, "hair_length": float(v)} for v in self.lengths]
        renders = np.stack([reader.render(i, a) for a in hair]).astype(np.float32)  # (L, H, W, 3)
        probes = np.stack([render.render_anime(render.take(reader.geometry, i), {
            **a, "hair_color": hp, "background": float(_BG_GRID[bp])}, reader.size) for a in hair])
        cover = _coverage(probes - renders, np.stack([_HAIR_RGB[hp] - self.h0, _BG_CURVE[bp] - self.b0]))
        self.bg_mask = cover[..., 1].min(0) > _PURE  # (H, W): background at every length
        self.hair_mask = cover[..., 0] > _PURE  # (L, H, W): only hair
        # Pixels a hair combination can change: those that differ between lengths or show some hair.
        self.hair_px = np.flatnonzero(((renders != renders[self.at]).any((0, -1)) | (cover[..., 0] > 0.01).any(0)
                                       | ((cover[..., 1] > 0.01) & (cover[..., 1] < _PURE)).any(0)))
        self.hair = renders.reshape(len(hair), -1, 3)[:, self.hair_px]
        self.hair_cover = cover.reshape(len(hair), -1, 2)[:, self.hair_px]
        self.e0 = int(base["eye_color"])
        ep = _probe(_EYE_RGB, _EYE_RGB[self.e0])
        opened = self._face({"closed_eyes": 0, "eye_color": self.e0})
        self.eye_cover = _coverage(self._face({"closed_eyes": 0, "eye_color": ep}) - opened,
                                   (_EYE_RGB[ep] - _EYE_RGB[self.e0])[None])[..., 0]  # irises (pupils: 0.35)
        self._starts: dict = {}
        self.face_px = None
        context = self.face_stacks()
        self.face_px = np.flatnonzero(np.concatenate([(g != g[:1]).any(-1) for g in context]).any(0))
        self._starts = {key: tuple(g[:, self.face_px] for g in stacks) for key, stacks in self._starts.items()}

    def _bg(self, colour: np.ndarray) -> int:
        """The nearest point of the background colour curve; of equally near ones the nearest to the context's
        value (white, all of 0.8..1: the middle, 0.9, unless the context is white too)."""
        ctx, white = self.context["background"], truth.WHITE_BACKGROUND_ABOVE
        ref = np.where(_BG_GRID > white, ctx if ctx > white else 0.9, ctx)
        return int(np.argmin(np.abs(_BG_CURVE - colour).sum(1) + 1e-3 * np.abs(_BG_GRID - ref)))

    def _face(self, change: dict, hair: dict | None = None) -> np.ndarray:
        return self.reader.render(self.i, {**self.base, **(hair or {}), **change}).astype(np.float32)

    def face_stacks(self, hair: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(eyes: closed and open in each colour, mouths, blushes) renders with the hair `hair` (context: None),
        (K, pixels, 3) on the pixels the three groups draw."""
        key = None if hair is None else (hair["hair_length"], hair["hair_color"])
        if key not in self._starts:
            opened = self._face({"closed_eyes": 0, "eye_color": self.e0}, hair)
            colours = opened + self.eye_cover[..., None] * (_EYE_RGB - _EYE_RGB[self.e0])[:, None, None]
            eyes = np.concatenate([self._face({"closed_eyes": 1}, hair)[None], colours])
            stacks = (eyes, np.stack([self._face(m, hair) for m in _MOUTHS]),
                      np.stack([self._face(b, hair) for b in _BLUSHES]))
            stacks = tuple(g.reshape(len(g), -1, 3) for g in stacks)
            self._starts[key] = stacks if self.face_px is None else tuple(g[:, self.face_px] for g in stacks)
        return self._starts[key]

    def read(self, image: np.ndarray) -> dict:
        """The reading of one image of this sample; kept per image (the report reads its unedited faces and
        every after image again for `colour_drift`)."""
        key = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()
        if key not in self._read:
            self._read[key] = self._read_image(image)
        return dict(self._read[key])

    def _read_image(self, image: np.ndarray) -> dict:
        bg = self._bg(image[self.bg_mask].astype(np.float64).mean(0) if self.bg_mask.any() else self.b0)
        pixels = image.reshape(-1, 3).astype(np.float32)
        hair_cover, background = self.hair_cover[..., :1], self.hair[:, None] + self.hair_cover[:, None, :, 1:] * (
            _BG_CURVE[bg] - self.b0).astype(np.float32)
        painted = background + hair_cover[:, None] * (_HAIR_RGB - self.h0).astype(np.float32)[None, :, None]
        errors = np.abs(painted - pixels[self.hair_px]).sum((-2, -1))  # (length, colour)
        length, colour = np.unravel_index(np.argmin(errors), errors.shape)
        attrs = {**self.context, "hair_length": float(self.lengths[length]), "hair_color": int(colour),
                 "background": float(_BG_GRID[bg])}
        starts = [self.face_stacks()]
        if length != self.at or colour != self.base["hair_color"]:  # start 2: the face at the hair read
            starts.append(self.face_stacks({"hair_length": attrs["hair_length"], "hair_color": int(colour)}))
        face = pixels[self.face_px]
        eyes, mouths, blushes = (np.stack([np.abs(s[g] - face).sum((-2, -1)) for s in starts]).min(0) for g in range(3))
        k = int(np.argmin(eyes))
        attrs.update(closed_eyes=int(k == 0), eye_color=self.e0 if k == 0 else k - 1, **_MOUTHS[int(np.argmin(mouths))],
                     **_BLUSHES[int(np.argmin(blushes))])
        attrs["hair_length_class"] = int(np.digitize(attrs["hair_length"], [truth.SHORT_BELOW, truth.LONG_ABOVE]))
        return attrs

    def regions(self, attrs: dict) -> dict[str, np.ndarray]:
        """Pixels that show only the hair (at the read length), the irises (if open) and the background."""
        length = int(np.argmin(np.abs(self.lengths - attrs["hair_length"])))
        eyes = self.eye_cover > _PURE if not attrs["closed_eyes"] else np.zeros_like(self.bg_mask)
        return {"hair": self.hair_mask[length], "eyes": eyes, "background": self.bg_mask}


class BatchReader:
    """The joint pixel readout of images of a demo batch (one geometry and unedited style per sample).

    geometry: the batch's geometry dict (`render.sample_geometry`), z: (N, 8) unedited styles.
    `read(images)` takes uint8 (N, H, W, 3) images, row i showing sample i (before or after an
    edit), and returns {attribute: (N,) values} for `ATTRIBUTES`.
    """

    def __init__(self, geometry: dict, z: np.ndarray, size: int = 64):
        self.geometry, self.size = geometry, int(size)
        attrs = truth.attributes(z)
        self.base = [render.take(attrs, i) for i in range(len(z))]
        self._renders: list[dict] = [{} for _ in range(len(z))]
        self._samples: dict[int, _Sample] = {}

    def __len__(self) -> int:
        return len(self.base)

    def render(self, i: int, attrs: dict) -> np.ndarray:
        """The memoised render of sample i with these attributes."""
        key = tuple(round(float(attrs[k]), 4) for k in ("hair_length", "hair_color", "eye_color", "closed_eyes",
                                                        "open_mouth", "smile", "blush", "background"))
        img = self._renders[i].get(key)
        if img is None:
            img = self._renders[i][key] = render.render_anime(render.take(self.geometry, i), attrs, self.size)
        return img

    def _sample(self, i: int) -> _Sample:
        if i not in self._samples:
            self._samples[i] = _Sample(self, i)
        return self._samples[i]

    def read_image(self, i: int, image: np.ndarray) -> dict:
        """What image `image` of sample i shows: {attribute: value} (hair_length continuous here)."""
        return self._sample(i).read(image)

    def read(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """{attribute: (N,) values} of `ATTRIBUTES` for the batch's images (row i = sample i)."""
        if len(images) != len(self.base):
            raise ValueError(f"{len(images)} images for a batch of {len(self.base)} samples")
        rows = [self.read_image(i, images[i]) for i in range(len(images))]
        out = {a: np.array([r[a] for r in rows], np.float64 if a == "background" else np.int64) for a in ATTRIBUTES}
        out["eye_color"] = np.where(out["closed_eyes"] == 1, -1, out["eye_color"])
        return out

    def colour_drift(self, before: np.ndarray, after: np.ndarray) -> dict[str, np.ndarray]:
        """Per region of `REGIONS`, each face's mean CIELAB deltaE (CIE76) between its before and after image.

        Over the pixels that show only that region in both images' readings (the hair at both
        read lengths, the irises where both read open eyes); nan where there are none. A shift
        inside one palette colour (black -> navy hair) shows here though the reading is unchanged.
        """
        out = {r: np.full(len(before), np.nan) for r in REGIONS}
        for i in range(len(before)):
            s = self._sample(i)
            a, b = s.regions(s.read(before[i])), s.regions(s.read(after[i]))
            delta = np.linalg.norm(_lab(before[i]) - _lab(after[i]), axis=-1)
            for r in REGIONS:
                if (a[r] & b[r]).any():
                    out[r][i] = float(delta[a[r] & b[r]].mean())
        return out


def _lab(image: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of uint8 sRGB pixels (..., 3)."""
    c = image.astype(np.float64) / 255
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def drift_summary(drift: dict[str, np.ndarray]) -> dict[str, dict]:
    """{region: {"median", "p90", "n"}} of `BatchReader.colour_drift` (faces without the region left out)."""
    out = {}
    for r, d in drift.items():
        d = d[np.isfinite(d)]
        out[r] = {"median": float(np.median(d)) if len(d) else float("nan"),
                  "p90": float(np.percentile(d, 90)) if len(d) else float("nan"), "n": int(len(d))}
    return out


def changes(before: dict, after: dict) -> dict[str, np.ndarray]:
    """Per attribute of `ATTRIBUTES`, True where the read value changed between two reads.

    Eye colour counts only where both images show open eyes; the background where it moved by
    more than `BACKGROUND_TOLERANCE`.
    """
    out = {}
    for a in ATTRIBUTES:
        if a == "background":
            out[a] = np.abs(after[a] - before[a]) > BACKGROUND_TOLERANCE
        elif a == "eye_color":
            out[a] = (before[a] >= 0) & (after[a] >= 0) & (before[a] != after[a])
        else:
            out[a] = before[a] != after[a]
    return out


def truth_reads(z) -> dict[str, np.ndarray]:
    """The true attributes of codes z (N, 8) in the reader's terms (eye_color -1 where the eyes are closed)."""
    a = truth.attributes(z)
    out = {k: a[k] for k in ATTRIBUTES}
    out["eye_color"] = np.where(a["closed_eyes"] == 1, -1, a["eye_color"])
    return out


def agrees(reads: dict, z) -> dict[str, np.ndarray]:
    """Per attribute, True where a reading equals the truth of the code the face was decoded from.

    Eye colour over the faces whose code has open eyes only; the background within
    `BACKGROUND_TOLERANCE`, or white in both.
    """
    t = truth_reads(z)
    out = {}
    for k in ATTRIBUTES:
        if k == "background":
            white = truth.WHITE_BACKGROUND_ABOVE
            out[k] = (np.abs(reads[k] - t[k]) <= BACKGROUND_TOLERANCE) | ((reads[k] > white) & (t[k] > white))
        elif k == "eye_color":
            out[k] = reads[k][t[k] >= 0] == t[k][t[k] >= 0]
        else:
            out[k] = reads[k] == t[k]
    return out
