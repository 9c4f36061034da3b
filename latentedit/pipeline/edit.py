"""`edit`: paired opposite-tag edits of a run's samples or of new selfies, written to a folder.

The thesis edits a style code by adding the direction of the tag it wants and subtracting the
direction of its opposite (long_hair up, short_hair down): w' = w + A sum n(add) - B sum n(sub).
This stage is a thin layer over `latentedit.editing.EditSession`: it finds the directions (fitted
into the run when missing), picks the codes and content to edit, and writes

    OUT/before/<label>.png, OUT/after/<label>[-<k>].png, OUT/grid.png, OUT/codes.npz, OUT/edit.json,
    OUT/recipe.json

all at once (`latentedit.store.write_folder`). Every PNG carries the recipe of exactly that image
(`latentedit.editing.recipe`, docs/recipes.md); `recipe=` re-applies one and gives the same bytes.
The faces are chosen by `ids` (samples of the run), `samples` (picked with `seed`) or `inputs`
(a folder of selfies), each with its own style, or all with the style of an anime `reference`
image or of `style_seed`. `auto` (`AutoOptions`) chooses the layers and conditions on the run,
and with per_sample and hold lets the tagger fit the edit to each face
(`pipeline.autoedit.auto_edit`): each face then has its own chain of edits, which its recipe
carries as steps. Each face is computed on its own (batch 1), so its pixels do not depend
on which other faces an edit draws. Strength defaults and their measured effects:
`latentedit.editing.strengths`; W+ layer groups: `latentedit.models.layers`.

    result = edit("runs/demo", add="long_hair", sub="short_hair", method="svd", layers="coarse")
    result = edit("runs/demo", EditRequest(add=("long_hair",), sweep=(-20, 0, 20)), out="edits/x")
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import images
from ..directions import DirectionSet
from ..directions.label import sample_w
from ..editing import EditSession, EditSpec, with_spread
from ..editing.strengths import check_strength, default_strengths
from ..editing.tags import UNNAMED_METHODS, name_for_tags
from ..errors import InputError, RunError
from ..models.generator import fingerprint, generator_for_run, load_generator
from ..store import Run, check_output_folder, write_folder
from . import recipes
from .autoedit import AutoOptions, auto_edit, tagger_of
from .fit import ensure_directions
from ..requests import make_request

FORMAT = "latentedit-edit/1"


@dataclass(frozen=True)
class EditOptions:
    """The edit and where its directions and generator come from; shared by EditRequest and VideoRequest.

    add, sub: tags to add / subtract (the paired edit). strength, sub_strength: A and B as
    distances in the directions' space (None: the method's default x code scale). layers: None (a
    plain edit), a group name, 'I-J' text or W+ indices. keep: tags whose directions are projected
    out of the edit. `spec` is the `EditSpec` of these. generator, directions: given objects or
    paths instead of the run's. include: tags to fit even if the tag filter drops them (the run's
    directions are refitted). fit: fit the run's directions when they are missing (else an error
    naming `latentedit fit-directions`).
    """

    add: tuple[str, ...] = ()
    sub: tuple[str, ...] = ()
    method: str = "svd"
    space: str = "w"
    strength: float | None = None
    sub_strength: float | None = None
    layers: tuple[int, ...] | str | None = None
    keep: tuple[str, ...] = ()
    generator: object = None
    directions: object = None
    tagger: object = "demo"
    include: tuple[str, ...] = ()
    fit: bool = False
    device: str = "cpu"

    def __post_init__(self):
        for name in ("add", "sub", "keep", "include"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value or ()))

    @property
    def spec(self) -> EditSpec:
        """The edit as asked (checked: something to add, no tag both added and removed or kept)."""
        return EditSpec.paired(self.add, self.sub, self.strength, self.sub_strength, self.layers, self.keep)


@dataclass(frozen=True)
class EditRequest(EditOptions):
    """What `edit` edits and writes (see EditOptions for the edit itself); the CLI's defaults.

    sweep: add-strengths, one grid column each (B follows at the ratio B / A). samples: how many of the run's samples
    (picked with `seed`, default 8); ids: these sample ids of the run instead; inputs: a folder of
    selfies instead (random styles from `seed`). reference: an anime image whose style (GNR's
    G_B2A encoder, from `style_encoder` or the generator's checkpoint) every face gets;
    style_seed: a seeded random style every face gets. inputs_seed: with `inputs`, the seed of the
    faces' random styles (row i for selfie i; default `seed`, which still picks the run samples the
    auto choices measure on). recipe: a Recipe, .json or latentedit PNG
    to re-apply (its edit and faces replace the fields above; `inputs` supplies the selfie files
    it names). auto: what to choose by measuring (`AutoOptions`: keep and layers on the run's
    samples; per_sample: each face at the smallest multiple of the strengths (x0..x2) at which the
    tagger surely sees the added tag, x0 leaving a face that shows it already as it is; hold: then
    each face stepped back along the tags the tagger sees the edit moved on it). out: the output
    folder (None: nothing written).
    """

    sweep: tuple[float, ...] | None = None
    samples: int | None = None
    ids: tuple[int, ...] | None = None
    inputs: str | Path | None = None
    reference: str | Path | None = None
    style_seed: int | None = None
    style_encoder: object = None
    recipe: object = None
    seed: int = 0
    inputs_seed: int | None = None
    out: str | Path | None = None
    batch_size: int = 16
    auto: AutoOptions = AutoOptions()

    def __post_init__(self):
        super().__post_init__()
        if self.sweep is not None:
            object.__setattr__(self, "sweep", tuple(check_strength(s, "sweep strength") for s in self.sweep))
        per_face = " and ".join(f for f in self.auto.flags if f in ("--per-sample", "--hold"))
        if per_face and self.sweep is not None:
            raise InputError(f"{per_face} would fit the edit to each face; a --sweep sets the strengths of "
                             "every face alike: give one or the other")
        given = [f"--{k.replace('_', '-')}" for k in ("add", "sub", "strength", "sub_strength", "layers", "keep",
                                                     "sweep", "samples", "ids", "reference", "style_seed", "inputs_seed")
                 if getattr(self, k) not in (None, ())]
        if self.recipe is not None and given:
            raise InputError(f"a recipe re-applies its own edit and faces; {', '.join(given)} would be ignored: "
                             "give the recipe alone, or the edit without it")
        if self.reference is not None and self.style_seed is not None:
            raise InputError("--reference and --style-seed both set every face's style: give one of them")
        if per_face and self.recipe is not None:
            raise InputError(f"a recipe re-applies its own edit, face by face; {per_face} would choose a new "
                             "one: give one or the other")
        if self.inputs_seed is not None and self.inputs is None:
            raise InputError("--inputs-seed sets the styles of the --inputs selfies: give --inputs DIR too")
        if self.batch_size < 1:
            raise InputError("batch_size must be at least 1")


@dataclass
class EditResult:
    """What `edit` did: images (uint8), codes, the strengths applied and the edit.json record."""

    before: np.ndarray            # (B, H, W, 3)
    after: np.ndarray             # (S, B, H, W, 3), S = 1 without a sweep
    codes: np.ndarray             # (B, D) codes that were edited (space of the directions)
    edited: np.ndarray            # (S, B, D) or (S, B, L, D)
    strengths: list               # [(A, B)] per column of `after`
    labels: list                  # one name per row (sample id or input file)
    grid: np.ndarray              # rows = samples, columns = before + each strength
    record: dict = field(default_factory=dict)
    out: Path | None = None
    recipes: dict | None = None   # the recipe of each image (`recipes.image_recipes`)


# -- the setup edit and video share ---------------------------------------------------------------
def load_generator_for(run=None, generator=None, device="cpu"):
    """(generator, source): the one given (object, 'demo' or a checkpoint path) or the run's.

    A run's generator must have the run's fingerprint.
    """
    if run is not None:
        if generator is None:
            source = run.generator_source or "in-memory"
        else:
            source = str(generator) if isinstance(generator, (str, Path)) else "in-memory"
        return generator_for_run(run, generator, device=device), source
    generator = "demo" if generator is None else generator
    if isinstance(generator, (str, Path)):
        return load_generator(generator, device=device), str(generator)
    return generator, "in-memory"


def load_directions_for(G, run=None, method="svd", space="w", directions=None, tags=(), tagger="demo",
                        seed: int = 0, include=(), fit: bool = True):
    """The directions to edit with, and the file they came from.

    `directions` (a DirectionSet or a path) wins; otherwise the run's <method>-<space> directions,
    with `fit` fitted and saved first when missing (`latentedit.pipeline.fit.ensure_directions`,
    which also says why a tag has none; without it, a one-line error naming fit-directions); `include`
    names tags to fit even if the tag filter drops them
    (refits). Unnamed sets (sefa, pca) are named for `tags` by labelling. Every returned set
    carries the spread of the codes (`with_spread`), which default strengths need.
    """
    tags = list(tags)
    dim = G.latent_dim if space == "z" else G.style_dim
    path = None
    if isinstance(directions, DirectionSet):
        ds = directions
    elif directions is not None:
        path = Path(directions)
        ds = DirectionSet.load(path, generator_fingerprint=fingerprint(G), dim=dim)
    elif run is not None:
        named = method not in UNNAMED_METHODS
        extra = {"include": list(include)} if include and named else {}
        ds, path = ensure_directions(run, method, space, tags=tags if named else None, tagger=tagger, generator=G,
                                     fit=fit or bool(extra), **extra)
    else:
        raise RunError("edits need directions: give a RUN (made by latentedit sample) or a direction file")

    def spread_codes(space_):
        if run is not None:
            return run.codes()[space_]
        if space_ == "z":
            return np.random.default_rng(seed).standard_normal((1000, G.latent_dim))
        return sample_w(G, 1000, seed).cpu().numpy()

    ds = with_spread(ds, spread_codes(ds.space))
    if ds.method in UNNAMED_METHODS and any(t not in ds.names for t in tags):
        ds = with_spread(name_for_tags(G, ds, tags, lambda: tagger_of(tagger), seed=seed), spread_codes(ds.space))
    return ds, path


def open_session(run, req, tags, seed: int, batch_size: int):
    """(EditSession, direction file, generator source) for a request of edit or video."""
    G, source = load_generator_for(run, req.generator, device=req.device)
    ds, path = load_directions_for(G, run, req.method, req.space, req.directions, tags, req.tagger, seed=seed,
                                   include=req.include, fit=req.fit)
    session = EditSession(G, ds, device=req.device, batch_size=batch_size, run=run)
    return session, path, source


def session_for_run(run, method: str = "svd", space: str = "w", generator=None, tagger="demo", tags=(),
                    device="cpu", batch_size: int = 16, seed: int = 0, fit: bool = False) -> EditSession:
    """An EditSession on a run's generator and its `method` directions in `space` (fitted first only with
    `fit`; SeFa/PCA components named for `tags` by labelling with `tagger`)."""
    req = EditOptions(method=method, space=space, generator=generator, tagger=tagger, device=device, fit=fit)
    return open_session(Run.open(run), req, tags, seed, batch_size)[0]


def open_run(run) -> Run | None:
    return None if run is None else Run.open(run)


def _is_run(path) -> bool:
    return isinstance(path, Run) or (Path(path) / "manifest.json").is_file()


# -- the stage ------------------------------------------------------------------------------------
def edit(run_or_inputs=None, request: EditRequest | None = None, **options) -> EditResult:
    """Edit anime faces with paired opposite tags and (with `out`) write the result.

    run_or_inputs: a run (path or Run) to take directions, codes and the generator from, or a folder
    of selfies (then pass `directions`, a DirectionSet or file). `request` is an EditRequest, or
    give its fields as keywords. From a run, `samples` (default 8) of its samples are picked with
    `seed`; with `inputs` (or a folder as first argument) each selfie is encoded for its content
    and gets a random style seeded by `seed`. Before and after images use the same content.
    """
    req = make_request(EditRequest, request, options)
    given, recipe = req.recipe, None if req.recipe is None else recipes.load(req.recipe)
    if recipe is not None:
        req = recipes.as_request(recipe, req)
    spec = req.spec  # the checks that need no directions: something to add, no tag both added and removed
    inputs = req.inputs
    if run_or_inputs is not None and not _is_run(run_or_inputs) and Path(run_or_inputs).is_dir():
        if inputs is not None:
            raise InputError(f"{run_or_inputs} is not a run (no manifest.json) and --inputs is given too")
        run, inputs = None, run_or_inputs
    else:
        run = open_run(run_or_inputs)
    if inputs is not None and req.samples is not None:
        raise InputError("give either --samples N (from the run) or --inputs DIR, not both")
    out = None if req.out is None else check_output_folder(req.out, "edit")

    # batch 1: a face's pixels must not depend on the other faces of the edit (recipes redraw one)
    session, path, gen_source = open_session(run, req, spec.tags, req.seed, 1)
    G, dev = session.generator, session.device
    auto = None
    if recipe is not None:
        recipes.check(recipe, session, path)
        edits, faces = [session.resolve(e, "the recipe's") for e in recipes.R.sweep_edits(recipe)], list(recipe.faces)
        labels = [recipes.face_label(i, f) for i, f in enumerate(faces)]
        source = {"run": None if run is None else str(run.path),
                  "recipe": None if isinstance(given, recipes.R.Recipe) else str(given)}
    else:
        faces, labels, source = recipes.request_faces(run, G, req, inputs, req.style_encoder or gen_source)
    content, codes = recipes.face_batch(G, faces, run, session.directions.space, recipes.input_images(inputs))
    content = content.to(dev)
    if recipe is None:  # --keep/--layers auto on the run's samples, then --per-sample/--hold on these faces
        auto = auto_edit(session, spec, req.auto, tagger=req.tagger, run=run, faces=(content, codes), seed=req.seed)
        edits = [auto.edit] if req.sweep is None else session.sweep_edits(auto.edit, req.sweep)
        if auto.chains is not None:  # a chain of edits per face
            faces = [f.model_copy(update={"steps": tuple(recipes.R.RecipeEdit.of(e) for e in chain)})
                     for f, chain in zip(faces, auto.chains)]

    before = session.decode(content, codes)
    edited = [_edited(session, codes, faces, e) for e in edits]
    after = np.stack([session.decode(content, e) for e in edited])
    columns = np.concatenate([before[None], after]).transpose(1, 0, 2, 3, 4)
    pairs = [recipes.strength_pair(e) for e in edits]
    grid = images.grid(columns.reshape(-1, *before.shape[1:]), len(labels), len(pairs) + 1)
    record = _record(req, session, path, gen_source, pairs, edits[0], source)
    if auto is not None:
        record.update(auto.record)
    result = EditResult(before, after, np.asarray(codes), np.stack(edited), pairs, labels, grid, record,
                        recipes=recipes.image_recipes(edits, session, path, faces))
    if out is not None:
        result.out = write_folder(out, _files(result), "edit")
    return result


def _edited(session, codes, faces, edit):
    """One grid column's edited codes: `edit` for every face, or a face's own steps (which admit no sweep).

    Row by row, as a recipe of one face draws it, so a face's code does not depend on the others.
    """
    if not any(f.steps for f in faces):
        return session.apply(codes, edit)
    rows = [session.apply_all(codes[i:i + 1], [session.resolve(e, "the recipe's") for e in recipes.R.step_edits(f)]
                              if f.steps else [edit])
            for i, f in enumerate(faces)]
    if len({r.ndim for r in rows}) > 1:
        raise InputError("these faces' steps mix w and W+ edits; edit them separately")
    return np.concatenate(rows)


def _record(req, session, path, gen_source, pairs, edit, source) -> dict:
    """edit.json: what was edited, how, with which directions and generator, and where from."""
    ds, G, add, sub = session.directions, session.generator, list(req.add), list(req.sub)
    swept = req.sweep is not None
    layer_idx = None if edit.layers is None else list(edit.layers)
    layers = session.layers_spec(edit.layers)
    record = {
        "format": FORMAT,
        "add": add, "sub": sub, "method": ds.method, "space": ds.space,
        "strength": None if swept else pairs[0][0],
        "sub_strength": None if swept else pairs[0][1],
        "strength_given": req.strength is not None, "sub_strength_given": req.sub_strength is not None,
        "default_strengths_in_code_scale": list(default_strengths(ds.method)),
        "code_scale": ds.code_scale, "code_dim": int(ds.vectors.shape[1]),
        "sweep": [[pa, pb] for pa, pb in pairs] if swept else None,
        "layers": list(layers) if isinstance(layers, tuple) else layers,
        "layer_indices": layer_idx,
        "directions": {"file": str(path) if path is not None else None,
                       "labelled_from": {t: ds.params.get("labelled_from", {}).get(t) for t in add + sub}
                       if "labelled_from" in ds.params else None,
                       "fitted_for": ds.generator_fingerprint},
        "seed": req.seed,
        "generator": {"fingerprint": fingerprint(G), "backend": G.kind, "config": _plain(G.config), "source": gen_source},
        **source,
        "grid": {"rows": "samples", "columns": ["before"] + [f"A={pa:g}, B={pb:g}" for pa, pb in pairs]},
    }
    if edit.keep:
        record["keep"] = list(edit.keep)
    return record


def _plain(value):
    """JSON-friendly copy of a config (int keys of the channel table become strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _files(result: EditResult) -> dict:
    """{relative path: bytes} of an edit's output folder; records the file list in result.record."""
    sweep = result.record["sweep"] is not None
    files, before, after = {}, [], []
    rec = result.recipes or {"all": None, "before": [None] * len(result.labels),
                             "after": [[None] * len(result.labels)] * len(result.strengths)}
    for i, label in enumerate(result.labels):
        before.append(f"before/{label}.png")
        files[before[-1]] = recipes.png_bytes(result.before[i], rec["before"][i])
        for k in range(len(result.strengths)):
            after.append(f"after/{label}-{k:02d}.png" if sweep else f"after/{label}.png")
            files[after[-1]] = recipes.png_bytes(result.after[k, i], rec["after"][k][i])
    files["grid.png"] = recipes.png_bytes(result.grid, rec["all"])
    if rec["all"] is not None:
        files["recipe.json"] = recipes.R.to_json(rec["all"])
    buf = io.BytesIO()
    np.savez(buf, codes=result.codes.astype(np.float32), edited=np.asarray(result.edited, np.float32),
             strength=np.array([a for a, _ in result.strengths], np.float64),
             sub_strength=np.array([b for _, b in result.strengths], np.float64),
             labels=np.array(result.labels, dtype=np.str_))
    files["codes.npz"] = buf.getvalue()
    result.record["files"] = {"before": before, "after": after, "grid": "grid.png", "codes": "codes.npz",
                              **({"recipe": "recipe.json"} if rec["all"] is not None else {})}
    files["edit.json"] = json.dumps(result.record, indent=2, sort_keys=True) + "\n"
    return files


def default_out(run, add, sub=(), method: str = "svd", layers=None) -> Path:
    """RUN/edits/<+add-sub>-<method>[-layers-<layers>]: where the CLI writes an edit without --out."""
    add = [add] if isinstance(add, str) else list(add)
    sub = [sub] if isinstance(sub, str) else list(sub or ())
    name = "".join(f"+{t}" for t in add) + "".join(f"-{t}" for t in sub)
    name = f"{name or 'edit'}-{method}" + (f"-layers-{layers}" if layers else "")
    return Path(getattr(run, "path", run)) / "edits" / re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
