"""Edit recipes: an edit as a small JSON document that travels between commands and inside PNGs.

A recipe says everything needed to make the same edited face again, byte for byte: which
generator and direction set it needs, the edit itself (terms, layers, keep conditions), and the
face(s) it starts from. `latentedit edit --recipe FILE.json|IMAGE.png` and `latentedit video
--recipe ...` re-apply one; every PNG an edit writes carries its recipe in a PNG tEXt chunk
named "latentedit-recipe" (`png_bytes`, `read_png`). This module is pure: dataclasses, JSON,
validation and the compatibility check; turning a recipe into codes is the pipeline's job.

Format (version 2; version 1 is the same without face steps)
-------------------------------------------------------------
```json
{
  "format": "latentedit-recipe",
  "version": 1,
  "generator": "3f2a9c0d1e4b5a67",
  "directions": {"method": "svd", "space": "w", "params": {},
                 "file": "svd-w.npz", "sha256": "<64 hex>", "vectors_sha256": "<64 hex>"},
  "edit": {"terms": [["long_hair", 27.9], ["short_hair", -13.9]], "layers": null, "keep": [],
           "opposite": ["short_hair"]},
  "sweep": null,
  "faces": [
    {"style": {"kind": "sample", "sample_id": 12},
     "content": {"kind": "run_input", "input_id": 4}}
  ]
}
```
- generator: `latentedit.models.checkpoint.fingerprint` of the generator the edit was made with.
- directions: the direction set's identity. method and space; params: its fit parameters
  (plain JSON values, those that key the direction file); file: the direction file's name
  (information only); sha256: sha256 of that file's bytes (null for a set never saved);
  vectors_sha256: sha256 over the direction names and float32 vectors actually used (always set;
  `vectors_sha256`), so a set named in memory (sefa/pca labelling) is pinned too.
- edit.terms: [tag, signed strength] in the directions' units (distance along the unit vector;
  + adds the tag, - subtracts it). Strengths are always resolved numbers, never "default",
  so a recipe does not depend on defaults that may change. layers: null (plain w edit), a
  group name ("all", "coarse", "middle", "fine") or a list of W+ layer indices (0-based).
  keep: condition tags projected out of the edit. opposite: the subtracted tags of a paired
  edit (`Edit.opposite`; their strengths are already negative).
- sweep: null, or a list of columns, each the strengths of every term (same order as terms):
  the grid an edit sweep writes, one column per entry (exact numbers, so a re-run is exact).
- faces: one or more starting faces, each a style and a content:
  style kinds: {"kind": "sample", "sample_id": N} a run's sample (its stored code);
  {"kind": "seed", "seed": S, "index": I, "truncation": T} the code z = row I of
  numpy.random.default_rng(S).standard_normal((I + 1, latent_dim)), mapped to w, then
  w_mean + T (w - w_mean) (T = 1: no truncation);
  {"kind": "code", "space": "z"|"w", "code": [...], "source": {...}} an explicit code (D floats,
  or L lists of D floats for W+), e.g. a reference image's encoded style, with what it came
  from in "source" (e.g. {"reference_sha256": ..., "refine": ...}; information only).
  content kinds: {"kind": "run_input", "input_id": N} a run's input selfie;
  {"kind": "demo_selfie", "seed": S, "index": I} demo selfie I of `demo_inputs(.., seed=S)`;
  {"kind": "file", "sha256": H, "name": NAME} an image the user gave (name is a hint; the hash
  must match); {"kind": "video", "sha256": H, "name": NAME, "tracking": {...}} a video's frames;
  {"kind": "demo_video", "seed": S, "frames": T} the demo world's moving-face video.
  label (optional): the name of the face's image files (after/<label>.png), kept on re-application.
  steps (optional, format version 2): this face's own edit, a list of edits (each with terms,
  layers, keep and opposite, as "edit") applied one after the other in place of the recipe's
  "edit", which then records the edit as asked: `latentedit edit --per-sample` gives each face
  its own strengths, `--hold` adds a correction step along the tags the tagger saw move.
  A recipe with steps has no sweep.

Version 1 recipes are read as they are; a recipe is written as version 2 only when a face has
steps, so an older latentedit refuses it with "newer than this latentedit reads".

A recipe is canonical JSON (`to_json`: keys in the order above, floats as Python's shortest
repr, which reads back to the same float64 and float32 values), so recipe -> JSON -> recipe ->
JSON gives the same bytes. Unknown keys and kinds are refused, and a recipe of a newer version
is refused with a message saying so.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import LatentEditError, unknown_name_message

FORMAT = "latentedit-recipe"
VERSION = 2
STEPS_VERSION = 2  # the first version whose faces may carry steps
PNG_KEY = "latentedit-recipe"
LAYER_GROUP_NAMES = ("all", "coarse", "middle", "fine")
STYLE_KINDS = ("sample", "seed", "code")
CONTENT_KINDS = ("run_input", "demo_selfie", "file", "video", "demo_video")
SPACES = ("w", "z")


class RecipeError(LatentEditError):
    """A recipe is malformed, or does not fit the generator or direction set it is applied with."""


# --------------------------------------------------------------------------- dataclasses

@dataclass(frozen=True)
class DirectionIdentity:
    """Which direction set an edit used: method, space, fit params, file hash, vector hash."""

    method: str
    space: str
    params: dict = field(default_factory=dict)
    vectors_sha256: str = ""
    sha256: str | None = None
    file: str | None = None


@dataclass(frozen=True)
class Style:
    """The style code a face starts from (see the module docstring for the kinds)."""

    kind: str
    sample_id: int | None = None
    seed: int | None = None
    index: int = 0
    truncation: float = 1.0
    space: str | None = None
    code: tuple | None = None
    source: dict | None = None


@dataclass(frozen=True)
class Content:
    """The content (selfie geometry) a face is drawn on (see the module docstring for the kinds)."""

    kind: str
    input_id: int | None = None
    seed: int | None = None
    index: int | None = None
    sha256: str | None = None
    name: str | None = None
    frames: int | None = None
    tracking: dict | None = None


@dataclass(frozen=True)
class Step:
    """One edit of a face's own chain (`Face.steps`): terms with exact strengths, layers, keep, opposite."""

    terms: tuple[tuple[str, float], ...]
    layers: tuple[int, ...] | str | None = None
    keep: tuple[str, ...] = ()
    opposite: tuple[str, ...] = ()


