"""The tagger interface every stage and the studio use, and what its implementations share.

A tagger has a vocabulary (`tags`, each with a category: "general", "character", "rating", ...),
scores batches of uint8 images with its own preprocessing (`score`: (N, T) float32), says when
a tag is on (`thresholds` per tag, or MCut per image: `labels`) and has a `fingerprint` of its
files. DeepDanbooru projects and WD14-format ONNX taggers are the two implementations; nothing
outside tagging/ asks which one it is.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from ..errors import InputError
from ..stats import TAG_THRESHOLD, tag_labels


@runtime_checkable
class Tagger(Protocol):
    """What the pipeline asks of a tagger."""

    source: str                   # how it was named: 'demo', 'demo-wd14' or its folder
    tags: list[str]               # the vocabulary, in score column order
    categories: list[str]         # each tag's category: "general", "character", "rating", ...
    thresholds: np.ndarray        # (T,) a tag is on at score >= its threshold (unless mcut)
    mcut: bool                    # general and character tags thresholded per image by MCut
    input_size: tuple[int, int]   # the model's (height, width)

    @property
    def fingerprint(self) -> str:
        """16 hex digits of sha256 over the tagger's files."""

    def score(self, images, batch_size: int = 32) -> np.ndarray:
        """(N, T) float32 scores of uint8 NHWC images, PIL images or image files."""


def category_thresholds(categories, general: float, character: float) -> np.ndarray:
    """(T,) thresholds: `character` for character tags, `general` for every other tag."""
    return np.array([character if c == "character" else general for c in categories], np.float64)


def labels(tagger: Tagger, scores) -> np.ndarray:
    """0/1 labels (N, T) of `scores` by the tagger's thresholds (or MCut)."""
    return tag_labels(scores, tagger.thresholds, tagger.categories, tagger.mcut)


def vocab_record(tagger: Tagger) -> dict:
    """RUN/tags/vocab.json: the columns, fingerprint, source, categories and when a tag is on."""
    return {"tags": list(tagger.tags), "tagger": tagger.fingerprint, "source": tagger.source,
            "categories": list(tagger.categories), "thresholds": [float(t) for t in tagger.thresholds],
            "mcut": bool(tagger.mcut)}


def as_items(images) -> list:
    """A list of per-image items (arrays, PIL images or paths) from what a user may pass."""
    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
            raise InputError(f"images must be a uint8 (N, H, W, 3) array, got shape {images.shape}")
        if images.dtype != np.uint8:
            raise InputError(f"images must be uint8 in [0, 255], got {images.dtype}; convert with latentedit.images.to_uint8")
        return list(images)
    return list(images)


def score_in_batches(images, n_tags: int, batch_size: int, score_chunk) -> np.ndarray:
    """(N, n_tags) float32: `score_chunk(items)` over at most `batch_size` items at a time."""
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    items = as_items(images)
    out = np.zeros((len(items), n_tags), np.float32)
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        out[start : start + len(chunk)] = score_chunk(chunk)
    return out


def tag_frequencies(scores: np.ndarray, tags, threshold=TAG_THRESHOLD, categories=None, mcut=False) -> list[tuple[str, int]]:
    """(tag, number of images whose tag is on), most frequent first (on: score >= threshold, or MCut)."""
    on = tag_labels(scores, threshold, categories, mcut).sum(axis=0)
    return Counter({t: int(c) for t, c in zip(tags, on)}).most_common()
