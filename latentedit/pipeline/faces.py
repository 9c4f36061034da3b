"""The face an edit starts from: the style and content codes a recipe's `Face` names.

A recipe (`latentedit.editing.recipe`) records each starting face as a style and a content; this
module turns them into codes, the same way for every command (the studio, `edit --recipe`), so
that a recipe re-applied anywhere draws the same pixels. Every code is computed one face at a time
(batch 1), since a batch's float summation order can move the last bit of a pixel.

Style kinds: a run's sample (its stored w, or z), a seed (row `index` of
`numpy.random.default_rng(seed).standard_normal((index + 1, latent_dim))`, mapped to w and pulled
toward the generator's mean style by `truncation` (`G.truncate`: T = 1 no change, T = 0 the mean
face), an explicit code (z is mapped to w; w and W+ are used as they are).

Content kinds: a run's input selfie (re-encoded from the inputs the run records), a demo-world
selfie (seed, index), an image file the caller supplies by its sha256 (`images`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError, RunError
from ..images import preprocess_pil
from ..models.batched import encode_content
from ..store import Run

__all__ = ["seed_z", "style_code", "content_code", "face_codes"]


def _device(G) -> torch.device:
    return next(G.parameters()).device


def _map(G, z: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return G.mapping(torch.from_numpy(np.ascontiguousarray(z, np.float32)).to(_device(G))).cpu().numpy()


def seed_z(seed: int, index: int, latent_dim: int) -> np.ndarray:
    """Row `index` of default_rng(seed).standard_normal((index + 1, latent_dim)), float32."""
    if seed < 0 or index < 0:
        raise InputError(f"a style seed and index must be >= 0, got seed {seed}, index {index}")
    return np.random.default_rng(seed).standard_normal((index + 1, latent_dim)).astype(np.float32)[index]


def _run(run) -> Run:
    if run is None:
        raise RunError("this face is a run's sample or input: give the run it comes from")
    return Run.open(run)


def _sample_row(run: Run, sample_id: int, codes=None) -> tuple[dict, int]:
    codes = run.codes() if codes is None else codes
    where = np.flatnonzero(codes["id"] == int(sample_id))
    if not where.size:
        raise RunError(f"sample id {sample_id} is not in {run.path} (ids {int(codes['id'].min())}-"
                       f"{int(codes['id'].max())})")
    return codes, int(where[0])


def style_code(G, style, run=None, space: str = "w", codes=None) -> np.ndarray:
    """The code (float32 (D,), or (L, D) for W+) of a recipe `Style`, in `space` ("w" or "z").

    `codes` (optional) is the run's `Run.codes()`, to skip re-reading it per face.
    """
    if style.kind == "sample":
        run = _run(run)
        codes, i = _sample_row(run, style.sample_id, codes)
        return np.asarray(codes[space][i], np.float32)
    if style.kind == "seed":
        z = seed_z(style.seed, style.index, G.latent_dim)
        if space == "z":
            if style.truncation != 1.0:
                raise InputError("a truncated seed style is a w code; use w-space directions with it")
            return z
        w = _map(G, z[None])[0]
        if style.truncation == 1.0:
            return w
        with torch.inference_mode():
            return G.truncate(torch.from_numpy(w).to(_device(G)), float(style.truncation)).cpu().numpy()
    if style.kind == "code":
        code = np.asarray(style.code, np.float32)
        want = ((G.latent_dim,) if style.space == "z" else (G.style_dim,) if code.ndim == 1
                else (G.n_latent, G.style_dim))
        if code.shape != want:  # (before: a wrong length was reported as faces mixing w and W+ codes)
            raise InputError(f"a {style.space} style code of this generator has shape {'x'.join(map(str, want))}, "
                             f"this recipe's has {'x'.join(map(str, code.shape))}")
        if style.space == space:
            return code
        if style.space == "z" and space == "w" and code.ndim == 1:
            return _map(G, code[None])[0]
        raise InputError(f"a {style.space} style code cannot be used with {space}-space directions")
    raise InputError(f"unknown style kind {style.kind!r}")


def content_code(G, content, run=None, images=None) -> torch.Tensor:
    """The content code (1, C, S, S) of a recipe `Content` (on the generator's device).

    images: {sha256: PIL image} of the files a "file" content may name.
    """
    from .sample import demo_inputs, run_inputs

    if not G.takes_content:  # a generator that draws from codes alone: every face's content is empty
        if content.kind == "file":
            raise InputError(f"a {G.kind} generator draws from codes alone and takes no selfie ({content.name or '?'})")
        return torch.zeros(1, 0, device=_device(G))
    if content.kind == "run_input":
        run = _run(run)
        n = len(run.input_source.names)
        if not 0 <= content.input_id < n:
            raise RunError(f"input id {content.input_id} is not in {run.path} (it has {n} inputs)")
        x = run_inputs(run, G.size).load(int(content.input_id))
    elif content.kind == "demo_selfie":
        x = demo_inputs(int(content.index) + 1, int(content.seed), G.size).load(int(content.index))
    elif content.kind == "file":
        img = (images or {}).get(content.sha256)
        if img is None:
            raise InputError(f"this face is drawn on the selfie {content.name or '?'} (sha256 "
                             f"{content.sha256[:16]}...); give that image file")
        x = preprocess_pil(img, G.size)
    else:
        raise InputError(f"a {content.kind} content is a video's; it has no single face")
    return encode_content(G, x.to(_device(G)), 1)


def face_codes(G, face, run=None, space: str = "w", images=None, codes=None) -> tuple[torch.Tensor, np.ndarray]:
    """(content (1, C, S, S), style code (1, D) or (1, L, D)) of a recipe `Face`."""
    return content_code(G, face.content, run, images), style_code(G, face.style, run, space, codes)[None]
