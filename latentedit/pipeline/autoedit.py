"""`--keep auto`, `--layers auto`, `--per-sample`, `--hold`: an edit's choices, measured, in one place.

`AutoOptions` says which of the four a request asks for; the edit itself stays an `EditSpec` or
`Edit` with no sentinel among its values. `auto_edit` is the one orchestration `latentedit edit`,
the report's modes and the studio share: it measures the edit with a probe (by default the
tagger's scores of decoded before/after images of `DEFAULT_PROBE_SAMPLES` of the run's own
samples, `probes.tagger_probe`), lets `editing.auto.choose` pick the layers and the conditions,
then fits the chosen edit to each given face: at the smallest multiple of its strengths at which
the tagger surely sees the added tag (`editing.auto.per_sample`), and/or stepped back along the
tags the tagger sees the edit moved on that face (`editing.auto.hold`). It returns an
`AutoResult`: the edit, each face's chain of edits (what its recipe carries as steps), the images
and the records edit.json keeps ("auto", "per_face").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..editing import Edit
from ..editing.auto import HOLD_FACTORS, PER_SAMPLE_FACTORS, AutoOptions, Held, PerSample, choose, hold, per_sample
from ..errors import InputError
from .probes import (DEFAULT_PROBE_SAMPLES, PROBE_MARGIN, QUIET_SCORE, edit_label, exclusive_tags,
                     other_values, reached_score, run_probe_batch, tagger_moved, tagger_probe, tagger_reached)

__all__ = ["AutoOptions", "AutoResult", "auto_edit"]


def tagger_of(tagger):
    """A loaded tagger: `tagger` itself, or the one `latentedit.tagging.load_tagger` loads from a name or path."""
    if isinstance(tagger, (str, Path)):
        from ..tagging import load_tagger  # TensorFlow: imported only here

        return load_tagger(tagger)
    return tagger


def _by(tagger) -> str:
    return str(tagger) if isinstance(tagger, (str, Path)) else "in-memory"


@dataclass
class AutoResult:
    """What `auto_edit` chose and made. edit: the edit, its layers and conditions chosen when asked;
    choices: the record of each choice (`editing.auto.Choice`). Per face, when faces were given:
    chains (its edits, in order: what its recipe carries as steps), codes and images (its edited
    code and decode), each
    (`auto.PerSample`) and held (`auto.Held`). record: edit.json's "auto" and "per_face"."""

    edit: Edit
    choices: list = field(default_factory=list)
    chains: list | None = None
    codes: np.ndarray | None = None
    images: np.ndarray | None = None
    each: PerSample | None = None
    held: Held | None = None
    record: dict = field(default_factory=dict)


def auto_edit(session, edit, auto: AutoOptions, *, tagger="demo", run=None, probe=None, faces=None,
              seed: int = 0, before=None) -> AutoResult:
    """The one orchestration of `auto` for `latentedit edit`, the report's modes and the studio.

    edit: an EditSpec or Edit (resolved by the session). Layers and conditions are chosen with
    `probe` (`editing.auto.choose`'s callback; default: the tagger on DEFAULT_PROBE_SAMPLES of the
    run's samples picked with `seed`). With faces = (content, codes), per_sample and/or hold fit
    the chosen edit to each face: the tagger judges each face's own decode (the added tag reached
    at a score >= `probes.reached_score` with the attribute's other values at most QUIET_SCORE; a
    tag moved when read surely, by PROBE_MARGIN, the other way after than before). Tags of the
    edit, and on a tagged run the tags exclusive with them, are not corrected. `before`: the faces'
    unedited decodes when the caller has them (the report's batch), not decoded again.
    """
    out = AutoResult(session.resolve(edit))
    if auto.layers and "w+" not in session.generator.spaces:
        raise InputError(f"a {session.generator.kind} generator has one code per face, no W+ layers to choose; "
                         "drop --layers auto")
    fits = auto.per_face and faces is not None
    if not (auto.chooses or fits):
        return out
    by, tagger = _by(tagger), tagger_of(tagger)  # TensorFlow for DeepDanbooru: loaded only when measuring
    if auto.chooses:
        measured_on = {}
        if probe is None:
            if run is None:
                raise InputError("--keep auto and --layers auto measure the edit on a run's own samples: give a RUN")
            if not run.has_tags():
                raise InputError(f"--keep auto and --layers auto need a tagged run; tag it first: latentedit tag {run.path}")
            content, codes = run_probe_batch(run, session.generator, session.directions.space, DEFAULT_PROBE_SAMPLES,
                                             seed)
            probe = tagger_probe(session, content, codes, tagger, run)
            measured_on = {"run": str(run.path), "samples": len(codes), "seed": seed}
        asked = out.edit
        out.edit, out.choices = choose(session, asked, probe, keep=auto.keep, layers=auto.layers,
                                       strength=auto.strength)
        layers = session.layers_spec(out.edit.layers)
        out.record["auto"] = {
            "asked": {"keep": list(asked.keep) + ["auto"] * auto.keep,
                      "layers": "auto" if auto.layers else _plain(session.layers_spec(asked.layers))},
            "chosen": {**out.edit.to_dict(), "layers": _plain(layers)}, "label": edit_label(out.edit, session),
            "measured_on": {**measured_on, "by": f"tagger {by} (tags at its own thresholds)"},
            "choices": [c.to_dict() for c in out.choices]}
    if not fits:
        return out
    edit, (content, codes) = out.edit, faces
    add = edit.add[0]
    if add not in tagger.tags:
        raise InputError(f"--per-sample and --hold read the added tag {add!r} with the tagger, which does not have it")
    reached, quiet = tagger_reached(tagger, edit, run), other_values(edit, tagger, run)
    record = out.record["per_face"] = {"measured_by": {
        "tagger": by, "unsure_margin": PROBE_MARGIN,
        "reached": f"{add} score >= {reached_score(edit)}" + (f" with {', '.join(quiet)} <= {QUIET_SCORE}" if quiet else "")}}
    if auto.per_sample:
        out.each = per_sample(session, content, codes, edit, reached, before=before)
        out.chains = [[edit.scaled(f)] for f in out.each.factors]
        edited, out.images = out.each.codes, out.each.images
        record["per_sample"] = {"factors_tried": list(PER_SAMPLE_FACTORS), **out.each.to_dict()}
    else:
        out.chains = [[edit] for _ in range(len(codes))]
        edited = session.apply(codes, edit)
        out.images = session.decode(content, edited)
        record["per_sample"] = None
    record["hold"] = None
    if auto.hold:
        own = tuple(dict.fromkeys(t for t, _ in edit.terms))
        skip = set(own) | (exclusive_tags(*run.tag_scores(), own) if run is not None and run.has_tags() else set())
        moved = tagger_moved(tagger, session, session.decode(content, codes) if before is None else before, skip)
        out.held = hold(session, content, edited, out.images, edit, moved, reached)
        for chain, correction in zip(out.chains, out.held.corrections):
            if correction:
                chain.append(Edit(tuple(correction.items()), keep=own))
        edited, out.images = out.held.codes, out.held.images
        record["hold"] = {"factors_tried": list(HOLD_FACTORS), "not_corrected": sorted(skip), **out.held.to_dict()}
    out.codes = edited
    return out


def _plain(layers):
    return list(layers) if isinstance(layers, tuple) else layers
