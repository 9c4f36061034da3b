"""Errors latentedit raises for bad user input.

Every message is one line that says what is wrong and what to do about it; the CLI prints it
without a traceback.
"""

import difflib


class LatentEditError(Exception):
    """Base class of every error a user can fix."""


class CheckpointError(LatentEditError):
    """A model file is missing, truncated, or of another architecture."""


class AssetError(LatentEditError):
    """A shipped demo asset is missing or altered."""


class InputError(LatentEditError):
    """Input images, videos or folders cannot be used."""


class RunError(LatentEditError):
    """A run directory is missing, incomplete, or belongs to another configuration."""


class TagError(LatentEditError):
    """A tag name is unknown, filtered out, or used inconsistently."""


class DirectionError(LatentEditError):
    """A direction file does not fit the generator or the request."""


class NonFiniteError(LatentEditError):
    """Weights, codes or images hold NaN or inf (caught where they enter, see latentedit.limits)."""


class DamagedFileError(RunError):
    """A run file (an .npz shard, a JSON record) is truncated or not what it should be."""


class UnsafeFileError(CheckpointError):
    """A model file would run code when loaded (pickled callables, a Keras Lambda layer): refused."""


def closest(name: str, known, n: int = 3) -> list[str]:
    """Return up to `n` known names closest to `name` (for 'did you mean' messages)."""
    return difflib.get_close_matches(name, list(known), n=n, cutoff=0.5)


def unknown_name_message(kind: str, name: str, known) -> str:
    """One-line message for an unknown name, listing the closest known ones."""
    near = closest(name, known)
    hint = f"; did you mean {', '.join(near)}?" if near else f"; known {kind}s: {', '.join(sorted(known)[:12])}"
    return f"unknown {kind} {name!r}{hint}"