@dataclass(frozen=True)
class Face:
    """A starting face: a style on a content; label names its image files (optional); steps: its
    own edit, applied instead of the recipe's (optional, see the format)."""

    style: Style
    content: Content
    label: str | None = None
    steps: tuple[Step, ...] | None = None


@dataclass(frozen=True)
class Recipe:
    """One edit, the generator and directions it needs, and the faces it starts from."""

    generator: str
    directions: DirectionIdentity
    terms: tuple[tuple[str, float], ...]
    faces: tuple[Face, ...]
    layers: tuple[int, ...] | str | None = None
    keep: tuple[str, ...] = ()
    opposite: tuple[str, ...] = ()
    sweep: tuple[tuple[float, ...], ...] | None = None
    version: int | None = None  # None: the oldest version that holds the recipe (1, or 2 with face steps)

    def __post_init__(self):
        if self.version is None:
            object.__setattr__(self, "version", _version_for(self.faces))

    def with_faces(self, faces) -> "Recipe":
        """The same edit starting from other faces (e.g. one face of a batch, for its PNG)."""
        faces = tuple(faces)
        return replace(self, faces=faces, version=max(self.version, _version_for(faces)))


def _version_for(faces) -> int:
    """The oldest format version that can hold these faces."""
    return STEPS_VERSION if any(f.steps for f in faces) else 1


# --------------------------------------------------------------------------- helpers

