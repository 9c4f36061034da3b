"""`report(run)`: fit what is missing, edit, re-score, measure, and write a self-contained report.

    result = report("runs/demo", methods=("linear", "svd"), samples=50)   # or report(run, ReportRequest(...))
    result.index, result.failed, result.report.methods["svd"].rescore.mean   # a `reporting.schema.Report`

Stages, in order (each one timed; a stage that fails is recorded with its one-line error and the
report is still written with everything else, its sections marked):

    generator, scorer, samples            the run's generator, the re-scorer, the evaluation batch
    directions:<m>                        the run's directions (fitted and saved when missing)
    edits:<m>                             every pair edit of every sample, at the method's default strengths
    rescore:<m>, ground_truth:<m>         classifier and (demo world) ground-truth matrices
    sweeps:<m>                            target / off-target change over edit strength
    metrics:fid, metrics:dfid, metrics:lpips
    side_effects:<m>, modes, controls, verdict
                                          side-effect tables, latentedit's modes, the demo world's controls
                                          (reader reliability, null-edit floors, colour drift; `pipeline.modes`),
                                          the best per edit
    figures, files                        PNG figures; report.json, CSVs and index.html (`reporting.files`)

Each stage fills its part of one `reporting.schema.Report` (a `MethodResult` per method, an
`EditModes` and a `Verdict` per edit, ...), from which every file is written.

The evaluation batch is made of fresh selfies, not the run's samples (`pipeline.batches`).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..directions import METHODS, estimator_class
from ..errors import InputError, LatentEditError, TagError, unknown_name_message
from ..limits import MAX_SAMPLES, check_count
from ..images import from_uint8
from ..models import batched
from ..reporting.figures import report_figures
from ..reporting.files import report_files
from ..reporting.schema import (Agreement, Goal, Matrix, MethodResult, MetricRow, Metrics, PairEdit, Report,
                                ReportConfig, ScorerInfo, Stage, Sweep)
from ..reporting.verdict import GOAL_SIDE, GOAL_SUCCESS, verdict_figures
from ..world.batch_readout import BatchReader
from ..scoring import metrics as M
from ..scoring.rescore import RescoreResult, ground_truth_matrix, rescore_matrix, shown_tags
from ..scoring.cache import ScoreCache
from ..scoring.scorer import load_scorer
from ..stats import TAG_THRESHOLD
from ..store import Run, check_output_folder, versions, write_folder
from .batches import BATCH_SIZE, decode, evaluation_batch, face_files, reference_images, run_selfies, styles_seed
from .edit import load_generator_for
from .engine import Engine, RemoteGenerator
from .tag import ensure_tags
from .pair_edits import directions_for, pair_edits, pair_tags
from .stages import Stages
from . import modes as V
from ..requests import make_request

DEFAULT_METHODS = ("linear", "lasso", "svd", "sefa")
DEFAULT_PAIRS = (("long_hair", "short_hair"), ("open_mouth", "closed_mouth"), ("closed_eyes", None))
SWEEP_FACTORS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5)
READOUT = ("Ground truth: what each decoded image shows, read off its pixels by "
           "latentedit.world.batch_readout (for each attribute, the nearest of the world's renders that vary only "
           "that attribute, with the input's geometry and the other attributes as read, re-read jointly where two "
           "attributes share pixels). Before and after images are read the same way, and the matrix is computed "
           "by the same function as the classifier's.")


@dataclass(frozen=True)
class ReportRequest:
    """What a report compares and how much it measures.

    methods, pairs: direction methods and (add, sub or None) edits; samples: edited samples per
    edit (re-scoring, FID); sweep_samples: samples per sweep point, at `sweep_factors` x the
    default strengths; metric_inputs selfies get dfid_augmentations augmentations each (DFID) and
    lpips_styles random styles each (diversity). modes: also measure latentedit's modes (layers/keep
    auto) for the verdict (`pipeline.modes`); null_draws: random directions of the null-edit control
    per edit and mode (face i along direction i mod null_draws; demo world; 0: none). scorer, tagger: files or "demo"; reference: a
    folder of anime images for FID (demo world: demo renders); out: the folder (None: RUN/report).
    threads bounds torch's threads while the report runs (restored after); 0: torch's default, every
    core (demo report on 2 idle cores: 189 s against 259 s with one thread). On a machine whose
    cores others keep busy, 1 is steadier: threads that wait on each other multiply the time.
    """

    methods: tuple[str, ...] = DEFAULT_METHODS
    pairs: tuple[tuple[str, str | None], ...] = DEFAULT_PAIRS
    samples: int = 100
    out: str | Path | None = None
    seed: int = 0
    scorer: str | Path = "demo"
    tagger: str | Path = "demo"
    sweep_samples: int = 24
    sweep_factors: tuple[float, ...] = SWEEP_FACTORS
    metric_inputs: int = 4
    dfid_augmentations: int = 25
    lpips_styles: int = 10
    reference: str | Path | None = None
    threads: int = 0
    modes: bool = True
    null_draws: int = 3

    def __post_init__(self):
        for name, low in (("samples", 1), ("sweep_samples", 1), ("metric_inputs", 1), ("dfid_augmentations", 2),
                          ("lpips_styles", 2), ("threads", 0), ("null_draws", 0)):
            check_count(getattr(self, name), f"--{name.replace('_', '-')}", low, MAX_SAMPLES)
        object.__setattr__(self, "methods", check_methods(self.methods))
        object.__setattr__(self, "pairs", check_pairs(self.pairs))
        object.__setattr__(self, "sweep_factors", tuple(float(f) for f in self.sweep_factors))


@dataclass
class ReportResult:
    """Where the report went and every number in it (`report` is what report.json holds)."""

    index: Path
    report: Report

    @property
    def out(self) -> Path:
        return self.index.parent

    @property
    def failed(self) -> dict[str, Stage]:
        """{stage: record} of the stages that failed (the report is partial when any did)."""
        return self.report.failed


def check_methods(methods) -> tuple:
    """Known method names, in order, without repeats; an unknown one is a one-line InputError."""
    names = [str(m) for m in methods]
    if not names:
        raise InputError("a report needs at least one method, e.g. linear,lasso,svd,sefa")
    for m in names:
        if m not in METHODS:
            raise InputError(unknown_name_message("method", m, METHODS))
    return tuple(dict.fromkeys(names))


def check_pairs(pairs) -> tuple:
    """((add, sub or None), ...): no pair adds and subtracts one tag, none is listed twice."""
    out = []
    for add, sub in pairs:
        pair = (str(add), str(sub) if sub else None)
        if pair[0] == pair[1]:
            raise InputError(f"--pairs {add}:{sub}: a pair cannot add and subtract the same tag")
        if pair in out:
            raise InputError(f"--pairs lists {add}:{sub} twice" if sub else f"--pairs lists {add} twice")
        out.append(pair)
    if not out:
        raise InputError("a report needs at least one pair, e.g. long_hair:short_hair")
    return tuple(out)


def _target(attributes, add, sub):
    """(column, sign) of the scorer attribute an edit should move: +add, or -sub; (None, 0) if neither."""
    if add in attributes:
        return add, 1.0
    if sub in attributes:
        return sub, -1.0
    return None, 0.0


def _agreement(result, reads: dict, attributes) -> Agreement:
    """Fraction of decoded images where scorer and ground truth agree (score >= threshold), per attribute."""
    preds, truths = [], []
    for i, (name, (before, after)) in enumerate(result.scores.items()):
        read_before, read_after = reads[name]
        if i == 0:
            preds.append(before >= TAG_THRESHOLD)
            truths.append(shown_tags(read_before, attributes) >= TAG_THRESHOLD)
        preds.append(after >= TAG_THRESHOLD)
        truths.append(shown_tags(read_after, attributes) >= TAG_THRESHOLD)
    p, t = np.concatenate(preds), np.concatenate(truths)
    return Agreement(rates={a: float((p[:, k] == t[:, k]).mean()) for k, a in enumerate(attributes)}, n=len(p))


# -- the report ------------------------------------------------------------------------------------
@dataclass
class Context:
    """One report being built: the request, the `Report` its stages fill, and the objects they share."""

    run: Run
    req: ReportRequest
    report: Report
    stage: Stages
    G: object = None
    scorer: object = None
    batch: object = None                     # content, w, decode(G, w), and read(images) on the demo world
    before: np.ndarray | None = None         # decoded unedited samples
    reader: object = None                    # BatchReader of the demo batch (ground truth)
    read_before: dict | None = None          # what the unedited samples show (demo world only)
    sets: dict = field(default_factory=dict)    # method -> DirectionSet
    edits: dict = field(default_factory=dict)   # method -> {name: pair_edits.PairEdit}
    images: dict = field(default_factory=dict)  # method -> {name: (before, after)}
    rescored: dict = field(default_factory=dict)  # method -> RescoreResult
    reads: dict = field(default_factory=dict)   # method -> {name: what the after images show}
    tagger: object = None                    # loaded on first use by pipeline.modes
    tagger_before: np.ndarray | None = None  # the tagger's scores of the unedited batch
    mode_images: dict = field(default_factory=dict)  # edit name -> {mode: after images}
    mode_codes: dict = field(default_factory=dict)   # edit name -> {mode: (codes, edited, directions, decode)}


def report(run, request: ReportRequest | None = None, *, generator=None, progress: bool = True,
           engine: Engine | None = None, **options) -> ReportResult:
    """Build the report of `run` into `request.out` (default RUN/report).

    `request` is a ReportRequest, or give its fields as keywords; `generator` only for runs
    sampled with an in-memory generator. `engine` (`pipeline.engine`): with Ray, every image the report
    draws is decoded by Ray workers of `threads` CPUs each (`RemoteGenerator`), with the local numbers.
    """
    req = make_request(ReportRequest, request, options)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(int(req.threads), old_threads)) if req.threads else old_threads)
    try:
        run = Run.open(run)
        with run.lock(), ExitStack() as workers:  # one writer per run: a second report (or sample, ...) waits
            return _report(run, req, generator, progress, engine, workers)
    finally:
        torch.set_num_threads(old_threads)


def _report(run: Run, req: ReportRequest, generator, progress: bool, engine, workers: ExitStack) -> ReportResult:
    start = time.time()
    out = check_output_folder(req.out if req.out is not None else run.report_dir, "report")
    _checkpair_tags(run, req.pairs)  # a typo in --pairs stops here, not after minutes of work
    config = ReportConfig(run=str(run.path), methods=list(req.methods), pairs=[list(p) for p in req.pairs],
                          samples=req.samples, seed=req.seed, scorer=str(req.scorer), tagger=str(req.tagger),
                          sweep_samples=req.sweep_samples, sweep_factors=list(req.sweep_factors),
                          metric_inputs=req.metric_inputs, dfid_augmentations=req.dfid_augmentations,
                          lpips_styles=req.lpips_styles, reference=str(req.reference) if req.reference else None,
                          threads=torch.get_num_threads(), null_draws=req.null_draws,
                          faces=str(Path(req.out or run.report_dir) / "faces"), faces_seed=styles_seed(req.seed))
    rep = Report(config=config, versions=versions(), generator=run.fingerprint,
                 methods={m: MethodResult() for m in req.methods}, goal=Goal(success=GOAL_SUCCESS, side_effect=GOAL_SIDE))
    # generator, scorer, samples; 6 per method; metrics fid, dfid, lpips; modes, controls, verdict; figures, files
    bar = tqdm(total=3 + 6 * len(req.methods) + 3 + 3 + 2, desc="report", unit="stage", disable=not progress)
    ctx = Context(run, req, rep, Stages(bar))

    if engine is not None and engine.remote and any(estimator_class(m).requires_labels for m in req.methods):
        ensure_tags(run, req.tagger, progress=progress, engine=engine)  # a run's missing tags, by Ray workers too
    _load(ctx, generator, engine, workers)
    for method in req.methods:
        _evaluate(ctx, method, rep.methods[method])
    V.run_stages(ctx)  # side_effects:<m>, modes, verdict
    rep.metrics = _metrics(ctx)
    figures = {}
    with ctx.stage("figures"):
        figures = report_figures(rep, ctx.before, ctx.images)
        figures.update(verdict_figures(rep.verdict, ctx.before, lambda n, b: V.best_images(ctx, n, b)))
    rep.stages = {k: Stage(**v) for k, v in ctx.stage.status.items()}  # what report.json holds (no "files" yet)
    rep.seconds = round(time.time() - start, 1)
    tables = {f"{prefix}-{method}.csv": RescoreResult.from_dict(m.model_dump()).to_csv()
              for key, prefix in (("rescore", "rescore"), ("ground_truth", "ground-truth"))
              for method, r in rep.methods.items() if (m := getattr(r, key)) is not None}
    with ctx.stage("files"):
        faces = face_files(ctx.run, ctx.G, req.samples, req.seed) if ctx.G is not None else {}
        write_folder(out, {**report_files(rep, figures, {**tables, **V.side_effect_csv(rep)}), **faces}, "report")
    bar.close()
    if not ctx.stage.ok("files"):
        raise LatentEditError(f"could not write the report to {out}: {ctx.stage.status['files']['error']}")
    return ReportResult(out / "index.html", rep)


def _checkpair_tags(run: Run, pairs) -> None:
    """A TagError (with the closest names) for a pair tag the run's tagger does not know, when it is tagged."""
    try:
        vocab = run.tag_vocab()
    except LatentEditError:
        return  # a damaged vocab.json is re-tagged by the directions stage
    if vocab is None:
        return
    for tag in pair_tags(pairs):
        if tag not in vocab["tags"]:
            raise TagError(f"--pairs: {unknown_name_message('tag', tag, vocab['tags'])} (the run's tagger has "
                           f"{len(vocab['tags'])} tags)")


