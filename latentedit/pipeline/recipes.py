"""Recipes in the commands: recipe files and PNGs, what `edit` and `video` record, how they re-apply one.

The recipe format and its checks live in `latentedit.editing.recipe` (pure: models and JSON text);
this module reads and writes recipes (`load`: a .json file or a PNG's "latentedit-recipe" tEXt
chunk; `save`, `png_bytes`) and ties a recipe to the things a command has open: the session's
generator and directions (their identity, `check`), the starting styles a request names
(`--style-seed`, `--reference`) and the content of a video (`video_content`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..editing import recipe as R
from ..editing.edit import Edit
from ..errors import InputError
from ..models.generator import fingerprint
from ..world.assets import sha256_file

__all__ = ["identity", "check", "load", "save", "read_png", "png_bytes", "sha256_file", "seed_style",
           "reference_style", "video_content", "edit_tags", "one_face"]


DEFAULT_SAMPLES = 8  # run samples an edit takes when it names neither --samples nor --ids


def png_bytes(image: np.ndarray, recipe: R.Recipe | None) -> bytes:
    """PNG bytes of a uint8 HxWx3 image carrying `recipe` (compact JSON) in a tEXt chunk.

    Deterministic (no timestamps; same settings as latentedit.images.encode_png).
    """
    import io

    from PIL import Image, PngImagePlugin

    info = None
    if recipe is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(R.PNG_KEY, R.to_json(recipe, compact=True))
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buf, format="PNG", optimize=False, compress_level=6, pnginfo=info)
    return buf.getvalue()


def read_png(path) -> R.Recipe:
    """The recipe a latentedit PNG carries; a one-line RecipeError if it has none or is no PNG."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise R.RecipeError(f"{path} is a {img.format} image; recipes travel in PNGs written by latentedit "
                                    "edit")
            img.load()
            text = getattr(img, "text", {}).get(R.PNG_KEY)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise R.RecipeError(f"cannot read image {path}: {e}") from None
    if text is None:
        raise R.RecipeError(f"{path} carries no latentedit recipe (no {R.PNG_KEY!r} text chunk); "
                            "was it written by latentedit edit?")
    return R.from_json(text)