def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def vectors_sha256(names, vectors) -> str:
    """sha256 over direction names and their float32 vectors (the part of a set an edit uses)."""
    v = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    h = hashlib.sha256(json.dumps([str(n) for n in names]).encode())
    h.update(str(v.shape).encode())
    h.update(v.tobytes())
    return h.hexdigest()


def _plain(value):
    """JSON-plain copy: numpy scalars/arrays to Python, tuples to lists, dict keys to str and sorted
    (canonical: a set's parameters read the same fresh from a fit as loaded from its file)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0])}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def direction_identity(directions, path=None, params_keys=None) -> DirectionIdentity:
    """The identity of a DirectionSet (and the file it was loaded from, if any).

    params: the set's JSON-plain parameters, restricted to `params_keys` when given (the fit
    parameters that key the file); arrays and values JSON cannot hold are left out.
    """
    params = {}
    for k, v in sorted(getattr(directions, "params", {}).items()):
        if params_keys is not None and k not in params_keys:
            continue
        v = _plain(v)
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError):
            continue
        params[k] = v
    return DirectionIdentity(
        method=str(directions.method), space=str(directions.space), params=params,
        vectors_sha256=vectors_sha256(directions.names, directions.vectors),
        sha256=sha256_file(path) if path is not None else None,
        file=Path(path).name if path is not None else None)


def from_edit(edit, strengths, generator: str, directions: DirectionIdentity, faces, sweep=None) -> Recipe:
    """A recipe of an `Edit` with its resolved `strengths` (one per term, e.g. `EditSession.strengths`).

    sweep: None or the edits of each grid column (`EditSession.sweep_edits`), stored exactly.
    """
    terms = tuple((t, float(s)) for (t, _), s in zip(edit.terms, strengths, strict=True))
    layers = edit.layers if edit.layers is None or isinstance(edit.layers, str) else tuple(edit.layers)
    columns = None if sweep is None else tuple(tuple(float(s) for _, s in e.terms) for e in sweep)
    return validate(Recipe(generator=generator, directions=directions, terms=terms, faces=tuple(faces),
                           layers=layers, keep=tuple(edit.keep), opposite=tuple(edit.opposite), sweep=columns))


def step_from_edit(edit) -> Step:
    """A face step of an `Edit` whose strengths are all explicit numbers."""
    if any(s is None for _, s in edit.terms):
        raise RecipeError("a face step needs explicit strengths (resolve them with EditSession.strengths)")
    layers = edit.layers if edit.layers is None or isinstance(edit.layers, str) else tuple(edit.layers)
    return Step(tuple((t, float(s)) for t, s in edit.terms), layers, tuple(edit.keep), tuple(edit.opposite))


def to_edit(recipe: Recipe):
    """The recipe's `latentedit.editing.EditSpec`, with its exact strengths."""
    from .edit import EditSpec

    return EditSpec(recipe.terms, recipe.layers, recipe.keep, recipe.opposite)


def sweep_edits(recipe: Recipe) -> list:
    """One `Edit` per grid column: the sweep's columns, or the recipe's edit alone."""
    edit = to_edit(recipe)
    return [edit] if recipe.sweep is None else [edit.with_strengths(col) for col in recipe.sweep]


def step_edits(face: Face) -> list:
    """The face's own steps as `Edit`s, in the order they apply (empty: the face has none)."""
    from .edit import EditSpec

    return [EditSpec(st.terms, st.layers, st.keep, st.opposite) for st in face.steps or ()]


def face_chains(recipe: Recipe, face: Face) -> list[list]:
    """Per grid column, the `Edit`s that make this face's image, applied in order: the face's
    own steps (one column), else the column's edit of `sweep_edits`."""
    return [step_edits(face)] if face.steps else [[e] for e in sweep_edits(recipe)]


# --------------------------------------------------------------------------- JSON

def _style_dict(s: Style) -> dict:
    if s.kind == "sample":
        return {"kind": "sample", "sample_id": s.sample_id}
    if s.kind == "seed":
        return {"kind": "seed", "seed": s.seed, "index": s.index, "truncation": s.truncation}
    d = {"kind": "code", "space": s.space, "code": _plain(s.code)}
    if s.source is not None:
        d["source"] = _plain(s.source)
    return d


