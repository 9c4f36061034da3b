"""Uploaded files, decoded defensively: size-limited, only real images, every failure one message.

The studio's uploads come from a browser: anything may arrive (a renamed text file, a truncated
PNG, a decompression bomb). `read_image` never lets such a file take the server down: it checks
the byte size, the format, the pixel count before decoding, and turns every decoder error into an
`InputError` whose one-line message the page shows.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import InputError

__all__ = ["MAX_BYTES", "MAX_PIXELS", "FORMATS", "Upload", "read_image", "read_bytes"]

MAX_BYTES = 10 * 1024 * 1024       # 10 MiB per uploaded file
MAX_PIXELS = 25_000_000            # 25 megapixels (e.g. 5000 x 5000)
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")


@dataclass(frozen=True)
class Upload:
    """A decoded upload: the image (RGB or RGBA/L as stored, loaded), its file name and sha256."""

    image: Image.Image
    name: str
    sha256: str
    data: bytes


def read_bytes(path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of an uploaded file, refused when larger than `max_bytes`."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError(f"the upload {path.name} cannot be read ({e.strerror or e})") from None
    if size > max_bytes:
        raise InputError(f"{path.name} is {size / 2**20:.1f} MiB; uploads are limited to {max_bytes / 2**20:.0f} MiB")
    if size == 0:
        raise InputError(f"{path.name} is empty")
    return path.read_bytes()


def read_image(path, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Upload:
    """Decode an uploaded image file; `InputError` (one line) for anything that is not a usable image."""
    name = Path(path).name
    data = read_bytes(path, max_bytes)
    what = f"{name} is not an image the studio can read"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format not in FORMATS:
                    raise InputError(f"{name} is a {img.format} file; upload a PNG, JPEG, WebP, BMP, GIF or TIFF image")
                w, h = img.size
                if w < 1 or h < 1 or w * h > max_pixels:
                    raise InputError(f"{name} is {w} x {h} pixels; uploads are limited to {max_pixels / 1e6:.0f} "
                                     "megapixels")
                img.seek(0)
                img.load()
                image = img.copy()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{name} decodes to too many pixels; uploads are limited to {max_pixels / 1e6:.0f} "
                         "megapixels") from None
    except UnidentifiedImageError:
        raise InputError(f"{what} (not a PNG, JPEG, WebP, BMP, GIF or TIFF file)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise InputError(f"{what}: it is damaged or truncated ({type(e).__name__})") from None
    return Upload(image, name, hashlib.sha256(data).hexdigest(), data)
