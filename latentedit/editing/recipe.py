"""Edit recipes: an edit as a small JSON document that travels between commands and inside PNGs.

A recipe says everything needed to make the same edited face again, byte for byte: the generator
and direction set it needs, the edit (`RecipeEdit`: terms, layers, keep, opposite) and the faces
it starts from. The format is declared here as pydantic models (docs/recipes.md describes it, its
JSON Schema is docs/recipe.schema.json, `python -m latentedit.editing.recipe --schema` writes it);
styles and contents are unions discriminated on "kind". This module is pure: models, canonical
JSON, the compatibility check, no files (reading and writing recipe files and PNGs:
`latentedit.pipeline.recipes`); turning a recipe into codes is the pipeline's job.

A recipe is canonical JSON (`to_json`: keys in the declared order, the free-form objects params,
source and tracking with sorted keys, floats as Python's shortest repr, which reads back to the
same float64 and float32 values), so recipe -> JSON -> recipe -> JSON gives the same bytes. It is
written with the oldest version that holds it: 1, or 2 when a face has its own steps, so an older
latentedit refuses a version 2 recipe with "newer than this latentedit reads". Every problem is
one RecipeError line naming the field, e.g. "recipe faces[0].style.sample_id: ...".
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Strict, Tag,
                      ValidationError, ValidationInfo, model_validator)
from pydantic_core import PydanticCustomError

from ..errors import LatentEditError, unknown_name_message
from .edit import Edit, EditSpec

FORMAT = "latentedit-recipe"
VERSION = 2
STEPS_VERSION = 2  # the first version whose faces may carry steps
PNG_KEY = "latentedit-recipe"
LAYER_GROUP_NAMES = ("all", "coarse", "middle", "fine")


class RecipeError(LatentEditError):
    """A recipe is malformed, or does not fit the generator or direction set it is applied with."""


def _problem(message: str):
    return PydanticCustomError("recipe", "{message}", {"message": message})


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


def _plain_file_name(name: str) -> str:
    if not name or any(ch in name for ch in "/\\\0") or name.startswith("."):
        raise _problem(f"must be a plain file name, got {name!r}")
    return name


def _increasing(indices: tuple) -> tuple:
    if list(indices) != sorted(set(indices)):
        raise _problem("must be distinct layer indices >= 0 in increasing order")
    return indices


def _rows_alike(code: tuple) -> tuple:
    if code and isinstance(code[0], tuple) and len({len(row) for row in code}) > 1:
        raise _problem("must be a list of numbers (or, for W+, of equally long lists of numbers)")
    return code


def _code_shape(value) -> str:
    return "rows" if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)) else "row"


Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]  # finite; an int reads as a float, a bool does not
Count = Annotated[int, Strict(), Field(ge=0)]
Text = Annotated[str, Field(min_length=1)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
JsonObject = Annotated[dict[str, Any], BeforeValidator(_plain)]
Row = Annotated[tuple[Number, ...], Field(min_length=1)]
Code = Annotated[Union[Annotated[Row, Tag("row")], Annotated[tuple[Row, ...], Field(min_length=1), Tag("rows")]],
                 Discriminator(_code_shape), AfterValidator(_rows_alike)]
LayerGroup = Literal[LAYER_GROUP_NAMES]
Layers = Union[Annotated[Union[Annotated[LayerGroup, Tag("group")],
                               Annotated[tuple[Count, ...], Field(min_length=1), AfterValidator(_increasing),
                                         Tag("indices")]],
                         Discriminator(lambda v: "group" if isinstance(v, str) else "indices")], None]
_omitted = dict(default=None, exclude_if=lambda v: v is None)  # an optional key, left out when None


def _kind_required(schema: dict) -> None:
    """In JSON a recipe always names its format and every style and content its kind (defaults only for Python)."""
    schema["required"] = [k for k in ("format", "kind") if k in schema["properties"]] + schema.get("required", [])


class _Model(BaseModel):
    """Frozen, no unknown keys (named with the closest known one)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_kind_required)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data, info: ValidationInfo):
        if isinstance(data, dict):
            cls._check_raw(data, info.mode)
            for key in data:
                if key not in cls.model_fields:
                    raise _problem(unknown_name_message("key", key, list(cls.model_fields)))
        return data

    @classmethod
    def _check_raw(cls, data: dict, mode: str) -> None:
        """Checks of the raw object (from "json" or "python") before its fields (Recipe: format, version)."""