_CONTENT_FIELDS = {
    "run_input": ("input_id",),
    "demo_selfie": ("seed", "index"),
    "file": ("sha256", "name"),
    "video": ("sha256", "name", "tracking"),
    "demo_video": ("seed", "frames", "tracking"),
}
_CONTENT_OPTIONAL = {"name", "tracking"}


def _content_dict(c: Content) -> dict:
    d = {"kind": c.kind}
    for k in _CONTENT_FIELDS[c.kind]:
        v = getattr(c, k)
        if v is None and k in _CONTENT_OPTIONAL:
            continue
        d[k] = _plain(v)
    return d


def _edit_dict(terms, layers, keep, opposite) -> dict:
    return {"terms": [[t, float(s)] for t, s in terms],
            "layers": list(layers) if isinstance(layers, tuple) else layers,
            "keep": list(keep), "opposite": list(opposite)}


def _face_dict(f: Face) -> dict:
    d = {"style": _style_dict(f.style), "content": _content_dict(f.content)}
    if f.steps:
        d["steps"] = [_edit_dict(st.terms, st.layers, st.keep, st.opposite) for st in f.steps]
    if f.label is not None:
        d["label"] = f.label
    return d


def to_dict(recipe: Recipe) -> dict:
    """The recipe as plain JSON values, keys in the documented order."""
    validate(recipe)
    d = recipe.directions
    return {
        "format": FORMAT,
        "version": recipe.version,
        "generator": recipe.generator,
        "directions": {"method": d.method, "space": d.space, "params": _plain(d.params), "file": d.file,
                       "sha256": d.sha256, "vectors_sha256": d.vectors_sha256},
        "edit": _edit_dict(recipe.terms, recipe.layers, recipe.keep, recipe.opposite),
        "sweep": None if recipe.sweep is None else [[float(x) for x in col] for col in recipe.sweep],
        "faces": [_face_dict(f) for f in recipe.faces],
    }


