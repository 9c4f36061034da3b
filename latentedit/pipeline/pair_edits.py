"""The report's pair edits: each method's directions for every (add, sub) pair, and the edits
themselves at the method's default strengths (`pair_edits`), as callables on w."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..directions import fit_directions
from ..editing import UNNAMED_METHODS, EditSession, EditSpec, with_spread
from ..errors import LatentEditError
from ..scoring.rescore import edit_name
from .edit import load_directions_for


def pair_tags(pairs) -> list[str]:
    return list(dict.fromkeys(t for pair in pairs for t in pair if t))


def directions_for(G, run, method: str, pairs, tagger="demo", seed: int = 0, space: str = "w"):
    """The run's directions for `method` in `space` (fitted and saved when missing), covering every pair tag.

    Supervised tags that the run's tag filter drops (e.g. closed_mouth, on most images) are fitted
    in memory with `include`, as `latentedit.scoring.demo.measure_edits` does; the note says so.
    """
    tags = pair_tags(pairs)
    if method in UNNAMED_METHODS:
        ds, path = load_directions_for(G, run, method, space, tags=tags, tagger=tagger, seed=seed)
        return ds, {"path": str(path) if path else None, "labelled_from": ds.params.get("labelled_from")}
    ds, path = load_directions_for(G, run, method, space, tagger=tagger, seed=seed)
    missing = [t for t in tags if t not in ds.names]
    info = {"path": str(path) if path else None}
    if missing:
        vocab = run.tag_vocab()["tags"]
        ds = with_spread(fit_directions(run, method, space=space, generator=G, include=[t for t in tags if t in vocab]),
                         run.codes()[space])
        info["note"] = (f"{', '.join(missing)} not in the saved directions (dropped by the tag filter); "
                        "refitted in memory with include= for this report")
    return ds, info


@dataclass
class PairEdit:
    """One pair edit of one method at the method's default strengths (A, B)."""

    name: str
    add: str
    sub: str | None
    apply: Callable  # (w, factor=1.0) -> w + factor * (A n(add) - B n(sub))
    record: dict


def pair_edits(G, ds, pairs, failed: dict | None = None) -> dict[str, PairEdit]:
    """{edit name: PairEdit} for every (add, sub) pair; names come from the edit itself.

    With `failed` (a dict), a pair that cannot be edited (a tag these directions lack) is recorded
    there as {edit name: error} and the other pairs are still made; without it, it raises.
    """
    session = EditSession(G, ds, device=next(G.parameters()).device, batch_size=32)
    out = {}
    for add, sub in pairs:
        subs = [sub] if sub else []
        try:
            edit = session.resolve(EditSpec.paired([add], subs))
        except LatentEditError as e:
            if failed is None:
                raise
            failed[edit_name(add, subs)] = f"{type(e).__name__}: {e}"
            continue

        def apply(w, factor=1.0, edit=edit):
            return session.apply(w, edit.scaled(factor))

        name = edit_name(add, subs)
        out[name] = PairEdit(name, add, sub, apply, {"add": [add], "sub": subs, "strength": float(edit.strengths[0]),
                                                     "sub_strength": float(-edit.strengths[1]) if subs else 0.0})
    return out
