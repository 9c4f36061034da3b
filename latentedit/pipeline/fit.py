"""Fitting a run's directions: loaded from RUN/directions when present, else fitted and saved.

`fit-directions` tags a run that has no tags and fits; `report` and the studio fit the directions
they need; `edit` and `video` fit only when asked (`--fit`), and otherwise name the command.
"""

from __future__ import annotations

from ..directions import DirectionSet, estimator_class, fit_directions, params_key
from ..errors import DirectionError
from ..models.generator import generator_for_run
from ..store import Run
from .tag import ensure_tags


def ensure_directions(run, method: str, space: str = "w", tags=None, tagger="demo", generator=None,
                      refit: bool = False, progress: bool = True, only: bool = False, fit: bool = True, **params):
    """The run's `method` directions: loaded from RUN/directions when present, else (with `fit`)
    fitted and saved; without `fit`, missing directions are a one-line DirectionError that names
    the `latentedit fit-directions` command.

    Returns (DirectionSet, path). Every tag that passes the filter is fitted, so the file serves
    later edits too; a requested tag that is unknown or was filtered out raises a TagError that
    says why. The file is keyed by `params` (`latentedit.directions.params_key`), so fits with other parameters
    sit side by side; a saved file is reused only when it covers `tags` and was fitted for this
    run's generator. With `only` (fit-directions --tags), exactly `tags` are fitted, into a file
    keyed by them, so the run's full set is not replaced by a partial one.
    """
    run = Run.open(run)
    if only and tags:
        params = {**params, "tags": sorted(set(tags))}
    key = params_key(method, params, space, run)
    path = run.directions_path(method, space, key)
    if path.exists() and not refit:
        try:
            ds = DirectionSet.load(path, generator_fingerprint=run.fingerprint)
        except DirectionError:
            ds = None
        if ds is not None and (tags is None or set(tags) <= set(ds.names) or not fit):
            return ds, path  # without `fit`, a tag the set lacks is explained where it is used
    if not fit:
        extra = "".join(f" --{k.replace('_', '-')} {v}" for k, v in sorted(params.items()) if k != "include")
        raise DirectionError(f"{run.path} has no {method} directions in {space}-space; fit them with "
                             f"latentedit fit-directions {run.path} --method {method} --space {space}{extra} "
                             f"(or edit with --fit)")
    with run.lock():  # one writer per run: tagging and saving directions are not interleaved with another
        needs = estimator_class(method)
        G = generator_for_run(run, generator) if needs.requires_generator else generator
        if needs.requires_labels:
            ensure_tags(run, tagger, progress=progress)
        ds = fit_directions(run, method, space=space, generator=G, **params)
        run.save_directions(ds, key)
        missing = [t for t in tags or () if t not in ds.names]
        if missing:
            fit_directions(run, method, space=space, tags=missing, generator=G, **params)  # raises why
    return ds, path
