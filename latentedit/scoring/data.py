"""Images and 0/1 labels to train a re-scorer on: a run (its tags), an image folder with a label
CSV, or an array. Images are resized as they are read, so a large run never sits in memory."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, TagError, unknown_name_message
from ..images import list_images, read_rgb
from ..stats import TAG_THRESHOLD
from ..store import Run, sample_file
from .scorer import DEFAULT_ATTRIBUTES


# -- labels ----------------------------------------------------------------------------------------
def load_labels_csv(path, attributes) -> tuple[list[str], np.ndarray]:
    """Read a label CSV: a `filename` column and one 0/1 column per attribute -> (names, (N, A))."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"label file {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "filename" not in columns:
            raise InputError(f"{path} has no 'filename' column (columns: {', '.join(columns) or 'none'}); "
                             "the first row must name the columns: filename,<attribute>,...")
        missing = [a for a in attributes if a not in columns]
        if missing:
            raise InputError(f"{path} has no column for attribute {missing[0]!r} "
                             f"(columns: {', '.join(c for c in columns if c != 'filename')})")
        names, rows, seen = [], [], set()
        for line, row in enumerate(reader, start=2):
            name = (row.get("filename") or "").strip()
            if not name:
                raise InputError(f"{path} line {line}: empty filename")
            if name in seen:
                raise InputError(f"{path} line {line}: filename {name!r} appears twice")
            seen.add(name)
            values = []
            for a in attributes:
                v = (row.get(a) or "").strip()
                if v not in ("0", "1"):
                    raise InputError(f"{path} line {line}: {a} must be 0 or 1, got {v!r}")
                values.append(int(v))
            names.append(name)
            rows.append(values)
    if not rows:
        raise InputError(f"{path} has no label rows")
    return names, np.asarray(rows, np.float32)


def resize_uint8(images, size: int) -> torch.Tensor:
    """Images (list or array of HxWx3 uint8, any sizes) -> uint8 tensor (N, 3, size, size)."""
    out = []
    for img in images:
        x = torch.tensor(np.asarray(img)).permute(2, 0, 1)[None].float()
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def training_data(data, labels=None, attributes=DEFAULT_ATTRIBUTES, limit: int | None = None, size: int = 64):
    """Resolve what `train_scorer` was given into (uint8 images (N, 3, size, size), labels (N, A), trained_on).

    data: a run (Run or folder with manifest.json), an image folder (with a label CSV), or a uint8
    (N, H, W, 3) array (with (N, A) labels). Images are resized as they are read, so a large run
    never sits in memory at full size.
    """
    attributes = tuple(attributes)
    if isinstance(data, (str, Path)):
        p = Path(data)
        if (p / "manifest.json").exists():
            return _run_data(Run(p), labels, attributes, limit, size)
        if p.is_dir():
            return _folder_data(p, labels, attributes, limit, size)
        raise InputError(f"{p} is neither a run nor an image folder")
    if isinstance(data, Run):
        return _run_data(data, labels, attributes, limit, size)
    return _array_data(data, labels, attributes, limit, size)


def _absent(names, known, where: str, labels) -> None:
    absent = [n for n in names if n not in known]
    if absent:
        raise InputError(f"{len(absent)} file(s) of {labels} are not {where}, e.g. {absent[0]!r}")


def _folder_data(p: Path, labels, attributes, limit, size):
    if labels is None or not isinstance(labels, (str, Path)):
        raise InputError(f"{p} is an image folder, not a run: give --labels CSV with a filename column "
                         f"and the columns {', '.join(attributes)}")
    files, _ = list_images(p)
    by_name = {f.name: f for f in files}
    names, y = load_labels_csv(labels, attributes)
    _absent(names, by_name, f"in {p}", labels)
    names, y = names[:limit], y[:limit]
    images = torch.cat([resize_uint8([read_rgb(by_name[n])], size) for n in names])
    return images, y, {"kind": "folder", "path": str(p), "labels": str(labels), "n": len(names)}


def _run_data(run: Run, labels, attributes, limit, size):
    ids = run.codes()["id"]
    if labels is not None:
        names, y = load_labels_csv(labels, attributes)
        by_name = {sample_file(i): int(i) for i in ids}
        _absent(names, by_name, f"samples of {run.path} (expected names like 000000000.png)", labels)
        sel = [by_name[n] for n in names]
        source = str(labels)
    else:
        scores, tags = run.tag_scores()
        for a in attributes:
            if a not in tags:
                raise TagError(f"attribute {a!r} is not among the tags of {run.path}: "
                               f"{unknown_name_message('tag', a, tags)}")
        y = (scores[:, [tags.index(a) for a in attributes]] >= TAG_THRESHOLD).astype(np.float32)
        sel = [int(i) for i in ids]
        source = f"tags >= {TAG_THRESHOLD}"
    sel, y = sel[:limit], y[:limit]
    images = torch.cat([resize_uint8(run.images(sel[i : i + 256]), size) for i in range(0, len(sel), 256)])
    return images, y, {"kind": "run", "path": str(run.path), "generator": run.fingerprint, "labels": source,
                       "n": len(sel)}


def _array_data(data, labels, attributes, limit, size):
    images = np.asarray(data)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"training images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    if labels is None:
        raise InputError("training images need labels: an (N, A) 0/1 array or a CSV file")
    if isinstance(labels, (str, Path)):
        raise InputError("a label CSV needs an image folder or a run (it names files); pass an (N, A) array")
    y = np.asarray(labels, np.float32)
    if y.ndim == 1 and len(attributes) == 1:
        y = y[:, None]
    if y.shape != (len(images), len(attributes)):
        raise InputError(f"labels must have shape ({len(images)}, {len(attributes)}) for {len(images)} images "
                         f"and attributes {list(attributes)}, got {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 or 1")
    images, y = images[:limit], y[:limit]
    return resize_uint8(images, size), y, {"kind": "array", "n": len(y)}
