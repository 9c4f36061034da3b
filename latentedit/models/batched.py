"""Batched encode and decode over a Generator, the one loop every stage uses.

Images, content and style codes are split into chunks of `batch_size` along the first axis, run
under `torch.inference_mode()` and joined again. `convert` (e.g. `latentedit.images.to_uint8`) is
applied to each chunk's output, so large batches are never held as float images.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["encode_content", "decode", "mean_style"]


def _join(parts):
    if parts and isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return torch.cat(parts)


def encode_content(generator, images: torch.Tensor, batch_size: int = 16, device=None) -> torch.Tensor:
    """Content codes (B, C, S, S) of images (B, 3, size, size) in [-1, 1], `batch_size` at a time.

    With `device`, each chunk is moved there before encoding.
    """
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size]
            out.append(generator.encode(x if device is None else x.to(device))[0])
    return torch.cat(out) if out else torch.empty(0, *generator.content_shape)


def decode(generator, content: torch.Tensor, styles: torch.Tensor, batch_size: int = 16, use_mapping: bool = False,
           convert=None, resolution=None):
    """Images of content codes with styles (w, W+, or z with `use_mapping`), `batch_size` at a time.

    Returns (B, 3, H, W) in [-1, 1], or the joined outputs of `convert` applied to each chunk. With
    `resolution`, the generator's RGB output at that resolution (H = W = resolution; a preview).
    """
    if len(content) != len(styles):
        raise ValueError(f"{len(content)} content codes for {len(styles)} styles")
    kwargs = {"use_mapping": use_mapping, **({} if resolution is None else {"resolution": resolution})}
    chunks = [(content[i : i + batch_size], styles[i : i + batch_size]) for i in range(0, len(styles), batch_size)]
    if hasattr(generator, "decode_many"):  # its decodes run elsewhere, all chunks at once (pipeline.engine)
        return _join(generator.decode_many(chunks, convert, **kwargs))
    out = []
    with torch.inference_mode():
        for c, s in chunks:
            img = generator.decode(c, s, **kwargs)
            out.append(img if convert is None else convert(img))
    return _join(out)


def mean_style(generator, n: int = 4096, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """The mean w (style_dim,) float64 of mapping(z) over `n` z of default_rng(seed), summed in float64 chunk by
    chunk so it does not depend on thread counts; kept on the generator."""
    if getattr(generator, "_mean_style", None) is None:
        z = np.random.default_rng(seed).standard_normal((n, generator.latent_dim)).astype(np.float32)
        device, total = next(generator.parameters()).device, np.zeros(generator.style_dim, np.float64)
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                w = generator.mapping(torch.from_numpy(z[i : i + batch_size]).to(device))
                total += w.cpu().numpy().astype(np.float64).sum(axis=0)
        generator._mean_style = total / n
    return generator._mean_style
