"""`report(...)`: fit what is missing, edit, re-score, measure, and write a self-contained report.

Stages, in order (each one timed; a stage that fails is recorded with its one-line error and the
report is still written with everything else, its sections marked):

    generator, scorer, samples            the run's generator, the re-scorer, the evaluation batch
    directions:<m>                        the run's directions (fitted and saved when missing)
    edits:<m>                             every pair edit of every sample, at the method's default strengths
    rescore:<m>, ground_truth:<m>         classifier and (demo world) ground-truth matrices
    sweeps:<m>                            target / off-target change over edit strength
    metrics:fid, metrics:dfid, metrics:lpips
    figures, files                        PNG figures, report.json, CSVs, index.html

The evaluation batch is made of fresh selfies, not the run's: on the demo world `DemoBatch`
(demo selfies seeded by `seed`, random styles, and a pixel readout of what every decoded image
shows); for other runs the run's own input selfies with new random styles (no ground truth).
"""

from __future__ import annotations

import math
import re
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, LatentEditError

DEFAULT_METHODS = ("linear", "lasso", "svd", "sefa")
DEFAULT_PAIRS = (("long_hair", "short_hair"), ("open_mouth", "closed_mouth"), ("closed_eyes", None))
SWEEP_FACTORS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5)
GRID_ROWS = 4
FORMAT = "latentedit-report/1"
READOUT = ("Ground truth: what each decoded image shows, read off its pixels by "
           "latentedit.world.build.read_attributes (for each attribute, the nearest of the world's renders that "
           "vary only that attribute, with the input's geometry and the unedited style's other attributes). "
           "Before and after images are read the same way, and the matrix is computed by the same function as "
           "the classifier's.")


# -- parsing the command line's lists ------------------------------------------------------------
_TAG = re.compile(r"[A-Za-z0-9_()\-.]+")


def parse_pairs(spec) -> tuple:
    """'long_hair:short_hair,open_mouth:closed_mouth,closed_eyes' -> ((add, sub or None), ...).

    A pair is ADD:SUB, or ADD alone (also ADD:) for an edit without an opposite tag.
    """
    if not isinstance(spec, str):
        return tuple((a, s or None) for a, s in spec)
    pairs = []
    usage = "--pairs must be ADD:SUB[,ADD:SUB...] (SUB optional), e.g. long_hair:short_hair,closed_eyes"
    for part in spec.split(","):
        part = part.strip()
        if not part:
            raise InputError(f"{usage}; got an empty pair in {spec!r}")
        add, _, sub = (x.strip() for x in part.partition(":"))
        if not _TAG.fullmatch(add) or (sub and not _TAG.fullmatch(sub)):
            raise InputError(f"{usage}; got {part!r}")
        if add == sub:
            raise InputError(f"--pairs {part!r}: a pair cannot add and subtract the same tag")
        pair = (add, sub or None)
        if pair in pairs:
            raise InputError(f"--pairs lists {part!r} twice")
        pairs.append(pair)
    return tuple(pairs)


def format_pairs(pairs) -> str:
    """The inverse of `parse_pairs`: ((add, sub or None), ...) -> 'add:sub,add'."""
    return ",".join(f"{a}:{s}" if s else a for a, s in pairs)


def parse_methods(spec) -> tuple:
    """'linear,lasso,svd,sefa' (or a list) -> known method names, in order, without repeats."""
    from ..directions import METHODS
    from ..errors import unknown_name_message

    names = [m.strip() for m in spec.split(",")] if isinstance(spec, str) else [str(m) for m in spec]
    if not names or any(not m for m in names):
        raise InputError(f"--methods must be a comma-separated list such as linear,lasso,svd,sefa; got {spec!r}")
    for m in names:
        if m not in METHODS:
            raise InputError(unknown_name_message("method", m, METHODS))
    return tuple(dict.fromkeys(names))


