"""The report's side-effect tables and latentedit's modes, measured on the report's batch
(choosing the best of them is `reporting.verdict`). Stages, after the per-method evaluation:

    side_effects:<m>   `scoring.sideeffects` tables of method m's pair edits from each source the run
                       has: "ground truth" (demo world: every attribute, read off the pixels by
                       `world.batch_readout`), "tagger tags" (thresholded scores: the tags shown by at
                       least MIN_TAG_SHARE of the images) and "re-scorer" (its attributes)
    modes              per edit, each of `reporting.verdict.MODES` on the method that did best as the
                       thesis edits, chosen with the tagger on the run's own samples and fitted to
                       each face by `pipeline.autoedit.auto_edit`, as `latentedit edit` does (z modes
                       on `z_method`'s method)
    controls           demo world: the reader's reliability on the unedited batch, and on every
                       ground-truth row (methods and modes) the null-edit floor (`null_control`) and
                       the colour drift (`BatchReader.colour_drift`)
"""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import torch

from ..directions import METHODS
from ..editing import EditSession, EditSpec
from ..errors import TagError
from ..reporting.schema import EditModes, EffectRow as Row, ModeResult, PairEdit, Rate as SchemaRate, \
    SideEffectTable as Table
from ..reporting.verdict import MODES, best_source, csv_text, mode_command, ranked_methods, verdicts
from ..scoring.controls import any_other_changed, null_codes, reliability
from ..scoring.sideeffects import SideEffectTable, edit_effects, rate, side_effect_table, tag_reads
from ..stats import TAG_THRESHOLD
from ..world.batch_readout import ATTRIBUTES as TRUE_ATTRIBUTES, changes as true_changes, drift_summary
from ..world.readout import tag_attribute
from .autoedit import auto_edit
from .pair_edits import directions_for
from .probes import DEFAULT_PROBE_SAMPLES, edit_label, exclusive_tags, run_probe_batch, tagger_probe, thresholds_of

MIN_TAG_SHARE = 0.02   # tagger tags shown by fewer of the before/after images are left out of its table
Z_METHOD = "linear"  # the z modes' method when the verdict's cannot name its directions in z (sefa, pca)


def _true_target(add: str):
    try:
        return tag_attribute(add)
    except TagError:  # a tag the demo world does not define
        return None


def _tag_target(e: PairEdit, names) -> tuple | None:
    """What a tag-level table checks: the added tag shows up, or else the subtracted tag goes away."""
    if e.add[0] in names:
        return e.add[0], 1
    if e.sub and e.sub[0] in names:
        return e.sub[0], 0
    return None


def _tag_table(source: str, before_scores, afters: dict, tags, edits: dict, keep=None, related=None,
               threshold=TAG_THRESHOLD) -> SideEffectTable:
    """A side-effect table over scores thresholded at `threshold` (one, or one per tag); `keep` limits
    the tags (default: all).

    related(PairEdit) -> tags that name other values of the edit's attributes (not side effects:
    `probes.exclusive_tags`); they are left out of that edit's row.
    """
    before = tag_reads(before_scores, tags, threshold)
    names = list(tags) if keep is None else [t for t in tags if t in keep]
    rows = []
    for name, a in afters.items():
        after, e = tag_reads(a, tags, threshold), edits[name]
        target = _tag_target(e, names)
        skip = set(related(e)) if related is not None else set()
        shown = [t for t in names if t not in skip or (target and t == target[0])]
        rows.append(edit_effects(name, before, after, target, attributes=shown))
    return SideEffectTable(source, names, rows)


def shown_tags(before_scores, afters: dict, tags, edits: dict, share: float = MIN_TAG_SHARE,
               threshold=TAG_THRESHOLD) -> list:
    """Tags shown (>= threshold) by at least `share` of the before or of some after images, and the edits' tags."""
    on = [np.asarray(before_scores) >= threshold] + [np.asarray(a) >= threshold for a in afters.values()]
    frequent = {t for k, t in enumerate(tags) if any(x[:, k].mean() >= share for x in on)}
    own = {t for e in edits.values() for t in e.add + e.sub}
    return [t for t in tags if t in frequent or t in own]


