"""W+ layers of the generators (GANs N' Roses, StyleGAN2): names, resolution levels, groups.

The one place that knows them; used by `Generator.layer_names`, SeFa's layer sets and edits.

W+ order: the bottleneck's styled convs (2 per residual block), conv1, to_rgb1 (all at the content
resolution, level 0), then per doubling of the resolution (level 1, 2, ...): up conv, conv, to_rgb.

"coarse", "middle" and "fine" split the resolution levels into three consecutive near-equal parts
(numpy.array_split); a layer belongs to the part of its level. Release generator (16 layers, 16x16
content up to 256 px): coarse = 0-6 (16-32 px), middle = 7-12 (64-128 px), fine = 13-15 (256 px).
Demo generator (10 layers, up to 64 px): coarse = 0-3 (16 px), middle = 4-6 (32 px), fine = 7-9 (64 px).

StyleGAN2 (rosinality's module names): W+ layer 0 is conv1 (4 px), then one layer per styled conv
`convs.N` (level 1 + N // 2), the last one `to_rgbs.K` (the final RGB layer). A to_rgb shares the
W+ layer of the next up conv (to_rgb1 reads layer 1, to_rgbs.K reads layer 2K + 3), as in both
StyleGAN2 codes, so names follow the convs and `resolution_index` reads them as it reads GNR's.
256 px (14 layers): coarse = 0-4 (4-16 px), middle = 5-8 (32-64 px), fine = 9-13 (128-256 px).
"""

from __future__ import annotations

import re

import numpy as np

from latentedit.errors import DirectionError, InputError

__all__ = ["GROUPS", "layer_names", "modulated_layers", "rgb_resolutions", "stop_level", "stylegan2_layer_names",
           "stylegan2_layer_index", "resolution_index", "level_groups", "layer_groups", "parse_layers", "parse_ranges",
           "resolve_layers"]

GROUPS = ("all", "coarse", "middle", "fine")
_UPSAMPLED = re.compile(r"convs\.(\d+)|to_rgbs\.(\d+)")


def layer_names(n_latent: int, n_res: int = 1) -> list[str]:
    """W+ layer names of a GNR generator with `n_latent` modulated layers (n_latent = 2 n_res + 2 + 3 num_down)."""
    num_down, rest = divmod(n_latent - 2 * n_res - 2, 3)
    if rest or num_down < 0:
        raise DirectionError(f"{n_latent} is not a GNR layer count (2*n_res + 2 + 3*num_down)")
    names = [f"adain_bottleneck.{i}.conv{j}" for i in range(n_res) for j in (1, 2)] + ["conv1", "to_rgb1"]
    for i in range(num_down):
        names += [f"convs.{2 * i}", f"convs.{2 * i + 1}", f"to_rgbs.{i}"]
    return names


def stylegan2_layer_names(n_latent: int) -> list[str]:
    """W+ layer names of a StyleGAN2 generator with `n_latent` = 2 log2(size) - 2 layers."""
    if n_latent < 2 or n_latent % 2:
        raise DirectionError(f"{n_latent} is not a StyleGAN2 layer count (2 log2(size) - 2)")
    n_up = n_latent // 2 - 1
    return ["conv1"] + [f"convs.{i}" for i in range(2 * n_up)] + [f"to_rgbs.{n_up - 1}" if n_up else "to_rgb1"]


def stylegan2_layer_index(module: str) -> int:
    """The W+ layer a StyleGAN2 modulated module (conv1, to_rgb1, convs.N, to_rgbs.K) reads."""
    m = re.fullmatch(r"conv1|to_rgb1|convs\.(\d+)|to_rgbs\.(\d+)", module)
    if m is None:
        raise DirectionError(f"{module!r} is not a StyleGAN2 modulated layer")
    if m.group(1) is not None:
        return int(m.group(1)) + 1
    if m.group(2) is not None:
        return 2 * int(m.group(2)) + 3
    return 0 if module == "conv1" else 1


