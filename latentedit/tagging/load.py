"""`load_tagger`: sniff what a tagger name or folder is and load it with the right implementation."""

from __future__ import annotations

from pathlib import Path

from .base import Tagger
from .deepdanbooru import load_deepdanbooru
from .wd14 import is_wd14_folder, load_wd14


def load_tagger(source="demo", *, threshold: float | None = None, character_threshold: float | None = None,
                mcut: bool = False, threads: int | None = None) -> Tagger:
    """'demo' (DeepDanbooru), 'demo-wd14', a WD14 folder (model.onnx, selected_tags.csv) or a DeepDanbooru project.

    A general tag is on at score >= `threshold` (default DeepDanbooru 0.5, WD14 0.35), a character
    tag at `character_threshold` (DeepDanbooru: as general; WD14 0.85); `mcut` cuts both per image
    instead. `threads`: onnxruntime's intra-op threads (WD14).
    """
    if str(source) == "demo-wd14" or (str(source) != "demo" and is_wd14_folder(Path(source).expanduser())):
        return load_wd14(source, threshold, character_threshold, mcut, threads)
    return load_deepdanbooru(source, threshold, character_threshold, mcut)
