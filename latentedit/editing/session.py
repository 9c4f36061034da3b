"""`EditSession`: a generator and directions, loaded once, that resolve edits and edit fast.

    from latentedit.editing import EditSpec, EditSession
    session = latentedit.session_for_run("runs/demo", method="svd")   # or EditSession(G, directions)
    edit = session.resolve(EditSpec.paired("long_hair", "short_hair", layers="coarse"))  # -> Edit
    images = session.render(content, w, edit)                        # uint8 (B, H, W, 3)
    strip = session.sweep(content, w, edit, [0, 10, 20])              # uint8 (3, B, H, W, 3)

Codes live in the directions' space: w (B, D) for w-space sets, z (B, latent_dim) for z-space
sets (mapped to w after the edit). Content codes come from `generator.encode` (`session.content`).
An edit with `layers` returns W+ codes (B, L, D) whose other layers keep the unedited code.
The session caches each edit's step and the last content's device copy, so the interactive
editor can call `render` many times a second for the same face.
"""

from __future__ import annotations

import numpy as np
import torch

from latentedit.editing.algebra import layer_delta, project_out, weighted_sum
from latentedit.editing.edit import Edit, EditSpec
from latentedit.editing.strengths import default_scale, default_strengths, sweep_strengths
from latentedit.editing.tags import check_tags
from latentedit.errors import DirectionError, InputError
from latentedit.images import from_uint8, to_uint8
from latentedit.limits import check_strength_range, strength_limit
from latentedit.models import batched
from latentedit.models.layers import GROUPS, layer_groups, resolve_layers

__all__ = ["EditSession"]


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
        self._resolved: dict = {}
        self._steps: dict = {}
        self._content = (None, None)

    # -- edits -------------------------------------------------------------------------------------
    def resolve(self, edit: EditSpec | Edit, source: str | None = None) -> Edit:
        """The `Edit` of a spec: its tags checked against the directions, each default strength the
        method's default x `default_scale` (+A added, -B for a tag in `opposite`), every strength
        bounded by what style codes can carry (`latentedit.limits.strength_limit`), the layers as
        W+ indices. The one place defaults are resolved; an `Edit` is returned as it is. `source`
        ("the recipe's") names where explicit strengths came from in messages (default: the options)."""
        if isinstance(edit, Edit):
            return edit
        cached = self._resolved.get(edit)
        if cached is not None:
            return cached
        check_tags(self.directions, edit.tags, self.run)
        if edit.resolved:
            values = tuple(s for _, s in edit.terms)
        else:
            a, b = self.defaults
            values = tuple((-b if t in edit.opposite else a) if s is None else s for t, s in edit.terms)
        for (t, _), s in zip(edit.terms, values):
            opposite = t in edit.opposite and source is None  # --sub-strength B is the size of -B
            name = f"{source} strength of {t}" if source else "--sub-strength" if opposite else "--strength"
            check_strength_range(-s if opposite else s, self.directions.code_scale, name, self.directions.dim,
                                 self.directions.space)
        if edit.layers is not None and "w+" not in self.generator.spaces:
            raise InputError(f"a {self.generator.kind} generator has one code per face, no W+ layers; drop --layers")
        layers = resolve_layers(edit.layers, self.layer_names)
        out = Edit(tuple((t, s) for (t, _), s in zip(edit.terms, values)), layers, edit.keep, edit.opposite)
        if len(self._resolved) > 256:
            self._resolved.clear()
        self._resolved[edit] = out
        return out

    @property
    def strength_limit(self) -> float:
        """The largest |strength| these directions' codes carry (`latentedit.limits.strength_limit`)."""
        d = self.directions
        return strength_limit(d.code_scale, d.dim, d.space)

    @property
    def defaults(self) -> tuple[float, float]:
        """The method's absolute default add and sub strengths (A, B): its `DEFAULT_STRENGTHS` x
        `default_scale` (a DirectionError when the set carries no code scale)."""
        scale = default_scale(self.directions)
        a, b = default_strengths(self.directions.method)
        return a * scale, b * scale

    def layers_spec(self, layers) -> tuple[int, ...] | str | None:
        """These W+ indices as people read them: the group's name when they are exactly a group."""
        if layers is None:
            return None
        groups = layer_groups(self.layer_names)
        return next((g for g in GROUPS if groups[g] and tuple(groups[g]) == tuple(layers)), tuple(layers))

    def default_ratios(self, edit) -> tuple[float, ...]:
        """Each term's default strength over the first term's (unscaled), for sweeps from 0."""
        a, b = default_strengths(self.directions.method)
        signed = [(-b if t in edit.opposite else a) for t, _ in edit.terms]
        return tuple(s / signed[0] for s in signed)

    def delta(self, edit: EditSpec | Edit) -> np.ndarray:
        """The edit's step: float32 (D,) for a plain edit, (L, D) when it has layers. Cached per edit."""
        edit = self.resolve(edit)
        cached = self._deltas.get(edit)
        if cached is not None:
            return cached
        check_tags(self.directions, edit.tags, self.run)
        rows = [self.directions.index(t) for t, _ in edit.terms]
        delta = _grouped_sum(self._vectors[rows], edit.strengths)
        if edit.keep:
            delta = project_out(delta, self._vectors[[self.directions.index(t) for t in edit.keep]])
        if edit.layers is not None:
            delta = layer_delta(delta, list(edit.layers), len(self.layer_names))
        delta.setflags(write=False)
        if len(self._deltas) > 256:
            self._deltas.clear()
            self._steps.clear()
        self._deltas[edit] = delta
        return delta

    def apply(self, codes, edit: EditSpec | Edit):
        """Edited codes, the same kind (numpy or torch) as `codes` (B, D), (D,) or W+ (B, L, D)."""
        edit = self.resolve(edit)
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

    def apply_all(self, codes, edits: list[Edit]):
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

    def decode(self, content, codes, resolution=None) -> np.ndarray:
        """uint8 (B, H, W, 3) images of content codes with codes of the directions' space (with `resolution`:
        the generator's RGB output there, a preview)."""
        return batched.decode(self.generator, self._on_device(content), self.to_w(codes), self.batch_size,
                              convert=to_uint8, resolution=resolution)

    def render(self, content, codes, edit: EditSpec | Edit) -> np.ndarray:
        """uint8 (B, H, W, 3) images of the edited codes."""
        return self.decode(content, self.apply(codes, edit))

    def sweep_edits(self, edit: EditSpec | Edit, strengths=None, factors=None) -> list[Edit]:
        """The edit at each add-strength of `strengths` (the other terms keep their ratio to the first),
        or at each multiple `factors` of its strengths; every step bounded as `resolve` bounds a spec."""
        ratios = self.default_ratios(edit)
        # Sweeping a default edit by add-strength needs only the default ratios, not the code scale.
        default = isinstance(edit, EditSpec) and not any(s is not None for _, s in edit.terms) and factors is None
        spec = edit if default else self.resolve(edit)
        base = EditSpec(spec.terms, spec.layers, spec.keep, spec.opposite)
        steps = sweep_strengths(ratios if default else spec.strengths, strengths, factors, ratios)
        return [self.resolve(base.with_strengths(step)) for step in steps]

    def sweep(self, content, codes, edit: EditSpec | Edit, strengths=None, factors=None) -> np.ndarray:
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