def related_tags(ctx):
    """related(PairEdit) -> tags exclusive with the edit's tags in the run's tags (none untagged)."""
    if not ctx.run.has_tags():
        return lambda e: set()
    scores, vocab = ctx.run.tag_scores()
    return lambda e: exclusive_tags(scores, vocab, e.add + e.sub)


def side_effects(ctx, method: str) -> dict[str, Table]:
    """{source: SideEffectTable} of method's pair edits on the report's batch (every source it has)."""
    edits, images = ctx.report.methods[method].edits, ctx.images[method]
    out = {}
    if ctx.read_before is not None:
        afters = {name: ctx.reads[method][name] for name in images}
        out["ground truth"] = side_effect_table(
            "ground truth", ctx.read_before, afters, {n: _true_target(e.add[0]) for n, e in edits.items()},
            true_changes, TRUE_ATTRIBUTES, notes={"readout": "latentedit.world.batch_readout (joint pixel readout)"})
    tagger = tagger_of(ctx)
    if tagger is not None:
        if ctx.tagger_before is None:
            ctx.tagger_before = tagger.score(ctx.before)
        afters = {name: tagger.score(after) for name, (_, after) in images.items()}
        th = thresholds_of(tagger)
        keep = shown_tags(ctx.tagger_before, afters, tagger.tags, edits, threshold=th)
        out["tagger tags"] = _tag_table("tagger tags", ctx.tagger_before, afters, list(tagger.tags), edits, keep,
                                        related_tags(ctx), th)
        out["tagger tags"].notes["tagger"] = str(ctx.req.tagger)
    if method in ctx.rescored:
        r = ctx.rescored[method]
        before = next(iter(r.scores.values()))[0]
        out["re-scorer"] = _tag_table("re-scorer", before, {n: a for n, (_, a) in r.scores.items()}, r.columns, edits,
                                      related=related_tags(ctx))
    return {s: Table.model_validate(t.to_dict()) for s, t in out.items()}


def tagger_of(ctx):
    """The report's tagger, loaded once (None when it cannot be loaded; the reason is in the report)."""
    if ctx.tagger is None and ctx.report.tagger_error is None:
        from ..tagging import load_tagger  # TensorFlow: imported only here

        try:
            ctx.tagger = load_tagger(ctx.req.tagger) if isinstance(ctx.req.tagger, str) else ctx.req.tagger
        except Exception as e:  # noqa: BLE001 - the report goes on without the tagger's tables
            ctx.report.tagger_error = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return ctx.tagger


