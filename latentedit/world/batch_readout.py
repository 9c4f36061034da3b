"""Reading every attribute of a batch's decoded images at once, jointly and fast.

`readout.read_attributes` reads each attribute with every other attribute fixed at the unedited
style's value. After an edit that is not what the image shows: a face whose mouth an edit opened
is compared, for its smile, against two renders with a closed mouth, and 18% of such smiles are
misread (hair colour: 5% after a hair length change). `BatchReader` reads jointly: it reads
every attribute as `read_attributes` does, then re-reads the attributes drawn in the same place
as one that changed (mouth and smile, eyes and eye colour, hair length, hair colour and the
background behind the hair) with the others set to what was read, until nothing changes.

Renders depend only on a sample's geometry and the attribute values tried, so they are
memoised per sample: the before image and every edit of one sample share them, which makes
reading an edit of a sample whose attributes did not change almost free.

The background (a continuous hue position in 0..1, `truth.attributes()["background"]`) is read
from the mean colour of the pixels that only the background covers, as the nearest point of the
renderer's background colour curve; `BACKGROUND_TOLERANCE` is how far it must move to count as
changed (a tenth of the range: about half a step between two palette colours).
"""

from __future__ import annotations

import numpy as np

from latentedit.world import render, truth
from latentedit.world.readout import HAIR_LENGTH_GRID

__all__ = ["ATTRIBUTES", "BACKGROUND_TOLERANCE", "BatchReader", "changes"]

# What `BatchReader.read` returns, one (N,) array each; eye_color is -1 where the eyes are closed.
ATTRIBUTES = ("hair_length_class", "hair_color", "eye_color", "closed_eyes", "open_mouth", "smile", "blush",
              "background")
BACKGROUND_TOLERANCE = 0.1
_BG_GRID = np.linspace(0.0, 1.0, 201)
_BG_CURVE = np.array([render._background_colour(v) for v in _BG_GRID], np.float64)
_BG_PROBES = (0.0, 0.95)  # two backgrounds as far apart as the palette goes: their difference is the mask
# Attributes drawn where another one is: when one changes, its partners are read again.
_PARTNERS = {
    "hair_length": ("hair_color", "background"), "hair_color": ("hair_length",),
    "open_mouth": ("smile",), "smile": ("open_mouth",),
    "closed_eyes": ("eye_color",), "eye_color": ("closed_eyes",),
    "blush": (), "background": (),
}
_ORDER = ("hair_length", "hair_color", "closed_eyes", "eye_color", "open_mouth", "smile", "blush", "background")
_MAX_PASSES = 3
REREAD_LENGTHS = (-1.0, -0.6, -0.4, 0.0, 0.4, 0.6, 1.0)  # two on each side of each class boundary


def _candidates(name: str, base: dict, again: bool = False) -> list:
    """Values tried for one attribute (hair length: the grid plus the unedited style's own length;
    when re-read after a partner changed, the coarser REREAD_LENGTHS: only its class matters then)."""
    if name == "hair_length":
        return sorted(set(REREAD_LENGTHS if again else HAIR_LENGTH_GRID) | {round(float(base["hair_length"]), 4)})
    if name == "hair_color":
        return list(range(len(truth.HAIR_COLORS)))
    if name == "eye_color":
        return list(range(len(truth.EYE_COLORS)))
    return [0, 1]


def _key(attrs: dict) -> tuple:
    return (round(float(attrs["hair_length"]), 4), int(attrs["hair_color"]), int(attrs["eye_color"]),
            int(attrs["closed_eyes"]), int(attrs["open_mouth"]), int(attrs["smile"]), int(attrs["blush"]),
            round(float(attrs["background"]), 4))


def _moved(name: str, value, old) -> bool:
    if name == "background":
        return abs(float(value) - float(old)) > BACKGROUND_TOLERANCE / 2
    return value != old


def _error(image: np.ndarray, other: np.ndarray) -> float:
    return float(np.abs(image.astype(np.int16) - other.astype(np.int16)).mean())


