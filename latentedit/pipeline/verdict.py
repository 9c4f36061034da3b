"""The report's verdict: side-effect tables of every edit, the new modes, and the best per edit.

Stages the report (`pipeline.report`) runs after its per-method evaluation:

    side_effects:<m>   `scoring.sideeffects` tables of every pair edit of method m, from each source
                       the run has: "ground truth" (demo world: every attribute the world defines,
                       read off the pixels by `world.batch_readout`), "tagger tags" (the tagger's
                       thresholded scores of the same before/after images: the tags shown by at
                       least MIN_TAG_SHARE of them) and "re-scorer" (its three attributes)
    modes              per edit, latentedit's modes on the method that did best as the thesis edits
                       (layers auto, keep auto, both: `editing.auto`, chosen with the tagger on the
                       run's own samples; and both with each face at the smallest strength multiple
                       at which the tagger sees the added tag (`probes.tagger_reached`):
                       `auto.per_sample`; and that, with
                       each face stepped back along the tags the tagger sees moved: `auto.hold`;
                       and keep auto per sample on directions fitted in z, where the conditions
                       can hold smile while the mouth opens: `Z_METHOD` when the method cannot
                       name its directions in z), measured on the report's batch like every other row
    verdict            per edit, the best method or mode: success among the samples that could
                       change, the worst side effect, whether the goal is met, and the
                       `latentedit edit` command that makes that edit (`mode_command`)

`best_source(doc)` is "ground truth" when the run has it, else "tagger tags".
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import numpy as np

from ..directions import METHODS
from ..editing import EditSession, EditSpec
from ..errors import TagError
from ..scoring.sideeffects import SideEffectTable, edit_effects, side_effect_table, tag_reads
from ..stats import TAG_THRESHOLD
from ..world.batch_readout import ATTRIBUTES as TRUE_ATTRIBUTES, changes as true_changes
from ..world.readout import tag_attribute
from .autoedit import AutoOptions, auto_edit
from .pair_edits import directions_for
from .probes import DEFAULT_PROBE_SAMPLES, edit_label, exclusive_tags, run_probe_batch, tagger_probe

__all__ = ["GOAL_SUCCESS", "GOAL_SIDE", "MODES", "mode_command", "run_stages", "side_effects", "evaluate_modes",
           "verdict", "z_method", "best_source", "best_images", "shown_tags", "tagger_of", "side_effect_csvs", "verdict_csv", "report_csvs"]

GOAL_SUCCESS, GOAL_SIDE = 0.95, 0.03
MIN_TAG_SHARE = 0.02   # tagger tags shown by fewer of the before/after images are left out of its table
# Measured for the verdict (each on the method that did best as the thesis edits). "layers auto" and
# "keep auto" alone are steps of "layers+keep auto": their trials are in its record.
# "in z" edits the 8-d style code before the mapping network (`latentedit edit --space z`): on the
# demo world the best mode of +open_mouth -closed_mouth (benchmarks/bench_disentangle.py --space w,z).
MODES = {"layers+keep auto": {"layers": True, "keep": True},
         "layers+keep auto, per sample": {"layers": True, "keep": True, "per_sample": True},
         "layers+keep auto, per sample, hold": {"layers": True, "keep": True, "per_sample": True, "hold": True},
         "keep auto, per sample, in z": {"z": True, "keep": True, "per_sample": True}}
# The `latentedit edit` flag of each mode option.
MODE_FLAGS = {"z": ("--space", "z"), "layers": ("--layers", "auto"), "keep": ("--keep", "auto"),
              "per_sample": ("--per-sample",), "hold": ("--hold",)}
Z_METHOD = "linear"  # the z modes' method when the verdict's cannot name its directions in z (sefa, pca)
SOURCES = ("ground truth", "tagger tags", "re-scorer")


def _true_target(add: str):
    try:
        return tag_attribute(add)
    except TagError:  # a tag the demo world does not define
        return None


def _tag_target(e: dict, names) -> tuple | None:
    """What a tag-level table checks: the added tag shows up, or else the subtracted tag goes away."""
    if e["add"][0] in names:
        return e["add"][0], 1
    if e["sub"] and e["sub"][0] in names:
        return e["sub"][0], 0
    return None


def _tag_table(source: str, before_scores, afters: dict, tags, edits: dict, keep=None, related=None) -> SideEffectTable:
    """A side-effect table over thresholded scores; `keep` limits the tags (default: all).

    related(edit record) -> tags that name other values of the edit's attributes (not side effects:
    `probes.exclusive_tags`); they are left out of that edit's row.
    """
    before = tag_reads(before_scores, tags)
    names = list(tags) if keep is None else [t for t in tags if t in keep]
    rows = []
    for name, a in afters.items():
        after, e = tag_reads(a, tags), edits[name]
        target = _tag_target(e, names)
        skip = set(related(e)) if related is not None else set()
        shown = [t for t in names if t not in skip or (target and t == target[0])]
        rows.append(edit_effects(name, before, after, target, attributes=shown))
    return SideEffectTable(source, names, rows)


def shown_tags(before_scores, afters: dict, tags, edits: dict, share: float = MIN_TAG_SHARE) -> list:
    """Tags shown (>= threshold) by at least `share` of the before or of some after images, and the edits' tags."""
    on = [np.asarray(before_scores) >= TAG_THRESHOLD] + [np.asarray(a) >= TAG_THRESHOLD for a in afters.values()]
    frequent = {t for k, t in enumerate(tags) if any(x[:, k].mean() >= share for x in on)}
    own = {t for e in edits.values() for t in e["add"] + e["sub"]}
    return [t for t in tags if t in frequent or t in own]


