"""`edit_video`: frame-wise video translation with one fixed (edited) style.

GNR splits a face into content (where things are) and style (how they look). Encoding every frame
for its content and decoding it with one fixed style gives an anime video whose geometry follows
the input while the look, including an edit such as long hair, stays the same in every frame.
Frames are read and written with imageio (imageio-ffmpeg ships its own ffmpeg); each output mp4
is written to a temporary file and renamed into place, so it either exists whole or not at all.

    info = edit_video("in.mp4", "runs/demo", add="long_hair", sub="short_hair", crop=(100, 40, 256))
    info = edit_video(None, "runs/demo", recipe="runs/demo/edits/x/after/000000012.png")  # the demo video

The face box follows the face (`latentedit.tracking`: seeded by `crop` or OpenCV's bundled face
cascade, template-tracked, smoothed without lag; one box per frame, no frame dropped); with
`track=False` `crop` is one fixed box as before. Every video's recipe (`latentedit.editing.recipe`:
generator, directions, edit, style, the video and tracking settings) is written to
OUT.recipe.json; `recipe=` re-applies one (a .json or a PNG `latentedit edit` wrote) and gives
the same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .. import tracking
from ..editing import recipe as R
from ..errors import InputError
from ..images import preprocess_pil, to_uint8
from ..io import atomic_write_bytes
from ..models.generator import fingerprint
from . import recipes
from .edit import EditOptions, open_run, open_session
from .faces import style_code
from ..requests import make_request

DEFAULT_FPS = 12.0


@dataclass(frozen=True)
class VideoRequest(EditOptions):
    """How to edit a video (see EditOptions for the edit itself): the edit applies to one random
    style seeded by `style_seed`, or to the style of an anime `reference` image (encoded by the
    G_B2A encoder of `style_encoder`, default the generator's checkpoint); `recipe` (a
    Recipe, .json or latentedit PNG) gives the style and the edit instead. `track`: the face box
    follows the face, `crop` (x, y, size) seeding it (None: OpenCV's face cascade finds it);
    without `track`, `crop` is one fixed box taken from every frame. `out` (default IN-edited.mp4
    beside the input), with `side_by_side` OUT-side-by-side.mp4 (input | unedited | edited), and
    OUT.recipe.json. `demo_seed`: the seed of the demo video used when no input is given."""

    style_seed: int = 0
    reference: str | Path | None = None
    style_encoder: object = None
    recipe: object = None
    track: bool = True
    demo_seed: int = 0
    crop: tuple[int, int, int] | None = None
    out: str | Path | None = None
    side_by_side: bool = True
    batch_size: int = 8
    progress: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.crop is not None:
            object.__setattr__(self, "crop", check_crop_box(self.crop))
        if self.space != "w":
            raise InputError("videos are edited in w-space; give space='w'")


@dataclass
class VideoResult:
    """What `edit_video` wrote: frame count and rate, paths, and the edit applied."""

    frames: int
    fps: float
    out: Path
    side_by_side: Path | None
    frame_size: tuple[int, int]
    crop: tuple[int, int, int] | None
    add: list
    sub: list
    strength: float
    sub_strength: float
    method: str
    directions: str
    style_seed: int
    layers: list | None
    boxes: np.ndarray | None = None    # (T, 3) face box (x, y, side) of every frame; None: fixed crop
    tracked_by: str | None = None      # "given" (crop) or "detector" seeded the tracker
    recipe: Path | None = None         # OUT.recipe.json
    input: Path | None = None          # the video read (the demo video when none was given)


def check_crop_box(crop) -> tuple[int, int, int]:
    """(x, y, size) as ints with x, y >= 0 and size >= 1."""
    x, y, size = (int(v) for v in crop)
    if x < 0 or y < 0 or size < 1:
        raise InputError(f"--crop {x},{y},{size}: X and Y must be >= 0 and SIZE >= 1")
    return x, y, size


def check_crop(crop, width: int, height: int, where: str) -> None:
    """Raise when the crop box does not lie inside a width x height frame."""
    if crop is None:
        return
    x, y, size = crop
    if x + size > width or y + size > height:
        raise InputError(f"--crop {x},{y},{size} lies outside the {width}x{height} frames of {where}; "
                         f"pick a box with X+SIZE <= {width} and Y+SIZE <= {height}")


def open_video(path):
    """An imageio reader of `path` and its frame rate; one-line errors for missing or bad files."""
    import imageio.v2 as imageio

    path = Path(path)
    if path.is_dir():
        raise InputError(f"video {path} is a folder, not a video file; pass the video itself (e.g. {path}/clip.mp4)")
    if not path.is_file():
        raise InputError(f"video {path} does not exist")
    try:
        reader = imageio.get_reader(str(path), format="ffmpeg")
        fps = float(reader.get_meta_data().get("fps") or DEFAULT_FPS)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot read video {path}: {first}") from None
    return reader, fps


def _frames(reader, path):
    try:
        for frame in reader:
            yield np.asarray(frame)[..., :3]
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot read video {path}: {first}") from None


def model_input(frame: np.ndarray, crop, size: int) -> torch.Tensor:
    """One frame -> (1, 3, size, size) in [-1, 1]: crop the square box, then the reference preprocessing."""
    if crop is not None:
        x, y, s = crop
        frame = frame[y : y + s, x : x + s]
    return preprocess_pil(Image.fromarray(np.ascontiguousarray(frame)), size)


def _as_style(w, G, device) -> torch.Tensor:
    """A fixed style: w (D,) / (1, D) or W+ (L, D) / (1, L, D) -> a batch-of-one tensor."""
    w = torch.as_tensor(np.asarray(w, np.float32) if not isinstance(w, torch.Tensor) else w,
                        dtype=torch.float32, device=device)
    if w.ndim == 1 or (w.ndim == 2 and w.shape[0] == G.n_latent and w.shape[1] == G.style_dim
                       and G.n_latent != 1):
        w = w[None]
    if w.shape[0] != 1:
        raise InputError(f"a video uses one fixed style; got a batch of {w.shape[0]}")
    return w


class _Writer:
    """An mp4 written to a hidden temporary file; `commit` renames it into place."""

    def __init__(self, path, fps: float, quality: float):
        import imageio.v2 as imageio

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.parent / f".{self.path.stem}.tmp-{os.getpid()}{self.path.suffix or '.mp4'}"
        self.writer = imageio.get_writer(str(self.tmp), format="ffmpeg", fps=fps, quality=quality,
                                         macro_block_size=1, ffmpeg_log_level="error",
                                         output_params=["-fflags", "+bitexact", "-threads", "1"])

    def append(self, frames: np.ndarray) -> None:
        for f in frames:
            self.writer.append_data(f)

    def close(self) -> None:
        self.writer.close()

    def commit(self) -> Path:
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        try:
            self.writer.close()
        except Exception:
            pass
        if self.tmp.exists():
            self.tmp.unlink()


def translate_video(in_path, out_path, generator, w_edited, w_plain=None, crop=None, side_by_side_path=None,
                    size: int | None = None, batch_size: int = 8, quality: float = 8, progress: bool = True,
                    device="cpu", boxes=None) -> dict:
    """Translate every frame of `in_path` with the fixed style `w_edited` into `out_path` (mp4).

    crop: (x, y, size) square box taken from every frame before the reference
    preprocessing (resize to the generator's size, [-1, 1]); boxes: instead, one (x, y, side)
    box per frame (T, 3), e.g. `latentedit.tracking.track_faces(...).boxes`, rounded to whole
    pixels, the frame's edge repeated where a box leaves it. With `side_by_side_path`, also write
    input | unedited (`w_plain`) | edited frames side by side. Returns counts and paths.
    """
    G = generator
    size = G.size if size is None else int(size)
    if size != G.size:
        raise InputError(f"this generator takes {G.size}x{G.size} inputs, not {size}x{size}")
    crop = None if crop is None else check_crop_box(crop)
    if side_by_side_path is not None and w_plain is None:
        raise InputError("a side-by-side video needs the unedited style too (w_plain)")
    edited = _as_style(w_edited, G, device)
    plain = None if w_plain is None else _as_style(w_plain, G, device)
    reader, fps = open_video(in_path)
    writers = []
    try:
        first = reader.get_data(0)
        height, width = first.shape[:2]
        check_crop(crop, width, height, str(in_path))
        writers.append(_Writer(out_path, fps, quality))
        if side_by_side_path is not None:
            writers.append(_Writer(side_by_side_path, fps, quality))
        n = 0
        total = reader.count_frames() if hasattr(reader, "count_frames") else None
        frames = _frames(reader, in_path)
        with tqdm(total=total, disable=not progress, desc="video", unit="frame") as bar:
            while True:
                batch = [f for _, f in zip(range(batch_size), frames)]
                if not batch:
                    break
                if boxes is None:
                    x = torch.cat([model_input(f, crop, size) for f in batch]).to(device)
                else:
                    if n + len(batch) > len(boxes):
                        raise InputError(f"video {in_path} has more frames than the {len(boxes)} face boxes given")
                    x = torch.cat([preprocess_pil(Image.fromarray(tracking.crop(f, b)), size)
                                   for f, b in zip(batch, boxes[n : n + len(batch)])]).to(device)
                with torch.inference_mode():
                    content = G.encode(x)[0]
                    out = to_uint8(G.decode(content, edited.expand(len(batch), *edited.shape[1:]),
                                            use_mapping=False))
                    writers[0].append(out)
                    if side_by_side_path is not None:
                        base = to_uint8(G.decode(content, plain.expand(len(batch), *plain.shape[1:]),
                                                 use_mapping=False))
                        writers[1].append(np.concatenate([to_uint8(x), base, out], axis=2))
                n += len(batch)
                bar.update(len(batch))
        if n == 0:
            raise InputError(f"video {in_path} has no frames")
        for w in writers:
            w.close()
        paths = [w.commit() for w in writers]
    except BaseException:
        for w in writers:
            w.discard()
        raise
    finally:
        reader.close()
    return {"frames": n, "fps": fps, "out": paths[0], "side_by_side": paths[1] if len(paths) > 1 else None,
            "frame_size": (width, height), "crop": crop, "boxes": None if boxes is None else np.asarray(boxes)}


def demo_video_path(run, seed: int = 0) -> Path:
    """Write the demo world's moving-face video (latentedit.world.video) into RUN/videos/ and return its path."""
    from ..world.video import demo_video
    from ..world.render import write_video

    if run is None:
        raise InputError("without an input video, give a RUN to write the demo video into")
    path = Path(run.path) / "videos" / f"demo-video-{seed}.mp4"
    if not path.is_file():
        video = demo_video(seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.mp4")
        try:
            write_video(tmp, video.frames, fps=video.fps)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
    return path


def _track(in_path, first_box, progress: bool):
    """Face boxes of every frame of a video (latentedit.tracking), with a progress bar."""
    reader, _ = open_video(in_path)
    try:
        total = reader.count_frames() if hasattr(reader, "count_frames") else None
        with tqdm(total=total, disable=not progress, desc="tracking", unit="frame") as bar:
            return tracking.track_faces(_frames(reader, in_path), first_box, progress=bar.update)
    finally:
        reader.close()


def edit_video(in_path=None, run=None, request: VideoRequest | None = None, **options) -> VideoResult:
    """Translate a face video with one fixed style edited with paired opposite tags (or a recipe).

    Directions and the generator come from `run` as in `latentedit.pipeline.edit.edit`; `request`
    is a VideoRequest, or give its fields as keywords. in_path None: the demo world's
    moving-face video (`demo_video_path`).
    """
    req = make_request(VideoRequest, request, options)
    recipe = None if req.recipe is None else recipes.load(req.recipe)
    run = open_run(run)
    demo = None
    if in_path is None:
        seed = req.demo_seed
        if recipe is not None and recipe.faces[0].content.kind == "demo_video":
            seed = recipe.faces[0].content.seed  # the demo video the recipe was made on
        in_path, demo = demo_video_path(run, seed), {"seed": seed}
    in_path = Path(in_path)
    reader, _ = open_video(in_path)
    try:
        height, width = reader.get_data(0).shape[:2]
    finally:
        reader.close()
    settings = {"track": req.track, "first_box": None if req.crop is None else list(req.crop)}
    if recipe is not None:
        face = recipes.one_face(recipe)
        tracking = getattr(face.content, "tracking", None)  # video contents have one
        if req.crop is None and req.track and tracking is not None:
            settings = dict(tracking)  # re-apply the recipe's own face boxes
        req = replace(req, method=recipe.directions.method, space=recipe.directions.space, add=(), sub=())
        tags = recipes.edit_tags(recipe)
    else:
        tags = req.spec.tags
    crop = None if settings["first_box"] is None else check_crop_box(settings["first_box"])
    check_crop(crop, width, height, str(in_path))
    out = Path(req.out) if req.out is not None else in_path.with_name(f"{in_path.stem}-edited.mp4")
    sbs = out.with_name(f"{out.stem}-side-by-side{out.suffix or '.mp4'}") if req.side_by_side else None

    session, path, source = open_session(run, req, tags, req.style_seed, req.batch_size)
    G = session.generator
    if not G.takes_content:
        raise InputError(f"a video is translated frame by frame through the generator's content input, and a "
                         f"{G.kind} generator has none; use a GANs N' Roses generator")
    if recipe is not None:
        recipes.check(recipe, session, path)
        edit, style, steps = session.resolve(R.sweep_edits(recipe)[0], "the recipe's"), face.style, face.steps
    else:
        edit = session.resolve(req.spec)
        encoder = req.style_encoder or source
        style = (recipes.reference_style(req.reference, encoder, req.device) if req.reference is not None
                 else recipes.seed_style(req.style_seed))
        steps = None
    w = torch.from_numpy(style_code(G, style, run, "w")[None]).to(session.device)
    chain = [session.resolve(e, "the recipe's") for e in R.step_edits(face)] if steps else [edit]
    w_edited = session.apply_all(w, chain)  # a face's own steps, if it has them
    track = _track(in_path, crop, req.progress) if settings["track"] else None
    info = translate_video(in_path, out, G, w_edited, w, None if track else crop, sbs, batch_size=req.batch_size,
                           progress=req.progress, device=req.device, boxes=None if track is None else track.boxes)
    if demo is not None:
        demo["frames"] = info["frames"]
    content = recipes.video_content(in_path, settings, demo)
    made = R.from_edit(edit, fingerprint(G), recipes.identity(session, path),
                       [R.Face(style=style, content=content, steps=steps)])
    recipe_path = atomic_write_bytes(out.with_name(f"{out.stem}.recipe.json"), R.to_json(made).encode())
    strengths = dict(edit.terms)
    add = [t for t, _ in edit.terms if t not in edit.opposite]
    sub = list(edit.opposite)
    return VideoResult(**info, add=add, sub=sub, strength=strengths[add[0]] if add else 0.0,
                       sub_strength=-strengths[sub[0]] if sub else 0.0, method=session.directions.method,
                       directions=str(path), style_seed=req.style_seed,
                       layers=None if edit.layers is None else list(edit.layers),
                       tracked_by=None if track is None else track.seeded_by, recipe=recipe_path, input=in_path)
