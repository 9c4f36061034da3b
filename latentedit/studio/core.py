"""The studio's model, without any web framework: faces, sliders -> edit -> image, side-effect meter,
automatic keep and layers, a hold correction per face, recipes and sweeps over one run.

`Studio` holds the run's generator, one `EditSession` per direction method and code space (w, or
the style code z before the mapping network; fitted into the run on first use), the tagger, and
the faces it has seen. Every call is one user action; a lock keeps
the model single-threaded, so the web layer may call it from any worker thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..directions.label import label_directions
from ..editing import Edit, EditSession, with_spread
from ..editing import recipe as rc
from ..errors import AssetError, CheckpointError, InputError, RunError, unknown_name_message
from ..images import to_uint8
from ..models.batched import decode
from ..models.generator import fingerprint, generator_for_run
from ..models.layers import resolution_index, rgb_resolutions, stop_level
from ..pipeline.autoedit import AutoOptions, auto_edit
from ..pipeline.faces import face_codes
from ..pipeline.fit import ensure_directions
from ..pipeline.probes import run_probe_batch, tagger_probe, thresholds_of
from ..pipeline.recipes import identity, reference_style
from ..stats import TAG_THRESHOLD
from ..store import Run
from . import sliders as sl
from .uploads import Upload

__all__ = ["METHODS", "COMPONENT_METHODS", "LAYER_CHOICES", "SPACES", "EditState", "Frame", "MeterRow", "Studio"]

METHODS = ("linear", "lasso", "svd", "svm", "sefa", "pca")
COMPONENT_METHODS = ("sefa", "pca")
LAYER_CHOICES = ("all", "coarse", "middle", "fine", "range")
SPACES = ("w", "z")         # z: the style code before the mapping network (`latentedit edit --space z`)
LABEL_SAMPLES = 32          # faces per component when naming SeFa/PCA components
PROBE_SAMPLES = 32          # run samples the automatic keep/layers modes measure each variant on
_FACE_CACHE = 64           # faces (and uploaded selfies) kept in memory


def _cached(cache: OrderedDict, key, make):
    """cache[key], made by `make()` when missing; the least recently used entries beyond _FACE_CACHE go."""
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = cache[key] = make()
    while len(cache) > _FACE_CACHE:
        cache.popitem(last=False)
    return value


@dataclass(frozen=True)
class EditState:
    """What the controls say: method, slider values {key: v}, layers, layer range, keep tags, a
    hold correction: (the face and the Edit it was measured for, ((tag, signed strength), ...)) from
    `Studio.hold`, applied only to that face while the sliders still make that edit; and the code
    space the directions live in (w, or z before the mapping network)."""

    method: str = "svd"
    values: dict = field(default_factory=dict)
    layers: str = "all"
    layer_range: tuple[int, int] = (0, 0)
    keep: tuple[str, ...] = ()
    hold: tuple | None = None
    space: str = "w"

    def layer_spec(self):
        """The Edit's layers: None (every layer, a plain w edit), a group name or indices."""
        if self.layers == "all":
            return None
        if self.layers == "range":
            lo, hi = sorted(int(i) for i in self.layer_range)
            return tuple(range(lo, hi + 1))
        if self.layers not in LAYER_CHOICES:
            raise InputError(f"layers must be one of {', '.join(LAYER_CHOICES)}, got {self.layers!r}")
        return self.layers


@dataclass(frozen=True)
class MeterRow:
    """One line of the side-effect meter: a tag's score on the unedited and on the current face."""

    tag: str
    before: float
    after: float
    threshold: float = TAG_THRESHOLD  # the tagger's own for this tag

    @property
    def change(self) -> float:
        return self.after - self.before

    @property
    def flipped(self) -> bool:
        return (self.before >= self.threshold) != (self.after >= self.threshold)


@dataclass
class Frame:
    """What one render produced: images, the edit (None: unedited), meter rows, timings in ms, held."""

    image: np.ndarray  # (r, r, 3) for a preview at r px, else at the generator's size
    before: np.ndarray
    edit: object
    meter: list | None
    render_ms: float
    meter_ms: float = 0.0
    held: bool = False  # a hold correction was applied


