"""Direction files keyed by the parameters of their fit, so fits with other parameters sit side by side.

`fit_directions(run, method, space, **params)` belongs in RUN/directions/ under

    <method>-<space>.npz          default parameters           e.g. svd-w.npz
    <method>-<space>-<key>.npz    any other parameters         e.g. lasso-w-alpha=0.0003.npz

The key lists the parameters that differ from what `fit_directions` would use on that run (the
estimator's defaults, its `defaults_for` the run, and the filter options threshold, min_count,
max_count, include, exclude; tags for a fit of named tags only), sorted by name, as name=value
joined by ",". `n_jobs` never changes a fit and is left out. Values are written as Python writes numbers, true/false/none, or a plain word
(a letter, then letters, digits, "_" or "."); any other value (a list, other strings), or a key
longer than MAX_READABLE characters, turns the whole key into "h" + 10 hex digits of a hash of
the parameters' JSON (GANSpace names its files the same way). The parameters themselves are
recorded in the file.
"""

import hashlib
import inspect
import json
import re

from latentedit.directions.base import json_default
from latentedit.directions.fit import check_params, fit_directions, run_defaults

# fit_directions' filter options (they change which tags are fitted) and their defaults there.
FILTER_DEFAULTS = {name: inspect.signature(fit_directions).parameters[name].default
                   for name in ("tags", "threshold", "min_count", "max_count", "include", "exclude")}
NEUTRAL = ("n_jobs",)
MAX_READABLE = 60
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")


def _plain(value):
    """`value` as JSON would read it back: tuples -> lists, numpy scalars -> Python numbers."""
    return json.loads(json.dumps(value, sort_keys=True, default=json_default))


def non_default_params(method: str, params=None, space: str = "w", run=None) -> dict:
    """The entries of `params` (estimator parameters and filter options) that change the fit."""
    params = dict(params or {})
    options = {k: params.pop(k) for k in list(params) if k in FILTER_DEFAULTS}
    check_params(method, params)
    defaults = {**run_defaults(method, space, run), **FILTER_DEFAULTS}
    return {k: v for k, v in sorted({**params, **options}.items())
            if k not in NEUTRAL and _plain(v) != _plain(defaults[k])}


def _readable(value) -> str | None:
    value = _plain(value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and _WORD.fullmatch(value) and value not in ("none", "true", "false"):
        return value
    return None


def params_key(method: str, params=None, space: str = "w", run=None) -> str:
    """"" for the default fit of `method` on `run`, else a short key of its non-default parameters."""
    changed = non_default_params(method, params, space, run)
    if not changed:
        return ""
    parts = {k: _readable(v) for k, v in changed.items()}
    key = ",".join(f"{k}={v}" for k, v in parts.items())
    if None not in parts.values() and len(key) <= MAX_READABLE:
        return key
    text = json.dumps(_plain(changed), sort_keys=True, separators=(",", ":"))
    return "h" + hashlib.sha256(text.encode()).hexdigest()[:10]


def direction_file_name(method: str, space: str = "w", params=None, run=None) -> str:
    """File name of `method`'s directions in `space` fitted with `params` on `run` (see module doc)."""
    key = params_key(method, params, space, run)
    return f"{method}-{space}-{key}.npz" if key else f"{method}-{space}.npz"