def resolution_index(names) -> list[int]:
    """For each W+ layer name, 0 for the content resolution, k for k upsamplings later."""
    out = []
    for name in names:
        m = _UPSAMPLED.fullmatch(name)
        if m is None:
            out.append(0)
        elif m.group(1) is not None:
            out.append(1 + int(m.group(1)) // 2)
        else:
            out.append(1 + int(m.group(2)))
    return out


def rgb_resolutions(names, size: int) -> list[int]:
    """The resolutions of a generator's RGB outputs (one to_rgb per resolution level), lowest first."""
    top = max(resolution_index(names))
    return [size >> (top - k) for k in range(top + 1)]


def stop_level(resolution, names, size: int) -> int:
    """How many upsamplings `decode(..., resolution=)` runs: the level of that RGB output (None: the last).

    An InputError naming the choices for a resolution the generator has no RGB output at."""
    choices = rgb_resolutions(names, size)
    if resolution is None:
        return len(choices) - 1
    if resolution not in choices:
        raise InputError(f"resolution must be one of {', '.join(map(str, choices))} px (this generator's RGB "
                         f"outputs), got {resolution}")
    return choices.index(resolution)


def level_groups(levels) -> dict[str, list[int]]:
    """Indices of the "all", "coarse", "middle" and "fine" layers, given each layer's resolution level."""
    levels = [int(v) for v in levels]
    parts = np.array_split(np.arange(max(levels) + 1), 3) if levels else [np.arange(0)] * 3
    groups = {"all": list(range(len(levels)))}
    for name, part in zip(GROUPS[1:], parts):
        wanted = set(part.tolist())
        groups[name] = [i for i, v in enumerate(levels) if v in wanted]
    return groups


def layer_groups(names) -> dict[str, list[int]]:
    """Indices of the "all", "coarse", "middle" and "fine" W+ layers of these layer names."""
    return level_groups(resolution_index(names))


def parse_layers(spec) -> tuple[int, ...] | str | None:
    """None | group name | 'I-J' | 'I' | 'I-J,K' (text, J included) | indices -> None, the group's
    name or sorted unique indices; an InputError for text that is none of these."""
    if spec is None or not isinstance(spec, str):
        return None if spec is None else sorted({int(i) for i in spec})
    text = spec.strip().lower()
    if text in GROUPS:
        return text
    usage = f"--layers must be all, coarse, middle, fine or I-J (e.g. 0-3), got {spec!r}"
    return sorted({i for lo, hi in parse_ranges(text, usage, f"--layers {spec}", "index") for i in range(lo, hi + 1)})


def parse_ranges(text: str, usage: str, option: str, word: str):
    """'I-J,K' -> (I, J), (K, K) in order: an InputError `usage` for other text, and one for an empty range."""
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None:
            raise InputError(usage)
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo > hi:
            raise InputError(f"{option}: the range {lo}-{hi} is empty; write the lower {word} first")
        yield lo, hi


def resolve_layers(spec, names) -> list[int] | None:
    """None | group name | 'I-J' text | W+ indices -> sorted unique layer indices (None: a plain edit).

    Raises InputError for an unknown group, a group this generator has no layer for, an index out
    of range or an empty list; messages quote the spec as the user wrote it.
    """
    value = parse_layers(spec)
    if value is None:
        return None
    n = len(names)
    if isinstance(value, str):
        idx = layer_groups(names)[value]
        if not idx:
            raise InputError(f"--layers {value}: this generator has too few resolutions for a {value} group; "
                             f"give indices 0-{n - 1} instead")
        return idx
    bad = [i for i in value if not 0 <= i < n]
    if bad:
        shown = spec if isinstance(spec, str) else ",".join(map(str, value))
        raise InputError(f"--layers {shown}: layer {bad[0]} is out of range; this generator has {n} W+ layers "
                         f"(0-{n - 1})")
    if not value:
        raise InputError("--layers is empty; give all, coarse, middle, fine or I-J")
    return value


_MODULATED = re.compile(
    r"(?:^|\.)(?:adain_bottleneck\.(?P<block>\d+)\.conv(?P<half>[12])|(?P<conv1>conv1)|(?P<rgb1>to_rgb1)"
    r"|convs\.(?P<conv>\d+)|to_rgbs\.(?P<rgb>\d+))\.conv\.modulation\.weight$")


def modulated_layers(state_dict) -> list[tuple[str, int]]:
    """(state-dict key, resolution level) of every modulation weight, in W+ layer order.

    W+ order: the bottleneck's styled convs, conv1, to_rgb1 (level 0, the content resolution),
    then per doubling of the resolution (level 1, 2, ...): up conv, conv, to_rgb.
    """
    layers = []
    for key in state_dict:
        if "modulation" not in key or "weight" not in key:
            continue
        m = _MODULATED.search(key)
        if m is None:
            raise DirectionError(f"unrecognised modulated layer {key!r}; SeFa needs a GANs N' Roses "
                                 f"generator (state-dict names as in spec/gnr-state-dict.txt)")
        if m["block"] is not None:
            order = (0, 0, int(m["block"]), int(m["half"]))
        elif m["conv1"]:
            order = (0, 1, 0, 0)
        elif m["rgb1"]:
            order = (0, 2, 0, 0)
        elif m["conv"] is not None:
            i = int(m["conv"])
            order = (i // 2 + 1, i % 2, 0, 0)
        else:
            order = (int(m["rgb"]) + 1, 2, 0, 0)
        layers.append((order, key))
    if not layers:
        raise DirectionError("no style modulation weights found; SeFa needs a generator or a GANs N' Roses "
                             "state dict")
    layers.sort()
    return [(key, order[0]) for order, key in layers]