# -- stage bookkeeping -----------------------------------------------------------------------------
class Stages:
    """Times every stage and records failures instead of stopping the report."""

    def __init__(self, bar=None):
        self.status: dict = {}
        self.bar = bar

    @contextmanager
    def __call__(self, name: str):
        if self.bar is not None:
            self.bar.set_description(f"report: {name}")
        start, cpu = time.time(), time.process_time()
        try:
            yield
        except Exception as e:  # noqa: BLE001 - a report keeps what it has and marks the rest
            message = str(e).strip().splitlines()[0] if str(e).strip() else ""
            self.status[name] = {"status": "failed", "error": f"{type(e).__name__}: {message}"[:500]}
            if not isinstance(e, LatentEditError):
                self.status[name]["traceback"] = traceback.format_exc(limit=6)
        else:
            self.status[name] = {"status": "ok"}
        finally:
            self.status.setdefault(name, {"status": "interrupted"}).update(
                seconds=round(time.time() - start, 2), cpu_seconds=round(time.process_time() - cpu, 2))
            if self.bar is not None:
                self.bar.update(1)

    def skip(self, name: str, reason: str) -> None:
        self.status[name] = {"status": "skipped", "seconds": 0.0, "cpu_seconds": 0.0, "error": reason}
        if self.bar is not None:
            self.bar.update(1)

    def ok(self, name: str) -> bool:
        return self.status.get(name, {}).get("status") == "ok"


# -- the evaluation batch for runs outside the demo world ----------------------------------------------
class SelfieBatch:
    """Content codes of the run's own input selfies (cycled) with fresh random styles; no readout."""

    def __init__(self, G, selfies: np.ndarray, n: int, seed: int):
        from ..images import from_uint8

        idx = np.arange(n) % len(selfies)
        with torch.inference_mode():
            x = from_uint8(selfies[idx])
            self.content = torch.cat([G.encode(x[i : i + 32])[0] for i in range(0, n, 32)])
            self.z = np.random.default_rng([seed, 1]).standard_normal((n, G.latent_dim)).astype(np.float32)
            self.w = G.mapping(torch.from_numpy(self.z))

    def decode(self, G, w) -> np.ndarray:
        return _decode(G, self.content, w)


def is_demo_run(run) -> bool:
    return run.manifest.get("generator", {}).get("source") == "demo"


def run_selfies(run, G, n: int, seed: int) -> np.ndarray:
    """uint8 selfies to evaluate on: fresh demo selfies on the demo world, else the run's inputs."""
    from ..images import load_selfie, to_uint8

    if is_demo_run(run):
        from ..world.render import demo_selfies

        return demo_selfies(n, seed=seed, size=G.size)[0]
    folder = run.manifest.get("inputs_dir")
    names = [i["name"] for i in run.manifest.get("inputs", [])][:n]
    if not folder or not Path(folder).is_dir() or not names:
        raise InputError(f"run {run.path} does not record a folder of input selfies to evaluate on")
    return np.concatenate([to_uint8(load_selfie(Path(folder) / name, G.size)) for name in names])


def reference_images(run, G, n: int, seed: int, reference=None) -> np.ndarray:
    """Anime images the metrics compare against: a folder given by the user, or demo-world renders."""
    from ..images import list_images
    from ..models.scorer import read_image, resize_uint8

    if reference is not None:
        files, _ = list_images(reference)
        if not files:
            raise InputError(f"no reference anime images in {reference}")
        return resize_uint8([read_image(f) for f in files[:n]], G.size).permute(0, 2, 3, 1).numpy()
    if is_demo_run(run):
        from ..world.render import demo_anime

        return demo_anime(n, seed=seed + 17, size=G.size)[0]
    raise InputError("FID needs reference anime images: pass reference=FOLDER (--reference)")


# -- the report --------------------------------------------------------------------------------------
def _pair_tags(pairs) -> list[str]:
    return list(dict.fromkeys(t for pair in pairs for t in pair if t))


def directions_for(G, run, method: str, pairs, tagger="demo", seed: int = 0):
    """The run's directions for `method` (fitted and saved when missing), covering every pair tag.

    Supervised tags that the run's tag filter drops (e.g. closed_mouth, on most images) are fitted
    in memory with `include`, as `latentedit.edit.measure_edits` does; the note says so.
    """
    from ..directions import fit_directions
    from ..edit import UNNAMED_METHODS, load_directions_for, with_spread

    tags = _pair_tags(pairs)
    if method in UNNAMED_METHODS:
        ds, path = load_directions_for(G, run, method, "w", tags=tags, tagger=tagger, seed=seed)
        return ds, {"path": str(path) if path else None, "labelled_from": ds.params.get("labelled_from")}
    ds, path = load_directions_for(G, run, method, "w", tagger=tagger, seed=seed)
    missing = [t for t in tags if t not in ds.names]
    info = {"path": str(path) if path else None}
    if missing:
        vocab = run.tag_vocab()["tags"]
        ds = with_spread(fit_directions(run, method, generator=G, include=[t for t in tags if t in vocab]),
                         run.codes()["w"])
        info["note"] = (f"{', '.join(missing)} not in the saved directions (dropped by the tag filter); "
                        "refitted in memory with include= for this report")
    return ds, info


