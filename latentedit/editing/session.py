"""`Edit` (what to change) and `EditSession` (a generator and directions, loaded once, that edit fast).

    from latentedit.editing import Edit, EditSession
    session = EditSession.for_run("runs/demo", method="svd")
    edit = Edit.paired("long_hair", "short_hair", layers="coarse")   # the thesis's paired edit
    images = session.render(content, w, edit)                        # uint8 (B, H, W, 3)
    strip = session.sweep(content, w, edit, [0, 10, 20])              # uint8 (3, B, H, W, 3)

Codes live in the directions' space: w (B, D) for w-space sets, z (B, latent_dim) for z-space
sets (mapped to w after the edit). Content codes come from `generator.encode` (`session.content`).
An edit with `layers` returns W+ codes (B, L, D) whose other layers keep the unedited code.
The session caches each edit's step and the last content's device copy, so the interactive
editor can call `render` many times a second for the same face.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from latentedit.directions import DirectionSet
from latentedit.editing.algebra import layer_delta, project_out, weighted_sum
from latentedit.editing.strengths import check_strength, default_scale, default_strengths, sweep_strengths, with_spread
from latentedit.editing.tags import UNNAMED_METHODS, check_tags, name_for_tags
from latentedit.errors import DirectionError, InputError, TagError
from latentedit.images import from_uint8, to_uint8
from latentedit.limits import check_strength_range
from latentedit.models import batched
from latentedit.models.checkpoint import generator_for_run
from latentedit.models.layers import resolve_layers
from latentedit.store import Run

__all__ = ["Edit", "EditSession"]


def _tags(tags) -> tuple[str, ...]:
    if tags is None:
        return ()
    if isinstance(tags, str):
        return (tags,)
    return tuple(str(t) for t in tags)


@dataclass(frozen=True)
class Edit:
    """An edit: a weighted sum of tag directions, on some W+ layers, keeping some tags unchanged.

    terms: (tag, signed strength) pairs; a strength None is the method's default (x the set's
        code scale): +A for an added tag, -B for a tag in `opposite`.
    layers: None (every layer: a plain w edit), a group name ("all", "coarse", "middle", "fine")
        or W+ layer indices (`latentedit.models.layers.resolve_layers`).
    keep: tags whose directions are projected out of the edit (`algebra.project_out`), so the
        edit moves none of them to first order.
    opposite: the subtracted tags of a paired edit (extension of the shared interface: it gives
        a default strength its sign and lets a sweep keep the add:sub ratio).
    """

    terms: tuple[tuple[str, float | None], ...]
    layers: tuple[int, ...] | str | None = None
    keep: tuple[str, ...] = ()
    opposite: tuple[str, ...] = ()

    def __post_init__(self):
        terms = tuple((str(t), None if s is None else check_strength(s, f"strength of {t}")) for t, s in self.terms)
        if not terms:
            raise TagError("nothing to edit: give at least one --add TAG")
        layers = self.layers
        if layers is not None and not isinstance(layers, str):
            layers = tuple(int(i) for i in layers)
        keep, opposite = _tags(self.keep), _tags(self.opposite)
        tags = {t for t, _ in terms}
        for t in opposite:
            if t not in tags:
                raise TagError(f"opposite tag {t!r} is not one of the edit's terms")
        for t in keep:
            if t in tags:
                raise TagError(f"tag {t!r} is both edited and kept; an edit cannot move a tag and keep it")
        object.__setattr__(self, "terms", terms)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "keep", keep)
        object.__setattr__(self, "opposite", opposite)

    @classmethod
    def paired(cls, add, sub=(), strength=None, sub_strength=None, layers=None, keep=()) -> "Edit":
        """The thesis's paired edit: +A for each tag of `add`, -B for each tag of `sub`.

        A and B are absolute w distances; None takes the method's default (code-scale units).
        """
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
    def tags(self) -> tuple[str, ...]:
        """Every tag the edit needs a direction for (terms, then keep)."""
        return tuple(dict.fromkeys([t for t, _ in self.terms] + list(self.keep)))

    @property
    def add(self) -> list[str]:
        return [t for t, _ in self.terms if t not in self.opposite]

    @property
    def sub(self) -> list[str]:
        return [t for t, _ in self.terms if t in self.opposite]

    def with_strengths(self, strengths) -> "Edit":
        """The same edit with these explicit strengths, one per term."""
        strengths = list(strengths)
        if len(strengths) != len(self.terms):
            raise InputError(f"{len(strengths)} strengths for an edit of {len(self.terms)} terms")
        return replace(self, terms=tuple((t, s) for (t, _), s in zip(self.terms, strengths)))

    def to_dict(self) -> dict:
        """A JSON-friendly description (`Edit.from_dict` reads it back)."""
        layers = self.layers if self.layers is None or isinstance(self.layers, str) else list(self.layers)
        return {"terms": [[t, s] for t, s in self.terms], "layers": layers, "keep": list(self.keep),
                "opposite": list(self.opposite)}

    @classmethod
    def from_dict(cls, data: dict) -> "Edit":
        try:
            return cls(tuple((t, s) for t, s in data["terms"]), data.get("layers"), tuple(data.get("keep", ())),
                       tuple(data.get("opposite", ())))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"not an edit description ({e}): {data!r}") from None


class EditSession:
    """One generator and one direction set, loaded once; edits, sweeps and decodes.

    generator: a Generator (moved to `device`, eval mode). directions: a DirectionSet with the
    generator's dimension (default strengths need its code scale). run: optional, lets a tag the
    fit filtered out be explained from the run's tag counts.
    """

    def __init__(self, generator, directions, device="cpu", batch_size: int = 16, run=None):
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.directions = directions
        self.batch_size = int(batch_size)
        self.run = run
        self.layer_names = list(self.generator.layer_names)
        dim = generator.latent_dim if directions.space == "z" else generator.style_dim
        if directions.dim != dim:
            raise DirectionError(f"the {directions.method} directions are {directions.dim}-dimensional but this "
                                 f"generator's {directions.space}-space is {dim}-dimensional; fit directions for it")
        self._vectors = directions.vectors.astype(np.float64)
        self._deltas: dict = {}
        self._steps: dict = {}
        self._content = (None, None)

    @classmethod
    def for_run(cls, run, method: str = "svd", space: str = "w", generator=None, tagger="demo", tags=(),
                device="cpu", batch_size: int = 16, seed: int = 0) -> "EditSession":
        """A session on a run's generator and its saved `method` directions.

        The directions must have been fitted (`latentedit fit-directions`); an older set without a
        code scale gets the run's. SeFa/PCA components are named for `tags` by labelling with `tagger`.
        """
        run = Run.open(run)
        G = generator_for_run(run, generator, device=device)
        path = run.directions_path(method, space)
        if not path.exists():
            raise DirectionError(f"{run.path} has no {method} directions in {space}-space; fit them with "
                                 f"latentedit fit-directions {run.path} --method {method} --space {space}")
        ds = with_spread(DirectionSet.load(path, generator_fingerprint=run.fingerprint), run.codes()[space])
        if tags and ds.method in UNNAMED_METHODS:
            ds = with_spread(name_for_tags(G, ds, tags, tagger, seed=seed), run.codes()[space])
        return cls(G, ds, device=device, batch_size=batch_size, run=run)

    # -- codes -------------------------------------------------------------------------------------
    def check(self, edit: Edit) -> None:
        """Raise a TagError when the directions lack a tag of `edit` (close names suggested)."""
        check_tags(self.directions, edit.tags, self.run)

    def strengths(self, edit: Edit) -> tuple[float, ...]:
        """The edit's absolute strength per term: given, or the method's default x `default_scale`.

        Each is bounded by what style codes can carry (`latentedit.limits.strength_limit`: 100 code
        scales); a larger one is an InputError that says the range.
        """
        if all(s is not None for _, s in edit.terms):
            values = tuple(s for _, s in edit.terms)
        else:
            scale = default_scale(self.directions)
            a, b = (x * scale for x in default_strengths(self.directions.method))
            values = tuple((-b if t in edit.opposite else a) if s is None else s for t, s in edit.terms)
        for (t, _), s in zip(edit.terms, values):
            opposite = t in edit.opposite
            check_strength_range(-s if opposite else s, self.directions.code_scale,
                                 "--sub-strength" if opposite else "--strength")
        return values

    def default_ratios(self, edit: Edit) -> tuple[float, ...]:
        """Each term's default strength over the first term's (unscaled), for sweeps from 0."""
        a, b = default_strengths(self.directions.method)
        signed = [(-b if t in edit.opposite else a) for t, _ in edit.terms]
        return tuple(s / signed[0] for s in signed)

    def layers(self, edit: Edit) -> list[int] | None:
        """The W+ layer indices the edit moves (None: a plain w edit)."""
        return resolve_layers(edit.layers, self.layer_names)

    def delta(self, edit: Edit) -> np.ndarray:
        """The edit's step: float32 (D,) for a w edit, (L, D) when it has layers. Cached per edit."""
        cached = self._deltas.get(edit)
        if cached is not None:
            return cached
        self.check(edit)
        weights = self.strengths(edit)
        rows = [self.directions.index(t) for t, _ in edit.terms]
        delta = _grouped_sum(self._vectors[rows], weights)
        if edit.keep:
            delta = project_out(delta, self._vectors[[self.directions.index(t) for t in edit.keep]])
        idx = self.layers(edit)
        if idx is not None:
            delta = layer_delta(delta, idx, len(self.layer_names))
        delta.setflags(write=False)
        if len(self._deltas) > 256:
            self._deltas.clear()
            self._steps.clear()
        self._deltas[edit] = delta
        return delta

    def apply(self, codes, edit: Edit):
        """Edited codes, the same kind (numpy or torch) as `codes` (B, D), (D,) or W+ (B, L, D)."""
        delta = self.delta(edit)
        is_torch = isinstance(codes, torch.Tensor)
        x = codes if is_torch else np.asarray(codes, dtype=np.float32)
        if x.shape[-1] != delta.shape[-1]:
            raise DirectionError(f"codes have {x.shape[-1]} dimensions but the {self.directions.method} directions "
                                 f"have {delta.shape[-1]}; fit directions for this generator's "
                                 f"{self.directions.space}-space")
        if delta.ndim == 2 and x.ndim == 2:
            x = x[:, None, :]
        if not is_torch:
            return x + delta
        key = (edit, x.device, x.dtype)
        step = self._steps.get(key)
        if step is None:
            step = self._steps[key] = torch.from_numpy(delta.copy()).to(device=x.device, dtype=x.dtype)
        return x + step

    def apply_all(self, codes, edits):
        """Codes after each edit of `edits` in turn (a recipe face's own steps)."""
        for edit in edits:
            codes = self.apply(codes, edit)
        return codes

    def to_w(self, codes) -> torch.Tensor:
        """Codes of the directions' space -> w (B, D) or W+ (B, L, D) on the session's device."""
        codes = torch.as_tensor(codes, dtype=torch.float32, device=self.device)
        if self.directions.space != "z":
            return codes
        with torch.inference_mode():
            if codes.ndim == 3:
                b, n, d = codes.shape
                return self.generator.mapping(codes.reshape(b * n, d)).reshape(b, n, -1)
            return self.generator.mapping(codes)

    # -- images ------------------------------------------------------------------------------------
    def content(self, images) -> torch.Tensor:
        """Content codes of selfies: uint8 (B, H, W, 3) at the generator's size, or (B, 3, H, W) in [-1, 1]."""
        x = images if isinstance(images, torch.Tensor) else from_uint8(np.asarray(images))
        return batched.encode_content(self.generator, x.to(self.device), self.batch_size)

    def _on_device(self, content) -> torch.Tensor:
        key, value = self._content
        if key is content:
            return value
        value = torch.as_tensor(content, device=self.device)
        self._content = (content, value)
        return value

    def decode(self, content, codes) -> np.ndarray:
        """uint8 (B, H, W, 3) images of content codes with codes of the directions' space."""
        return batched.decode(self.generator, self._on_device(content), self.to_w(codes), self.batch_size,
                              convert=to_uint8)

    def render(self, content, codes, edit: Edit) -> np.ndarray:
        """uint8 (B, H, W, 3) images of the edited codes."""
        return self.decode(content, self.apply(codes, edit))

    def sweep_edits(self, edit: Edit, strengths=None, factors=None) -> list[Edit]:
        """The edit at each add-strength of `strengths` (the other terms keep their ratio to the first),
        or at each multiple `factors` of its resolved strengths."""
        ratios = self.default_ratios(edit)
        given = any(s is not None for _, s in edit.terms)
        # Sweeping a default edit by add-strength needs only the default ratios, not the code scale.
        base = self.strengths(edit) if given or factors is not None else ratios
        steps = sweep_strengths(base, strengths, factors, ratios)
        return [edit.with_strengths(s) for s in steps]

    def sweep(self, content, codes, edit: Edit, strengths=None, factors=None) -> np.ndarray:
        """uint8 (S, B, H, W, 3): the images at each step of `sweep_edits`."""
        return np.stack([self.render(content, codes, e) for e in self.sweep_edits(edit, strengths, factors)])


def _grouped_sum(vectors, weights) -> np.ndarray:
    """sum_k weights[k] vectors[k], terms of equal weight summed first (so a paired edit's step is
    exactly A * sum n(add) - B * sum n(sub))."""
    groups: dict[float, list[int]] = {}
    for k, w in enumerate(weights):
        groups.setdefault(float(w), []).append(k)
    sums = np.stack([vectors[idx].sum(axis=0) for idx in groups.values()])
    return weighted_sum(sums, list(groups))
