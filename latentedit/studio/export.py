"""Strength sweeps as animations: frames there and back again, as GIF (Pillow) or MP4 (imageio-ffmpeg).

Both writers are deterministic for the same frames (no timestamps; ffmpeg in bitexact mode), and
write atomically (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..io import atomic_write_bytes

__all__ = ["FORMATS", "upscale", "bounce", "write_animation"]

FORMATS = ("gif", "mp4")


def upscale(frames: np.ndarray, min_size: int = 256) -> np.ndarray:
    """Frames (N, H, W, 3) enlarged by an integer factor (nearest neighbour) to at least `min_size`."""
    k = max(1, -(-int(min_size) // max(frames.shape[1:3])))
    return frames if k == 1 else frames.repeat(k, axis=1).repeat(k, axis=2)


def bounce(frames: np.ndarray) -> np.ndarray:
    """Frames forward, then back (without repeating the ends), so the animation loops smoothly."""
    return np.concatenate([frames, frames[-2:0:-1]]) if len(frames) > 2 else frames


def _gif(frames: np.ndarray, fps: float) -> bytes:
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                   loop=0, optimize=False, disposal=1)
    return buf.getvalue()


def _mp4(frames: np.ndarray, fps: float) -> bytes:
    import imageio.v2 as imageio

    fd, tmp = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        writer = imageio.get_writer(tmp, format="ffmpeg", fps=fps, quality=8, macro_block_size=2,
                                    ffmpeg_log_level="error", output_params=["-fflags", "+bitexact", "-threads", "1"])
        try:
            for f in frames:
                writer.append_data(f)
        finally:
            writer.close()
        return Path(tmp).read_bytes()
    finally:
        os.unlink(tmp)


def write_animation(path, frames: np.ndarray, fmt: str = "gif", fps: float = 12.0, min_size: int = 256) -> Path:
    """Write a sweep's frames (uint8 (N, H, W, 3)) as a looping GIF or an MP4 at `path`."""
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise InputError(f"a sweep is exported as gif or mp4, got {fmt!r}")
    if not (0 < fps <= 60):
        raise InputError(f"frames per second must be in (0, 60], got {fps}")
    frames = bounce(upscale(np.asarray(frames, np.uint8), min_size))
    data = _gif(frames, fps) if fmt == "gif" else _mp4(frames, fps)
    return atomic_write_bytes(path, data)