def evaluate_modes(ctx) -> dict[str, EditModes]:
    """Per pair edit, each of MODES on the method whose thesis edit did best; every row measured like the
    others. Keeps the images in ctx.mode_images[edit name][mode]."""
    source, tagger = best_source(ctx.report), tagger_of(ctx)
    if tagger is None:
        raise TagError("the modes choose with the tagger, which could not be loaded: " + (ctx.report.tagger_error or ""))
    out, probes = {}, {}

    def probe_of(method: str, space: str):
        """The tagger's probe of `method`'s directions in `space` (loaded, or fitted, once)."""
        if (method, space) not in probes:
            ds = ctx.sets[method] if space == "w" else directions_for(ctx.G, ctx.run, method, ctx.req.pairs,
                                                                       ctx.req.tagger, ctx.req.seed, space="z")[0]
            session = EditSession(ctx.G, ds, device=next(ctx.G.parameters()).device, batch_size=32, run=ctx.run)
            content, codes = run_probe_batch(ctx.run, ctx.G, space, DEFAULT_PROBE_SAMPLES, ctx.req.seed)
            probes[method, space] = tagger_probe(session, content, codes, tagger, ctx.run)
        return probes[method, space]

    for name in next(r.edits for r in ctx.report.methods.values() if r.edits):
        ranked = ranked_methods(ctx.report, source, name)
        if not ranked:
            continue
        e = ctx.report.methods[ranked[0]].edits[name]
        # one auto_edit per choice made: modes that differ only in per sample / hold share its faces
        union, made, rows = {}, {}, {}
        modes = {n: m for n, m in MODES.items() if not m.layers or "w+" in ctx.G.spaces}  # W+ layers to choose
        for mode in modes.values():
            key = (mode.space, mode.keep, mode.layers)
            u = union.get(key, mode)
            union[key] = replace(u, per_sample=u.per_sample or mode.per_sample, hold=u.hold or mode.hold)
        for mode_name, mode in modes.items():
            method = ranked[0] if mode.space == "w" else z_method(ranked[0])
            probe, key = probe_of(method, mode.space), (mode.space, mode.keep, mode.layers)
            session, codes = probe.session, ctx.batch.z if mode.space == "z" else ctx.batch.w
            if key not in made:
                made[key] = auto_edit(session, EditSpec.paired(e.add, e.sub), union[key], tagger=tagger, run=ctx.run,
                                      probe=probe, faces=(ctx.batch.content, codes), before=ctx.before)
            result = made[key]
            chosen, extra = result.edit, {}
            if mode.hold:  # each face at its multiple, then stepped back along the tags the tagger sees moved
                after, extra = result.held.images, {"per_sample": result.each.to_dict(), "hold": result.held.to_dict()}
                edited = result.held.codes
            elif mode.per_sample:  # each face at the smallest multiple at which the tagger sees the added tag
                after, extra = result.each.images, {"per_sample": result.each.to_dict()}
                edited = result.each.codes
            else:
                edited = session.apply(codes, chosen)
                after = session.decode(ctx.batch.content, edited)
            ctx.mode_images.setdefault(name, {})[mode_name] = after
            ctx.mode_codes.setdefault(name, {})[mode_name] = (
                _numpy(codes), _numpy(edited), _directions(session.directions, e),
                lambda x, s=session: s.decode(ctx.batch.content, x))
            rows[mode_name] = ModeResult(
                method=method, space=mode.space, edit=chosen.to_dict(), label=edit_label(chosen, session),
                command=mode_command(ctx.run.path, e.add, e.sub, method, mode, ctx.req.seed),
                strengths=[float(s) for s in chosen.strengths], choices=[c.to_dict() for c in result.choices],
                tables=_mode_tables(ctx, name, e, after), **extra)
        out[name] = EditModes(method=ranked[0], source=source, rows=rows)
    return out


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)


def _directions(ds, e: PairEdit) -> np.ndarray:
    """(M, D): the directions of a pair edit's tags in a direction set."""
    return np.stack([ds.vector(t) for t in e.add + e.sub])


def null_control(ctx, target, codes, edited, directions, decode) -> dict:
    """The null-edit floor of one edit: {"floor": {attribute: Rate}, "floor_any": Rate} (as dicts):
    how often each attribute (and any but `target`) changes along random directions orthogonal to
    the edit's `directions`, with each face's step length (`controls.null_codes`, ctx.req.null_draws
    draws seeded with the report's seed); decode(codes) -> images, read like the edit's."""
    read = ctx.reader.read(decode(null_codes(codes, edited, directions, ctx.req.null_draws, ctx.req.seed)))
    changed = true_changes(ctx.read_before, read)
    return {"floor": {a: rate(changed[a]).to_dict() for a in TRUE_ATTRIBUTES},
            "floor_any": any_other_changed(ctx.read_before, read, (target,))[1].to_dict()}


def _controlled(ctx, row: Row, after, codes, edited, directions, decode) -> Row:
    """A ground-truth row with its colour drift and (ctx.req.null_draws > 0) its null-edit floor."""
    extra = {"drift": drift_summary(ctx.reader.colour_drift(ctx.before, after))}
    if ctx.req.null_draws:
        extra.update(null_control(ctx, row.target, codes, edited, directions, decode))
    return Row.model_validate({**row.model_dump(), **extra})