def to_json(recipe: Recipe, compact: bool = False) -> str:
    """Canonical JSON text of a recipe: ASCII, indented with innermost lists on one line and a final
    newline, or with `compact` one line without spaces (what PNGs carry)."""
    if compact:
        return json.dumps(to_dict(recipe), ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return _dumps(to_dict(recipe)) + "\n"


def _at(where: str) -> str:
    return f" {where}" if where else ""


def _dot(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _dumps(value, indent: str = "") -> str:
    """Indented JSON whose innermost lists (of numbers/strings, or of such lists) stay on one line."""
    def flat(v):
        return not isinstance(v, (dict, list)) or (isinstance(v, list) and all(
            not isinstance(x, (dict, list)) or (isinstance(x, list) and all(not isinstance(y, (dict, list)) for y in x))
            for x in v))

    if flat(value):
        return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(", ", ": "))
    inner = indent + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {_dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    items = [f"{inner}{_dumps(v, inner)}" for v in value]
    return "[\n" + ",\n".join(items) + "\n" + indent + "]"


def _unknown(kind: str, name, known, where: str) -> RecipeError:
    """'unknown KIND 'name' in recipe WHERE; did you mean ...?' as a RecipeError."""
    head, _, hint = unknown_name_message(kind, name, known).partition("; ")
    return RecipeError(f"{head} in recipe{_at(where) or ' (top level)'}; {hint}")


def _expect(d, key, types, where, optional=False):
    if key not in d:
        if optional:
            return None
        raise RecipeError(f"recipe{_at(where)} has no {key!r}")
    v = d[key]
    if v is None and optional:
        return None
    if isinstance(v, bool) and bool not in types or not isinstance(v, types):
        names = " or ".join(t.__name__ for t in types)
        raise RecipeError(f"recipe {_dot(where, key)} must be {names}, got {json.dumps(v)[:60]}")
    return v


def _only(d, allowed, where):
    if not isinstance(d, dict):
        raise RecipeError(f"recipe{_at(where)} must be an object, got {json.dumps(d)[:60]}")
    for k in d:
        if k not in allowed:
            raise _unknown("key", k, allowed, where)


def _code(v, where):
    """A code as a tuple of floats (w, z) or of tuples of floats (W+)."""
    usage = f"recipe {where} must be a list of numbers (or, for W+, of equally long lists of numbers)"
    if not isinstance(v, list) or not v:
        raise RecipeError(usage)
    nested = isinstance(v[0], list)
    rows = v if nested else [v]
    if any(not isinstance(r, list) or not r or len(r) != len(rows[0]) for r in rows):
        raise RecipeError(usage)
    for x in (x for r in rows for x in r):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise RecipeError(usage)
        if not math.isfinite(x):
            raise RecipeError(f"recipe {where} has a value that is not a finite number")
    out = tuple(tuple(float(x) for x in r) for r in rows)
    return out if nested else out[0]


def _style_from(d, where) -> Style:
    _only(d, ("kind", "sample_id", "seed", "index", "truncation", "space", "code", "source"), where)
    kind = _expect(d, "kind", (str,), where)
    if kind not in STYLE_KINDS:
        raise _unknown("style kind", kind, STYLE_KINDS, where)
    allowed = {"sample": ("kind", "sample_id"), "seed": ("kind", "seed", "index", "truncation"),
               "code": ("kind", "space", "code", "source")}[kind]
    _only(d, allowed, f"{where} (kind {kind})")
    if kind == "sample":
        return Style("sample", sample_id=_expect(d, "sample_id", (int,), where))
    if kind == "seed":
        return Style("seed", seed=_expect(d, "seed", (int,), where), index=_expect(d, "index", (int,), where),
                     truncation=float(_expect(d, "truncation", (int, float), where)))
    source = _expect(d, "source", (dict,), where, optional=True)
    return Style("code", space=_expect(d, "space", (str,), where), code=_code(d.get("code"), f"{where}.code"),
                 source=source)


def _content_from(d, where) -> Content:
    _only(d, ("kind", "input_id", "seed", "index", "sha256", "name", "frames", "tracking"), where)
    kind = _expect(d, "kind", (str,), where)
    if kind not in CONTENT_KINDS:
        raise _unknown("content kind", kind, CONTENT_KINDS, where)
    _only(d, ("kind",) + _CONTENT_FIELDS[kind], f"{where} (kind {kind})")
    types = {"input_id": (int,), "seed": (int,), "index": (int,), "sha256": (str,), "name": (str,),
             "frames": (int,), "tracking": (dict,)}
    values = {k: _expect(d, k, types[k], where, optional=k in _CONTENT_OPTIONAL) for k in _CONTENT_FIELDS[kind]}
    return Content(kind, **values)


def _edit_from(e, where) -> tuple:
    """(terms, layers, keep, opposite) of an edit object ("edit", or a face's step)."""
    _only(e, ("terms", "layers", "keep", "opposite"), where)
    terms = []
    for k, t in enumerate(_expect(e, "terms", (list,), where)):
        if not (isinstance(t, list) and len(t) == 2 and isinstance(t[0], str)
                and isinstance(t[1], (int, float)) and not isinstance(t[1], bool)):
            raise RecipeError(f"recipe {where}.terms[{k}] must be [tag, strength], got {json.dumps(t)[:60]}")
        terms.append((t[0], float(t[1])))
    layers = e.get("layers")
    if isinstance(layers, list):
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in layers):
            raise RecipeError(f"recipe {where}.layers must be a group name or a list of layer indices, "
                              f"got {json.dumps(layers)[:60]}")
        layers = tuple(layers)
    return (tuple(terms), layers, tuple(_expect(e, "keep", (list,), where)),
            tuple(_expect(e, "opposite", (list,), where)))


def _steps_from(v, where) -> tuple | None:
    if v is None:
        return None
    if not isinstance(v, list) or not v:
        raise RecipeError(f"recipe {where} must be a non-empty list of edits, got {json.dumps(v)[:60]}")
    return tuple(Step(*_edit_from(st, f"{where}[{j}]")) for j, st in enumerate(v))


def from_dict(d) -> Recipe:
    """A Recipe from parsed JSON; one-line RecipeError naming the first problem."""
    _only(d, ("format", "version", "generator", "directions", "edit", "sweep", "faces"), "")
    if d.get("format") != FORMAT:
        raise RecipeError(f"not a latentedit recipe (format is {json.dumps(d.get('format'))}, expected {FORMAT!r})")
    version = _expect(d, "version", (int,), "")
    if version > VERSION:
        raise RecipeError(f"recipe format version {version} is newer than this latentedit reads ({VERSION}); "
                          "upgrade latentedit")
    if version < 1:
        raise RecipeError(f"recipe format version must be >= 1, got {version}")
    gen = _expect(d, "generator", (str,), "")
    dd = _expect(d, "directions", (dict,), "")
    _only(dd, ("method", "space", "params", "file", "sha256", "vectors_sha256"), "directions")
    ident = DirectionIdentity(
        method=_expect(dd, "method", (str,), "directions"), space=_expect(dd, "space", (str,), "directions"),
        params=_expect(dd, "params", (dict,), "directions"),
        vectors_sha256=_expect(dd, "vectors_sha256", (str,), "directions"),
        sha256=_expect(dd, "sha256", (str,), "directions", optional=True),
        file=_expect(dd, "file", (str,), "directions", optional=True))
    terms, layers, keep, opposite = _edit_from(_expect(d, "edit", (dict,), ""), "edit")
    sweep = d.get("sweep")
    if sweep is not None:
        if not isinstance(sweep, list) or not sweep:
            raise RecipeError(f"recipe sweep must be null or a list of columns, got {json.dumps(sweep)[:60]}")
        sweep = tuple(_code(col, f"sweep[{k}]") for k, col in enumerate(sweep))
    faces = []
    for k, f in enumerate(_expect(d, "faces", (list,), "")):
        _only(f, ("style", "content", "steps", "label"), f"faces[{k}]")
        faces.append(Face(_style_from(_expect(f, "style", (dict,), f"faces[{k}]"), f"faces[{k}].style"),
                          _content_from(_expect(f, "content", (dict,), f"faces[{k}]"), f"faces[{k}].content"),
                          _expect(f, "label", (str,), f"faces[{k}]", optional=True),
                          _steps_from(f.get("steps"), f"faces[{k}].steps")))
    r = Recipe(generator=gen, directions=ident, terms=terms, faces=tuple(faces), layers=layers,
               keep=keep, opposite=opposite, sweep=sweep, version=version)
    validate(r)
    return r


def from_json(text: str | bytes) -> Recipe:
    """Parse and validate recipe JSON text."""
    try:
        d = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecipeError(f"recipe is not valid JSON: {e}") from None
    return from_dict(d)


# --------------------------------------------------------------------------- validation

def _finite(x, where):
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x):
        raise RecipeError(f"recipe {where} must be a finite number, got {x!r}")


