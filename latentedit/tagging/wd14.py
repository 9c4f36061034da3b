"""WD14-format taggers: a folder with model.onnx and selected_tags.csv, run with onnxruntime.

The WD14 taggers (SmilingWolf/wd-* on Hugging Face) ship an ONNX model taking float32 BGR pixels
in 0-255, NHWC, at a square size written in the graph's input shape, and selected_tags.csv with
the columns tag_id, name, category, count (category 9 rating, 0 general, 4 character), one row
per model output. The reference preprocessing (the taggers' own demo app) composites alpha on
white, pads the image to a white square (centred, integer offsets), resizes it with PIL's bicubic
filter to the input size, and flips RGB to BGR. A tag is on at score >= 0.35 (general) or 0.85
(character); with MCut, general and character tags are cut per image instead (`stats.tag_labels`).

`WD14Tagger.score` preprocesses each image so and runs them through the model a batch at a time;
`reference_scores` follows the reference one image at a time, for checking.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import AssetError, CheckpointError, InputError
from ..images import open_image, rgb_array
from ..world.assets import demo_wd14_path
from .base import as_items, category_thresholds, score_in_batches

MODEL, TAGS = "model.onnx", "selected_tags.csv"
COLUMNS = ("tag_id", "name", "category", "count")
CATEGORIES = {9: "rating", 0: "general", 4: "character"}
GENERAL_THRESHOLD, CHARACTER_THRESHOLD = 0.35, 0.85
WHERE = "the SmilingWolf/wd-* taggers on Hugging Face ship both files"


def is_wd14_folder(path: Path) -> bool:
    """True when `path` is a folder holding either file of a WD14 tagger."""
    return path.is_dir() and ((path / MODEL).exists() or (path / TAGS).exists())


def load_wd14(source, threshold: float | None = None, character_threshold: float | None = None,
              mcut: bool = False, threads: int | None = None) -> "WD14Tagger":
    """Load a WD14 tagger folder ('demo-wd14' = the shipped demo); every problem refused in one line."""
    if str(source) == "demo-wd14":
        folder = demo_wd14_path()
        if not (folder / MODEL).is_file():
            raise AssetError(f"the demo WD14 tagger is missing at {folder}; rebuild it with python -m tools.world.train_wd14")
    else:
        folder = Path(source).expanduser()
    for have, missing in ((MODEL, TAGS), (TAGS, MODEL)):
        if not (folder / missing).is_file():
            raise CheckpointError(f"{folder} has {have} but no {missing}; a WD14 tagger needs both ({WHERE})")
    names, categories = read_selected_tags(folder / TAGS)
    session = _session(folder / MODEL, threads)
    return WD14Tagger(session, folder, names, categories, source="demo-wd14" if str(source) == "demo-wd14" else str(folder),
                      threshold=GENERAL_THRESHOLD if threshold is None else threshold,
                      character_threshold=CHARACTER_THRESHOLD if character_threshold is None else character_threshold,
                      mcut=mcut)


def read_selected_tags(path: Path) -> tuple[list[str], list[str]]:
    """Tag names and category names of selected_tags.csv (unknown category numbers as 'category N')."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = rows and list(rows[0]) or []
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CheckpointError(f"cannot read {path} ({type(e).__name__}); use the selected_tags.csv that came with the model") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CheckpointError(f"{path} has no column {', '.join(missing)} (header: {', '.join(map(str, header)) or 'none'}); "
                              f"a WD14 selected_tags.csv has the columns {', '.join(COLUMNS)}")
    try:
        numbers = [int(r["category"]) for r in rows]
    except (TypeError, ValueError):
        raise CheckpointError(f"{path} has a category that is not a number; use the selected_tags.csv that came with the model") from None
    return [str(r["name"]) for r in rows], [CATEGORIES.get(n, f"category {n}") for n in numbers]


def _session(path: Path, threads: int | None):
    import onnxruntime as ort  # imported only when a WD14 tagger is loaded

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = int(threads), 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...) for damaged files
        raise CheckpointError(f"cannot load {path} ({type(e).__name__}); the file is damaged or not an ONNX model") from None