class Studio:
    """The interactive editor's state over one run (see the module docstring)."""

    def __init__(self, run, generator=None, tagger="demo", device: str = "cpu"):
        self.run = Run.open(run)
        self.device = device
        self.G = generator_for_run(self.run, generator, device=device)
        self.fingerprint = fingerprint(self.G)
        self.codes = self.run.codes()
        self.tagger_source = tagger
        self._tagger = None
        self._sessions: dict[tuple[str, str], tuple[EditSession, Path | None]] = {}
        self._labels: dict[str, dict] = {}
        self._faces: OrderedDict = OrderedDict()
        self._images: OrderedDict = OrderedDict()
        self._before: OrderedDict = OrderedDict()
        self._probe = (None, None)  # ((n, space), (content, codes)) of the automatic modes' samples
        self._prefix = (None, None)  # (key, state) of the layers below the last layer-limited edit (see _decode)
        self.lock = threading.RLock()

    # -- models ------------------------------------------------------------------------------------
    @property
    def tagger(self):
        if self._tagger is None:
            from ..tagging import load_tagger

            self._tagger = load_tagger(self.tagger_source) if isinstance(self.tagger_source, (str, Path)) \
                else self.tagger_source
        return self._tagger

    def session(self, method: str, space: str = "w") -> EditSession:
        """The EditSession of `method`'s directions in `space` (fitted into the run when missing)."""
        return self._session(method, space)[0]

    def _session(self, method: str, space: str = "w"):
        if method not in METHODS:
            raise InputError(unknown_name_message("method", method, METHODS))
        if space not in SPACES:
            raise InputError(unknown_name_message("space", space, SPACES))
        if space != "w" and method in COMPONENT_METHODS:  # their sliders are labelled by w-space probes
            raise InputError(f"{method} components are w-space directions here; for z pick a tag method "
                             f"({', '.join(m for m in METHODS if m not in COMPONENT_METHODS)})")
        with self.lock:
            if (method, space) not in self._sessions:
                ds, path = ensure_directions(self.run, method, space, tagger=self.tagger_source, generator=self.G,
                                             progress=False)
                ds = with_spread(ds, self.codes[space])
                self._sessions[method, space] = (EditSession(self.G, ds, device=self.device, batch_size=1,
                                                             run=self.run), path)
            return self._sessions[method, space]

    def strengths(self, method: str, space: str = "w") -> tuple[float, float]:
        """The method's absolute default add and sub strengths (A, B): a slider at 1 makes that edit."""
        return self.session(method, space).defaults

    def component_labels(self, method: str) -> dict:
        """{component: [(tag, delta), ...]}: the tags each SeFa/PCA component moves most (cached)."""
        with self.lock:
            if method not in self._labels:
                ds = self.session(method).directions
                labels = label_directions(self.G, ds, self.tagger, n=LABEL_SAMPLES, seed=0, top=2)
                self._labels[method] = {name: moves for name, moves in labels}
            return self._labels[method]

    def specs(self, method: str, space: str = "w") -> list[sl.SliderSpec]:
        """The sliders of a method: tag sliders, or SeFa/PCA component sliders with their labels."""
        names = self.session(method, space).directions.names
        if method in COMPONENT_METHODS:
            return sl.component_sliders(names, self.component_labels(method))
        return sl.tag_sliders(names)

    def keep_choices(self, method: str, space: str = "w") -> list[str]:
        """Tags a method's edit can keep unchanged (none for unnamed components)."""
        return [] if method in COMPONENT_METHODS else list(self.session(method, space).directions.names)

    def edit(self, state: EditState) -> Edit | None:
        """The Edit the controls make (None when every slider is at 0)."""
        session = self.session(state.method, state.space)
        spec = sl.edit_from_values(self.specs(state.method, state.space), state.values, *session.defaults,
                                   state.layer_spec(), state.keep if state.method not in COMPONENT_METHODS else ())
        return None if spec is None else session.resolve(spec)

    def edits(self, state: EditState, face: rc.Face | None = None) -> list:
        """The Edits that make `face`, in order: the sliders' edit, then the hold correction while it
        is the one measured for this face and that edit (empty when every slider is at 0)."""
        edit = self.edit(state)
        if edit is None:
            return []
        if not state.hold or state.hold[:2] != (face, edit) or not state.hold[2]:
            return [edit]
        own = tuple(dict.fromkeys(t for t, _ in edit.terms))
        return [edit, Edit(tuple(state.hold[2]), keep=own)]

    # -- faces ---------------------------------------------------------------------------------------
    def sample_ids(self) -> np.ndarray:
        return self.codes["id"]

    def sample_face(self, sample_id: int) -> rc.Face:
        """A run's sample: its style code on its input selfie's content."""
        where = np.flatnonzero(self.codes["id"] == int(sample_id))
        if not where.size:
            raise RunError(f"sample id {sample_id} is not in {self.run.path}")
        input_id = int(self.codes["input_id"][where[0]])
        return rc.Face(style=rc.SampleStyle(sample_id=int(sample_id)), content=rc.RunInputContent(input_id=input_id))

    def seed_face(self, face: rc.Face, seed: int, truncation: float) -> rc.Face:
        """A random style (seed; truncation 1 = as sampled, 0 = the mean style) on the face's content."""
        seed, truncation = int(seed), float(truncation)
        if seed < 0:
            raise InputError(f"the style seed must be >= 0, got {seed}")
        if not 0.0 <= truncation <= 1.0:
            raise InputError(f"creativity (truncation) must be between 0 and 1, got {truncation}")
        return rc.Face(style=rc.SeedStyle(seed=seed, index=0, truncation=truncation), content=face.content)

    def selfie_face(self, face: rc.Face, upload: Upload) -> rc.Face:
        """The face's style on an uploaded selfie's content."""
        if not self.G.takes_content:
            raise InputError(f"a {self.G.kind} generator draws from codes alone and takes no selfie")
        content = rc.FileContent(sha256=upload.sha256, name=upload.name)
        _cached(self._images, upload.sha256, lambda: upload.image)
        result = rc.Face(style=face.style, content=content)
        self.face_tensors(result)  # encode now, so a bad selfie fails here
        return result

    def reference_face(self, face: rc.Face, path) -> rc.Face:
        """The style of an anime reference image file (checked by `uploads.read_image` first; GNR's style
        encoder, `pipeline.recipes.reference_style`) on the face's content; a one-line message when
        this generator has no style encoder (yet)."""
        source = self.run.generator_source or "demo"
        try:
            style = reference_style(path, source, self.device)
        except (AssetError, CheckpointError) as e:
            raise InputError(f"anime references are not available for this generator: {e}") from None
        return rc.Face(style=style, content=face.content)

    def face_tensors(self, face: rc.Face, space: str = "w"):
        """(content (1, C, S, S), style code (1, D) in `space`) of a face; cached."""
        with self.lock:
            return _cached(self._faces, (repr(face), space),
                           lambda: face_codes(self.G, face, self.run, space, self._images, self.codes))

    # -- rendering -------------------------------------------------------------------------------------
    def unedited(self, face: rc.Face) -> np.ndarray:
        """The face as it is, uint8 (H, W, 3); cached (with its tagger scores once measured)."""
        def make():
            content, w = self.face_tensors(face)
            return [decode(self.G, content, torch.from_numpy(w).to(content.device), 1, convert=to_uint8)[0], None]

        with self.lock:
            return _cached(self._before, repr(face), make)[0]

    def _before_scores(self, face: rc.Face) -> np.ndarray:
        self.unedited(face)
        entry = self._before[repr(face)]
        if entry[1] is None:
            entry[1] = self.tagger.score(entry[0][None])[0]
        return entry[1]

    def _first_level(self, edits: list) -> int:
        """The resolution level of the first W+ layer `edits` change (0 when one edits every layer)."""
        levels = resolution_index(self.G.layer_names)
        return min((min(levels[i] for i in e.layers) if e.layers is not None else 0 for e in edits), default=0)

    def preview_resolution(self, edits: list, resolution: int | None) -> int | None:
        """The resolution a preview of `edits` is decoded at: `resolution`, or the resolution of the first
        edited W+ layer when that is higher (a preview stopping below the edited layers would not show the
        edit); None (the full render) when that is the generator's size or `resolution` is None."""
        if resolution is None:
            return None
        first = rgb_resolutions(self.G.layer_names, self.G.size)[self._first_level(edits)]
        resolution = max(int(resolution), first)
        return None if resolution >= self.G.size else resolution

    def _decode(self, face: rc.Face, session, content, codes, edits: list, preview: int | None) -> np.ndarray:
        """uint8 (H, W, 3): the edited codes decoded (at `preview_resolution`). A layer-limited edit resumes
        from the layers below its first edited one as the last decode with the same codes there left them
        (`Generator.levels`): while one slider moves, only the layers it edits run."""
        resolution, level = self.preview_resolution(edits, preview), self._first_level(edits)
        if level == 0 or not hasattr(self.G, "levels"):
            return session.decode(content, codes, resolution)[0]
        w = session.to_w(codes)
        below = resolution_index(self.G.layer_names).index(level)  # the W+ layers under the first edited level
        key = (repr(face), level, w[:, :below].cpu().numpy().tobytes())
        stop = stop_level(resolution, self.G.layer_names, self.G.size)
        with torch.inference_mode():
            for state in self.G.levels(content, w, False, start=self._prefix[1] if self._prefix[0] == key else None):
                if state[0] == level - 1:
                    self._prefix = (key, state)
                if state[0] == stop:
                    return to_uint8(state[2])[0]

    def render(self, face: rc.Face, state: EditState, meter: bool = True, preview: int | None = None) -> Frame:
        """The edited face (and, with `meter`, the side-effect meter) for the controls' state; with
        `preview`, the generator's RGB output at that resolution (`preview_resolution`) instead of the
        full image, a cheap stand-in while a slider moves."""
        with self.lock:
            t0 = time.perf_counter()
            before = self.unedited(face)
            edits = self.edits(state, face)
            edit = edits[0] if edits else None
            if edit is None:
                image = before
            else:
                content, code = self.face_tensors(face, state.space)
                session = self.session(state.method, state.space)
                image = self._decode(face, session, content, session.apply_all(code, edits), edits, preview)
            t1 = time.perf_counter()
            rows = self.meter(face, image, edit) if meter else None
            return Frame(image, before, edit, rows, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3,
                         held=len(edits) > 1)

    def preview_error(self, face: rc.Face, state: EditState, resolution: int) -> tuple[float, float]:
        """How well a preview at `resolution` shows the edit: the mean absolute pixel difference (0-255) from the
        full render downsampled to the preview's size (box filter), of the preview and of the unedited face
        (what the page shows without a preview)."""
        full = self.render(face, state, False).image.astype(np.float64)
        preview = self.render(face, state, False, preview=resolution).image
        r = preview.shape[0]
        k = full.shape[0] // r

        def down(image):
            return image.reshape(r, k, r, k, 3).mean((1, 3))

        target = down(full)
        return float(np.abs(preview - target).mean()), float(np.abs(down(self.unedited(face)) - target).mean())

    def meter(self, face: rc.Face, image: np.ndarray, edit=None) -> list[MeterRow]:
        """Tagger scores of `image` against the unedited face for every tag the edit does not target,
        largest change first."""
        with self.lock:
            before = self._before_scores(face)
            after = self.tagger.score(image[None])[0]
            edited = {t for t, _ in edit.terms} if edit is not None else set()
            rows = [MeterRow(t, float(b), float(a), float(th))
                    for t, b, a, th in zip(self.tagger.tags, before, after, thresholds_of(self.tagger))
                    if t not in edited]
            return sorted(rows, key=lambda r: -abs(r.change))

    def sweep(self, face: rc.Face, state: EditState, key: str, lo: float, hi: float, n: int) -> np.ndarray:
        """uint8 (n, H, W, 3): the face as the slider `key` goes from `lo` to `hi` (others as set)."""
        if not 2 <= int(n) <= 240:
            raise InputError(f"a sweep needs 2 to 240 frames, got {n}")
        if key not in {s.key for s in self.specs(state.method, state.space)}:
            raise InputError(f"no slider {key!r} for {state.method} directions")
        frames = []
        for v in np.linspace(float(lo), float(hi), int(n)):
            frames.append(self.render(face, replace(state, values={**state.values, key: float(v)}, hold=None),
                                      False).image)
        return np.stack(frames)

    # -- recipes -----------------------------------------------------------------------------------------
    def identity(self, method: str, space: str = "w") -> rc.DirectionIdentity:
        """The direction set's identity, as `latentedit edit --recipe` computes it."""
        return identity(*self._session(method, space))

    def recipe(self, face: rc.Face, state: EditState) -> rc.Recipe:
        """The recipe of the current edit of `face`; an InputError when every slider is at 0."""
        edits = self.edits(state, face)
        if not edits:
            raise InputError("nothing to save: move a slider first")
        edit, layers_as = edits[0], state.layer_spec() if isinstance(state.layer_spec(), str) else None
        if len(edits) > 1:  # held: the face carries its own steps, as `latentedit edit --hold` writes them
            face = face.model_copy(update={"steps": tuple(rc.RecipeEdit.of(e, layers_as if e is edit else None)
                                                          for e in edits)})
        return rc.from_edit(edit, self.fingerprint, self.identity(state.method, state.space), [face],
                            layers_as=layers_as)

    def image_of(self, recipe: rc.Recipe) -> np.ndarray:
        """The recipe's edit of its first face, as `latentedit edit --recipe` draws it."""
        space = recipe.directions.space
        session = self.session(recipe.directions.method, space)
        face = recipe.faces[0]
        content, code = self.face_tensors(face, space)
        chain = [session.resolve(e) for e in rc.face_chains(recipe, face)[0]]
        return session.decode(content, session.apply_all(code, chain))[0]

    def state_of(self, recipe: rc.Recipe, state: EditState) -> tuple[EditState, list[str]]:
        """Controls that remake `recipe` (checked against this run), and notes on what they cannot show."""
        method, space = recipe.directions.method, recipe.directions.space
        rc.check_compatible(recipe, self.fingerprint, self.identity(method, space))
        new, notes = self._controls(replace(state, method=method, space=space), recipe.edit.terms,
                                    recipe.edit.layers, recipe.edit.keep)
        if len(recipe.faces) > 1:
            notes.append(f"the recipe has {len(recipe.faces)} faces; the studio shows the first")
        steps = recipe.faces[0].steps
        if steps:
            first, *rest = steps
            own = tuple(dict.fromkeys(t for t, _ in recipe.edit.terms))
            edit = self.edit(new)
            if (edit is not None and len(rest) == 1 and first.terms == recipe.edit.terms and rest[0].layers is None
                    and rest[0].keep == own):
                new = replace(new, hold=(self.face_of(recipe), edit, tuple(rest[0].terms)))
                notes.append("held: " + ", ".join(f"{t} {s:+.3g}" for t, s in rest[0].terms))
            else:
                notes.append("the face has its own steps (per-sample strengths); the sliders show the edit as asked")
        return new, notes

    def _controls(self, state: EditState, terms, layers, keep) -> tuple[EditState, list[str]]:
        """`state` with the sliders, layers and keep tags that make an edit of these terms."""
        session = self.session(state.method, state.space)
        a, b = session.defaults
        values, missing = sl.values_from_terms(self.specs(state.method, state.space), terms, a, b)
        notes = [f"the {t!r} strength is not on a slider" for t in missing]
        if layers is None:
            return replace(state, values=values, layers="all", keep=tuple(keep)), notes
        if isinstance(layers, str):
            return replace(state, values=values, layers=layers, keep=tuple(keep)), notes
        lo, hi = min(layers), max(layers)
        if list(layers) != list(range(lo, hi + 1)):
            notes.append(f"layers {list(layers)} are not one range; the sliders show {lo}-{hi}")
        return replace(state, values=values, layers="range", layer_range=(lo, hi), keep=tuple(keep)), notes

    def auto_edit(self, state: EditState, keep: bool, layers: bool, n: int = PROBE_SAMPLES) -> tuple[EditState, list[str]]:
        """The controls after choosing the edit's W+ layers and/or keep conditions by measuring them
        (`editing.auto.choose`, as `latentedit edit --layers auto --keep auto`): the tagger's tags
        of `n` of the run's samples, decoded before and after each variant. Returns the
        new state and the reasons recorded for each choice."""
        if not (keep or layers):
            raise InputError("tick automatic keep, automatic layers or both")
        edit = self.edit(state)
        if edit is None:
            raise InputError("move a slider first: the automatic modes choose for the edit you make")
        if keep and state.method in COMPONENT_METHODS:
            raise InputError(f"automatic keep needs tag directions; {state.method} components have no tags")
        session = self.session(state.method, state.space)
        with self.lock:
            if self._probe[0] != (n, state.space):
                self._probe = ((n, state.space), run_probe_batch(self.run, self.G, state.space, n=n, seed=0))
            probe = tagger_probe(session, *self._probe[1], self.tagger, self.run)
            chosen = auto_edit(session, edit, AutoOptions(keep=keep, layers=layers), tagger=self.tagger, run=self.run,
                               probe=probe)
        new, notes = self._controls(state, chosen.edit.terms, session.layers_spec(chosen.edit.layers), chosen.edit.keep)
        return new, [c.reason for c in chosen.choices] + notes

    def hold(self, face: rc.Face, state: EditState) -> tuple[EditState, list[str]]:
        """The controls with a hold correction for this face (`editing.auto.hold`, as `latentedit edit
        --hold`): the tagger reads what else the edit moved on this face, and the face steps back
        along those tags' directions, off the edit's own, while the target still shows."""
        edit = self.edit(state)
        if edit is None:
            raise InputError("move a slider first: hold corrects what the edit moves")
        if state.method in COMPONENT_METHODS:
            raise InputError(f"hold steps along tag directions; {state.method} components have no tags")
        if edit.add[0] not in self.tagger.tags:
            raise InputError(f"hold needs the tagger to read the added tag {edit.add[0]!r}, which it does not have")
        session = self.session(state.method, state.space)
        with self.lock:
            held = auto_edit(session, edit, AutoOptions(hold=True), tagger=self.tagger, run=self.run,
                             faces=self.face_tensors(face, state.space)).held
        moved, correction, left = held.moved_before[0], held.corrections[0], held.moved_after[0]
        if not moved:
            return replace(state, hold=None), ["hold: the tagger sees no other tag moved; nothing to correct"]
        if not correction:
            return replace(state, hold=None), [f"hold: {', '.join(moved)} moved; no step back restored them with "
                                               f"{edit.add[0]} still shown"]
        done = "all restored" if not left else f"still moved: {', '.join(left)}"
        return (replace(state, hold=(face, edit, tuple(correction.items()))),
                [f"hold: {', '.join(moved)} moved; stepped back along "
                 + ", ".join(f"{t} {s:+.3g}" for t, s in correction.items()) + f" ({done})"])

    def face_of(self, recipe: rc.Recipe) -> rc.Face:
        """The face a recipe starts from, as the studio shows it (its own steps are the edit's part)."""
        return recipe.faces[0].model_copy(update={"steps": None})

    def check_face(self, face: rc.Face) -> rc.Face:
        """`face` if this run can draw it (raises a one-line LatentEditError otherwise)."""
        try:
            self.face_tensors(face)
        except (ValueError, IndexError, KeyError) as e:
            raise InputError(f"cannot draw this face: {e}") from None
        return face