def _check_edit(terms, layers, keep, opposite, where) -> None:
    """Check one edit's values ("edit", or a face's step)."""
    if not terms:
        raise RecipeError(f"recipe {where} has no terms: give at least one [tag, strength]")
    tags = [t for t, _ in terms]
    if len(set(tags)) != len(tags):
        dup = next(t for t in tags if tags.count(t) > 1)
        raise RecipeError(f"recipe {where} names tag {dup!r} twice")
    for t, s in terms:
        if not t:
            raise RecipeError(f"recipe {where} has a term with an empty tag")
        _finite(s, f"strength of {t!r}")
    if isinstance(layers, str):
        if layers not in LAYER_GROUP_NAMES:
            raise _unknown("layer group", layers, LAYER_GROUP_NAMES, f"{where}.layers")
    elif layers is not None:
        if not layers or any(i < 0 for i in layers) or list(layers) != sorted(set(layers)):
            raise RecipeError(f"recipe {where}.layers must be distinct layer indices >= 0 in increasing order")
    if any(not isinstance(k, str) or not k for k in keep):
        raise RecipeError(f"recipe {where}.keep must be a list of tag names")
    for t in keep:
        if t in tags:
            raise RecipeError(f"recipe {where} both edits and keeps {t!r}")
    for t in opposite:
        if t not in tags:
            raise RecipeError(f"recipe {where}.opposite names {t!r}, which is not one of the edit's terms")


