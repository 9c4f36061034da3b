"""Saving and loading what the studio made: recipe JSON, PNGs carrying their recipe, sweeps.

The format is `latentedit.editing.recipe`'s and the files are read and written as
`latentedit.pipeline.recipes` does (what `latentedit edit --recipe` reads); this module only names them. Names come from the content (`<kind>-<12 hex of sha256>`), so saving the
same edit twice writes the same file once, and no clock is involved.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..editing import recipe as rc
from ..io import atomic_write_bytes
from ..pipeline.recipes import load, png_bytes

__all__ = ["save_recipe", "save_png", "load_recipe", "file_name"]


def file_name(kind: str, data: bytes, suffix: str) -> str:
    return f"{kind}-{hashlib.sha256(data).hexdigest()[:12]}{suffix}"


def save_recipe(folder, recipe: rc.Recipe) -> Path:
    """Write the recipe's canonical JSON into `folder`; returns the file."""
    data = rc.to_json(recipe).encode()
    return atomic_write_bytes(Path(folder) / file_name("recipe", data, ".json"), data)


def save_png(folder, image, recipe: rc.Recipe) -> Path:
    """Write the edited face as a PNG carrying its recipe (tEXt "latentedit-recipe") into `folder`."""
    data = png_bytes(image, recipe)
    return atomic_write_bytes(Path(folder) / file_name("face", data, ".png"), data)


def load_recipe(path) -> rc.Recipe:
    """A recipe from a .json file or a PNG latentedit wrote (one-line RecipeError otherwise)."""
    return load(path)
