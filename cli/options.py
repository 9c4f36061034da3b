"""Option strings of the commands -> the values the library takes (one-line errors otherwise)."""

from __future__ import annotations

import numpy as np
import typer

from latentedit.editing.strengths import check_strength
from latentedit.errors import InputError
from latentedit.limits import MAX_SAMPLES, check_sweep_steps
from latentedit.models import layers
from latentedit.pipeline.engine import Engine, WorkerStats
from latentedit.pipeline.video import check_crop_box

__all__ = ["parse_strength", "parse_sweep", "parse_layers", "parse_tags", "parse_crop", "parse_ids", "ENGINE",
           "RAY_ADDRESS", "WORKERS", "make_engine", "workers_line"]

# --engine, --ray-address, --workers: the options of sample, tag and report
ENGINE = typer.Option("local", help="Where the work runs: local (this process) or ray (Ray workers, "
                                    "each loading the model once; pip install 'latentedit[ray]').")
RAY_ADDRESS = typer.Option(None, help="With --engine ray: the cluster to join (HOST:PORT, as `ray start --head` "
                                      "prints); default RAY_ADDRESS, else a Ray started on this machine.")
WORKERS = typer.Option(None, help="With --engine ray: how many Ray workers (default: one per CPU of the cluster).")


def make_engine(engine: str, ray_address: str | None, workers: int | None) -> Engine:
    """--engine, --ray-address, --workers -> an Engine (one-line errors: unknown engine, Ray not installed)."""
    if workers is not None and engine != "ray":
        raise InputError("--workers sets the number of Ray workers; pass it with --engine ray")
    return Engine(engine, address=ray_address, workers=workers)


def workers_line(stats: WorkerStats) -> str:
    """'2 on Ray: models loaded in 5.1 s, shards done in 12.0 s, peak memory 880 MB per worker'."""
    return (f"{len(stats.peak_mb)} on Ray: models loaded in {stats.start_s:.1f} s, shards done in {stats.work_s:.1f} s, "
            f"peak memory {max(stats.peak_mb):.0f} MB per worker")


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
    """'all' | 'coarse' | 'middle' | 'fine' | 'I-J' | 'I' | 'I-J,K' | 'auto' -> a group name, sorted
    indices or 'auto' (`latentedit.models.layers.parse_layers`); with `layer_names`, resolved."""
    if spec is not None and str(spec).strip().lower() == "auto":  # chosen by measuring (pipeline.autoedit)
        return "auto"
    value = layers.parse_layers(spec)
    return value if layer_names is None else layers.resolve_layers(spec, layer_names)


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
    for lo, hi in layers.parse_ranges(spec, f"--ids must be sample ids like 12,40 or 3-5, got {spec!r}", f"--ids {spec}",
                                      "id"):
        if len(ids) + hi - lo + 1 > MAX_SAMPLES:  # refused before the list is built (0-20000000 took 2.7 GB)
            raise InputError(f"--ids {spec} names more than {MAX_SAMPLES:,} samples, more than a run holds")
        ids.extend(range(lo, hi + 1))
    return ids
