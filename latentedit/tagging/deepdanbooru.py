"""DeepDanbooru taggers: load a project folder, score images in compiled batches.

A DeepDanbooru *project* is a folder with project.json, tags.txt (one tag per line, in the order
of the model's outputs) and model-<model>.keras or model-<model>.h5 (the released model is
`deepdanbooru-v3-20211112-sgd-e28`; latentedit ships a small demo project for its demo world).
Every output is an independent sigmoid; a tag is "on" at score >= `stats.TAG_THRESHOLD` (0.5).
Categories come from categories.json; `rating:*` tags are the category "rating".

`DeepDanbooruTagger.score` reproduces DeepDanbooru's own preprocessing (`data.load_image_for_evaluate`):
RGB (alpha dropped), resize to fit inside the model's W x H keeping the aspect ratio with TF's
AREA method, centre with edge-replicating padding, divide by 255. It runs it together with the
model in one `tf.function`, a batch at a time, where the reference runs one `predict` per image.
`reference_scores` runs the reference path itself, for checking.

TensorFlow and deepdanbooru are imported only when a tagger is loaded: `import latentedit` stays
fast, and deepdanbooru's import-time changes to process-wide settings (it silences every Python
warning and sets TF_CPP_MIN_LOG_LEVEL=3) are undone.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import os
import sys
import types
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import AssetError, CheckpointError, InputError, UnsafeFileError
from ..images import read_rgb
from ..models.safeload import keras_refusal
from ..stats import TAG_THRESHOLD
from ..world.assets import demo_tagger_path
from .base import as_items, category_thresholds, score_in_batches


# -- importing deepdanbooru politely ---------------------------------------------------------
def import_deepdanbooru():
    """Import deepdanbooru (and TensorFlow) and undo the process-wide changes its import makes.

    deepdanbooru imports `tensorflow_io` without declaring it (only for a WebP/BMP fallback
    that is broken on TF 2.21): an empty module stands in when it is not installed.
    triton (torch.compile's backend, imported lazily by torch) and TensorFlow both bundle LLVM:
    importing triton after TensorFlow crashes the process (segmentation fault), so it goes first.
    """
    # Imports here, not at the top: TensorFlow is heavy (seconds, ~1 GB), needed only to tag.
    if "deepdanbooru" in sys.modules:
        return sys.modules["deepdanbooru"]
    if "tensorflow" not in sys.modules and importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401
    if "tensorflow_io" not in sys.modules and importlib.util.find_spec("tensorflow_io") is None:
        sys.modules["tensorflow_io"] = types.ModuleType("tensorflow_io")
    old_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    try:
        with warnings.catch_warnings():
            if old_level is None:
                os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # TF's C++ INFO/WARNING lines, at import only
            import tensorflow  # noqa: F401

            import deepdanbooru
    finally:
        if old_level is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = old_level
    return deepdanbooru


def _tf():
    import_deepdanbooru()
    import tensorflow as tf  # heavy: imported only once a tagger is used

    return tf


# -- loading a project -----------------------------------------------------------------------
def _model_file(project: Path) -> Path:
    """The model file deepdanbooru's loader would open, after checking the project's shape."""
    if not project.exists():
        raise CheckpointError(f"tagger {project} does not exist; pass 'demo', 'demo-wd14', a DeepDanbooru project "
                              "folder or a WD14 tagger folder")
    if not project.is_dir():
        raise CheckpointError(f"{project} is a file; pass the DeepDanbooru project folder that holds it")
    if not (project / "project.json").is_file():
        raise CheckpointError(f"{project} is not a DeepDanbooru project: no project.json")
    if not (project / "tags.txt").is_file():
        raise CheckpointError(f"{project} is not a DeepDanbooru project: no tags.txt")
    try:
        model_name = json.loads((project / "project.json").read_text(encoding="utf-8"))["model"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{project / 'project.json'} has no readable 'model' entry ({e!r}); restore the file from the release") from e
    for suffix in (".keras", ".h5"):
        path = project / f"model-{model_name}{suffix}"
        if path.is_file():
            return path
    found = sorted(p.name for p in project.glob("model-*") if p.suffix in (".keras", ".h5"))
    hint = f"; found {', '.join(found)}: fix 'model' in project.json" if found else "; copy the model file into the folder"
    raise CheckpointError(f"{project} has no model-{model_name}.keras or model-{model_name}.h5{hint}")


def load_deepdanbooru(source="demo", threshold: float | None = None, character_threshold: float | None = None,
                      mcut: bool = False) -> "DeepDanbooruTagger":
    """Load a DeepDanbooru project folder ('demo' = the shipped demo project); tags on at `threshold` (0.5)."""
    if str(source) == "demo":
        project = demo_tagger_path()
        if not (project / "project.json").is_file():
            raise AssetError(f"the demo tagger is missing at {project}; rebuild it with python -m tools.world.train_tagger")
    else:
        project = Path(source).expanduser()
    model_path = _model_file(project)
    dd = import_deepdanbooru()
    tags = dd.project.load_tags_from_project(str(project))
    try:
        with quiet_keras():
            model = dd.project.load_model_from_project(str(project), compile_model=False)
    except Exception as e:  # h5py/keras raise many types for damaged files
        refused = keras_refusal(e, model_path)
        if refused:  # safe mode blocked a Lambda layer's code: not a damaged file
            raise UnsafeFileError(refused) from None
        raise CheckpointError(f"cannot load {model_path} ({type(e).__name__}); the file is damaged or not a Keras model") from e
    n_out = model.output_shape[-1]
    if len(tags) != n_out:
        raise CheckpointError(
            f"{project}: tags.txt lists {len(tags)} tags but the model has {n_out} outputs; use the tags.txt that came with the model"
        )
    return DeepDanbooruTagger(model, tags, project, model_path, "demo" if str(source) == "demo" else str(project),
                              threshold, character_threshold, mcut)


@contextlib.contextmanager
def quiet_keras():
    """Keep Keras' progress bars, warnings and absl log lines out of the user's terminal."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        absl.setLevel(level)


# -- the tagger -------------------------------------------------------------------------------
class DeepDanbooruTagger:
    """A loaded DeepDanbooru model with its tags (a `Tagger`); `score` tags images in compiled batches."""

    def __init__(self, model, tags, project_dir, model_path, source: str, threshold: float | None = None,
                 character_threshold: float | None = None, mcut: bool = False):
        self.model = model
        self.tags = list(tags)
        self.categories = _categories(Path(project_dir), self.tags)
        general = TAG_THRESHOLD if threshold is None else float(threshold)
        self.thresholds = category_thresholds(self.categories, general, general if character_threshold is None else character_threshold)
        self.mcut = bool(mcut)
        self.project_dir = Path(project_dir)
        self.model_path = Path(model_path)
        self.source = source
        height, width = model.input_shape[1:3]
        if height is None or width is None:
            raise CheckpointError(f"{model_path} has no fixed input size; DeepDanbooru models take a fixed W x H")
        self.input_size = (int(height), int(width))
        self._fingerprint = None
        self._forward = None

    def __repr__(self):
        return f"DeepDanbooruTagger({self.source!r}, {len(self.tags)} tags, input {self.input_size[1]}x{self.input_size[0]})"

    @property
    def fingerprint(self) -> str:
        """sha256 of the tag list and the model file's bytes, first 16 hex digits."""
        if self._fingerprint is None:
            h = hashlib.sha256("\n".join(self.tags).encode("utf-8") + b"\n\0")
            with open(self.model_path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def score(self, images, batch_size: int = 32) -> np.ndarray:
        """Tag scores (N, T) float32 of uint8 NHWC images, PIL images or image files.

        Images of any size and mode are accepted; files are decoded with PIL. Images of the same
        size share a forward pass, at most `batch_size` at a time.
        """
        return score_in_batches(images, len(self.tags), batch_size, self._score_chunk)

    def _score_chunk(self, items) -> np.ndarray:
        forward = self._compiled()
        chunk = [_rgb_array(x) for x in items]
        out = np.zeros((len(chunk), len(self.tags)), np.float32)
        by_shape: dict[tuple, list[int]] = {}
        for i, a in enumerate(chunk):
            by_shape.setdefault(a.shape, []).append(i)
        for idx in by_shape.values():
            out[idx] = forward(np.stack([chunk[i] for i in idx])).numpy()
        return out

    def _compiled(self):
        if self._forward is None:
            self._forward = _make_forward(self.model, *self.input_size)
        return self._forward


def _categories(project: Path, tags) -> list[str]:
    """Each tag's category: categories.json's (lower case; "general" without the file), "rating" for rating:*."""
    try:
        spans = sorted(json.loads((project / "categories.json").read_text(encoding="utf-8")), key=lambda c: c["start_index"])
        names = [next((c["name"].lower() for c in reversed(spans) if c["start_index"] <= i), "general")
                 for i in range(len(tags))]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        names = ["general"] * len(tags)
    return ["rating" if t.startswith("rating:") else n for t, n in zip(tags, names)]


def _make_forward(model, height: int, width: int):
    """One traced graph: uint8 (B, h, w, 3) of any h, w -> reference preprocessing -> scores."""
    tf = _tf()

    def fit_and_pad(x):
        x = tf.image.resize(x, (height, width), method=tf.image.ResizeMethod.AREA, preserve_aspect_ratio=True)
        x = _centre_on(tf, x, axis=1, size=height)
        x = _centre_on(tf, x, axis=2, size=width)
        return tf.ensure_shape(x, [None, height, width, 3])

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def forward(images):
        return model(fit_and_pad(images) / 255.0, training=False)

    return forward


def _centre_on(tf, x, axis: int, size: int):
    """Centre `x` on `size` pixels along `axis` like skimage.warp(order=1, mode='edge') does.

    DeepDanbooru translates the image by (size - n) / 2 with bilinear sampling: a half-pixel
    shift when size - n is odd, and edge pixels repeated outside the image.
    """
    n = tf.shape(x)[axis]
    shift = tf.cast(size - n, tf.float32) / 2.0
    src = tf.range(size, dtype=tf.float32) - shift
    lo = tf.floor(src)
    frac = src - lo
    lo = tf.cast(lo, tf.int32)
    a = tf.gather(x, tf.clip_by_value(lo, 0, n - 1), axis=axis)
    b = tf.gather(x, tf.clip_by_value(lo + 1, 0, n - 1), axis=axis)
    shape = [1, 1, 1, 1]
    shape[axis] = size
    frac = tf.reshape(frac, shape)
    return (1.0 - frac) * a + frac * b


def _rgb_array(item) -> np.ndarray:
    """uint8 HxWx3 of one image, converted like TF's decode_png(channels=3): alpha dropped."""
    if isinstance(item, (str, os.PathLike)):
        return read_rgb(item)
    if isinstance(item, Image.Image):
        return np.asarray(item.convert("RGB"))
    a = np.asarray(item)
    if a.dtype != np.uint8:
        raise InputError(f"images must be uint8 in [0, 255], got {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise InputError(f"an image must be HxW, HxWx1, HxWx3 or HxWx4, got shape {a.shape}")
    if a.shape[-1] == 1:
        return np.repeat(a, 3, axis=-1)
    return np.ascontiguousarray(a[..., :3])


# -- the reference path ----------------------------------------------------------------------
def reference_scores(project, images) -> np.ndarray:
    """Scores (N, T) through DeepDanbooru's own `evaluate_image`, one `predict` per image.

    `project` is a project folder or a DeepDanbooruTagger (its model is reused). Arrays and PIL images are
    handed over as lossless PNG bytes; PNG and JPEG files by path (TF decodes them itself);
    other formats as PNG, because the reference's WebP/BMP fallback is broken on TF 2.21.
    Slow by design: it is the yardstick `DeepDanbooruTagger.score` is tested against.
    """
    dd = import_deepdanbooru()
    if isinstance(project, DeepDanbooruTagger):
        model, tags = project.model, project.tags
    else:
        _model_file(Path(project))
        tags = dd.project.load_tags_from_project(str(project))
        with quiet_keras():
            model = dd.project.load_model_from_project(str(project), compile_model=False)
    rows = []
    for item in as_items(images):
        with quiet_keras():
            found = dict(dd.commands.evaluate_image(_reference_input(item), model, tags, threshold=-np.inf))
        rows.append([found[t] for t in tags])
    return np.asarray(rows, np.float32).reshape(len(rows), len(tags))


def _reference_input(item):
    if isinstance(item, (str, os.PathLike)):
        with Image.open(item) as img:
            if img.format in ("PNG", "JPEG"):
                return str(item)
            img.load()
            return _png_bytes(img)
    if isinstance(item, Image.Image):
        return _png_bytes(item)
    a = np.asarray(item)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return _png_bytes(Image.fromarray(a))


def _png_bytes(img: Image.Image) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return io.BytesIO(buf.getvalue())
