"""Recipes in the commands: what `edit` and `video` record, and how they re-apply one.

The recipe format and its checks live in `latentedit.editing.recipe` (pure); this module ties a
recipe to the things a command has open: the session's generator and directions (their
identity, `check`), the starting styles a request names (`--style-seed`, `--reference`) and the
content of a video (`video_content`).
"""

from __future__ import annotations

from pathlib import Path

from ..editing import recipe as R
from ..errors import InputError
from ..models.checkpoint import fingerprint

__all__ = ["identity", "check", "load", "seed_style", "reference_style", "video_content", "edit_tags",
           "one_face"]


def identity(session, path=None) -> R.DirectionIdentity:
    """The identity of a session's direction set (and of the file it was read from)."""
    return R.direction_identity(session.directions, path)


def check(recipe: R.Recipe, session, path=None) -> None:
    """Refuse (one line naming the difference) a recipe made with another generator or directions."""
    R.check_compatible(recipe, fingerprint(session.generator), identity(session, path))


def load(spec) -> R.Recipe:
    """A Recipe as given, or read from a .json file or a latentedit PNG."""
    return spec if isinstance(spec, R.Recipe) else R.load(spec)


def edit_tags(recipe: R.Recipe) -> list[str]:
    """Every tag a recipe's edit needs a direction for."""
    return list(dict.fromkeys([t for t, _ in recipe.terms] + list(recipe.keep)))


def one_face(recipe: R.Recipe, what: str = "a video") -> R.Face:
    """The recipe's only face (and only edit); a clear error for a recipe of several."""
    if len(recipe.faces) != 1:
        raise InputError(f"this recipe starts from {len(recipe.faces)} faces and {what} takes one; use the "
                         "recipe a single PNG of the edit carries (after/<label>.png)")
    if recipe.sweep is not None and len(recipe.sweep) != 1:
        raise InputError(f"this recipe is a sweep of {len(recipe.sweep)} edits and {what} takes one; use the "
                         "recipe of one after/ image")
    return recipe.faces[0]


def seed_style(seed: int, index: int = 0, truncation: float = 1.0) -> R.Style:
    """The style row `index` of a seed gives (see the recipe format)."""
    if seed < 0:
        raise InputError(f"--style-seed must be >= 0, got {seed}")
    return R.Style("seed", seed=int(seed), index=int(index), truncation=float(truncation))


def reference_style(reference, encoder_source, device="cpu") -> R.Style:
    """The style code an anime reference image encodes to (GNR's G_B2A style encoder), as a recipe style.

    encoder_source: "demo" or the checkpoint holding G_B2A_ema (normally the generator's own file).
    """
    from ..editing.reference import encode_style, load_style_encoder

    path = Path(reference)
    if not path.is_file():
        raise InputError(f"reference image {path} does not exist")
    encoder = load_style_encoder(encoder_source, device=device)
    z = encode_style(encoder, path)
    return R.Style("code", space="z", code=tuple(float(x) for x in z),
                   source={"reference": path.name, "reference_sha256": R.sha256_file(path)})


def video_content(path, tracking: dict, demo: dict | None = None) -> R.Content:
    """The content of a video: the demo world's (demo = {"seed", "frames"}) or a file, by its sha256."""
    if demo is not None:
        return R.Content("demo_video", seed=int(demo["seed"]), frames=int(demo["frames"]), tracking=tracking)
    path = Path(path)
    return R.Content("video", sha256=R.sha256_file(path), name=path.name, tracking=tracking)
