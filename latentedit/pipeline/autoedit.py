"""`--keep auto` and `--layers auto`: an edit request's conditions and W+ layers, chosen on the run.

`resolve_auto(session, run, req)` measures the requested edit on `DEFAULT_PROBE_SAMPLES` of the
run's own samples (picked with the request's seed), reading the tagger's scores of the decoded
before/after images (`probes.tagger_probe`), lets `editing.auto.choose` pick the layers and the
conditions, and returns the request with them filled in, plus the record of every trial and why
the choice fell where it did (edit.json's "auto").

In a request, `keep` may hold "auto" (next to explicit tags, which are kept from the start) and
`layers` may be "auto".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..editing import Edit
from ..editing.auto import choose
from ..errors import InputError
from .probes import DEFAULT_PROBE_SAMPLES, edit_label, run_probe_batch, tagger_probe

__all__ = ["AUTO", "wants_auto", "explicit_tags", "resolve_auto"]

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


def resolve_auto(session, run, req, tagger=None):
    """(the request with its auto keep/layers chosen, the record of the choice)."""
    if run is None:
        raise InputError("--keep auto and --layers auto measure the edit on a run's own samples: give a RUN")
    if not run.has_tags():
        raise InputError(f"--keep auto and --layers auto need a tagged run; tag it first: latentedit tag {run.path}")
    if tagger is None:
        from ..tagging import load_tagger  # TensorFlow: imported only here

        tagger = load_tagger(req.tagger) if isinstance(req.tagger, (str, Path)) else req.tagger
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