def _load(ctx: Context, generator, engine: Engine | None, workers: ExitStack) -> None:
    """Stages generator, scorer and samples."""
    stage, req = ctx.stage, ctx.req
    with stage("generator"):
        ctx.G, _ = load_generator_for(ctx.run, generator)
        if engine is not None and engine.remote:  # every image of the report is decoded on Ray, until it ends
            ctx.G = workers.enter_context(RemoteGenerator(ctx.G, ctx.run.generator_source, ctx.run.fingerprint,
                                                          engine, torch.get_num_threads()))
        if not ctx.G.takes_content:  # its faces are styles alone: no selfies to write for `edit --inputs`
            ctx.report.config.faces = None
    with stage("scorer"):
        sc = ctx.scorer = ScoreCache(load_scorer(req.scorer))  # each image set scored once
        ctx.report.scorer = ScorerInfo(
            attributes=list(sc.attributes), metrics=sc.metrics, trained_on=sc.trained_on, init=sc.init,
            input_size=sc.input_size, describe=f"ResNet50 scorer from {sc.init}, input {sc.input_size}x{sc.input_size}, "
                                               f"trained on {sc.trained_on.get('kind', '?')} "
                                               f"({sc.metrics.get('n_train', '?')} images)")
    if ctx.G is None:
        stage.skip("samples", "needs the generator")
        return
    with stage("samples"):
        ctx.batch = evaluation_batch(ctx.run, ctx.G, req.samples, req.seed)
        ctx.before = ctx.batch.decode(ctx.G, ctx.batch.w)
        if hasattr(ctx.batch, "geometry"):  # the demo world: read every attribute off the pixels
            ctx.reader = BatchReader(ctx.batch.geometry, ctx.batch.z, ctx.G.size)
            ctx.read_before = ctx.reader.read(ctx.before)
    ctx.report.ground_truth_readout = READOUT if ctx.read_before is not None else "no ground truth for this run"


