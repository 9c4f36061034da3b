"""The goal table of issue 11: do edits change only what they say, on the demo world's ground truth?

For each edit (the thesis's three: long/short hair, open/closed mouth, closed eyes, and a colour
edit: black hair -> blonde) and each direction method (linear, lasso, svd, sefa), the paired edit
as the thesis makes it and latentedit's modes:

    thesis          +A n(add) - B n(sub) at the method's default strengths, every layer
    keep auto       conditions chosen on the run (editing.auto.choose_keep)
    layers auto     the W+ layer range chosen on the run (choose_layers)
    layers+keep     both
    auto            layers, conditions, then strength (choose_strength)
    per sample      each sample at the smallest multiple (x0..x2) of the default strengths at which the
                    tagger sees the added tag, and none of its attribute's other values, on its decoded image
                    (editing.auto.per_sample with pipeline.probes.tagger_reached, `latentedit edit --per-sample`); "layers per sample" / "l+k per sample": on the chosen layers / layers and
                    conditions
    l+k hold        "l+k per sample", then each face whose tags the tagger sees moved steps back along
                    those tags' directions (editing.auto.hold, `--hold`: closed-loop conditions per sample)

Every choice is made with the demo tagger on the run's own samples (`--probe-samples`, seeded);
every number in the table is measured afterwards on `--samples` FRESH demo samples, read off the
pixels (world.batch_readout): success = the fraction of the samples that could change (did not
show the target before) that show it after; worst = the other attribute (of hair length, hair
colour, eye colour, closed eyes, open mouth, smile, blush, background) that changed in most
samples; any other = the share of samples on which any of those other attributes changed (what a
user meets, `EffectRow.any_change`); floor = the same share under the null edit (each face's step,
same length, along a seeded random direction orthogonal to the edit's, `--null-draws` directions:
`scoring.controls.null_codes`), the rate reading noise and boundary faces give without the edit.
Goal: some mode with success >= 95% and worst <= 3%.

`--space z` fits the methods on the 8-d z codes instead, and `--space w,z` measures both (SeFa, a
w-space method, only in w). In z the modes without layers are measured, and "k per sample" and
"k hold", the "l+k" modes on every layer. (An EditSession can edit z on chosen layers, mapping
the edited z to those layers and the unedited one to the others; on the demo world that did not
help: linear open mouth, l+k hold, 78.5% / smile 23.5%, closed eyes 100% / smile 7.0%, seed 1.)

    python benchmarks/bench_disentangle.py                      # a fresh default demo run in a temp dir
    python benchmarks/bench_disentangle.py --run runs/demo --samples 200 --json out.json
    python benchmarks/bench_disentangle.py --space w,z            # both spaces side by side (23 min on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from scipy.stats import binomtest

import numpy as np

from latentedit.directions import fit_directions
from latentedit.editing import EditSession, EditSpec, with_spread
from latentedit.editing.tags import UNNAMED_METHODS, name_for_tags
from latentedit.models.generator import load_generator
from latentedit.pipeline.autoedit import AutoOptions, auto_edit
from latentedit.pipeline.probes import edit_label, readout_probe, run_probe_batch, tagger_probe
from latentedit.store import Run
from latentedit.tagging import load_tagger
from latentedit.scoring.controls import any_other_changed, null_codes
from latentedit.scoring.demo import DemoBatch

EDITS = (("long_hair", "short_hair"), ("open_mouth", "closed_mouth"), ("closed_eyes", None),
         ("blonde_hair", "black_hair"))
METHODS = ("linear", "lasso", "svd", "sefa")
MODES = {"thesis": {}, "keep auto": {"keep": True}, "layers auto": {"layers": True},
         "layers+keep": {"layers": True, "keep": True}, "auto": {"layers": True, "keep": True, "strength": True},
         "per sample": {"per_sample": True}, "layers per sample": {"layers": True, "per_sample": True},
         "l+k per sample": {"layers": True, "keep": True, "per_sample": True},
         "l+k hold": {"layers": True, "keep": True, "per_sample": True, "hold": True}}
GOAL_SUCCESS, GOAL_SIDE = 0.95, 0.03


def demo_run(path: Path, tagger) -> Run:
    """The README's default demo run (64 demo selfies x 3 styles, seed 0), tagged by the demo tagger."""
    from latentedit.pipeline.sample import sample
    from latentedit.pipeline.tag import tag_run

    run = sample("demo", path, progress=False).run
    tag_run(run, tagger, progress=False)
    return run


# measured in z only: the conditions on every layer
Z_MODES = {"k per sample": {"keep": True, "per_sample": True}, "k hold": {"keep": True, "per_sample": True, "hold": True}}


def modes_for(space: str) -> dict:
    """The modes measured in `space`: in z those without layers, and the conditions without them."""
    return MODES if space == "w" else {**{k: v for k, v in MODES.items() if not v.get("layers")}, **Z_MODES}


