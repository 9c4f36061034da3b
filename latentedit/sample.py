"""Sampling: inputs -> content codes -> random styles -> anime images, into a run's store.

Each input (a selfie file, or a demo-world selfie rendered from the seed) is encoded once; its
content code is reused for `styles_per_input` random styles z ~ N(0, I). The style codes of input
i come from their own random stream seeded by (seed, i), so a sample's codes depend only on the
seed and the input, and its bytes on those, the generator and the batch size (float summation
order): not on where a previous run was interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import InputError
from .images import encode_png, list_images, load_selfie, from_uint8, to_uint8
from .store import Run, clean_partial, shard_name, versions, write_shard


@dataclass
class Inputs:
    """The inputs of a run: names in order, a loader per index, and the files that were skipped."""

    names: list[str]
    load: callable
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
        good.append(p)
        if n_inputs is not None and len(good) == n_inputs:
            break
    if not good:
        raise InputError(f"no readable images in {folder} ({len(skipped)} files skipped)")
    return Inputs([p.name for p in good], lambda i: load_selfie(good[i], size), skipped)


def demo_inputs(n_inputs: int, seed: int, size: int) -> Inputs:
    """Demo-world selfies; selfie i is rendered from its own seed (seed, i)."""
    from .world.render import demo_selfies

    def load(i: int) -> torch.Tensor:
        images, _ = demo_selfies(1, seed=_stream_seed(seed, i, "selfie"), size=size)
        return from_uint8(images)

    return Inputs([f"demo-selfie-{seed}-{i}" for i in range(n_inputs)], load)


def _stream_seed(seed: int, index: int, purpose: str) -> int:
    return int(np.random.SeedSequence([seed, index, sum(map(ord, purpose))]).generate_state(1)[0])


def style_codes(seed: int, input_index: int, k: int, latent_dim: int) -> np.ndarray:
    """The k style codes z of one input: (k, latent_dim) float32, N(0, I)."""
    rng = np.random.default_rng(_stream_seed(seed, input_index, "style"))
    return rng.standard_normal((k, latent_dim)).astype(np.float32)


def generator_source(generator, G) -> str:
    """What to record as the generator's source: 'demo', a checkpoint path, or 'in-memory'."""
    if isinstance(generator, (str, Path)):
        return str(generator)
    info = getattr(G, "source_info", None) or {}
    if info.get("source") == "demo":
        return "demo"
    return info.get("path") or "in-memory"


def resolve_device(device: str) -> torch.device:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device} asked but this machine has no CUDA GPU; use --device cpu")
    return torch.device(device)


@torch.inference_mode()
def _render_shard(G, inputs: Inputs, index_range, k: int, seed: int, batch_size: int, device) -> tuple[dict, list]:
    latent_dim = G.config["latent_dim"]
    contents = []
    idx = list(index_range)
    for start in range(0, len(idx), batch_size):
        x = torch.cat([inputs.load(i) for i in idx[start : start + batch_size]]).to(device)
        contents.append(G.encode(x)[0])
    content = torch.cat(contents).repeat_interleave(k, dim=0)
    z = np.concatenate([style_codes(seed, i, k, latent_dim) for i in idx])
    z_t = torch.from_numpy(z).to(device)
    w, pngs = [], []
    for start in range(0, len(z), batch_size):
        w_b = G.mapping(z_t[start : start + batch_size])
        img = G.decode(content[start : start + batch_size], w_b, use_mapping=False)
        w.append(w_b.float().cpu().numpy())
        pngs.extend(encode_png(a) for a in to_uint8(img))
    codes = {
        "id": np.array([i * k + j for i in idx for j in range(k)], np.int64),
        "input_id": np.repeat(np.array(idx, np.int64), k),
        "z": z,
        "w": np.concatenate(w).astype(np.float32),
    }
    return codes, pngs


def sample(
    generator="demo",
    out="runs/demo",
    inputs=None,
    n_inputs: int | None = None,
    styles_per_input: int = 3,
    seed: int = 0,
    batch_size: int = 8,
    device: str = "cpu",
    inputs_per_shard: int = 16,
    overwrite: bool = False,
    progress: bool = True,
) -> Run:
    """Sample `styles_per_input` anime images for each input into the run at `out`.

    `generator` is "demo", a checkpoint path, or a loaded Generator. Without `inputs`, demo-world
    selfies are rendered (`n_inputs` of them, 64 by default). Re-running with the same arguments
    resumes: finished shards are kept, missing ones are made.
    """
    from .models.checkpoint import fingerprint, load_generator

    if styles_per_input < 1:
        raise InputError("--styles-per-input must be at least 1")
    if batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    dev = resolve_device(device)
    G = load_generator(generator, device=str(dev)) if isinstance(generator, (str, Path)) else generator
    size = G.config["size"]
    if inputs is None:
        src = demo_inputs(64 if n_inputs is None else n_inputs, seed, size)
    else:
        src = folder_inputs(inputs, size, n_inputs)
    n = len(src.names)
    run = Run.create(
        out,
        {
            "generator": {
                "fingerprint": fingerprint(G),
                "config": G.config,
                "source": generator_source(generator, G),
            },
            "seed": seed,
            "styles_per_input": styles_per_input,
            "inputs_per_shard": inputs_per_shard,
            "inputs": [{"id": i, "name": name} for i, name in enumerate(src.names)],
            "skipped": src.skipped,
            "inputs_dir": None if inputs is None else str(Path(inputs).resolve()),
            "n_inputs": n,
            "n_samples": n * styles_per_input,
            "batch_size": batch_size,
            "complete": False,
            "versions": versions(),
        },
        overwrite=overwrite,
    )
    clean_partial(run)
    done = set(run.shards())
    n_shards = -(-n // inputs_per_shard)
    todo = [s for s in range(n_shards) if shard_name(s) not in done]
    run.resumed_shards = n_shards - len(todo)
    with tqdm(total=n * styles_per_input, disable=not progress, desc="sample", unit="img") as bar:
        bar.update(min(n, run.resumed_shards * inputs_per_shard) * styles_per_input)
        for s in todo:
            rng = range(s * inputs_per_shard, min(n, (s + 1) * inputs_per_shard))
            codes, pngs = _render_shard(G, src, rng, styles_per_input, seed, batch_size, dev)
            write_shard(run, s, codes, pngs)
            bar.update(len(pngs))
    run.update_manifest(complete=True)
    return run


def preview(run: Run, n_inputs: int = 8) -> Path:
    """Write RUN/preview.png: one row per input (the first `n_inputs`), one column per style."""
    from .images import grid
    from .io import atomic_write_bytes

    k = run.manifest["styles_per_input"]
    n = min(n_inputs, run.manifest["n_inputs"])
    images = run.images(range(n * k))
    return atomic_write_bytes(run.path / "preview.png", encode_png(grid(images, n, k)))
