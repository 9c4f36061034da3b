"""`--keep auto`, `--layers auto`, `--per-sample`, `--hold`: an edit's choices, measured.

`AutoOptions` says which of the four a request asks for; the edit itself stays an `EditSpec`
with no sentinel among its values. `choose_edit(session, run, spec, auto, seed)` measures the
spec on `DEFAULT_PROBE_SAMPLES` of the run's own samples (picked with `seed`), reading the
tagger's scores of the decoded before/after images (`probes.tagger_probe`), lets
`editing.auto.choose` pick the layers and the conditions, and returns the chosen `Edit` with the
record of every trial and why the choice fell where it did (edit.json's "auto").

`per_face(session, run, auto, content, codes, edit)` is `--per-sample` and `--hold`: each face
edited at the smallest multiple of the edit's strengths at which the tagger surely sees the added
tag (`editing.auto.per_sample`), and/or then stepped back along the tags the tagger sees the edit
moved on that face (`editing.auto.hold`). It returns each face's chain of edits (what its recipe
carries as steps) and the record of what was measured (edit.json's "per_face").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..editing import Edit
from ..editing.auto import HOLD_FACTORS, PER_SAMPLE_FACTORS, choose, hold, per_sample
from ..errors import InputError
from .probes import (DEFAULT_PROBE_SAMPLES, PROBE_MARGIN, QUIET_SCORE, edit_label, exclusive_tags,
                     other_values, reached_score, run_probe_batch, tagger_moved, tagger_probe, tagger_reached)

__all__ = ["AutoOptions", "choose_edit", "hold_faces", "per_face"]


@dataclass(frozen=True)
class AutoOptions:
    """What to choose by measuring: keep (the conditions), layers (the W+ range), per_sample (each
    face's multiple of the strengths), hold (each face's correction)."""

    keep: bool = False
    layers: bool = False
    per_sample: bool = False
    hold: bool = False

    @property
    def chooses(self) -> bool:
        return self.keep or self.layers

    @property
    def per_face(self) -> bool:
        return self.per_sample or self.hold

    def flags(self) -> str:
        """'--per-sample and --hold' (those asked), for messages."""
        return " and ".join(f for f, on in (("--per-sample", self.per_sample), ("--hold", self.hold)) if on)


def _tagger(tagger):
    if isinstance(tagger, (str, Path)):
        from ..tagging import load_tagger  # TensorFlow: imported only here

        return load_tagger(tagger)
    return tagger


def _by(tagger) -> str:
    return str(tagger) if isinstance(tagger, (str, Path)) else "in-memory"


def choose_edit(session, run, spec, auto: AutoOptions, seed: int = 0, tagger="demo") -> tuple[Edit, dict | None]:
    """(the resolved edit, with its layers and/or conditions chosen on the run when `auto` asks, the
    record of the choice or None)."""
    edit = session.resolve(spec)
    if not auto.chooses:
        return edit, None
    if run is None:
        raise InputError("--keep auto and --layers auto measure the edit on a run's own samples: give a RUN")
    if not run.has_tags():
        raise InputError(f"--keep auto and --layers auto need a tagged run; tag it first: latentedit tag {run.path}")
    content, codes = run_probe_batch(run, session.generator, session.directions.space, DEFAULT_PROBE_SAMPLES, seed)
    probe = tagger_probe(session, content, codes, _tagger(tagger), run)
    chosen, choices = choose(session, edit, probe, keep=auto.keep, layers=auto.layers)
    layers = session.layers_spec(chosen.layers)
    record = {"asked": {"keep": list(spec.keep) + ["auto"] * auto.keep, "layers": "auto" if auto.layers else spec.layers},
              "chosen": {**chosen.to_dict(), "layers": list(layers) if isinstance(layers, tuple) else layers},
              "label": edit_label(chosen), "measured_on": {"run": str(run.path), "samples": len(codes),
                                                           "seed": seed, "by": f"tagger {_by(tagger)} (tags >= 0.5)"},
              "choices": [c.to_dict() for c in choices]}
    return chosen, record


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


def per_face(session, run, auto: AutoOptions, content, codes, edit: Edit, tagger="demo") -> tuple[list, dict]:
    """([chain of Edits per face], record): `auto.per_sample` and/or `auto.hold` on these faces.

    The tagger judges each face's own decode: the added tag is reached at a score >=
    `probes.reached_score(edit)` with the attribute's other values (`probes.other_values`) at most
    QUIET_SCORE; a tag moved when read surely (PROBE_MARGIN) the other way after than before. Tags
    of the edit, and (on a tagged run) tags exclusive with them, are not corrected.
    """
    by, tagger = _by(tagger), _tagger(tagger)
    add = edit.add[0]
    if add not in tagger.tags:
        raise InputError(f"--per-sample and --hold read the added tag {add!r} with the tagger, which does not have it")
    reached, quiet = tagger_reached(tagger, edit, run), other_values(edit, tagger, run)
    record = {"measured_by": {
        "tagger": by, "unsure_margin": PROBE_MARGIN,
        "reached": f"{add} score >= {reached_score(edit)}" + (f" with {', '.join(quiet)} <= {QUIET_SCORE}" if quiet else "")}}
    if auto.per_sample:
        each = per_sample(session, content, codes, edit, reached)
        chains = [[edit.scaled(f)] for f in each.factors]
        edited, images = each.codes, each.images
        record["per_sample"] = {"factors_tried": list(PER_SAMPLE_FACTORS), **each.to_dict()}
    else:
        chains = [[edit] for _ in range(len(codes))]
        edited = session.apply(codes, edit)
        images = session.decode(content, edited)
        record["per_sample"] = None
    if auto.hold:
        own = tuple(dict.fromkeys(t for t, _ in edit.terms))
        held, skip = hold_faces(session, run, tagger, content, codes, edited, images, edit)
        for chain, correction in zip(chains, held.corrections):
            if correction:
                chain.append(Edit(tuple(correction.items()), keep=own))
        record["hold"] = {"factors_tried": list(HOLD_FACTORS), "not_corrected": sorted(skip), **held.to_dict()}
    else:
        record["hold"] = None
    return chains, record