def _evaluate(ctx: Context, method: str, result: MethodResult) -> None:
    """Stages directions, edits, rescore, ground_truth and sweeps of one method, into `result`."""
    stage, req, names = ctx.stage, ctx.req, ("edits", "rescore", "ground_truth", "sweeps")
    if ctx.G is None:
        for s in ("directions", *names):
            stage.skip(f"{s}:{method}", "needs the generator")
        return
    ds = None
    with stage(f"directions:{method}"):
        ds, result.directions = directions_for(ctx.G, ctx.run, method, req.pairs, req.tagger, req.seed)
        ctx.sets[method] = ds
    if ds is None or ctx.before is None:
        for s in names:
            stage.skip(f"{s}:{method}", "needs the directions and the samples")
        return
    with stage(f"edits:{method}"):
        bad = {}
        edits = pair_edits(ctx.G, ds, req.pairs, failed=bad)
        for name, error in bad.items():  # one bad pair does not take the method's other edits with it
            stage.status[f"edits:{method}:{name}"] = {"status": "failed", "error": error[:500], "seconds": 0.0,
                                                      "cpu_seconds": 0.0}
        if not edits:
            raise LatentEditError(f"no pair could be edited with the {method} directions ({next(iter(bad.values()))})")
        ctx.images[method] = {name: (ctx.before, ctx.batch.decode(ctx.G, e.apply(ctx.batch.w)))
                              for name, e in edits.items()}
        ctx.edits[method] = edits
        result.edits = {name: PairEdit(**e.record) for name, e in edits.items()}
    if method not in ctx.images:
        for s in names[1:]:
            stage.skip(f"{s}:{method}", "the edits failed")
        return
    if ctx.scorer is None:
        stage.skip(f"rescore:{method}", "no scorer")
    else:
        with stage(f"rescore:{method}"):
            ctx.scorer.warm([after for _, after in ctx.images[method].values()])
            ctx.rescored[method] = rescore_matrix(ctx.images[method], ctx.scorer)
            result.rescore = Matrix(**ctx.rescored[method].to_dict())
    if ctx.read_before is None:
        stage.skip(f"ground_truth:{method}", "only demo-world runs have a ground truth")
    else:
        with stage(f"ground_truth:{method}"):
            ctx.reads[method] = {name: ctx.reader.read(after) for name, (_, after) in ctx.images[method].items()}
            reads = {name: (ctx.read_before, read) for name, read in ctx.reads[method].items()}
            attributes = list(ctx.scorer.attributes) if ctx.scorer is not None else pair_tags(req.pairs)
            result.ground_truth = Matrix(**ground_truth_matrix(reads, attributes, notes={"readout": READOUT}).to_dict())
            if method in ctx.rescored:
                result.agreement = _agreement(ctx.rescored[method], reads, attributes)
    if ctx.scorer is None:
        stage.skip(f"sweeps:{method}", "no scorer")
    else:
        with stage(f"sweeps:{method}"):
            result.sweeps = _sweeps(ctx, method)