def load(spec) -> R.Recipe:
    """A Recipe as given, or read from a .json file or from the metadata of a PNG that latentedit wrote."""
    if isinstance(spec, R.Recipe):
        return spec
    path = Path(spec)
    if path.is_dir():
        raise R.RecipeError(f"recipe {path} is a folder; pass a recipe .json or a PNG written by latentedit edit")
    if not path.is_file():
        raise R.RecipeError(f"recipe file {path} does not exist")
    data = path.read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return read_png(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                kind = f"a {img.format} image"
        except (UnidentifiedImageError, OSError):
            kind = "neither JSON nor an image"
        raise R.RecipeError(f"{path} is {kind}; a recipe is a .json file or a PNG written by latentedit edit") from None
    try:
        return R.from_json(text)
    except R.RecipeError as e:
        raise R.RecipeError(f"{path}: {e}") from None


def save(path, recipe: R.Recipe) -> Path:
    """Write a recipe's canonical JSON atomically."""
    from ..io import atomic_write_text

    return atomic_write_text(path, R.to_json(recipe))


def identity(session, path=None) -> R.DirectionIdentity:
    """The identity of a session's direction set (and of the file it was read from)."""
    return R.direction_identity(session.directions, None if path is None else sha256_file(path),
                                None if path is None else Path(path).name)


def check(recipe: R.Recipe, session, path=None) -> None:
    """Refuse (one line naming the difference) a recipe made with another generator or directions."""
    R.check_compatible(recipe, fingerprint(session.generator), identity(session, path))


def edit_tags(recipe: R.Recipe) -> list[str]:
    """Every tag a recipe's edit needs a direction for."""
    return list(recipe.edit.to_spec().tags)


def one_face(recipe: R.Recipe, what: str = "a video") -> R.Face:
    """The recipe's only face (and only edit); a clear error for a recipe of several."""
    if len(recipe.faces) != 1:
        raise InputError(f"this recipe starts from {len(recipe.faces)} faces and {what} takes one; use the "
                         "recipe a single PNG of the edit carries (after/<label>.png)")
    if recipe.sweep is not None and len(recipe.sweep) != 1:
        raise InputError(f"this recipe is a sweep of {len(recipe.sweep)} edits and {what} takes one; use the "
                         "recipe of one after/ image")
    return recipe.faces[0]


def seed_style(seed: int, index: int = 0, truncation: float = 1.0) -> R.SeedStyle:
    """The style row `index` of a seed gives (see the recipe format)."""
    if seed < 0:
        raise InputError(f"--style-seed must be >= 0, got {seed}")
    return R.SeedStyle(seed=int(seed), index=int(index), truncation=float(truncation))


def reference_style(reference, encoder_source, device="cpu") -> R.CodeStyle:
    """The style code an anime reference image encodes to (GNR's G_B2A style encoder), as a recipe style.

    encoder_source: "demo" or the checkpoint holding G_B2A_ema (normally the generator's own file).
    """
    from ..editing.reference import encode_style, load_style_encoder

    path = Path(reference)
    if path.is_dir():
        raise InputError(f"reference {path} is a folder; pass one anime image file (PNG, JPEG, WebP, ...)")
    if not path.is_file():
        raise InputError(f"reference image {path} does not exist")
    encoder = load_style_encoder(encoder_source, device=device)
    z = encode_style(encoder, path)
    return R.CodeStyle(space="z", code=tuple(float(x) for x in z),
                       source={"reference": path.name, "reference_sha256": sha256_file(path)})


def video_content(path, tracking: dict, demo: dict | None = None):
    """The content of a video: the demo world's (demo = {"seed", "frames"}) or a file, by its sha256."""
    if demo is not None:
        return R.DemoVideoContent(seed=int(demo["seed"]), frames=int(demo["frames"]), tracking=tracking)
    path = Path(path)
    return R.VideoContent(sha256=sha256_file(path), name=path.name, tracking=tracking)


# --------------------------------------------------------------------------- edit

def as_request(recipe: R.Recipe, req):
    """`req` with the recipe's edit in its fields (tags, strengths, layers, keep, method, space).

    Only what edit.json records and the checks need: the images are drawn from the recipe's own
    edits (`R.sweep_edits`), whose strengths are exact.
    """
    from dataclasses import replace

    e = recipe.edit
    strengths = dict(e.terms)
    add = tuple(t for t, _ in e.terms if t not in e.opposite)
    sub = tuple(e.opposite)
    if not add:
        raise InputError("this recipe only subtracts tags; latentedit edit needs at least one added tag")
    return replace(req, add=add, sub=sub, strength=strengths[add[0]],
                   sub_strength=-strengths[sub[0]] if sub else None, layers=e.layers,
                   keep=tuple(e.keep), method=recipe.directions.method, space=recipe.directions.space,
                   sweep=None if recipe.sweep is None else tuple(col[0] for col in recipe.sweep),
                   samples=None, ids=None, reference=None, style_seed=None, recipe=None)


def strength_pair(edit) -> tuple[float, float]:
    """(A, B) of an edit with explicit strengths: its first added tag's strength, minus its first subtracted one's."""
    add = [s for t, s in edit.terms if t not in edit.opposite]
    sub = [s for t, s in edit.terms if t in edit.opposite]
    return (add[0] if add else 0.0, -sub[0] if sub else 0.0)


def face_label(i: int, face: R.Face) -> str:
    """The name of a recipe face's image files: its own label, else one made from its kinds."""
    if face.label is not None:
        return face.label
    s, c = face.style, face.content
    if s.kind == "sample":
        return f"{s.sample_id:09d}"
    if c.kind == "file" and c.name:
        return f"{i:03d}-{Path(c.name).stem}"
    return f"{i:03d}-{c.kind}" + (f"{c.input_id}" if c.kind == "run_input" else "")


def input_images(folder) -> dict:
    """{sha256: PIL image} of the image files of a folder (what "file" contents name)."""
    from PIL import Image

    from .sample import folder_inputs

    if folder is None:
        return {}
    folder = Path(folder)
    found = {}
    for name in folder_inputs(folder, 8).names:
        with Image.open(folder / name) as img:
            img.load()
            found[sha256_file(folder / name)] = img.copy()
    return found


def request_faces(run, G, req, inputs, encoder_source) -> tuple[list, list, dict]:
    """(faces, labels, edit.json source) of what an EditRequest picks.

    From a run: the samples `ids`, or `samples` of them picked with `seed` (default 8); each keeps
    its own style unless `reference` (an anime image's encoded style) or `style_seed` gives one
    style to all. From `inputs`: every readable selfie of the folder, with that style or row i of
    `seed` (as `latentedit sample` draws them).
    """
    import numpy as np

    from .sample import folder_inputs

    style = None
    if req.reference is not None:
        style = reference_style(req.reference, req.style_encoder or encoder_source, req.device)
    elif req.style_seed is not None:
        style = seed_style(req.style_seed)
    extra = {k: v for k, v in (("reference", None if req.reference is None else str(req.reference)),
                               ("style_seed", req.style_seed), ("inputs_seed", req.inputs_seed)) if v is not None}
    if inputs is not None:
        if req.ids is not None:
            raise InputError("--ids picks samples of a run; with --inputs DIR every selfie of the folder is edited")
        src = folder_inputs(inputs, G.size)
        labels = [f"{i:03d}-{Path(n).stem}" for i, n in enumerate(src.names)]
        styles = req.seed if req.inputs_seed is None else req.inputs_seed
        faces = [R.Face(style=style or seed_style(styles, i),
                        content=R.FileContent(sha256=sha256_file(Path(inputs) / n), name=n), label=label)
                 for i, (n, label) in enumerate(zip(src.names, labels))]
        return faces, labels, {"inputs": str(inputs), "input_names": list(src.names), "skipped": src.skipped,
                               "run": None if run is None else str(run.path), **extra}
    from ..errors import RunError

    if run is None:
        raise RunError("give a RUN to take samples from, or --inputs DIR")
    codes = run.codes()
    if req.ids is not None:
        if req.samples is not None:
            raise InputError("give either --ids (those samples) or --samples N (picked at random), not both")
        ids = [int(i) for i in req.ids]
        if len(set(ids)) != len(ids):
            raise InputError(f"--ids names sample {next(i for i in ids if ids.count(i) > 1)} twice")
        known = set(int(i) for i in codes["id"])
        for i in ids:
            if i not in known:
                raise RunError(f"sample id {i} is not in {run.path} (ids {int(codes['id'].min())}-"
                               f"{int(codes['id'].max())})")
        rows = [int(np.flatnonzero(codes["id"] == i)[0]) for i in ids]
    else:
        n = DEFAULT_SAMPLES if req.samples is None else int(req.samples)
        if not 1 <= n <= len(codes["id"]):
            raise InputError(f"--samples must be between 1 and {len(codes['id'])} (the run's samples), got {n}")
        rows = [int(r) for r in np.sort(np.random.default_rng(req.seed).choice(len(codes["id"]), n, replace=False))]
    ids = [int(codes["id"][r]) for r in rows]
    faces = [R.Face(style=style or R.SampleStyle(sample_id=i),
                    content=R.RunInputContent(input_id=int(codes["input_id"][r])), label=f"{i:09d}")
             for i, r in zip(ids, rows)]
    return faces, [f"{i:09d}" for i in ids], {"run": str(run.path), "samples": ids, **extra}


def face_batch(G, faces, run, space: str, images=None):
    """(content (B, C, S, S), codes (B, D) or (B, L, D)) of recipe faces, each computed on its own."""
    import numpy as np
    import torch

    from .faces import face_codes

    codes_of_run = run.codes() if run is not None and any(f.style.kind == "sample" for f in faces) else None
    contents, codes = [], []
    for f in faces:
        c, s = face_codes(G, f, run, space, images, codes_of_run)
        contents.append(c)
        codes.append(s)
    shapes = {s.shape[1:] for s in codes}
    if len(shapes) > 1:
        raise InputError("these faces mix w and W+ style codes; edit them separately")
    return torch.cat(contents), np.concatenate(codes).astype(np.float32)


def image_recipes(edits, session, path, faces) -> dict:
    """The recipe each image of an edit carries: {"all": whole edit, "before": [per face], "after": [[per face] per column]}.

    A face's own steps (per-sample strengths, hold corrections) travel with it in "all" and "after";
    its "before" image is the unedited face, without them.
    """
    fp, ident = fingerprint(session.generator), identity(session, path)

    def make(edit, face_list, sweep=None):
        return R.from_edit(edit, fp, ident, face_list, sweep=sweep)

    first = edits[0]
    zero = Edit(tuple((t, 0.0) for t, _ in first.terms), None, first.keep, first.opposite)
    return {"all": make(first, faces, sweep=edits if len(edits) > 1 else None),
            "before": [make(zero, [f.model_copy(update={"steps": None})]) for f in faces],
            "after": [[make(e, [f]) for f in faces] for e in edits]}