class BatchReader:
    """Joint pixel readout of images of a demo batch (one geometry and unedited style per sample).

    geometry: the batch's geometry dict (`render.sample_geometry`), z: (N, 8) unedited styles.
    `read(images)` takes uint8 (N, H, W, 3) images, row i showing sample i (before or after an
    edit), and returns {attribute: (N,) values} for `ATTRIBUTES`.
    """

    def __init__(self, geometry: dict, z: np.ndarray, size: int = 64):
        self.geometry, self.size = geometry, int(size)
        attrs = truth.attributes(z)
        self.base = [render.take(attrs, i) for i in range(len(z))]
        self._renders: list[dict] = [{} for _ in range(len(z))]
        self._masks: list[dict] = [{} for _ in range(len(z))]

    def __len__(self) -> int:
        return len(self.base)

    def render(self, i: int, attrs: dict) -> np.ndarray:
        """The memoised render of sample i with these attributes."""
        key = _key(attrs)
        img = self._renders[i].get(key)
        if img is None:
            img = self._renders[i][key] = render.render_anime(render.take(self.geometry, i), attrs, self.size)
        return img

    def _background(self, i: int, image: np.ndarray, attrs: dict) -> float:
        key = _key({**attrs, "background": 0.0})
        mask = self._masks[i].get(key)
        if mask is None:
            a, b = (self.render(i, {**attrs, "background": v}).astype(np.int16) for v in _BG_PROBES)
            mask = self._masks[i][key] = np.abs(a - b).sum(-1) > 300  # pixels of pure background
        if not mask.any():
            return float(attrs["background"])
        colour = image[mask].astype(np.float64).mean(0)
        return float(_BG_GRID[np.argmin(np.abs(_BG_CURVE - colour).sum(1))])

    def _read_one(self, i: int, name: str, image: np.ndarray, attrs: dict, again: bool = False):
        if name == "background":
            return self._background(i, image, attrs)
        if name == "eye_color" and attrs["closed_eyes"]:
            return attrs["eye_color"]
        values = _candidates(name, self.base[i], again)
        errors = [_error(image, self.render(i, {**attrs, name: v})) for v in values]
        return values[int(np.argmin(errors))]

    def read_image(self, i: int, image: np.ndarray) -> dict:
        """What image `image` of sample i shows: {attribute: value} (hair_length continuous here).

        First every attribute against the unedited style (as `read_attributes` does; for an image
        that changed nothing these renders are all memoised), then, while something changed, the
        partners of what changed against what was read.
        """
        base = self.base[i]
        attrs = dict(base)
        first = {name: self._read_one(i, name, image, base) for name in _ORDER}
        changed = [n for n in _ORDER if _moved(n, first[n], base[n])]
        attrs.update(first)
        for _ in range(_MAX_PASSES):
            todo = {p for c in changed for p in _PARTNERS[c]}
            changed = []
            for name in [n for n in _ORDER if n in todo]:
                value = self._read_one(i, name, image, attrs, again=True)
                if _moved(name, value, attrs[name]):
                    changed.append(name)
                attrs[name] = value
            if not changed:
                break
        return attrs

    def read(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """{attribute: (N,) values} of `ATTRIBUTES` for the batch's images (row i = sample i)."""
        if len(images) != len(self.base):
            raise ValueError(f"{len(images)} images for a batch of {len(self.base)} samples")
        rows = [self.read_image(i, images[i]) for i in range(len(images))]
        out = {}
        for a in ATTRIBUTES:
            if a == "hair_length_class":
                lengths = np.array([r["hair_length"] for r in rows])
                out[a] = np.digitize(lengths, [truth.SHORT_BELOW, truth.LONG_ABOVE]).astype(np.int64)
            elif a == "eye_color":
                out[a] = np.array([-1 if r["closed_eyes"] else int(r["eye_color"]) for r in rows], np.int64)
            elif a == "background":
                out[a] = np.array([r["background"] for r in rows], np.float64)
            else:
                out[a] = np.array([int(r[a]) for r in rows], np.int64)
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