def _sweeps(ctx: Context, method: str) -> dict[str, Sweep]:
    """Scorer change of every attribute at factors x the default (A, B) of each pair edit."""
    n = ctx.req.sweep_samples
    attributes = list(ctx.scorer.attributes)
    w, content = ctx.batch.w[:n], ctx.batch.content[:n]
    before = ctx.scorer.predict(ctx.before[:n])
    decoded = {(name, f): ctx.before[:n] if f == 0.0 else ctx.images[method][name][1][:n] if f == 1.0  # reused
               else decode(ctx.G, content, e.apply(w, f)) for name, e in ctx.edits[method].items()
               for f in ctx.req.sweep_factors}
    ctx.scorer.warm(decoded.values())
    out = {}
    for name, e in ctx.edits[method].items():
        column, sign = _target(attributes, e.add, e.sub)
        others = [k for k, a in enumerate(attributes) if a != column]
        changes = [(ctx.scorer.predict(decoded[name, f]) - before).mean(0) for f in ctx.req.sweep_factors]
        out[name] = Sweep(strengths=[f * e.record["strength"] for f in ctx.req.sweep_factors],
                          target=None if column is None else ("+" if sign > 0 else "-") + column,
                          target_change=[float(sign * c[attributes.index(column)]) for c in changes] if column is not None else [],
                          off_target_change=[float(np.abs(c[others]).mean()) if others else 0.0 for c in changes],
                          per_attribute={a: [float(c[k]) for c in changes] for k, a in enumerate(attributes)})
    return out


