"""Sampling: inputs -> content codes -> random styles -> anime images, into a run's store.

Each input (a selfie file, or a demo-world selfie rendered from the seed) is encoded once; its
content code is reused for `styles_per_input` random styles z ~ N(0, I). The style codes of input
i come from their own random stream seeded by (seed, i), so a sample's codes depend only on the
seed and the input, and its bytes on those, the generator and the batch size (float summation
order): not on where a previous run was interrupted.

    result = sample("demo", "runs/demo", n_inputs=64, seed=0)       # or sample(G, out, SampleRequest(...))
    result.run.codes()["w"], result.resumed_shards
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import InputError, NonFiniteError, RunError
from ..images import encode_png, from_uint8, grid, list_images, load_selfie, to_uint8
from ..models.batched import decode, encode_content
from ..limits import MAX_SAMPLES, check_count
from ..models.generator import DEMO_GENERATORS, fingerprint, load_generator
from ..models.device import resolve_device  # the one --device check
from ..locking import run_lock
from ..store import PARTS, Run, shard_name, versions
from ..world.render import demo_selfies
from ..requests import make_request
from .engine import Engine, WorkerStats, run_shards, worker_generator


@dataclass(frozen=True)
class SampleRequest:
    """What to sample: `inputs` (a selfie folder; None = `n_inputs` demo-world selfies, 64 by
    default), `styles_per_input` random styles each, from `seed`; `batch_size` images per forward
    pass and `inputs_per_shard` inputs per shard (both change bytes, so they are part of the run);
    `threads` torch CPU threads (0: torch's default here, the cores): some batch shapes are summed in
    another order with another count, so the run records it and every worker and resume uses it."""

    inputs: str | Path | None = None
    n_inputs: int | None = None
    styles_per_input: int = 3
    seed: int = 0
    batch_size: int = 8
    inputs_per_shard: int = 16
    threads: int = 0
    device: str = "cpu"
    overwrite: bool = False

    def __post_init__(self):
        if self.styles_per_input < 1:
            raise InputError("--styles-per-input must be at least 1")
        if self.batch_size < 1:
            raise InputError("--batch-size must be at least 1")
        if self.inputs_per_shard < 1:
            raise InputError("inputs_per_shard must be at least 1")
        check_count(self.styles_per_input, "--styles-per-input", 1, MAX_SAMPLES)  # before the bound it sets
        if self.n_inputs is not None:
            check_count(self.n_inputs, "--n-inputs", 1, MAX_SAMPLES // self.styles_per_input)
        check_count(self.seed, "--seed", 0)
        check_count(self.threads, "--threads", 0, 1024)


@dataclass
class SampleResult:
    """The run sampled into, how many shards it has and how many of them were already there."""

    run: Run
    shards: int
    resumed_shards: int
    sampled: int  # samples made now (the rest were kept from an interrupted or earlier run)
    workers: WorkerStats = field(default_factory=WorkerStats)  # memory and time of the workers (`engine.run_shards`)


@dataclass
class Inputs:
    """The inputs of a run: names in order, a loader per index, and the files that were skipped."""

    names: list[str]
    load: Callable[[int], torch.Tensor]
    skipped: list[dict] = field(default_factory=list)


def folder_inputs(folder, size: int, n_inputs: int | None = None) -> Inputs:
    """Image files of `folder`, preprocessed like the reference; unreadable files are skipped."""
    files, others = list_images(folder)
    skipped = [{"name": p.name, "reason": "not an image file"} for p in others]
    good = []
    for p in files:
        try:
            load_selfie(p, size)
        except InputError as e:
            skipped.append({"name": p.name, "reason": str(e).split(": ", 1)[-1]})
            continue
        good.append(p.resolve())  # absolute: a Ray worker's working folder is not the driver's
        if n_inputs is not None and len(good) == n_inputs:
            break
    if not good:
        first = f"; {skipped[0]['name']}: {skipped[0]['reason']}" if skipped else ""
        raise InputError(f"no readable images in {folder} ({len(skipped)} files skipped{first})")
    return Inputs([p.name for p in good], lambda i: load_selfie(good[i], size), skipped)


def demo_inputs(n_inputs: int, seed: int, size: int) -> Inputs:
    """Demo-world selfies; selfie i is rendered from its own seed (seed, i)."""

    def load(i: int) -> torch.Tensor:
        images, _ = demo_selfies(1, seed=_stream_seed(seed, i, "selfie"), size=size)
        return from_uint8(images)

    return Inputs([f"demo-selfie-{seed}-{i}" for i in range(n_inputs)], load)


def blank_inputs(n_inputs: int, seed: int) -> Inputs:
    """Inputs of a generator that draws from codes alone (`takes_content` False): empty ones."""
    return Inputs([f"codes-{seed}-{i}" for i in range(n_inputs)], lambda i: torch.zeros(1, 0))


def run_inputs(run: Run, size: int) -> Inputs:
    """The inputs a run was sampled from, as its manifest records them (demo selfies, a folder, or
    none: a generator that draws from codes alone)."""
    src = run.input_source
    if src.kind == "none":
        return blank_inputs(len(src.names), src.seed)
    if src.kind == "demo":
        return demo_inputs(len(src.names), src.seed, size)
    if src.path is None or not src.path.is_dir():
        raise RunError(f"the input selfies of {run.path} were in {src.path}, which is not a folder any more; "
                       "give new selfies with --inputs DIR")
    return Inputs(list(src.names), lambda i: load_selfie(src.path / src.names[i], size))


def _stream_seed(seed: int, index: int, purpose: str) -> int:
    return int(np.random.SeedSequence([seed, index, sum(map(ord, purpose))]).generate_state(1)[0])


def style_codes(seed: int, input_index: int, k: int, latent_dim: int) -> np.ndarray:
    """The k style codes z of one input: (k, latent_dim) float32, N(0, I)."""
    rng = np.random.default_rng(_stream_seed(seed, input_index, "style"))
    return rng.standard_normal((k, latent_dim)).astype(np.float32)


def generator_record(generator, G) -> dict:
    """The manifest's generator entry: kind ("demo", "checkpoint", "in-memory"), path, fingerprint,
    config, backend ("gnr", "stylegan2", "dcgan"), z and w dimensions and, for a demo generator but
    GNR's, its name."""
    info = getattr(G, "source_info", None) or {}
    name = str(generator) if isinstance(generator, (str, Path)) else info.get("name", "demo")
    if isinstance(generator, (str, Path)):
        kind, path = ("demo", None) if name in DEMO_GENERATORS else ("checkpoint", str(Path(generator).resolve()))
    elif info.get("source") == "demo":
        kind, path = "demo", None
    elif info.get("path"):
        kind, path = "checkpoint", info["path"]
    else:
        kind, path = "in-memory", None
    record = {"kind": kind, "path": path, "fingerprint": fingerprint(G), "config": G.config, "backend": G.kind,
              "latent_dim": G.latent_dim, "style_dim": G.style_dim}
    return {**record, "name": name} if kind == "demo" and name != "demo" else record


def _shard_renderer(generator, expected: str, src: Inputs, n: int, req: SampleRequest, threads: int):
    """A worker's `work(shard) -> (codes, pngs)` on `threads` torch threads: the generator loaded once (from
    a demo name or a checkpoint path; a loaded one is used as is) and checked to be the one the run records."""
    torch.set_num_threads(threads)
    dev = resolve_device(req.device)
    G = worker_generator(generator, expected, str(dev))
    per, k = req.inputs_per_shard, req.styles_per_input
    return lambda s: _render_shard(G, src, range(s * per, min(n, (s + 1) * per)), k, req.seed, req.batch_size, dev)


@torch.inference_mode()
def _render_shard(G, inputs: Inputs, index_range, k: int, seed: int, batch_size: int, device) -> tuple[dict, list]:
    idx = list(index_range)
    x = torch.cat([inputs.load(i) for i in idx])
    content = encode_content(G, x, batch_size, device=device).repeat_interleave(k, dim=0)
    z = np.concatenate([style_codes(seed, i, k, G.latent_dim) for i in idx])
    z_t = torch.from_numpy(z).to(device)
    w = torch.cat([G.mapping(z_t[i : i + batch_size]) for i in range(0, len(z), batch_size)])
    images = decode(G, content, w, batch_size, convert=to_uint8)
    codes = {
        "id": np.array([i * k + j for i in idx for j in range(k)], np.int64),
        "input_id": np.repeat(np.array(idx, np.int64), k),
        "z": z,
        "w": w.float().cpu().numpy().astype(np.float32),
    }
    return codes, [encode_png(a) for a in images]


def sample(generator="demo", out="runs/demo", request: SampleRequest | None = None, *, progress: bool = True,
           engine: Engine | None = None, **options) -> SampleResult:
    """Sample `styles_per_input` anime images for each input into the run at `out`.

    `generator` is "demo", a checkpoint path, or a loaded Generator; `request` a SampleRequest,
    or give its fields as keywords. Re-running with the same request resumes: finished shards
    are kept, missing ones are made. `engine` (`pipeline.engine`) makes the shards here or on Ray
    workers, with the same bytes; on Ray the driver loads the generator on the CPU and each worker on `device`.
    """
    req = make_request(SampleRequest, request, options)
    engine = engine or Engine()
    dev = resolve_device("cpu" if engine.remote else req.device)
    G = load_generator(generator, device=str(dev)) if isinstance(generator, (str, Path)) else generator
    n_inputs = 64 if req.n_inputs is None else req.n_inputs
    if not G.takes_content:
        if req.inputs is not None:
            raise InputError(f"a {G.kind} generator draws from codes alone and takes no input images; drop --inputs")
        src, input_source = blank_inputs(n_inputs, req.seed), {"kind": "none", "seed": req.seed}
    elif req.inputs is None:
        src = demo_inputs(n_inputs, req.seed, G.size)
        input_source = {"kind": "demo", "seed": req.seed}
    else:
        src = folder_inputs(req.inputs, G.size, req.n_inputs)
        input_source = {"kind": "folder", "path": str(Path(req.inputs).resolve())}
    with run_lock(out):  # one writer per run: a second sample/tag/fit on it is refused (or waits)
        fresh = not (Path(out) / "manifest.json").exists()
        try:
            return _sample_locked(G, src, input_source, generator, out, req, progress, engine)
        except NonFiniteError:  # a generator that decodes NaN leaves no run to block the next one's --out
            if fresh:
                (Path(out) / "manifest.json").unlink(missing_ok=True)
                for part in PARTS:
                    shutil.rmtree(Path(out) / part, ignore_errors=True)
            raise


def _sample_locked(G, src, input_source, generator, out, req, progress, engine) -> SampleResult:
    n, k, per_shard = len(src.names), req.styles_per_input, req.inputs_per_shard
    run = Run.create(
        out,
        {
            "generator": generator_record(generator, G),
            "input_source": input_source,
            "seed": req.seed,
            "styles_per_input": k,
            "inputs_per_shard": per_shard,
            "inputs": [{"id": i, "name": name} for i, name in enumerate(src.names)],
            "skipped": src.skipped,
            "n_inputs": n,
            "n_samples": n * k,
            "batch_size": req.batch_size,
            "threads": req.threads or torch.get_num_threads(),
            "complete": False,
            "versions": versions(),
        },
        overwrite=req.overwrite,
    )
    run.clean_partial()
    n_shards = -(-n // per_shard)
    done = set()
    for s in run.shards():  # a shard damaged after it was written (truncated codes.npz, lost PNGs) is redone
        index = int(s.split("-")[1])
        ids = [i * k + j for i in range(index * per_shard, min(n, (index + 1) * per_shard)) for j in range(k)]
        if index < n_shards and run.shard_whole(s, ids):
            done.add(s)
        else:
            run.remove_shard(s)
    todo = [s for s in range(n_shards) if shard_name(s) not in done]
    made = []

    def write(s, shard):
        codes, pngs = shard
        run.write_shard(s, codes, pngs)
        made.append(len(pngs))

    # a Ray worker loads the generator itself (a demo name or the checkpoint's absolute path); an in-memory one is shipped
    threads = run.manifest.get("threads") or torch.get_num_threads()  # the run's, also when resumed elsewhere
    make_worker = partial(_shard_renderer, (engine.remote and run.generator_source) or G, run.fingerprint, src, n, req,
                          threads)
    old_threads = torch.get_num_threads()
    try:
        stats = run_shards(engine.sized(threads, req.device), make_worker, todo, write, done=n_shards - len(todo),
                           progress=progress, desc="sample")
    finally:
        torch.set_num_threads(old_threads)
    resumed, sampled = n_shards - len(todo), sum(made)
    run.update_manifest(complete=True)
    return SampleResult(run, n_shards, resumed, sampled, stats)


def write_preview(run, n_inputs: int = 8) -> Path:
    """Write RUN/preview.png: one row per input (the first `n_inputs`), one column per style."""
    run = Run.open(run)
    k = run.manifest["styles_per_input"]
    n = min(n_inputs, run.manifest["n_inputs"])
    return run.write_preview(encode_png(grid(run.images(range(n * k)), n, k)))