@dataclass
class PairEdit:
    """One pair edit of one method at the method's default strengths (A, B)."""

    name: str
    add: str
    sub: str | None
    apply: object  # (w, factor=1.0) -> w + factor * (A n(add) - B n(sub))
    record: dict


def pair_edits(ds, pairs) -> dict[str, PairEdit]:
    """{edit name: PairEdit} for every (add, sub) pair; names come from the edit itself."""
    from ..edit import edit_codes, resolve_strengths
    from ..rescore import edit_name

    out = {}
    for add, sub in pairs:
        subs = [sub] if sub else []
        a, b = resolve_strengths(ds, [add], subs)

        def apply(w, factor=1.0, add=add, subs=subs, a=a, b=b):
            return edit_codes(w, ds, [add], subs, a * factor, b * factor)

        name = edit_name(add, subs)
        out[name] = PairEdit(name, add, sub, apply, {"add": [add], "sub": subs, "strength": float(a),
                                                     "sub_strength": float(b) if subs else 0.0})
    return out


def _target(attributes, add, sub):
    """(column, sign) of the scorer attribute an edit should move: +add, or -sub; (None, 0) if neither."""
    if add in attributes:
        return add, 1.0
    if sub in attributes:
        return sub, -1.0
    return None, 0.0


def _agreement(result, reads: dict, attributes) -> dict:
    """Fraction of decoded images where scorer (>= 0.5) and ground truth agree, per attribute."""
    from ..rescore import shown_tags

    preds, truths = [], []
    for i, (name, (before, after)) in enumerate(result.scores.items()):
        read_before, read_after = reads[name]
        if i == 0:
            preds.append(before >= 0.5)
            truths.append(shown_tags(read_before, attributes) >= 0.5)
        preds.append(after >= 0.5)
        truths.append(shown_tags(read_after, attributes) >= 0.5)
    p, t = np.concatenate(preds), np.concatenate(truths)
    out = {a: float((p[:, k] == t[:, k]).mean()) for k, a in enumerate(attributes)}
    out["_n"] = int(len(p))
    return out


def _decode(G, content, w) -> np.ndarray:
    from ..images import to_uint8

    with torch.inference_mode():
        return np.concatenate([to_uint8(G.decode(content[i : i + 32], w[i : i + 32], use_mapping=False))
                               for i in range(0, len(w), 32)])


@dataclass
class Context:
    """Everything one report run holds: options, the document being filled, and loaded objects."""

    run: object
    options: dict
    doc: dict
    stage: Stages
    G: object = None
    scorer: object = None
    batch: object = None                     # content, w, decode(G, w), and read(images) on the demo world
    before: np.ndarray | None = None         # decoded unedited samples
    read_before: dict | None = None          # what they show (demo world only)
    edits: dict = field(default_factory=dict)   # method -> {name: PairEdit}
    images: dict = field(default_factory=dict)  # method -> {name: (before, after)}
    rescored: dict = field(default_factory=dict)  # method -> RescoreResult


def report(run, methods=DEFAULT_METHODS, pairs=DEFAULT_PAIRS, samples: int = 100, out=None, seed: int = 0,
           scorer="demo", tagger="demo", generator=None, sweep_samples: int = 24, sweep_factors=SWEEP_FACTORS,
           metric_inputs: int = 4, dfid_augmentations: int = 50, lpips_styles: int = 10, reference=None,
           threads: int = 1, progress: bool = True) -> Path:
    """Build the report of `run` into `out` (default RUN/report); returns the path of index.html.

    methods, pairs: what to compare (pairs are (add, sub or None), or a --pairs string);
    samples: edited samples per edit (re-scoring, FID); sweep_samples: samples per sweep point;
    metric_inputs selfies get dfid_augmentations augmentations each (DFID) and lpips_styles random
    styles each (diversity). scorer: a scorer file or "demo"; reference: a folder of anime images
    for FID (demo world: demo renders by default); generator: only for runs sampled in memory.
    threads bounds torch's threads while the report runs (restored after): on a shared machine
    one thread is steadier than two, whose waits on each other multiply the time when cores are busy.
    """
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(int(threads), old_threads)))
    try:
        return _report(run, methods, pairs, samples, out, seed, scorer, tagger, generator, sweep_samples,
                       sweep_factors, metric_inputs, dfid_augmentations, lpips_styles, reference, progress)
    finally:
        torch.set_num_threads(old_threads)


