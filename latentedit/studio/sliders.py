"""The studio's sliders: one per fitted tag, grouped, an opposite pair as one slider; and the edit
they make together.

A slider's value counts in multiples of the method's default edit (`editing.strengths`): at 1 a
tag slider adds the tag with the default add-strength A; a paired slider (short_hair <-> long_hair)
at +v makes the paired edit +vA long_hair -vB short_hair, at -v the opposite, +vA short_hair
-vB long_hair (A, B the method's default add and sub strengths times the code scale). SeFa and PCA
components get one slider each, labelled with the tags they move (`directions.label`).
Pure functions: no model, no framework.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..editing import EditSpec

__all__ = ["GROUPS", "OPPOSITES", "SliderSpec", "slider_id", "group_of", "tag_sliders", "component_sliders", "edit_from_values",
           "values_from_terms"]

GROUPS = ("hair", "eyes", "mouth", "colours", "other", "components")
# Opposite tags: one slider each when both have a direction; (positive end, negative end).
OPPOSITES = (
    ("long_hair", "short_hair"),
    ("open_mouth", "closed_mouth"),
    ("blonde_hair", "black_hair"),
    ("white_hair", "black_hair"),
    ("smile", "frown"),
    ("open_eyes", "closed_eyes"),
    ("pale_skin", "dark_skin"),
)
COLOURS = ("black", "brown", "blonde", "red", "blue", "green", "purple", "pink", "white", "silver", "grey", "gray",
           "orange", "aqua", "yellow", "light_brown", "light_blue", "dark_blue", "multicolored")
_HAIR = ("hair", "bangs", "ponytail", "twintails", "braid", "bun", "ahoge", "sidelocks")
_EYES = ("eye", "eyelash", "eyebrow", "wink")
_MOUTH = ("mouth", "smile", "teeth", "tongue", "fang", "lips", "frown", "grin")


@dataclass(frozen=True)
class SliderSpec:
    """One slider: `plus` is added at positive values, `minus` (a paired slider) at negative ones."""

    key: str
    label: str
    group: str
    plus: str
    minus: str | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.plus,) if self.minus is None else (self.plus, self.minus)


def slider_id(key: str) -> str:
    """The DOM id of a slider in the page (tests, benchmark): 'slider-' + key, ':' and the like -> '-'."""
    return "slider-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def group_of(tag: str) -> str:
    """hair, eyes, mouth, colours or other, from a tag's name."""
    t = tag.lower()
    for colour in COLOURS:
        if t in (f"{colour}_hair", f"{colour}_eyes"):
            return "colours"
    if any(w in t for w in _HAIR):
        return "hair"
    if any(w in t for w in _EYES):
        return "eyes"
    if any(w in t for w in _MOUTH):
        return "mouth"
    return "other"


def tag_sliders(names) -> list[SliderSpec]:
    """Sliders for the tags of a named direction set: opposite pairs merged, in GROUPS order."""
    names = list(names)
    used, specs = set(), []
    for plus, minus in OPPOSITES:
        if plus in names and minus in names and plus not in used and minus not in used:
            used |= {plus, minus}
            group = "colours" if "colours" in (group_of(plus), group_of(minus)) else group_of(plus)
            specs.append(SliderSpec(f"pair:{plus}:{minus}", f"{minus}  \u2190\u2192  {plus}", group, plus, minus))
    specs += [SliderSpec(f"tag:{t}", t, group_of(t), t) for t in names if t not in used]
    return sorted(specs, key=lambda s: (GROUPS.index(s.group), names.index(s.minus or s.plus)))


def component_sliders(names, labels=None) -> list[SliderSpec]:
    """One slider per SeFa/PCA component; `labels` {name: [(tag, delta), ...]} names what + moves."""
    specs = []
    for name in names:
        moved = (labels or {}).get(name) or []
        text = ", ".join(f"{'+' if d >= 0 else '-'}{t}" for t, d in moved)
        specs.append(SliderSpec(f"component:{name}", f"{name}: {text}" if text else name, "components", name))
    return specs


def edit_from_values(specs, values, a: float, b: float, layers=None, keep=()) -> EditSpec | None:
    """The edit the sliders make: values {key: v} (multiples of the default edit), A and B the
    method's absolute default add and sub strengths. None when every slider is at 0.

    Kept tags that the edit moves itself are left out of `keep`.
    """
    terms, opposite = [], []
    for spec in specs:
        v = float(values.get(spec.key, 0.0) or 0.0)
        if v == 0.0 or not math.isfinite(v):
            continue
        if spec.minus is None:
            terms.append((spec.plus, v * a))
            continue
        add, sub = (spec.plus, spec.minus) if v > 0 else (spec.minus, spec.plus)
        terms += [(add, abs(v) * a), (sub, -abs(v) * b)]
        opposite.append(sub)
    if not terms:
        return None
    edited = {t for t, _ in terms}
    return EditSpec(tuple(terms), layers, tuple(t for t in keep if t not in edited), tuple(opposite))


def values_from_terms(specs, terms, a: float, b: float, tol: float = 1e-6) -> tuple[dict, list[str]]:
    """Slider values that make `terms` (inverse of `edit_from_values`), and the terms they cannot show.

    A term is shown when its tag has a slider and, for a pair, both strengths fit one value.
    """
    strength = dict(terms)
    values, missing = {}, []
    for spec in specs:
        if spec.minus is None:
            if spec.plus in strength:
                values[spec.key] = round(strength.pop(spec.plus) / a, 9)
            continue
        sp, sm = strength.get(spec.plus), strength.get(spec.minus)
        if sp is None and sm is None:
            continue
        if sp is not None and sp > 0:
            v, sub = sp / a, sm
            ok = sub is not None and abs(sub + v * b) <= tol * max(1.0, abs(sub))
        elif sm is not None and sm > 0:
            v, sub = -sm / a, sp
            ok = sub is not None and abs(sub - v * b) <= tol * max(1.0, abs(sub))
        else:
            ok = False
        if ok:
            values[spec.key] = round(v, 9)
            strength.pop(spec.plus), strength.pop(spec.minus)
    missing += list(strength)
    return values, missing
