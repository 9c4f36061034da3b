"""`edit_video`: frame-wise video translation with one fixed (edited) style.

GNR splits a face into content (where things are) and style (how they look). Encoding every frame
for its content and decoding it with one fixed style gives an anime video whose geometry follows
the input while the look, including an edit such as long hair, stays the same in every frame.
Frames are read and written with imageio (imageio-ffmpeg ships its own ffmpeg); each output mp4
is written to a temporary file and renamed into place, so it either exists whole or not at all.

    info = edit_video("in.mp4", "runs/demo", add="long_hair", sub="short_hair", crop=(100, 40, 256))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import InputError
from ..images import preprocess_pil, to_uint8
from ..editing.strengths import resolve_strengths
from ..models.layers import resolve_layers
from .edit import EditOptions, open_run, open_session
from .requests import make_request

DEFAULT_FPS = 12.0


@dataclass(frozen=True)
class VideoRequest(EditOptions):
    """How to edit a video (see EditOptions for the edit itself): the edit applies to one random
    style seeded by `style_seed`; `crop` (x, y, size) is a square box taken from every frame; `out`
    (default IN-edited.mp4 beside the input) and, with `side_by_side`, OUT-side-by-side.mp4
    (input | unedited | edited)."""

    style_seed: int = 0
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
                    device="cpu") -> dict:
    """Translate every frame of `in_path` with the fixed style `w_edited` into `out_path` (mp4).

    crop: (x, y, size) square box taken from every frame before the reference
    preprocessing (resize to the generator's size, [-1, 1]). With `side_by_side_path`, also write
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
                x = torch.cat([model_input(f, crop, size) for f in batch]).to(device)
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
            "frame_size": (width, height), "crop": crop}


def edit_video(in_path, run=None, request: VideoRequest | None = None, **options) -> VideoResult:
    """Translate a face video with one random style (seeded) edited with paired opposite tags.

    Directions and the generator come from `run` as in `latentedit.pipeline.edit.edit`; `request`
    is a VideoRequest, or give its fields as keywords.
    """
    req = make_request(VideoRequest, request, options)
    edit = req.edit()
    in_path = Path(in_path)
    reader, _ = open_video(in_path)
    try:
        height, width = reader.get_data(0).shape[:2]
    finally:
        reader.close()
    check_crop(req.crop, width, height, str(in_path))
    out = Path(req.out) if req.out is not None else in_path.with_name(f"{in_path.stem}-edited.mp4")
    sbs = out.with_name(f"{out.stem}-side-by-side{out.suffix or '.mp4'}") if req.side_by_side else None

    run = open_run(run)
    session, path, _ = open_session(run, req, edit.tags, req.style_seed, req.batch_size)
    session.check(edit)
    layer_idx = resolve_layers(req.layers, session.layer_names, label=req.layers_label)
    a, b = resolve_strengths(session.directions, req.add, req.sub, req.strength, req.sub_strength)
    G = session.generator
    z = np.random.default_rng(req.style_seed).standard_normal((1, G.latent_dim)).astype(np.float32)
    with torch.inference_mode():
        w = G.mapping(torch.from_numpy(z).to(session.device))
    w_edited = session.apply(w, req.edit(layer_idx, a, b))
    info = translate_video(in_path, out, G, w_edited, w, req.crop, sbs, batch_size=req.batch_size,
                           progress=req.progress, device=req.device)
    return VideoResult(**info, add=list(req.add), sub=list(req.sub), strength=a, sub_strength=b,
                       method=session.directions.method, directions=str(path), style_seed=req.style_seed,
                       layers=layer_idx)