def _report(run, methods, pairs, samples, out, seed, scorer, tagger, generator, sweep_samples, sweep_factors,
            metric_inputs, dfid_augmentations, lpips_styles, reference, progress) -> Path:
    from tqdm.auto import tqdm

    from ..stages import open_run
    from ..store import versions

    start = time.time()
    run = open_run(run)
    methods, pairs = parse_methods(methods), parse_pairs(pairs)
    options = {"run": str(run.path), "methods": list(methods), "pairs": [[a, s] for a, s in pairs],
               "samples": int(samples), "seed": int(seed), "scorer": str(scorer), "tagger": str(tagger),
               "sweep_samples": int(sweep_samples), "sweep_factors": [float(f) for f in sweep_factors],
               "metric_inputs": int(metric_inputs), "dfid_augmentations": int(dfid_augmentations),
               "lpips_styles": int(lpips_styles), "reference": str(reference) if reference else None,
               "threads": torch.get_num_threads()}
    doc = {"format": FORMAT, "config": options, "versions": versions(), "generator": run.fingerprint,
           "scorer": None, "directions": {}, "edits": {}, "rescore": {}, "ground_truth": {}, "agreement": {},
           "sweeps": {}, "metrics": {"rows": [], "notes": []}}
    bar = tqdm(total=3 + 5 * len(methods) + 3 + 2, desc="report", unit="stage", disable=not progress)
    ctx = Context(run, options, doc, Stages(bar))

    _load(ctx, generator, scorer, progress)
    for method in methods:
        _evaluate(ctx, method, pairs, tagger)
    _metrics(ctx, reference)
    figures = {}
    with ctx.stage("figures"):
        figures = _figures(ctx)
    doc["stages"] = ctx.stage.status
    doc["seconds"] = round(time.time() - start, 1)
    out = Path(out) if out is not None else run.path / "report"
    with ctx.stage("files"):
        index = _write(out, doc, figures)
    bar.close()
    if not ctx.stage.ok("files"):
        raise LatentEditError(f"could not write the report to {out}: {ctx.stage.status['files']['error']}")
    return index


def _load(ctx: Context, generator, scorer, progress: bool) -> None:
    """Stages generator, scorer and samples."""
    from ..edit import DemoBatch, load_generator_for
    from ..models.scorer import load_scorer

    stage, o = ctx.stage, ctx.options
    with stage("generator"):
        ctx.G, _ = load_generator_for(ctx.run, generator)
    with stage("scorer"):
        sc = ctx.scorer = load_scorer(scorer, progress=progress)
        ctx.doc["scorer"] = {"attributes": list(sc.attributes), "metrics": sc.metrics, "trained_on": sc.trained_on,
                             "init": sc.init, "input_size": sc.input_size,
                             "describe": f"ResNet50 scorer from {sc.init}, input {sc.input_size}x{sc.input_size}, "
                                         f"trained on {sc.trained_on.get('kind', '?')} "
                                         f"({sc.metrics.get('n_train', '?')} images)"}
    if ctx.G is None:
        stage.skip("samples", "needs the generator")
        return
    with stage("samples"):
        if is_demo_run(ctx.run):
            ctx.batch = DemoBatch.sample(ctx.G, o["samples"], o["seed"])
        else:
            ctx.batch = SelfieBatch(ctx.G, run_selfies(ctx.run, ctx.G, o["samples"], o["seed"]), o["samples"],
                                    o["seed"])
        ctx.before = ctx.batch.decode(ctx.G, ctx.batch.w)
        if hasattr(ctx.batch, "read"):
            ctx.read_before = ctx.batch.read(ctx.before)
    ctx.doc["ground_truth_readout"] = READOUT if ctx.read_before is not None else "no ground truth for this run"