class DirectionIdentity(_Model):
    """Which direction set an edit used: method, space, fit params, file name and hash, vector hash."""

    method: Text
    space: Literal["w", "z"]
    params: JsonObject
    file: str | None = None
    sha256: str | None = None
    vectors_sha256: Text


class RecipeEdit(_Model):
    """One edit of a recipe (its "edit", or a face's step): [tag, exact signed strength] terms, layers
    (None, a group name or W+ indices, as written), keep tags, the subtracted (opposite) tags."""

    terms: Annotated[tuple[tuple[Text, Number], ...], Field(min_length=1)]
    layers: Layers
    keep: tuple[Text, ...]
    opposite: tuple[str, ...]

    @model_validator(mode="after")
    def _consistent(self):
        tags = [t for t, _ in self.terms]
        for t in tags:
            if tags.count(t) > 1:
                raise _problem(f"names tag {t!r} twice")
        for t in self.keep:
            if t in tags:
                raise _problem(f"both edits and keeps {t!r}")
        for t in self.opposite:
            if t not in tags:
                raise _problem(f"opposite names {t!r}, which is not one of the edit's terms")
        return self

    @classmethod
    def of(cls, edit: Edit, layers_as: str | None = None) -> "RecipeEdit":
        """The recipe form of a resolved `Edit`: its exact strengths, its layers written as the group
        `layers_as` names (when the user named one) or as its W+ indices."""
        return cls(terms=edit.terms, layers=layers_as if layers_as is not None else edit.layers, keep=edit.keep,
                   opposite=edit.opposite)

    def to_spec(self) -> EditSpec:
        """The edit as an `EditSpec`: exact strengths, layers as written (a session resolves them)."""
        return EditSpec(self.terms, self.layers, self.keep, self.opposite)

    def with_strengths(self, strengths) -> "RecipeEdit":
        """The same edit with these strengths, one per term (a sweep's column)."""
        return self.model_copy(update={"terms": tuple((t, float(s)) for (t, _), s in zip(self.terms, strengths,
                                                                                        strict=True))})


class SampleStyle(_Model):
    """A run's sample: its stored code."""

    kind: Literal["sample"] = "sample"
    sample_id: Count


class SeedStyle(_Model):
    """z = row `index` of numpy.random.default_rng(seed).standard_normal((index + 1, latent_dim)), mapped to
    w, then w_mean + truncation (w - w_mean) (truncation 1: none)."""

    kind: Literal["seed"] = "seed"
    seed: Count
    index: Count
    truncation: Number


class CodeStyle(_Model):
    """An explicit code (D numbers, or L lists of D numbers for W+), e.g. a reference image's encoded
    style, with what it came from in `source` (information only)."""

    kind: Literal["code"] = "code"
    space: Literal["w", "z"]
    code: Code
    source: JsonObject | None = Field(**_omitted)


class RunInputContent(_Model):
    """A run's input selfie."""

    kind: Literal["run_input"] = "run_input"
    input_id: Count


class DemoSelfieContent(_Model):
    """Demo selfie `index` of `demo_inputs(.., seed=seed)`."""

    kind: Literal["demo_selfie"] = "demo_selfie"
    seed: Count
    index: Count


class FileContent(_Model):
    """An image the user gives (found by its sha256; name is a hint)."""

    kind: Literal["file"] = "file"
    sha256: Sha256
    name: str | None = Field(**_omitted)


class VideoContent(_Model):
    """A video's frames; tracking: the face-box settings."""

    kind: Literal["video"] = "video"
    sha256: Sha256
    name: str | None = Field(**_omitted)
    tracking: JsonObject | None = Field(**_omitted)


class DemoVideoContent(_Model):
    """The demo world's moving-face video."""

    kind: Literal["demo_video"] = "demo_video"
    seed: Count
    frames: Count
    tracking: JsonObject | None = Field(**_omitted)


Style = Annotated[Union[SampleStyle, SeedStyle, CodeStyle], Field(discriminator="kind")]
Content = Annotated[Union[RunInputContent, DemoSelfieContent, FileContent, VideoContent, DemoVideoContent],
                    Field(discriminator="kind")]