class WD14Tagger:
    """A WD14-format ONNX tagger (a `Tagger`); `score` runs the reference preprocessing, batched."""

    def __init__(self, session, folder, tags, categories, source: str, threshold: float = GENERAL_THRESHOLD,
                 character_threshold: float = CHARACTER_THRESHOLD, mcut: bool = False):
        self.session, self.folder, self.source = session, Path(folder), source
        self.tags, self.categories, self.mcut = list(tags), list(categories), bool(mcut)
        self.thresholds = category_thresholds(self.categories, threshold, character_threshold)
        model = self.folder / MODEL
        shape, self.input_name = session.get_inputs()[0].shape, session.get_inputs()[0].name
        if len(shape) != 4 or shape[3] != 3 or not all(isinstance(d, int) and d > 0 for d in shape[1:3]):
            raise CheckpointError(f"{model} takes input of shape {shape}; a WD14 tagger takes (batch, size, size, 3)")
        self.input_size = (int(shape[1]), int(shape[2]))
        n_out = session.get_outputs()[0].shape[-1]
        if n_out != len(self.tags):
            raise CheckpointError(f"{self.folder}: {TAGS} lists {len(self.tags)} tags but the model has {n_out} outputs; "
                                  f"use the {TAGS} that came with the model")
        self._fingerprint = None

    def __repr__(self):
        return f"WD14Tagger({self.source!r}, {len(self.tags)} tags, input {self.input_size[1]}x{self.input_size[0]})"

    @property
    def fingerprint(self) -> str:
        """sha256 of selected_tags.csv and model.onnx, first 16 hex digits."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for name in (TAGS, MODEL):
                h.update((self.folder / name).read_bytes() + b"\0")
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def score(self, images, batch_size: int = 32) -> np.ndarray:
        """Tag scores (N, T) float32 of uint8 NHWC images (RGBA: alpha on white), PIL images or files."""
        return score_in_batches(images, len(self.tags), batch_size, self._score_chunk)

    def _score_chunk(self, items) -> np.ndarray:
        batch = np.stack([prepare(rgb_on_white(x), self.input_size[0]) for x in items])
        return self.session.run(None, {self.input_name: batch})[0]


def rgb_on_white(item) -> np.ndarray:
    """uint8 HxWx3 of one image with any transparency composited on white."""
    if isinstance(item, (str, os.PathLike)):
        try:
            with open_image(item, min_side=False) as img:
                a = rgb_array(img, item, alpha="white", upright=False)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read image {item}: {e}") from None
        return a if a.dtype == np.uint8 else np.round(a * 255).astype(np.uint8)
    if isinstance(item, Image.Image):
        return rgb_array(item, alpha="white", upright=False)
    a = np.asarray(item)
    if a.dtype != np.uint8:
        raise InputError(f"images must be uint8 in [0, 255], got {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise InputError(f"an image must be HxW, HxWx1, HxWx3 or HxWx4, got shape {a.shape}")
    if a.shape[-1] == 4:
        return rgb_array(Image.fromarray(a, "RGBA"), alpha="white", upright=False)
    return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a


def prepare(rgb: np.ndarray, size: int) -> np.ndarray:
    """The reference preprocessing of an RGB image: white square pad, bicubic resize, BGR float32 (size, size, 3)."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    square = np.full((side, side, 3), 255, np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = rgb
    img = Image.fromarray(square)
    if side != size:
        img = img.resize((size, size), Image.BICUBIC)
    return np.asarray(img, np.float32)[:, :, ::-1]


# -- the reference path ----------------------------------------------------------------------
def reference_scores(tagger: WD14Tagger, images) -> np.ndarray:
    """Scores (N, T) the way the WD14 taggers' demo app computes them: one image per run, PIL all the way."""
    rows = []
    for item in as_items(images):
        if isinstance(item, (str, os.PathLike)):
            image = Image.open(item)
        elif isinstance(item, Image.Image):
            image = item
        else:
            a = np.asarray(item)
            image = Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a)
        rows.append(tagger.session.run(None, {tagger.input_name: _reference_prepare(image, tagger.input_size[0])})[0][0])
    return np.asarray(rows, np.float32).reshape(len(rows), len(tagger.tags))


def _reference_prepare(image: Image.Image, target_size: int) -> np.ndarray:
    """The demo app's `prepare_image`, line for line."""
    canvas = Image.new("RGBA", image.size, (255, 255, 255))
    canvas.alpha_composite(image.convert("RGBA"))
    image = canvas.convert("RGB")
    max_dim = max(image.size)
    pad_left, pad_top = (max_dim - image.size[0]) // 2, (max_dim - image.size[1]) // 2
    padded = Image.new("RGB", (max_dim, max_dim), (255, 255, 255))
    padded.paste(image, (pad_left, pad_top))
    if max_dim != target_size:
        padded = padded.resize((target_size, target_size), Image.BICUBIC)
    return np.expand_dims(np.asarray(padded, dtype=np.float32)[:, :, ::-1], axis=0)
