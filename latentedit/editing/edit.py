"""`EditSpec` (an edit as asked) and `Edit` (the one value every stage passes on).

A user's edit may leave strengths to the method's default and name its W+ layers by group
("coarse"); `EditSession.resolve(spec)` turns it into an `Edit` once, against one generator and
direction set. An `Edit` holds every strength as an absolute signed distance in the directions'
space and its layers as W+ indices, so what happens to it after that (a sweep, a per-sample
multiple, a studio slider: `edit.scaled(f)`; a held face: a list of edits) never looks up a
default again, and a recipe stores it exactly. Torch-free: no models, no files.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from latentedit.editing.strengths import check_strength
from latentedit.errors import InputError, TagError

__all__ = ["EditSpec", "Edit"]


def _tags(tags) -> tuple[str, ...]:
    if tags is None:
        return ()
    if isinstance(tags, str):
        return (tags,)
    return tuple(str(t) for t in tags)


@dataclass(frozen=True)
class _Terms:
    """Fields and checks an edit has asked and resolved alike.

    terms: (tag or component, signed strength) pairs. keep: tags projected out of the edit
    (`algebra.project_out`), so it moves none of them to first order. opposite: the subtracted
    tags of a paired edit (what gives a default its sign and names --sub-strength in messages).
    """

    terms: tuple
    layers: object = None
    keep: tuple[str, ...] = ()
    opposite: tuple[str, ...] = ()

    def __post_init__(self):
        terms = tuple((str(t), None if s is None else check_strength(s, f"strength of {t}")) for t, s in self.terms)
        if not terms:
            raise TagError("nothing to edit: give at least one --add TAG")
        keep, opposite = _tags(self.keep), _tags(self.opposite)
        tags = {t for t, _ in terms}
        for t in opposite:
            if t not in tags:
                raise TagError(f"opposite tag {t!r} is not one of the edit's terms")
        for t in keep:
            if t in tags:
                raise TagError(f"tag {t!r} is both edited and kept; an edit cannot move a tag and keep it")
        object.__setattr__(self, "terms", terms)
        object.__setattr__(self, "keep", keep)
        object.__setattr__(self, "opposite", opposite)

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag the edit needs a direction for (terms, then keep)."""
        return tuple(dict.fromkeys([t for t, _ in self.terms] + list(self.keep)))

    @property
    def add(self) -> list[str]:
        return [t for t, _ in self.terms if t not in self.opposite]

    @property
    def sub(self) -> list[str]:
        return [t for t, _ in self.terms if t in self.opposite]

    def with_strengths(self, strengths):
        """The same edit with these strengths, one per term."""
        strengths = list(strengths)
        if len(strengths) != len(self.terms):
            raise InputError(f"{len(strengths)} strengths for an edit of {len(self.terms)} terms")
        return replace(self, terms=tuple((t, s) for (t, _), s in zip(self.terms, strengths)))

    def to_dict(self) -> dict:
        """A JSON-friendly description (`from_dict` reads it back)."""
        layers = self.layers if self.layers is None or isinstance(self.layers, str) else list(self.layers)
        return {"terms": [[t, s] for t, s in self.terms], "layers": layers, "keep": list(self.keep),
                "opposite": list(self.opposite)}

    @classmethod
    def from_dict(cls, data: dict):
        try:
            return cls(tuple((t, s) for t, s in data["terms"]), data.get("layers"), tuple(data.get("keep", ())),
                       tuple(data.get("opposite", ())))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"not an edit description ({e}): {data!r}") from None


@dataclass(frozen=True)
class EditSpec(_Terms):
    """An edit as asked: a strength None is the method's default (+A for an added tag, -B for a
    tag in `opposite`); layers None (a plain code edit), a group name ("all", "coarse", "middle",
    "fine") or W+ indices. `EditSession.resolve` turns it into an `Edit`."""

    terms: tuple[tuple[str, float | None], ...]
    layers: tuple[int, ...] | str | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.layers is not None and not isinstance(self.layers, str):
            object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))

    @classmethod
    def paired(cls, add, sub=(), strength=None, sub_strength=None, layers=None, keep=()) -> "EditSpec":
        """The thesis's paired edit: +A for each tag of `add`, -B for each tag of `sub` (None: defaults)."""
        add, sub = _tags(add), _tags(sub)
        if not add:
            raise TagError("nothing to edit: give at least one --add TAG")
        for t in add:
            if t in sub:
                raise TagError(f"tag {t!r} is in both --add and --sub; an edit cannot add and remove the same tag")
        a = None if strength is None else check_strength(strength, "strength")
        b = None if sub_strength is None else check_strength(sub_strength, "sub-strength")
        terms = tuple((t, a) for t in add) + tuple((t, None if b is None else -b) for t in sub)
        return cls(terms, layers, keep, opposite=sub)

    @property
    def resolved(self) -> bool:
        """Whether every strength is given (nothing left to a default)."""
        return all(s is not None for _, s in self.terms)


@dataclass(frozen=True)
class Edit(_Terms):
    """A resolved edit: absolute signed strengths, W+ layer indices (None: a plain code edit)."""

    terms: tuple[tuple[str, float], ...]
    layers: tuple[int, ...] | None = None

    def __post_init__(self):
        super().__post_init__()
        if any(s is None for _, s in self.terms):
            raise InputError("an Edit needs every strength; resolve an EditSpec with EditSession.resolve")
        if self.layers is not None:
            if isinstance(self.layers, str):
                raise InputError(f"an Edit's layers are W+ indices, got {self.layers!r}; resolve an EditSpec")
            object.__setattr__(self, "layers", tuple(sorted({int(i) for i in self.layers})))

    @property
    def strengths(self) -> tuple[float, ...]:
        return tuple(s for _, s in self.terms)

    def scaled(self, factor: float) -> "Edit":
        """Every strength times `factor` (a sweep step, a per-sample multiple, a slider value)."""
        return self.with_strengths([s * float(factor) for s in self.strengths])