def validate(recipe: Recipe) -> Recipe:
    """Check a recipe's values (types, kinds, finite numbers, non-empty); return it."""
    if not recipe.generator:
        raise RecipeError("recipe has no generator fingerprint")
    d = recipe.directions
    if d.space not in SPACES:
        raise RecipeError(f"recipe directions.space must be 'w' or 'z', got {d.space!r}")
    if not d.method or not d.vectors_sha256:
        raise RecipeError("recipe directions need a method and a vectors_sha256")
    _check_edit(recipe.terms, recipe.layers, recipe.keep, recipe.opposite, "edit")
    if recipe.sweep is not None:
        if len(recipe.sweep) < 1:
            raise RecipeError("recipe sweep must be null or a non-empty list of columns")
        for k, col in enumerate(recipe.sweep):
            if len(col) != len(recipe.terms):
                raise RecipeError(f"recipe sweep[{k}] has {len(col)} strengths for {len(recipe.terms)} terms")
            for x in col:
                _finite(x, f"sweep[{k}] strength")
    if not recipe.faces:
        raise RecipeError("recipe has no faces to start from")
    for k, f in enumerate(recipe.faces):
        s, c = f.style, f.content
        where = f"faces[{k}]"
        if f.label is not None and (not f.label or any(ch in f.label for ch in '/\\\0') or f.label.startswith(".")):
            raise RecipeError(f"recipe {where}.label must be a plain file name, got {f.label!r}")
        if f.steps is not None:
            if recipe.version < STEPS_VERSION:
                raise RecipeError(f"recipe {where}.steps needs format version {STEPS_VERSION}; this recipe says "
                                  f"version {recipe.version}")
            if recipe.sweep is not None:
                raise RecipeError(f"recipe {where} has its own steps and the recipe a sweep; a sweep edits every "
                                  "face alike")
            if not f.steps:
                raise RecipeError(f"recipe {where}.steps must be a non-empty list of edits")
            for j, st in enumerate(f.steps):
                _check_edit(st.terms, st.layers, st.keep, st.opposite, f"{where}.steps[{j}]")
        if s.kind not in STYLE_KINDS:
            raise _unknown("style kind", s.kind, STYLE_KINDS, where)
        if s.kind == "sample" and (s.sample_id is None or s.sample_id < 0):
            raise RecipeError(f"recipe {where}.style.sample_id must be a sample id >= 0")
        if s.kind == "seed":
            if s.seed is None or s.seed < 0 or s.index < 0:
                raise RecipeError(f"recipe {where}.style needs a seed >= 0 and an index >= 0")
            _finite(s.truncation, f"{where}.style.truncation")
        if s.kind == "code":
            if s.space not in SPACES:
                raise RecipeError(f"recipe {where}.style.space must be 'w' or 'z', got {s.space!r}")
            if not s.code:
                raise RecipeError(f"recipe {where}.style.code is empty")
        if c.kind not in CONTENT_KINDS:
            raise _unknown("content kind", c.kind, CONTENT_KINDS, where)
        for name in _CONTENT_FIELDS[c.kind]:
            if getattr(c, name) is None and name not in _CONTENT_OPTIONAL:
                raise RecipeError(f"recipe {where}.content (kind {c.kind}) needs {name!r}")
        if c.sha256 is not None and (len(c.sha256) != 64 or any(ch not in "0123456789abcdef" for ch in c.sha256)):
            raise RecipeError(f"recipe {where}.content.sha256 must be 64 lowercase hex digits")
    return recipe


