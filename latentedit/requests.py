"""Request and config dataclasses in place of long keyword lists: build one from a request and/or keywords."""

from __future__ import annotations

import dataclasses

from .errors import InputError, unknown_name_message


def make_request(cls, request=None, options: dict | None = None):
    """`request` (default: `cls()`) with the fields in `options` replaced.

    Lets every stage be called as `stage(..., cls(...))` or `stage(..., field=value)`; an unknown
    keyword is a one-line InputError naming the closest field.
    """
    options = options or {}
    names = [f.name for f in dataclasses.fields(cls)]
    for key in options:
        if key not in names:
            raise InputError(unknown_name_message(f"{cls.__name__} field", key, names))
    if request is not None and not isinstance(request, cls):
        raise InputError(f"expected a {cls.__name__}, got {type(request).__name__}")
    base = cls() if request is None else request
    return dataclasses.replace(base, **options) if options else base