def related_tags(ctx):
    """related(edit record) -> tags exclusive with the edit's tags in the run's tags (none untagged)."""
    if not ctx.run.has_tags():
        return lambda e: set()
    scores, vocab = ctx.run.tag_scores()
    return lambda e: exclusive_tags(scores, vocab, e["add"] + e["sub"])


def side_effects(ctx, method: str) -> dict:
    """{source: SideEffectTable} of method's pair edits on the report's batch (every source it has)."""
    edits = ctx.doc["edits"][method]
    images = ctx.images[method]
    out = {}
    if ctx.read_before is not None:
        afters = {name: ctx.reads[method][name] for name in images}
        out["ground truth"] = side_effect_table(
            "ground truth", ctx.read_before, afters, {n: _true_target(e["add"][0]) for n, e in edits.items()},
            true_changes, TRUE_ATTRIBUTES, notes={"readout": "latentedit.world.batch_readout (joint pixel readout)"})
    tagger = tagger_of(ctx)
    if tagger is not None:
        before = ctx.tag_scores.get("before")
        if before is None:
            before = ctx.tag_scores["before"] = tagger.score(ctx.before)
        afters = {name: tagger.score(after) for name, (_, after) in images.items()}
        keep = shown_tags(before, afters, tagger.tags, edits)
        out["tagger tags"] = _tag_table("tagger tags", before, afters, list(tagger.tags), edits, keep,
                                        related_tags(ctx))
        out["tagger tags"].notes["tagger"] = str(ctx.req.tagger)
    if method in ctx.rescored:
        r = ctx.rescored[method]
        before = next(iter(r.scores.values()))[0]
        out["re-scorer"] = _tag_table("re-scorer", before, {n: a for n, (_, a) in r.scores.items()}, r.columns, edits,
                                      related=related_tags(ctx))
    return out