def _evaluate(ctx: Context, method: str, pairs, tagger) -> None:
    """Stages directions, edits, rescore, ground_truth and sweeps of one method."""
    from ..rescore import ground_truth_matrix, rescore_matrix

    stage, doc, names = ctx.stage, ctx.doc, ("edits", "rescore", "ground_truth", "sweeps")
    if ctx.G is None:
        for s in ("directions", *names):
            stage.skip(f"{s}:{method}", "needs the generator")
        return
    ds = None
    with stage(f"directions:{method}"):
        ds, doc["directions"][method] = directions_for(ctx.G, ctx.run, method, pairs, tagger, ctx.options["seed"])
    if ds is None or ctx.before is None:
        for s in names:
            stage.skip(f"{s}:{method}", "needs the directions and the samples")
        return
    with stage(f"edits:{method}"):
        edits = pair_edits(ds, pairs)
        ctx.images[method] = {name: (ctx.before, ctx.batch.decode(ctx.G, e.apply(ctx.batch.w)))
                              for name, e in edits.items()}
        ctx.edits[method] = edits
        doc["edits"][method] = {name: e.record for name, e in edits.items()}
    if method not in ctx.images:
        for s in names[1:]:
            stage.skip(f"{s}:{method}", "the edits failed")
        return
    if ctx.scorer is None:
        stage.skip(f"rescore:{method}", "no scorer")
    else:
        with stage(f"rescore:{method}"):
            ctx.rescored[method] = rescore_matrix(ctx.images[method], ctx.scorer)
            doc["rescore"][method] = ctx.rescored[method].to_dict()
    if ctx.read_before is None:
        stage.skip(f"ground_truth:{method}", "only demo-world runs have a ground truth")
    else:
        with stage(f"ground_truth:{method}"):
            reads = {name: (ctx.read_before, ctx.batch.read(after)) for name, (_, after) in ctx.images[method].items()}
            attributes = list(ctx.scorer.attributes) if ctx.scorer is not None else _pair_tags(pairs)
            doc["ground_truth"][method] = ground_truth_matrix(reads, attributes, notes={"readout": READOUT}).to_dict()
            if method in ctx.rescored:
                doc["agreement"][method] = _agreement(ctx.rescored[method], reads, attributes)
    if ctx.scorer is None:
        stage.skip(f"sweeps:{method}", "no scorer")
    else:
        with stage(f"sweeps:{method}"):
            doc["sweeps"][method] = _sweeps(ctx, method)


def _sweeps(ctx: Context, method: str) -> dict:
    """Scorer change of every attribute at factors x the default (A, B) of each pair edit."""
    n = ctx.options["sweep_samples"]
    attributes = list(ctx.scorer.attributes)
    w, content = ctx.batch.w[:n], ctx.batch.content[:n]
    before = ctx.scorer.predict(ctx.before[:n])
    out = {}
    for name, e in ctx.edits[method].items():
        column, sign = _target(attributes, e.add, e.sub)
        others = [k for k, a in enumerate(attributes) if a != column]
        record = {"strengths": [], "target": None if column is None else ("+" if sign > 0 else "-") + column,
                  "target_change": [], "off_target_change": [], "per_attribute": {a: [] for a in attributes}}
        for f in ctx.options["sweep_factors"]:
            change = (ctx.scorer.predict(_decode(ctx.G, content, e.apply(w, f))) - before).mean(0)
            record["strengths"].append(f * e.record["strength"])
            for k, a in enumerate(attributes):
                record["per_attribute"][a].append(float(change[k]))
            if column is not None:
                record["target_change"].append(float(sign * change[attributes.index(column)]))
            record["off_target_change"].append(float(np.abs(change[others]).mean()) if others else 0.0)
        out[name] = record
    return out


