"""`--keep auto`, `--layers auto`, `--per-sample`, `--hold`: an edit request's choices, measured.

`resolve_auto(session, run, req)` measures the requested edit on `DEFAULT_PROBE_SAMPLES` of the
run's own samples (picked with the request's seed), reading the tagger's scores of the decoded
before/after images (`probes.tagger_probe`), lets `editing.auto.choose` pick the layers and the
conditions, and returns the request with them filled in, plus the record of every trial and why
the choice fell where it did (edit.json's "auto").

In a request, `keep` may hold "auto" (next to explicit tags, which are kept from the start) and
`layers` may be "auto".

`per_face(session, run, req, content, codes, edit)` is `--per-sample` and `--hold`: each face
edited at the smallest multiple of the edit's strengths at which the tagger surely sees the added
tag (`editing.auto.per_sample`), and/or then stepped back along the tags the tagger sees the edit
moved on that face (`editing.auto.hold`). It returns each face's chain of edits (what its recipe
carries as steps) and the record of what was measured (edit.json's "per_face").
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..editing import Edit
from ..editing.auto import HOLD_FACTORS, PER_SAMPLE_FACTORS, choose, hold, per_sample
from ..errors import InputError
from .probes import (DEFAULT_PROBE_SAMPLES, PROBE_MARGIN, QUIET_SCORE, edit_label, exclusive_tags,
                     other_values, reached_score, run_probe_batch, tagger_moved, tagger_probe, tagger_reached)

__all__ = ["AUTO", "wants_auto", "explicit_tags", "resolve_auto", "hold_faces", "per_face"]

AUTO = "auto"


def wants_auto(req) -> bool:
    return AUTO in req.keep or req.layers == AUTO


def explicit_tags(tags) -> tuple:
    """The tags of `tags` other than "auto"."""
    return tuple(t for t in tags if t != AUTO)


def _layers_label(layers) -> str | None:
    if layers is None or isinstance(layers, str):
        return layers
    return ",".join(map(str, layers))


def _tagger(req, tagger=None):
    if tagger is not None:
        return tagger
    if isinstance(req.tagger, (str, Path)):
        from ..tagging import load_tagger  # TensorFlow: imported only here

        return load_tagger(req.tagger)
    return req.tagger


def resolve_auto(session, run, req, tagger=None):
    """(the request with its auto keep/layers chosen, the record of the choice)."""
    if run is None:
        raise InputError("--keep auto and --layers auto measure the edit on a run's own samples: give a RUN")
    if not run.has_tags():
        raise InputError(f"--keep auto and --layers auto need a tagged run; tag it first: latentedit tag {run.path}")
    tagger = _tagger(req, tagger)
    keep = explicit_tags(req.keep)
    layers = None if req.layers == AUTO else req.layers
    start = Edit.paired(req.add, req.sub, req.strength, req.sub_strength, layers, keep)
    content, codes = run_probe_batch(run, session.generator, session.directions.space, DEFAULT_PROBE_SAMPLES, req.seed)
    probe = tagger_probe(session, content, codes, tagger, run)
    chosen, choices = choose(session, start, probe, keep=AUTO in req.keep, layers=req.layers == AUTO)
    strengths = session.strengths(chosen)
    changed = strengths != session.strengths(start)
    new = replace(req, keep=chosen.keep, layers=chosen.layers, layers_label=_layers_label(chosen.layers),
                  strength=strengths[0] if changed else req.strength,
                  sub_strength=(-strengths[len(req.add)] if req.sub else None) if changed else req.sub_strength)
    record = {"asked": {"keep": list(req.keep), "layers": req.layers}, "chosen": chosen.to_dict(),
              "label": edit_label(chosen), "measured_on": {"run": str(run.path), "samples": len(codes),
                                                           "seed": req.seed, "by": f"tagger {req.tagger} (tags >= 0.5)"},
              "choices": [c.to_dict() for c in choices]}
    return new, record


def hold_faces(session, run, tagger, content, codes, edited, images, edit):
    """(`editing.auto.hold` of these edited faces, the tags it leaves alone): the tagger reads
    what moved against the unedited faces; the edit's own tags, and on a tagged run the tags
    exclusive with them (other values of the same attribute), are not corrected."""
    own = tuple(dict.fromkeys(t for t, _ in edit.terms))
    skip = set(own)
    if run is not None and run.has_tags():
        skip |= exclusive_tags(*run.tag_scores(), own)
    moved = tagger_moved(tagger, session, session.decode(content, codes), skip)
    return hold(session, content, edited, images, edit, moved, tagger_reached(tagger, edit, run)), skip


def per_face(session, run, req, content, codes, edit, tagger=None) -> tuple[list, dict]:
    """([chain of Edits per face], record): `req.per_sample` and/or `req.hold` on these faces.

    The tagger judges each face's own decode: the added tag is reached at a score >=
    `probes.reached_score(edit)` with the attribute's other values (`probes.other_values`) at most
    QUIET_SCORE;
    a tag moved when read surely (PROBE_MARGIN) the other way after than before. Tags of the
    edit, and (on a tagged run) tags exclusive with them, are not corrected.
    """
    tagger = _tagger(req, tagger)
    add = edit.add[0]
    if add not in tagger.tags:
        raise InputError(f"--per-sample and --hold read the added tag {add!r} with the tagger, which does not have it")
    base = session.strengths(edit)
    reached, quiet = tagger_reached(tagger, edit, run), other_values(edit, tagger, run)
    by = {"tagger": str(req.tagger) if isinstance(req.tagger, (str, Path)) else "in-memory",
          "reached": f"{add} score >= {reached_score(edit)}" + (f" with {', '.join(quiet)} <= {QUIET_SCORE}" if quiet else ""),
          "unsure_margin": PROBE_MARGIN}
    record = {"measured_by": by}
    if req.per_sample:
        each = per_sample(session, content, codes, edit, reached)
        chains = [[edit.with_strengths([s * float(f) for s in base])] for f in each.factors]
        edited, images = each.codes, each.images
        record["per_sample"] = {"factors_tried": list(PER_SAMPLE_FACTORS), **each.to_dict()}
    else:
        whole = edit.with_strengths(base)
        chains = [[whole] for _ in range(len(codes))]
        edited = session.apply(codes, whole)
        images = session.decode(content, edited)
        record["per_sample"] = None
    if req.hold:
        own = tuple(dict.fromkeys(t for t, _ in edit.terms))
        held, skip = hold_faces(session, run, tagger, content, codes, edited, images, edit)
        for chain, correction in zip(chains, held.corrections):
            if correction:
                chain.append(Edit(tuple(correction.items()), keep=own))
        record["hold"] = {"factors_tried": list(HOLD_FACTORS), "not_corrected": sorted(skip), **held.to_dict()}
    else:
        record["hold"] = None
    return chains, record
