"""Stages over a run that later stages call when an earlier one has not been done yet.

`fit-directions` tags a run that has no tags; `edit` and `report` fit the directions they need.
These helpers do that once, from what the run's manifest says, and reuse what is on disk.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DirectionError, RunError
from .store import Run


def open_run(run) -> Run:
    return run if isinstance(run, Run) else Run(run)


def generator_for_run(run, generator=None, device: str = "cpu"):
    """The generator a run was sampled with: `generator` if given (checked), else its recorded source."""
    from .models.checkpoint import fingerprint, load_generator

    run = open_run(run)
    if generator is None:
        source = run.manifest["generator"]["source"]
        if source == "in-memory":
            raise RunError(f"{run.path} was sampled with an in-memory generator; pass the generator")
        generator = source
    G = load_generator(generator, device=device) if isinstance(generator, (str, Path)) else generator
    fp = fingerprint(G)
    if fp != run.fingerprint:
        raise RunError(
            f"generator {fp} is not the one {run.path} was sampled with ({run.fingerprint}); "
            f"pass --generator {run.manifest['generator']['source']}"
        )
    return G


def ensure_tags(run, tagger="demo", batch_size: int = 32, progress: bool = True) -> Run:
    """Tag every untagged shard of the run (no-op when the run is fully tagged)."""
    from .tagging import load_tagger, tag_run

    run = open_run(run)
    if not run.has_tags():
        tag_run(run, load_tagger(tagger) if isinstance(tagger, (str, Path)) else tagger, batch_size, progress)
    return run


def ensure_directions(run, method: str, space: str = "w", tags=None, tagger="demo", generator=None,
                      refit: bool = False, progress: bool = True, **params):
    """The run's `method` directions: loaded from RUN/directions when present, else fitted and saved.

    Returns (DirectionSet, path). Every tag that passes the filter is fitted, so the file serves
    later edits too; a requested tag that is unknown or was filtered out raises a TagError that
    says why. Saved directions are reused only when they cover `tags` and were fitted for this
    run's generator.
    """
    from .directions import DirectionSet, fit_directions

    run = open_run(run)
    path = run.directions_path(method, space)
    if path.exists() and not refit and not params:
        try:
            ds = DirectionSet.load(path, generator_fingerprint=run.fingerprint)
        except DirectionError:
            ds = None
        if ds is not None and (tags is None or set(tags) <= set(ds.names)):
            return ds, path
    G = generator_for_run(run, generator) if method == "sefa" else generator
    if method not in ("sefa", "pca"):
        ensure_tags(run, tagger, progress=progress)
    ds = fit_directions(run, method, space=space, generator=G, **params)
    ds.save(path)
    missing = [t for t in tags or () if t not in ds.names]
    if missing:
        fit_directions(run, method, space=space, tags=missing, generator=G, **params)  # raises why
    return ds, path