def direction_sets(run: Run, G, tagger, methods, space: str = "w") -> dict:
    """Each method fitted on the run in `space` (edit and condition tags kept despite the tag filter)."""
    tags = [t for pair in EDITS for t in pair if t]
    vocab = run.tag_vocab()["tags"]
    codes = run.codes()[space]
    sets = {}
    for m in methods:
        if m in UNNAMED_METHODS:
            ds = name_for_tags(G, fit_directions(run, m, space=space, generator=G), tags,
                               tagger if not isinstance(tagger, str) else lambda: load_tagger(tagger))
        else:
            ds = fit_directions(run, m, space=space, generator=G, include=[t for t in tags if t in vocab])
        sets[m] = with_spread(ds, codes)
    return sets


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    tagger = load_tagger("demo")
    G = load_generator("demo")
    tmp = None
    if args.run is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-disentangle-")
        run = demo_run(Path(tmp.name) / "run", tagger)
    else:
        run = Run.open(args.run)
    start = time.time()
    fresh = DemoBatch.sample(G, args.samples, seed=args.seed)
    rows = []
    for space in args.space:
        rows += measure_space(args, space, run, G, tagger, fresh)
    return {"rows": rows, "space": list(args.space), "samples": args.samples, "seed": args.seed,
            "probe_samples": args.probe_samples,
            "run": str(run.path) if tmp is None else "fresh default demo run", "seconds": round(time.time() - start, 1)}


def measure_space(args, space: str, run, G, tagger, fresh) -> list:
    """The table's rows of every method and mode with directions in `space`."""
    methods = [m for m in args.methods if space == "w" or m != "sefa"]
    sets = direction_sets(run, G, tagger, methods, space)
    fresh_codes = fresh.z if space == "z" else fresh.w
    probe_content, probe_codes = run_probe_batch(run, G, space, args.probe_samples, seed=0)
    rows = []
    for method, ds in sets.items():
        session = EditSession(G, ds, batch_size=32)
        truth = readout_probe(session, fresh)
        probe = tagger_probe(session, probe_content, probe_codes, tagger, run)
        for add, sub in EDITS:
            edit = EditSpec.paired(add, sub or ())
            for mode, options in modes_for(space).items():
                if method in UNNAMED_METHODS and options.get("keep"):
                    continue  # labelled eigenvectors name only the edit's tags: nothing to condition on
                options = dict(options)
                each = options.get("per_sample", False)
                result = auto_edit(session, edit, AutoOptions(**options), tagger=tagger, run=run, probe=probe,
                                   faces=(fresh.content, fresh_codes))
                chosen, choices = result.edit, result.choices
                extra = {}
                if result.held is not None:
                    extra = {"hold": {k: v for k, v in result.held.to_dict().items() if k.endswith("share_before")
                                      or k.endswith("share_after")}}
                row = truth.effects(chosen, result.images) if each else truth(chosen)
                worst, worst_rate = row.worst
                edited = result.codes if result.codes is not None else session.apply(truth.codes, chosen)
                floor = null_floor(truth, chosen, edited, args.null_draws, args.seed)
                rows.append({"edit": edit_label(edit), "space": space, "method": method, "mode": mode, "chosen": edit_label(chosen, session),
                             "strengths": [round(s, 3) for s in chosen.strengths],
                             "success": row.success.rate, "candidates": row.success.n,
                             "worst": worst, "worst_rate": worst_rate, "any_change": row.any_change.rate,
                             "floor": floor,
                             "changes": {a: r.rate for a, r in row.changes.items()},
                             "choices": [c.to_dict() for c in choices], **extra})
                print(f"{rows[-1]['edit']:28s} {space} {method:6s} {mode:18s} success {row.success.rate:6.1%} "
                      f"(n={row.success.n:3d})  worst {worst} {worst_rate:.1%}  any other {row.any_change.rate:.1%} "
                      f"(floor {floor:.1%})   [{edit_label(chosen, session)}]",
                      file=sys.stderr, flush=True)
    return rows


def null_floor(truth, edit, edited, draws: int, seed: int) -> float:
    """The share of `truth`'s faces on which an attribute other than the edit's own changes under
    the null edit of `edited` (the faces' edited codes): each face's step along a random direction
    orthogonal to the edit's directions."""
    codes = np.asarray(truth.codes)
    directions = np.stack([truth.session.directions.vector(t) for t, _ in edit.terms])
    nulls = null_codes(codes, np.asarray(edited), directions, draws, seed)
    after = truth.read(truth.session.decode(truth.content, nulls))
    target = truth.target(edit)
    return any_other_changed(truth.before, after, (target[0],) if target else ())[1].rate