STYLE_KINDS = ("sample", "seed", "code")
CONTENT_KINDS = ("run_input", "demo_selfie", "file", "video", "demo_video")


class Face(_Model):
    """A starting face: a style on a content; steps: its own edits, applied in order instead of the
    recipe's edit (format version 2); label: the name of its image files (after/<label>.png)."""

    style: Style
    content: Content
    steps: Annotated[tuple[RecipeEdit, ...], Field(min_length=1)] | None = Field(**_omitted)
    label: Annotated[str, AfterValidator(_plain_file_name)] | None = Field(**_omitted)


class Recipe(_Model):
    """One edit, the generator (`models.checkpoint.fingerprint`) and directions it needs, the faces it
    starts from; sweep: None, or the strengths of every term per grid column."""

    format: Literal["latentedit-recipe"] = FORMAT
    version: Annotated[int, Strict(), Field(ge=1, le=VERSION)]
    generator: Text
    directions: DirectionIdentity
    edit: RecipeEdit
    sweep: Annotated[tuple[Row, ...], Field(min_length=1)] | None = None
    faces: Annotated[tuple[Face, ...], Field(min_length=1)]

    @classmethod
    def _check_raw(cls, data: dict, mode: str) -> None:
        if data.get("format", FORMAT if mode == "python" else None) != FORMAT:
            raise RecipeError(f"not a latentedit recipe (format is {json.dumps(data.get('format'))}, "
                              f"expected {FORMAT!r})")
        version = data.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise RecipeError(f"recipe format version {version} is newer than this latentedit reads ({VERSION}); "
                              "upgrade latentedit")

    @model_validator(mode="after")
    def _consistent(self):
        for k, col in enumerate(self.sweep or ()):
            if len(col) != len(self.edit.terms):
                raise RecipeError(f"recipe sweep[{k}] has {len(col)} strengths for {len(self.edit.terms)} terms")
        for k, f in enumerate(self.faces):
            if f.steps is not None and self.version < STEPS_VERSION:
                raise RecipeError(f"recipe faces[{k}].steps needs format version {STEPS_VERSION}; this recipe says "
                                  f"version {self.version}")
            if f.steps is not None and self.sweep is not None:
                raise RecipeError(f"recipe faces[{k}] has its own steps and the recipe a sweep; a sweep edits every "
                                  "face alike")
        return self

    def with_faces(self, faces) -> "Recipe":
        """The same edit starting from other faces (e.g. one face of a batch, for its PNG)."""
        faces = tuple(faces)
        return Recipe(**{**dict(self), "faces": faces, "version": max(self.version, _version_for(faces))})


def _version_for(faces) -> int:
    """The oldest format version that can hold these faces."""
    return STEPS_VERSION if any(f.steps for f in faces) else 1


# --------------------------------------------------------------------------- errors

_FIELDS = {name for model in _Model.__subclasses__() for name in model.model_fields}


