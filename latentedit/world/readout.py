"""Reading a demo-world image's attributes off its pixels, and which attribute value each tag names.

The demo world's renderer draws every attribute value, so for a decoded image the value of one
attribute is the one whose render (all other attributes as in `attrs`, the selfie's geometry)
is nearest in mean absolute pixel difference. Runtime code (edit measurement, the report's
ground truth) and the asset build scripts both read images this way.
"""

from __future__ import annotations

import numpy as np

from latentedit.errors import TagError, unknown_name_message
from latentedit.world import render, truth

__all__ = ["HAIR_LENGTH_GRID", "TAG_ATTRIBUTE", "READ_ATTRIBUTES", "read_binary", "read_attributes", "tag_attribute"]

# Hair lengths the reader compares against; the nearest one's class is the hair length read.
HAIR_LENGTH_GRID = (-1.5, -1.0, -0.75, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.75, 1.0, 1.5)
# Attributes `read_attributes` reads (eye_color only where the eyes are open).
READ_ATTRIBUTES = ("hair_length_class", "hair_color", "eye_color", "closed_eyes", "open_mouth", "smile", "blush")
# Tags that name one value of one attribute (colour tags are derived in `tag_attribute`).
TAG_ATTRIBUTE = {
    "short_hair": ("hair_length_class", 0), "medium_hair": ("hair_length_class", 1),
    "long_hair": ("hair_length_class", 2), "closed_eyes": ("closed_eyes", 1),
    "open_mouth": ("open_mouth", 1), "closed_mouth": ("open_mouth", 0),
    "smile": ("smile", 1), "blush": ("blush", 1),
}


def _nearest(output: np.ndarray, candidates: list[np.ndarray]) -> int:
    errors = [np.abs(output.astype(np.int16) - c.astype(np.int16)).mean() for c in candidates]
    return int(np.argmin(errors))


def read_binary(image: np.ndarray, geom: dict, attrs: dict, name: str) -> int:
    """0 or 1: which render, with the on/off attribute `name` off or on, the image is nearer to."""
    return _nearest(image, [render.render_anime(geom, {**attrs, name: v}, image.shape[0]) for v in (0, 1)])


def read_attributes(image: np.ndarray, geom: dict, attrs: dict) -> dict[str, int]:
    """Which value of each attribute an image shows, by the nearest of renders that vary only it.

    `attrs` (one row of truth.attributes) fixes every other attribute, so each answer isolates
    one attribute: hair colour, eye colour (eyes open only), hair length class, closed eyes,
    open mouth, smile and blush.
    """
    def variant(**change):
        return render.render_anime(geom, {**attrs, **change}, image.shape[0])

    read = {
        "hair_color": _nearest(image, [variant(hair_color=k) for k in range(len(truth.HAIR_COLORS))]),
        "hair_length_class": int(np.digitize(
            HAIR_LENGTH_GRID[_nearest(image, [variant(hair_length=v) for v in HAIR_LENGTH_GRID])],
            [truth.SHORT_BELOW, truth.LONG_ABOVE])),
        **{name: read_binary(image, geom, attrs, name) for name in ("closed_eyes", "open_mouth", "smile", "blush")},
    }
    if not attrs["closed_eyes"]:
        read["eye_color"] = _nearest(image, [variant(eye_color=k) for k in range(len(truth.EYE_COLORS))])
    return read


def tag_attribute(tag: str) -> tuple[str, int]:
    """(attribute, value) a tag names: short_hair -> (hair_length_class, 0), blue_hair -> (hair_color, k)."""
    if tag in TAG_ATTRIBUTE:
        return TAG_ATTRIBUTE[tag]
    for names, attr, suffix in ((truth.HAIR_COLORS, "hair_color", "_hair"), (truth.EYE_COLORS, "eye_color", "_eyes")):
        for k, c in enumerate(names):
            if tag == f"{c}{suffix}":
                return attr, k
    raise TagError(unknown_name_message("tag", tag, list(TAG_ATTRIBUTE)))
