"""Which attribute value each tag names.

Images are read by the demo world's one reader, `latentedit.world.batch_readout.BatchReader`.
"""

from __future__ import annotations

from latentedit.errors import TagError, unknown_name_message
from latentedit.world import truth

__all__ = ["TAG_ATTRIBUTE", "tag_attribute"]

# Tags that name one value of one attribute (colour tags are derived in `tag_attribute`).
TAG_ATTRIBUTE = {
    "short_hair": ("hair_length_class", 0), "medium_hair": ("hair_length_class", 1),
    "long_hair": ("hair_length_class", 2), "closed_eyes": ("closed_eyes", 1),
    "open_mouth": ("open_mouth", 1), "closed_mouth": ("open_mouth", 0),
    "smile": ("smile", 1), "blush": ("blush", 1),
}


def tag_attribute(tag: str) -> tuple[str, int]:
    """(attribute, value) a tag names: short_hair -> (hair_length_class, 0), blue_hair -> (hair_color, k)."""
    if tag in TAG_ATTRIBUTE:
        return TAG_ATTRIBUTE[tag]
    for names, attr, suffix in ((truth.HAIR_COLORS, "hair_color", "_hair"), (truth.EYE_COLORS, "eye_color", "_eyes")):
        for k, c in enumerate(names):
            if tag == f"{c}{suffix}":
                return attr, k
    raise TagError(unknown_name_message("tag", tag, list(TAG_ATTRIBUTE)))
