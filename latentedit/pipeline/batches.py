"""What a report evaluates on: fresh selfies with random styles, and reference anime images.

On the demo world (`Run.is_demo`) the batch is `scoring.demo.DemoBatch`: fresh demo selfies
seeded by `seed`, random styles and a pixel readout of what every decoded image shows. Other runs
are evaluated on their own input selfies (`pipeline.sample.run_inputs`) with new random styles and
no ground truth (`SelfieBatch`). `face_files` and `styles_seed` remake a batch with
`latentedit edit --inputs DIR --inputs-seed S`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from ..images import from_uint8, list_images, read_rgb, to_uint8
from ..models import batched
from ..scoring.data import resize_uint8
from ..scoring.demo import DemoBatch
from ..world.render import demo_anime, demo_selfies
from .sample import run_inputs

BATCH_SIZE = 32


def styles_seed(seed: int) -> int:
    """The `latentedit edit --inputs-seed` whose row i is style i of a batch of `seed`.

    Both batches draw their styles z from default_rng([seed, 1]); numpy's SeedSequence reads an int
    as its 32-bit words, low first, so default_rng(seed + 2**32) draws the same numbers."""
    return int(seed) + 2**32


def face_files(run, G, n: int, seed: int) -> dict:
    """{"faces/NNN.png": selfie of batch face NNN}: what `latentedit edit --inputs` takes to remake the
    batch (none for a generator that draws from codes alone: `--inputs-seed` alone remakes it)."""
    from ..images import encode_png

    if not G.takes_content:
        return {}
    selfies = run_selfies(run, G, n, seed)
    return {f"faces/{i:03d}.png": encode_png(selfies[i % len(selfies)]) for i in range(n)}


class SelfieBatch:
    """Content codes of the run's own input selfies (cycled) with fresh random styles; no readout."""

    def __init__(self, G, selfies: np.ndarray | None, n: int, seed: int):
        if G.takes_content:
            self.content = batched.encode_content(G, from_uint8(selfies[np.arange(n) % len(selfies)]), BATCH_SIZE)
        else:
            self.content = torch.zeros(n, 0)
        self.z = np.random.default_rng([seed, 1]).standard_normal((n, G.latent_dim)).astype(np.float32)
        with torch.inference_mode():
            self.w = G.mapping(torch.from_numpy(self.z))

    def decode(self, G, w) -> np.ndarray:
        return decode(G, self.content, w)


def decode(G, content, w) -> np.ndarray:
    """uint8 (n, H, W, 3) images of content codes with styles w (or W+)."""
    return batched.decode(G, content, w, BATCH_SIZE, convert=to_uint8)


def evaluation_batch(run, G, n: int, seed: int):
    """The batch a report edits: a DemoBatch on the demo world, else a SelfieBatch of the run's inputs."""
    if run.is_demo:
        return DemoBatch.sample(G, n, seed)
    return SelfieBatch(G, run_selfies(run, G, n, seed) if G.takes_content else None, n, seed)


def run_selfies(run, G, n: int, seed: int) -> np.ndarray:
    """uint8 selfies to evaluate on: fresh demo selfies on the demo world, else the run's first n inputs."""
    if run.is_demo:
        return demo_selfies(n, seed=seed, size=G.size)[0]
    inputs = run_inputs(run, G.size)
    return np.concatenate([to_uint8(inputs.load(i)) for i in range(min(n, len(inputs.names)))])


def reference_images(run, G, n: int, seed: int, reference=None) -> np.ndarray:
    """Anime images the metrics compare against: a folder given by the user, or demo-world renders."""
    if reference is not None:
        files, _ = list_images(reference)
        if not files:
            raise InputError(f"no reference anime images in {reference}")
        return resize_uint8([read_rgb(f) for f in files[:n]], G.size).permute(0, 2, 3, 1).numpy()
    if run.is_demo:
        return demo_anime(n, seed=seed + 17, size=G.size)[0]
    raise InputError("FID needs reference anime images: pass reference=FOLDER (--reference)")