def recipe_error(error: ValidationError) -> RecipeError:
    """The first problem of a ValidationError as one RecipeError line: 'recipe PATH: what is wrong'."""
    first = error.errors(include_url=False)[0]
    where, loc = "", first["loc"]
    for i, part in enumerate(loc):
        if isinstance(part, int):
            where += f"[{part}]"
        elif part in _FIELDS and not (i and loc[i - 1] in ("style", "content")):  # not a union member's tag
            where += f".{part}" if where else part
    kind, value = first["type"], first.get("input")
    if kind == "union_tag_invalid":
        message = unknown_name_message("kind", first["ctx"]["tag"], first["ctx"]["expected_tags"].replace("'", "")
                                       .split(", "))
    elif kind == "literal_error":
        message = unknown_name_message("value", value, first["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
                                       .split(", "))
    elif kind == "union_tag_not_found":
        message = "has no 'kind'"
    elif kind in ("too_short", "string_too_short"):
        message = "must not be empty"
    else:
        message = first["msg"][0].lower() + first["msg"][1:]
        if kind not in ("recipe", "missing") and not isinstance(value, dict):
            message += f", got {json.dumps(value, default=repr)[:60]}"
    return RecipeError(f"recipe {where}: {message}" if where else f"recipe: {message}")


# --------------------------------------------------------------------------- JSON

def from_json(text: str | bytes) -> Recipe:
    """Parse and validate recipe JSON text; one-line RecipeError naming the first problem."""
    try:
        return Recipe.model_validate_json(text)
    except ValidationError as e:
        if e.errors()[0]["type"] == "json_invalid":
            why = e.errors()[0]["ctx"]["error"]
            why = f"nested too deeply ({why})" if why.startswith("recursion limit exceeded") else why
            raise RecipeError(f"recipe is not valid JSON: {why}") from None
        raise recipe_error(e) from None


def to_json(recipe: Recipe, compact: bool = False) -> str:
    """Canonical JSON text of a recipe: ASCII, indented with innermost lists on one line and a final
    newline, or with `compact` one line without spaces (what PNGs carry)."""
    plain = recipe.model_dump(mode="json")  # keys in the declared order
    if compact:
        return json.dumps(plain, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return _dumps(plain) + "\n"


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


def json_schema() -> str:
    """The JSON Schema of a recipe (docs/recipe.schema.json), as indented JSON text."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Recipe.model_json_schema()}
    return json.dumps(schema, indent=2) + "\n"


# --------------------------------------------------------------------------- edits and identities

def vectors_sha256(names, vectors) -> str:
    """sha256 over direction names and their float32 vectors (the part of a set an edit uses)."""
    v = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    h = hashlib.sha256(json.dumps([str(n) for n in names]).encode())
    h.update(str(v.shape).encode())
    h.update(v.tobytes())
    return h.hexdigest()


def direction_identity(directions, sha256: str | None = None, file: str | None = None,
                       params_keys=None) -> DirectionIdentity:
    """The identity of a DirectionSet; sha256 and file: the hash and name of the file it was read from.

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
    return DirectionIdentity(method=str(directions.method), space=str(directions.space), params=params,
                             vectors_sha256=vectors_sha256(directions.names, directions.vectors), sha256=sha256,
                             file=file)


def from_edit(edit: Edit, generator: str, directions: DirectionIdentity, faces, sweep=None,
              layers_as: str | None = None) -> Recipe:
    """A recipe of a resolved `Edit` (layers written as the group `layers_as`, if the user named one).

    sweep: None or the `Edit` of each grid column, whose strengths are stored exactly.
    """
    faces = tuple(faces)
    columns = None if sweep is None else tuple(e.strengths for e in sweep)
    try:
        return Recipe(version=_version_for(faces), generator=generator, directions=directions,
                      edit=RecipeEdit.of(edit, layers_as), sweep=columns, faces=faces)
    except ValidationError as e:
        raise recipe_error(e) from None


def sweep_edits(recipe: Recipe) -> list[EditSpec]:
    """One `EditSpec` (exact strengths) per grid column: the sweep's columns, or the recipe's edit alone."""
    cols = [recipe.edit] if recipe.sweep is None else [recipe.edit.with_strengths(col) for col in recipe.sweep]
    return [e.to_spec() for e in cols]


def step_edits(face: Face) -> list[EditSpec]:
    """The face's own steps as `EditSpec`s, in the order they apply (empty: the face has none)."""
    return [st.to_spec() for st in face.steps or ()]


def face_chains(recipe: Recipe, face: Face) -> list[list[EditSpec]]:
    """Per grid column, the edits that make this face's image, applied in order: the face's own
    steps (one column), else the column's edit of `sweep_edits`."""
    return [step_edits(face)] if face.steps else [[e] for e in sweep_edits(recipe)]


def check_compatible(recipe: Recipe, generator_fingerprint: str, directions: DirectionIdentity) -> None:
    """Raise a one-line RecipeError naming the first difference between the recipe's needs and these.

    Compared in order: generator fingerprint, direction method, space, each fit parameter, the
    direction file's sha256 (when both are known) and the vectors' sha256.
    """
    if recipe.generator != generator_fingerprint:
        from ..models.generator import named

        raise RecipeError(f"recipe was made with {named(recipe.generator)}, this is {named(generator_fingerprint)}; "
                          "use the generator the recipe names")
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


if __name__ == "__main__" and sys.argv[1:] == ["--schema"]:
    sys.stdout.write(json_schema())