def best(rows: list) -> dict:
    """Per edit: the row meeting the goal with the highest success, else the one closest to it."""
    out = {}
    for edit in dict.fromkeys(r["edit"] for r in rows):
        mine = [r for r in rows if r["edit"] == edit]
        met = [r for r in mine if r["success"] >= GOAL_SUCCESS and r["worst_rate"] <= GOAL_SIDE]
        if met:
            out[edit] = max(met, key=lambda r: (r["success"], -r["worst_rate"]))
        else:  # shortfall: how far from both goals together
            out[edit] = min(mine, key=lambda r: max(0, GOAL_SUCCESS - r["success"]) + max(0, r["worst_rate"] - GOAL_SIDE))
    return out


def interval(rate: float, n: int) -> str:
    """'[lo, hi]': the 95% Wilson score interval of a rate measured on n samples (how far another draw may read)."""
    ci = binomtest(round(rate * n), n).proportion_ci(0.95, method="wilson")
    return f"[{ci.low:.1%}, {ci.high:.1%}]"


def table(result: dict) -> str:
    spaces = result.get("space", "w")
    spaces = [spaces] if isinstance(spaces, str) else spaces  # (a result of one space names it as a string)
    rows = [{"space": spaces[0], **r} for r in result["rows"]]
    lines = [f"{'edit':28s} {'space':5s} {'method':7s} {'mode':18s} {'success':>8s} {'n':>4s} {'any other':>9s} "
             f"{'floor':>6s}  worst side effect", "-" * 113]
    for r in rows:  # (results from before "any other" and "floor" were measured show -)
        any_other = f"{r['any_change']:9.1%}" if "any_change" in r else f"{'-':>9s}"
        floor = f"{r['floor']:6.1%}" if "floor" in r else f"{'-':>6s}"
        lines.append(f"{r['edit']:28s} {r['space']:5s} {r['method']:7s} {r['mode']:18s} {r['success']:8.1%} {r['candidates']:4d} "
                     f"{any_other} {floor}  {r['worst'] or '-'} {r['worst_rate']:.1%}")
    lines += ["", f"best per edit (goal: success >= {GOAL_SUCCESS:.0%}, every other attribute <= {GOAL_SIDE:.0%}):"]
    for edit, r in best(rows).items():
        met = r["success"] >= GOAL_SUCCESS and r["worst_rate"] <= GOAL_SIDE
        short = ([f"success by {GOAL_SUCCESS - r['success']:.1%}"] if r["success"] < GOAL_SUCCESS else []) + (
            [f"side effect by {r['worst_rate'] - GOAL_SIDE:.1%}"] if r["worst_rate"] > GOAL_SIDE else [])
        verdict = "goal met" if met else "MISSED " + ", ".join(short)
        lines.append(f"  {edit:28s} {r['method']} in {r['space']}, {r['mode']}: success {r['success']:.1%} {interval(r['success'], r['candidates'])}, "
                     f"worst {r['worst']} {r['worst_rate']:.1%} {interval(r['worst_rate'], result['samples'])}"
                     + (f", any other {r['any_change']:.1%} {interval(r['any_change'], result['samples'])}"
                        if "any_change" in r else "")
                     + (f" (null-edit floor {r['floor']:.1%})" if "floor" in r else "") + f" -> {verdict}"
                     f"   [{r['chosen']}]")
    lines.append(f"\n{' and '.join(spaces)}-space directions, {result['samples']} fresh samples (seed {result['seed']}), choices on {result['probe_samples']} "
                 f"run samples; [95% Wilson intervals of the rates]; {result['seconds']:.0f} s")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default=None, help="a tagged demo run (default: a fresh default run in a temp dir)")
    p.add_argument("--samples", type=int, default=200, help="fresh demo samples the table is measured on")
    p.add_argument("--seed", type=int, default=1, help="seed of the fresh samples (the run's are seed 0)")
    p.add_argument("--probe-samples", type=int, default=48, help="run samples the choices are measured on")
    p.add_argument("--methods", default=None, help=f"comma-separated (default: {','.join(METHODS)}; sefa only in w)")
    p.add_argument("--space", default="w", help="w, z or w,z: the codes the directions are fitted on")
    p.add_argument("--null-draws", type=int, default=4, help="random directions of the null-edit floor")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    p.add_argument("--table", type=Path, default=None, help="print the table of a result --json wrote, measure nothing")
    args = p.parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return
    args.methods = tuple(m.strip() for m in args.methods.split(",") if m.strip()) if args.methods else METHODS
    args.space = tuple(x.strip() for x in args.space.split(",") if x.strip())
    if not args.space or not set(args.space) <= {"w", "z"}:
        p.error(f"--space takes w, z or w,z, not {','.join(args.space)!r}")
    if args.space == ("z",) and args.methods == ("sefa",):
        p.error("sefa directions live in w: give --space w, or other --methods")
    result = measure(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