def _metrics(ctx: Context) -> Metrics:
    """FID, DFID and LPIPS diversity (or their labelled substitutes) of no edit and of every edit."""
    stage, req, G = ctx.stage, ctx.req, ctx.G
    metrics = Metrics(status=M.status())
    if ctx.before is None:
        for s in ("metrics:fid", "metrics:dfid", "metrics:lpips"):
            stage.skip(s, "needs the generator and the samples")
        return metrics
    configs = [("unedited", "-", None)] + [(m, name, e.apply) for m, edits in ctx.edits.items()
                                           for name, e in edits.items()]
    rows, notes = metrics.rows, metrics.notes

    def add_row(method, edit, result):
        rows.append(MetricRow(method=method, edit=edit, **result.to_dict()))
    space = ref = None
    with stage("metrics:fid"):
        space = M.fid_space(ctx.scorer)
        if not space.standard:
            notes.append(space.note)
        ref = space.features(reference_images(ctx.run, G, req.samples, req.seed, req.reference))
        add_row("unedited", "-", M.fid(ctx.before, ref, space))
        for method, name, _ in configs[1:]:
            add_row(method, name, M.fid(ctx.images[method][name][1], ref, space))
    if ref is None:
        stage.skip("metrics:dfid", "needs the FID feature space and the reference images")
    elif not G.takes_content:
        stage.skip("metrics:dfid", f"the {G.kind} generator takes no input to hold fixed across styles")
    else:
        with stage("metrics:dfid"):
            contents, ws = _dfid_inputs(ctx)
            groups = [[decode(G, c, w if apply is None else apply(w)) for c, w in zip(contents, ws)]
                      for _, _, apply in configs]
            if not space.standard:
                ctx.scorer.warm([g for gs in groups for g in gs])
            for (method, name, _), gs in zip(configs, groups):
                add_row(method, name, M.dfid(gs, ref, space))
    with stage("metrics:lpips"):
        measure = M.diversity_measure(ctx.scorer)
        if not measure.standard:
            notes.append(measure.note)
        k = req.lpips_styles
        rng = np.random.default_rng([req.seed, 3])
        with torch.inference_mode():
            content = (batched.encode_content(G, from_uint8(run_selfies(ctx.run, G, req.metric_inputs, req.seed + 2)),
                                              BATCH_SIZE) if G.takes_content else torch.zeros(req.metric_inputs, 0))
            ws = [G.mapping(torch.from_numpy(rng.standard_normal((k, G.latent_dim)).astype(np.float32)))
                  for _ in range(len(content))]
        groups = [[decode(G, content[i : i + 1].expand(k, *content.shape[1:]), w if apply is None else apply(w))
                   for i, w in enumerate(ws)] for _, _, apply in configs]
        if not measure.standard:
            ctx.scorer.warm([g for gs in groups for g in gs])
        for (method, name, _), gs in zip(configs, groups):
            add_row(method, name, M.diversity(gs, measure))
    return metrics


def _dfid_inputs(ctx: Context) -> tuple[list, list]:
    """Per metric input: content codes of its augmentations, and random styles w, for DFID."""
    req, G = ctx.req, ctx.G
    n_aug = req.dfid_augmentations
    rng = np.random.default_rng([req.seed, 2])
    contents, ws = [], []
    for i, selfie in enumerate(run_selfies(ctx.run, G, req.metric_inputs, req.seed + 1)):
        aug = from_uint8(M.augment(selfie, n_aug, seed=req.seed * 1000 + i))
        contents.append(batched.encode_content(G, aug, BATCH_SIZE))
        z = rng.standard_normal((n_aug, G.latent_dim)).astype(np.float32)
        with torch.inference_mode():
            ws.append(G.mapping(torch.from_numpy(z)))
    return contents, ws