def _metrics(ctx: Context, reference) -> None:
    """FID, DFID and LPIPS diversity (or their labelled substitutes) of no edit and of every edit."""
    from .. import metrics as M
    from ..images import from_uint8

    stage, o, G = ctx.stage, ctx.options, ctx.G
    ctx.doc["metrics"]["status"] = M.status()
    if ctx.before is None:
        for s in ("metrics:fid", "metrics:dfid", "metrics:lpips"):
            stage.skip(s, "needs the generator and the samples")
        return
    configs = [("unedited", "-", None)] + [(m, name, e.apply) for m, edits in ctx.edits.items()
                                           for name, e in edits.items()]
    rows, notes = ctx.doc["metrics"]["rows"], ctx.doc["metrics"]["notes"]

    def add_row(method, edit, result):
        rows.append({"method": method, "edit": edit, **result.to_dict()})

    space = ref = None
    with stage("metrics:fid"):
        space = M.fid_space(ctx.scorer)
        if not space.standard:
            notes.append(space.note)
        ref = space.features(reference_images(ctx.run, G, o["samples"], o["seed"], reference))
        add_row("unedited", "-", M.fid(ctx.before, ref, space))
        for method, name, _ in configs[1:]:
            add_row(method, name, M.fid(ctx.images[method][name][1], ref, space))
    if ref is None:
        stage.skip("metrics:dfid", "needs the FID feature space and the reference images")
    else:
        with stage("metrics:dfid"):
            n_aug = o["dfid_augmentations"]
            rng = np.random.default_rng([o["seed"], 2])
            contents, ws = [], []
            with torch.inference_mode():
                for i, selfie in enumerate(run_selfies(ctx.run, G, o["metric_inputs"], o["seed"] + 1)):
                    aug = from_uint8(M.augment(selfie, n_aug, seed=o["seed"] * 1000 + i))
                    contents.append(torch.cat([G.encode(aug[k : k + 32])[0] for k in range(0, n_aug, 32)]))
                    z = rng.standard_normal((n_aug, G.latent_dim)).astype(np.float32)
                    ws.append(G.mapping(torch.from_numpy(z)))
            for method, name, apply in configs:
                groups = [_decode(G, c, w if apply is None else apply(w)) for c, w in zip(contents, ws)]
                add_row(method, name, M.dfid(groups, ref, space))
    with stage("metrics:lpips"):
        measure = M.diversity_measure(ctx.scorer)
        if not measure.standard:
            notes.append(measure.note)
        k = o["lpips_styles"]
        rng = np.random.default_rng([o["seed"], 3])
        with torch.inference_mode():
            content = G.encode(from_uint8(run_selfies(ctx.run, G, o["metric_inputs"], o["seed"] + 2)))[0]
            ws = [G.mapping(torch.from_numpy(rng.standard_normal((k, G.latent_dim)).astype(np.float32)))
                  for _ in range(len(content))]
        for method, name, apply in configs:
            groups = [_decode(G, content[i : i + 1].expand(k, *content.shape[1:]), w if apply is None else apply(w))
                      for i, w in enumerate(ws)]
            add_row(method, name, M.diversity(groups, measure))


def _figures(ctx: Context) -> dict:
    """{name: PNG bytes}: heatmaps (one colour scale per source), edit grids, the sweep plot."""
    from . import figures as F

    doc, out = ctx.doc, {}
    for key, label in (("rescore", "scorer"), ("ground_truth", "ground truth")):
        results = doc[key]
        limit = max([float(np.max(np.abs(r["mean"]))) for r in results.values()] + [1e-6])
        for method, r in results.items():
            out[f"heatmap-{key}-{method}"] = F.heatmap(np.array(r["mean"]), r["rows"], r["columns"],
                                                       f"{method}: mean change ({label})", limit, np.array(r["std"]))
    for method, edits in ctx.images.items():
        columns = [ctx.before[:GRID_ROWS]] + [after[:GRID_ROWS] for _, after in edits.values()]
        out[f"grid-{method}"] = F.image_grid(columns, ["before", *edits])
    if doc["sweeps"]:
        out["sweeps"] = F.sweep_plot(doc["sweeps"])
    return out


def _write(out: Path, doc: dict, figures: dict) -> Path:
    import csv
    import io

    from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text
    from ..rescore import RescoreResult
    from . import html

    out.mkdir(parents=True, exist_ok=True)
    for key, prefix in (("rescore", "rescore"), ("ground_truth", "ground-truth")):
        for method, r in doc[key].items():
            atomic_write_text(out / f"{prefix}-{method}.csv", RescoreResult.from_dict(r).to_csv())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "edit", "metric", "standard", "computed", "value", "n", "note"])
    for r in doc["metrics"]["rows"]:
        w.writerow([r["method"], r["edit"], r["metric"], r["standard"], r["computed"],
                    "" if r["value"] is None else f"{r['value']:.6f}", r["n"], r["note"]])
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "edit", "strength", "attribute", "mean_change"])
    for method, edits in doc["sweeps"].items():
        for name, s in edits.items():
            for i, strength in enumerate(s["strengths"]):
                for a, values in s["per_attribute"].items():
                    w.writerow([method, name, f"{strength:.6g}", a, f"{values[i]:.6f}"])
    atomic_write_text(out / "sweeps.csv", buf.getvalue())
    for name, png in figures.items():
        atomic_write_bytes(out / "figures" / f"{name}.png", png)
    atomic_write_json(out / "report.json", _finite(doc))
    return atomic_write_text(out / "index.html", html.render(_finite(doc), figures))


def _finite(x):
    """JSON-safe copy: NaN and infinities become None."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.generic):
        return _finite(x.item())
    return x