def controls(ctx) -> None:
    """Stage controls: the reader's reliability, and every ground-truth row's floor and drift."""
    report, w = ctx.report, _numpy(ctx.batch.w)
    report.reliability = {a: SchemaRate.model_validate(r.to_dict())
                          for a, r in reliability(ctx.read_before, ctx.batch.z).items()}
    for method, result in report.methods.items():
        table = result.side_effects.get("ground truth")
        if table is None:
            continue
        for i, row in enumerate(table.rows):
            e, edit = result.edits[row.edit], ctx.edits[method][row.edit]
            table.rows[i] = _controlled(ctx, row, ctx.images[method][row.edit][1], w, _numpy(edit.apply(w)),
                                        _directions(ctx.sets[method], e),
                                        lambda x: ctx.batch.decode(ctx.G, torch.from_numpy(x)))
    for name, modes in report.modes.items():
        for mode, r in modes.rows.items():
            if "ground truth" in r.tables:
                r.tables["ground truth"] = _controlled(ctx, r.tables["ground truth"], ctx.mode_images[name][mode],
                                                       *ctx.mode_codes[name][mode])


def z_method(method: str) -> str:
    """The method of a z mode: `method` when it fits directions in z that name their tags (what
    `--keep` conditions on), else Z_METHOD."""
    cls = METHODS[method]
    return method if cls.requires_labels and "z" in cls.spaces else Z_METHOD


def _mode_tables(ctx, name: str, e: PairEdit, after) -> dict:
    """{source: EffectRow} of one mode's images, from the same sources as the methods' tables."""
    tables = {}
    if ctx.read_before is not None:
        tables["ground truth"] = side_effect_table("ground truth", ctx.read_before, {name: ctx.reader.read(after)},
                                                   {name: _true_target(e.add[0])}, true_changes, TRUE_ATTRIBUTES)
    if ctx.tagger is not None and ctx.tagger_before is not None:
        scores = ctx.tagger.score(after)
        th = thresholds_of(ctx.tagger)
        keep = shown_tags(ctx.tagger_before, {name: scores}, ctx.tagger.tags, {name: e}, threshold=th)
        tables["tagger tags"] = _tag_table("tagger tags", ctx.tagger_before, {name: scores}, list(ctx.tagger.tags),
                                           {name: e}, keep, related_tags(ctx), th)
    if ctx.scorer is not None:
        tables["re-scorer"] = _tag_table("re-scorer", ctx.scorer.predict(ctx.before), {name: ctx.scorer.predict(after)},
                                         list(ctx.scorer.attributes), {name: e}, related=related_tags(ctx))
    return {s: t.rows[0].to_dict() for s, t in tables.items()}


def run_stages(ctx) -> None:
    """The report's stages side_effects:<m> (each method with edits), modes and verdict."""
    stage, report = ctx.stage, ctx.report
    for method in ctx.req.methods:
        if method not in ctx.images:
            stage.skip(f"side_effects:{method}", "the edits failed")
            continue
        with stage(f"side_effects:{method}"):
            report.methods[method].side_effects = side_effects(ctx, method)
    if not ctx.req.modes:
        stage.skip("modes", "not asked (modes=False)")
    elif not any(r.side_effects for r in report.methods.values()):
        stage.skip("modes", "no side-effect table")
    else:
        with stage("modes"):
            report.modes = evaluate_modes(ctx)
    if ctx.read_before is None:
        stage.skip("controls", "only demo-world runs have a ground truth")
    else:
        with stage("controls"):
            controls(ctx)
    with stage("verdict"):
        report.verdict = verdicts(report)


def side_effect_csv(report) -> dict:
    """{"side-effects.csv": every table row of every method, source and mode, long format}."""
    tables = [(m, "thesis", t) for m, r in report.methods.items() for t in r.side_effects.values()]
    tables += [(r.method, mode, Table(source=s, attributes=[], rows=[row])) for m in report.modes.values()
               for mode, r in m.rows.items() for s, row in r.tables.items()]
    rows = [[method, mode, *line] for method, mode, t in tables
            for line in csv.reader(SideEffectTable.from_dict(t.model_dump()).to_csv().splitlines()[1:])]
    header = ["method", "mode", "source", "edit", "attribute", "kind", "rate", "std", "ci95_low", "ci95_high",
              "count", "n"]
    return {"side-effects.csv": csv_text(header, rows)} if rows else {}


def best_images(ctx, name: str, best):
    """The after images of a verdict's best candidate (thesis edit of a method, or a mode)."""
    return ctx.images[best.method][name][1] if best.mode == "thesis" else ctx.mode_images[name][best.mode]
