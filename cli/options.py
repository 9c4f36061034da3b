"""Option strings of the commands -> the values the library takes (one-line errors otherwise)."""

from __future__ import annotations

import re

import numpy as np

from latentedit.editing.strengths import check_strength
from latentedit.errors import InputError
from latentedit.limits import MAX_SAMPLES, check_sweep_steps
from latentedit.models.layers import GROUPS, resolve_layers
from latentedit.pipeline.video import check_crop_box

__all__ = ["parse_strength", "parse_sweep", "parse_layers", "parse_tags", "parse_crop", "parse_ids"]


def parse_strength(value, option: str = "--strength") -> float:
    """A strength given as a number or a string -> float."""
    return check_strength(value, option)


def parse_sweep(spec: str) -> list[float]:
    """'START:STOP:N' -> N evenly spaced strengths from START to STOP (both included)."""
    parts = str(spec).split(":")
    usage = f"--sweep must be START:STOP:N with N >= 2 (e.g. -20:20:5), got {spec!r}"
    if len(parts) != 3:
        raise InputError(usage)
    try:
        start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise InputError(usage) from None
    if n < 2 or not (np.isfinite(start) and np.isfinite(stop)):
        raise InputError(usage)
    check_sweep_steps(n)
    return [float(x) for x in np.linspace(start, stop, n)]


def parse_layers(spec: str | None, layer_names=None):
    """'all' | 'coarse' | 'middle' | 'fine' | 'I-J' | 'I' | 'I-J,K' -> a group name or sorted indices.

    Indices are 0-based and J is included. With `layer_names` (a generator's W+ layers) the
    result is resolved and checked against them (`latentedit.models.layers.resolve_layers`).
    """
    if spec is None:
        return None
    text = str(spec).strip().lower()
    if text == "auto":  # chosen by measuring on the run (latentedit.pipeline.autoedit)
        return "auto"
    if text in GROUPS:
        value = text
    else:
        idx = []
        for part in text.split(","):
            m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if m is None:
                raise InputError(f"--layers must be all, coarse, middle, fine or I-J (e.g. 0-3), got {spec!r}")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if lo > hi:
                raise InputError(f"--layers {spec}: the range {lo}-{hi} is empty; write the lower index first")
            idx.extend(range(lo, hi + 1))
        value = sorted(set(idx))
    return value if layer_names is None else resolve_layers(value, layer_names, label=str(spec))


def parse_tags(values, option: str = "--keep") -> tuple[str, ...]:
    """['a,b', 'c'] (a repeatable option, each TAG[,TAG...]) -> ('a', 'b', 'c'), repeats dropped."""
    tags = []
    for value in values or ():
        for part in str(value).split(","):
            tag = part.strip()
            if not tag:
                raise InputError(f"{option} takes TAG[,TAG...]; got an empty tag in {value!r}")
            tags.append(tag)
    return tuple(dict.fromkeys(tags))


def parse_crop(spec: str | None) -> tuple[int, int, int] | None:
    """'X,Y,SIZE' -> (x, y, size): the square box whose top-left corner is (x, y), in pixels."""
    if spec is None:
        return None
    parts = str(spec).split(",")
    usage = f"--crop must be X,Y,SIZE in pixels (e.g. 100,40,256), got {spec!r}"
    if len(parts) != 3:
        raise InputError(usage)
    try:
        box = tuple(int(p.strip()) for p in parts)
    except ValueError:
        raise InputError(usage) from None
    return check_crop_box(box)


def parse_ids(spec: str | None) -> list[int] | None:
    """'12,40' or '3-5,9' -> sample ids [12, 40] / [3, 4, 5, 9], in the order given."""
    if spec is None:
        return None
    ids = []
    for part in str(spec).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None:
            raise InputError(f"--ids must be sample ids like 12,40 or 3-5, got {spec!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo > hi:
            raise InputError(f"--ids {spec}: the range {lo}-{hi} is empty; write the lower id first")
        if len(ids) + hi - lo + 1 > MAX_SAMPLES:  # refused before the list is built (0-20000000 took 2.7 GB)
            raise InputError(f"--ids {spec} names more than {MAX_SAMPLES:,} samples, more than a run holds")
        ids.extend(range(lo, hi + 1))
    return ids
