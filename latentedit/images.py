"""Conversions between GNR tensors ([-1, 1], NCHW), uint8 arrays (NHWC) and files."""

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """GNR output (B,3,H,W) in [-1, 1] -> uint8 (B,H,W,3), as the reference converts it."""
    x = images.detach().float().clamp(-1, 1).add(1).div(2).mul(255).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 (B,H,W,3) or (H,W,3) -> float32 (B,3,H,W) in [-1, 1]."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float()
    return t.div(255).sub(0.5).div(0.5)


def preprocess_pil(img: Image.Image, size: int) -> torch.Tensor:
    """Reference selfie preprocessing: RGB, bilinear antialiased resize to size x size, [-1, 1]."""
    img = img.convert("RGB")
    t = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)[None].float() / 255
    t = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (t - 0.5) / 0.5


def load_selfie(path, size: int) -> torch.Tensor:
    """Read one image file and preprocess it like the reference (1,3,size,size)."""
    try:
        with Image.open(path) as img:
            img.load()
            return preprocess_pil(img, size)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"cannot read image {path}: {e}") from e


def list_images(folder) -> tuple[list[Path], list[Path]]:
    """Image files of a folder in sorted order, and the other files that were skipped."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"inputs folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"inputs path {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    return images, others


def encode_png(image: np.ndarray) -> bytes:
    """Encode a uint8 HxWx3 image as PNG bytes deterministically (no timestamps)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def grid(images: np.ndarray, rows: int, cols: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile uint8 (N,H,W,3) images into a rows x cols grid with `pad` pixels between them."""
    n, h, w, c = images.shape
    out = np.full((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, c), fill, np.uint8)
    for i in range(min(n, rows * cols)):
        r, k = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        out[y : y + h, x : x + w] = images[i]
    return out