def check_compatible(recipe: Recipe, generator_fingerprint: str, directions: DirectionIdentity) -> None:
    """Raise a one-line RecipeError naming the first difference between the recipe's needs and these.

    Compared in order: generator fingerprint, direction method, space, each fit parameter, the
    direction file's sha256 (when both are known) and the vectors' sha256.
    """
    if recipe.generator != generator_fingerprint:
        raise RecipeError(f"recipe was made with generator {recipe.generator}, this generator is "
                          f"{generator_fingerprint}; use the generator the recipe names")
    need = recipe.directions
    if need.method != directions.method:
        raise RecipeError(f"recipe was made with {need.method} directions, these are {directions.method} "
                          f"directions; pass --method {need.method}")
    if need.space != directions.space:
        raise RecipeError(f"recipe was made with directions in {need.space}, these are in {directions.space}")
    for k in sorted(set(need.params) | set(directions.params)):
        a, b = need.params.get(k, "<unset>"), directions.params.get(k, "<unset>")
        if a != b:
            raise RecipeError(f"recipe was made with {need.method} directions fitted with {k}={json.dumps(a)}, "
                              f"these have {k}={json.dumps(b)}")
    if need.sha256 is not None and directions.sha256 is not None and need.sha256 != directions.sha256:
        raise RecipeError(f"recipe was made with direction file {need.file or '?'} of sha256 {need.sha256[:16]}, "
                          f"this one ({directions.file or '?'}) has sha256 {directions.sha256[:16]}; "
                          "the directions were refitted or come from another run")
    if need.vectors_sha256 != directions.vectors_sha256:
        raise RecipeError(f"recipe was made with {need.method} direction vectors of sha256 "
                          f"{need.vectors_sha256[:16]}, these have {directions.vectors_sha256[:16]}; "
                          "the directions were refitted, named differently or come from another run")


# --------------------------------------------------------------------------- PNG

def png_bytes(image: np.ndarray, recipe: Recipe | None) -> bytes:
    """PNG bytes of a uint8 HxWx3 image carrying `recipe` (compact JSON) in a tEXt chunk.

    Deterministic (no timestamps; same settings as latentedit.images.encode_png).
    """
    import io

    from PIL import Image, PngImagePlugin

    info = None
    if recipe is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(PNG_KEY, to_json(recipe, compact=True))
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buf, format="PNG", optimize=False, compress_level=6, pnginfo=info)
    return buf.getvalue()


def read_png(path) -> Recipe:
    """The recipe a latentedit PNG carries; a one-line RecipeError if it has none or is no PNG."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise RecipeError(f"{path} is a {img.format} image; recipes travel in PNGs written by latentedit edit")
            img.load()
            text = getattr(img, "text", {}).get(PNG_KEY)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise RecipeError(f"cannot read image {path}: {e}") from None
    if text is None:
        raise RecipeError(f"{path} carries no latentedit recipe (no {PNG_KEY!r} text chunk); "
                          "was it written by latentedit edit?")
    return from_json(text)


def load(path) -> Recipe:
    """A recipe from a .json file or from the metadata of a PNG that latentedit wrote."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"\x89PNG\r\n\x1a\n":
        return read_png(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                kind = f"a {img.format} image"
        except (UnidentifiedImageError, OSError):
            kind = "neither JSON nor an image"
        raise RecipeError(f"{path} is {kind}; a recipe is a .json file or a PNG written by latentedit edit") from None
    try:
        return from_json(text)
    except RecipeError as e:
        raise RecipeError(f"{path}: {e}") from None


def save(path, recipe: Recipe) -> Path:
    """Write a recipe's canonical JSON atomically."""
    from ..io import atomic_write_text

    return atomic_write_text(path, to_json(recipe))