def tagger_of(ctx):
    """The report's tagger, loaded once (None when it cannot be loaded; the reason is in the doc)."""
    if ctx.tagger is None and "tagger" not in ctx.doc.get("tagger_error", {}):
        from ..tagging import load_tagger  # TensorFlow: imported only here

        try:
            ctx.tagger = load_tagger(ctx.req.tagger) if isinstance(ctx.req.tagger, str) else ctx.req.tagger
        except Exception as e:  # noqa: BLE001 - the report goes on without the tagger's tables
            ctx.doc.setdefault("tagger_error", {})["tagger"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return ctx.tagger


def best_source(doc) -> str:
    for method in doc.get("side_effects", {}).values():
        if "ground truth" in method:
            return "ground truth"
    return "tagger tags"


def _score(row: dict) -> tuple:
    """Ranking of a side-effect row: goal met first, then success minus worst side effect."""
    success = row["success"]["rate"] if row.get("success") else None
    worst = row["worst"]["rate"] or 0.0
    if success is None:
        return (False, -1.0, -worst)
    met = success >= GOAL_SUCCESS and worst <= GOAL_SIDE
    return (met, success - worst, -worst)


def evaluate_modes(ctx) -> dict:
    """Per pair edit, each of MODES on the method whose thesis edit did best; every row measured like the others.

    Returns {edit name: {"method", "rows": {mode: {"method", "space", "edit", "choices", "tables": {source: row}}}}},
    and keeps the images in ctx.mode_images[edit name][mode].
    """
    source = best_source(ctx.doc)
    tagger = tagger_of(ctx)
    if tagger is None:
        raise TagError("the modes choose with the tagger, which could not be loaded: "
                       + ctx.doc.get("tagger_error", {}).get("tagger", ""))
    out = {}
    probes = {}

    def probe_of(method: str, space: str):
        """The tagger's probe of `method`'s directions in `space` (loaded, or fitted, once)."""
        if (method, space) not in probes:
            ds = ctx.sets[method] if space == "w" else directions_for(ctx.G, ctx.run, method, ctx.req.pairs,
                                                                       ctx.req.tagger, ctx.req.seed, space="z")[0]
            session = EditSession(ctx.G, ds, device=next(ctx.G.parameters()).device, batch_size=32, run=ctx.run)
            content, codes = run_probe_batch(ctx.run, ctx.G, space, DEFAULT_PROBE_SAMPLES, ctx.req.seed)
            probes[method, space] = tagger_probe(session, content, codes, tagger, ctx.run)
        return probes[method, space]

    for name in ctx.doc["edits"][next(iter(ctx.doc["edits"]))]:
        ranked = sorted((m for m in ctx.doc["side_effects"] if source in ctx.doc["side_effects"][m]),
                        key=lambda m: _score(_row(ctx.doc["side_effects"][m][source], name)), reverse=True)
        if not ranked:
            continue
        e = ctx.doc["edits"][ranked[0]][name]
        edit = EditSpec.paired(e["add"], e["sub"])
        modes = {}
        for mode, options in MODES.items():
            options = dict(options)
            space = "z" if options.pop("z", False) else "w"
            modes[mode] = (ranked[0] if space == "w" else z_method(ranked[0]), space, AutoOptions(**options))
        # one auto_edit per choice: the modes that differ only in per sample / hold share its faces
        union = {}
        for method, space, auto in modes.values():
            k, u = (method, space, auto.keep, auto.layers), union.get((method, space, auto.keep, auto.layers), auto)
            union[k] = replace(u, per_sample=u.per_sample or auto.per_sample, hold=u.hold or auto.hold)
        made, rows = {}, {}
        for mode, (method, space, auto) in modes.items():
            probe = probe_of(method, space)
            session, codes = probe.session, ctx.batch.z if space == "z" else ctx.batch.w
            k = (method, space, auto.keep, auto.layers)
            if k not in made:
                made[k] = auto_edit(session, edit, union[k], tagger=tagger, run=ctx.run, probe=probe,
                                    faces=(ctx.batch.content, codes))
            result = made[k]
            chosen, choices = result.edit, result.choices
            if auto.hold:  # each face at its multiple, then stepped back along the tags the tagger sees moved
                after, extra = result.held.images, {"per_sample": result.each.to_dict(), "hold": result.held.to_dict()}
            elif auto.per_sample:  # each face at the smallest multiple at which the tagger sees the added tag
                after, extra = result.each.images, {"per_sample": result.each.to_dict()}
            else:
                after, extra = session.render(ctx.batch.content, codes, chosen), {}
            ctx.mode_images.setdefault(name, {})[mode] = after
            rows[mode] = {"method": method, "space": space, "edit": chosen.to_dict(), "label": edit_label(chosen, session),
                          "command": mode_command(ctx.run.path, e, method, MODES[mode], ctx.req.seed),
                          "strengths": [float(s) for s in chosen.strengths],
                          "choices": [c.to_dict() for c in choices],
                          "tables": _mode_tables(ctx, name, e, after), **extra}
        out[name] = {"method": ranked[0], "source": source, "rows": rows}
    return out


def z_method(method: str) -> str:
    """The method of a z mode: `method` when it fits directions in z that name their tags (what
    `--keep` conditions on), else Z_METHOD."""
    cls = METHODS[method]
    return method if cls.requires_labels and "z" in cls.spaces else Z_METHOD


def _mode_tables(ctx, name: str, e: dict, after) -> dict:
    """{source: row dict} of one mode's images, from the same sources as the methods' tables."""
    tables = {}
    if ctx.read_before is not None:
        read = ctx.reader.read(after)
        tables["ground truth"] = side_effect_table("ground truth", ctx.read_before, {name: read},
                                                   {name: _true_target(e["add"][0])}, true_changes,
                                                   TRUE_ATTRIBUTES).rows[0].to_dict()
    if ctx.tagger is not None and "before" in ctx.tag_scores:
        scores = ctx.tagger.score(after)
        keep = shown_tags(ctx.tag_scores["before"], {name: scores}, ctx.tagger.tags, {name: e})
        tables["tagger tags"] = _tag_table("tagger tags", ctx.tag_scores["before"], {name: scores},
                                           list(ctx.tagger.tags), {name: e}, keep, related_tags(ctx)).rows[0].to_dict()
    if ctx.scorer is not None:
        before = ctx.scorer.predict(ctx.before)
        tables["re-scorer"] = _tag_table("re-scorer", before, {name: ctx.scorer.predict(after)},
                                         list(ctx.scorer.attributes), {name: e}, related=related_tags(ctx)).rows[0].to_dict()
    return tables


def _row(table: dict, name: str) -> dict:
    for r in table["rows"]:
        if r["edit"] == name:
            return r
    return {"success": None, "worst": {"rate": None}}


def verdict(doc) -> dict:
    """Per edit: every candidate (method as the thesis edits, or method + mode) and the best one."""
    source = best_source(doc)
    out = {}
    names = list(dict.fromkeys(n for m in doc.get("edits", {}).values() for n in m))
    for name in names:
        candidates = []
        for method, tables in doc.get("side_effects", {}).items():
            if source in tables:
                e = doc["edits"].get(method, {}).get(name)
                command = None if e is None else mode_command(doc.get("config", {}).get("run"), e, method, {})
                candidates.append({"method": method, "mode": "thesis", "label": name, "command": command,
                                   "row": _row(tables[source], name)})
        modes = doc.get("modes", {}).get(name)
        for mode, r in (modes or {}).get("rows", {}).items():
            if source in r["tables"]:
                candidates.append({"method": r.get("method", modes["method"]), "mode": mode, "label": r["label"],
                                   "command": r.get("command"), "row": r["tables"][source]})
        candidates = [c for c in candidates if c["row"].get("success")]
        if not candidates:
            continue
        best = max(candidates, key=lambda c: _score(c["row"]))
        met = _score(best["row"])[0]
        success, worst = best["row"]["success"]["rate"], best["row"]["worst"]["rate"] or 0.0
        out[name] = {"source": source, "best": {k: best[k] for k in ("method", "mode", "label", "command")},
                     "success": best["row"]["success"], "worst": best["row"]["worst"], "goal_met": met,
                     "missed_by": {"success": round(max(0.0, GOAL_SUCCESS - success), 6),
                                   "side_effect": round(max(0.0, worst - GOAL_SIDE), 6)},
                     "candidates": [{"method": c["method"], "mode": c["mode"], "label": c["label"],
                                     "success": c["row"]["success"]["rate"], "worst": c["row"]["worst"]}
                                    for c in candidates]}
    return out


def mode_command(run, e: dict, method: str, options: dict, seed: int = 0) -> str:
    """The `latentedit edit` command line that makes edit `e` ({"add", "sub"}) with `method` in a mode
    (`options` of MODES; {} for the thesis edit). `--layers auto` and `--keep auto` measure on the
    run's samples picked with the seed, as the report's modes do with the report's seed."""
    import shlex

    parts = ["latentedit", "edit", str(run or "RUN")]
    parts += [x for t in e["add"] for x in ("--add", t)] + [x for t in e["sub"] for x in ("--sub", t)]
    parts += ["--method", method] + [f for k, flags in MODE_FLAGS.items() if options.get(k) for f in flags]
    parts += ["--seed", str(seed)] if seed and options else []
    return " ".join(shlex.quote(p) for p in parts)


def run_stages(ctx) -> None:
    """The report's stages side_effects:<m> (each method with edits), modes and verdict."""
    doc, stage = ctx.doc, ctx.stage
    doc["side_effects"], doc["goal"] = {}, {"success": GOAL_SUCCESS, "side_effect": GOAL_SIDE}
    for method in ctx.req.methods:
        if method not in ctx.images:
            stage.skip(f"side_effects:{method}", "the edits failed")
            continue
        with stage(f"side_effects:{method}"):
            doc["side_effects"][method] = {s: t.to_dict() for s, t in side_effects(ctx, method).items()}
    if not ctx.req.modes:
        stage.skip("modes", "not asked (modes=False)")
    elif not doc["side_effects"]:
        stage.skip("modes", "no side-effect table")
    else:
        with stage("modes"):
            doc["modes"] = evaluate_modes(ctx)
    with stage("verdict"):
        doc["verdict"] = verdict(doc)


def side_effect_csvs(report: dict) -> dict:
    """{"side-effects.csv": every table row of every method, source and mode, long format}."""
    rows = []
    for method, tables in report.get("side_effects", {}).items():
        for source, table in tables.items():
            for line in SideEffectTable.from_dict(table).to_csv().splitlines()[1:]:
                rows.append([method, "thesis", *next(csv.reader([line]))])
    for name, m in (report.get("modes") or {}).items():
        for mode, r in m["rows"].items():
            for source, row in r["tables"].items():
                table = SideEffectTable.from_dict({"source": source, "attributes": [], "rows": [row]})
                for line in table.to_csv().splitlines()[1:]:
                    rows.append([r.get("method", m["method"]), mode, *next(csv.reader([line]))])
    header = ["method", "mode", "source", "edit", "attribute", "kind", "rate", "std", "ci95_low", "ci95_high",
              "count", "n"]
    return {"side-effects.csv": _csv(header, rows)} if rows else {}


def _csv(header, rows) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue()


def verdict_csv(report: dict) -> dict:
    """{"verdict.csv": per edit, every candidate with its success and worst side effect, the best marked}."""
    rows = []
    for name, v in (report.get("verdict") or {}).items():
        for c in v["candidates"]:
            best = c["method"] == v["best"]["method"] and c["mode"] == v["best"]["mode"]
            rows.append([name, c["method"], c["mode"], c["label"], f"{c['success']:.6f}",
                         c["worst"]["attribute"] or "", "" if c["worst"]["rate"] is None else f"{c['worst']['rate']:.6f}",
                         int(best), int(best and v["goal_met"])])
    header = ["edit", "method", "mode", "chosen", "success", "worst_attribute", "worst_rate", "best", "goal_met"]
    return {"verdict.csv": _csv(header, rows)} if rows else {}


def report_csvs(report: dict) -> dict:
    """{"side-effects.csv", "verdict.csv"} of a report dict (each only when it has rows)."""
    return {**side_effect_csvs(report), **verdict_csv(report)}


def best_images(ctx, name: str, best: dict):
    """The after images of a verdict's best candidate (thesis edit of a method, or a mode)."""
    if best["mode"] == "thesis":
        return ctx.images[best["method"]][name][1]
    return ctx.mode_images[name][best["mode"]]

