"""Conversions between GNR tensors ([-1, 1], NCHW), uint8 arrays (NHWC) and files.

Image files are read right in every PIL mode a user may have, or refused by name:
- 8-bit grey, colour, palette, CMYK, YCbCr, bilevel: converted to RGB by PIL;
- 16-bit grey (I;16, I;16B, I;16L, I): scaled by its own white level 65535 (PIL's plain
  conversion clips it at 255, so a 16-bit selfie read as almost white); 16-bit colour PNG/TIFF:
  PIL keeps the high byte;
- transparency (RGBA, LA, PA, palette or grey with a transparent colour): selfies are composited
  over white, as an image viewer shows them (the colour hidden under transparent pixels is
  arbitrary); `read_rgb` drops alpha, as DeepDanbooru's reference does;
- EXIF orientation: selfies are turned upright (`read_rgb` keeps the stored pixel order, as the
  reference tagger does);
- 32-bit float (F) and other modes without a white level are refused by name.
Selfies smaller than `limits.MIN_IMAGE_SIDE` or larger than `limits.MAX_IMAGE_PIXELS` are refused
with a one-line message (no silent upscale, no decompression-bomb traceback).
"""

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError
from .limits import check_finite, image_size_problem

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """GNR output (B,3,H,W) in [-1, 1] -> uint8 (B,H,W,3), as the reference converts it.

    Every decode passes here: NaN/inf pixels (a damaged generator, codes pushed past what float32
    holds) stop with a NonFiniteError instead of becoming black images.
    """
    check_finite(images, "decoded images", "the generator's weights or the style codes it was given are not "
                 "finite; check the checkpoint and the edit strengths")
    x = images.detach().float().clamp(-1, 1).add(1).div(2).mul(255).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 (B,H,W,3) or (H,W,3) -> float32 (B,3,H,W) in [-1, 1]."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float()
    return t.div(255).sub(0.5).div(0.5)


def has_alpha(img: Image.Image) -> bool:
    """True when an image has an alpha channel or a transparent colour (tRNS / GIF transparency)."""
    return img.mode in ALPHA_MODES or "transparency" in img.info


def _sixteen_bit(img: Image.Image, name) -> np.ndarray:
    a = np.asarray(img)
    if img.mode == "I" and a.size and (a.min() < 0 or a.max() > 65535):
        raise InputError(f"cannot read image {name}: mode I (32-bit integer) values {a.min()}..{a.max()} have no "
                         "known white level; save it as an 8- or 16-bit image")
    return a.astype(np.uint16) if a.dtype != np.uint16 else a


def rgb_array(img: Image.Image, name="image", alpha: str = "white", upright: bool = True) -> np.ndarray:
    """RGB pixels of a PIL image: uint8 (H, W, 3), or float32 in [0, 1] for 16-bit grey.

    alpha="white" composites transparency over white, "drop" drops it; `upright` applies the
    EXIF orientation. Modes without a white level (F, 32-bit I beyond 16 bits) raise InputError.
    """
    if upright and img.getexif().get(0x0112, 1) != 1:
        img = ImageOps.exif_transpose(img)
    if img.mode in SIXTEEN_BIT_MODES:
        a = _sixteen_bit(img, name).astype(np.float32) / 65535
        return np.repeat(a[..., None], 3, axis=-1)
    if img.mode == "F":
        raise InputError(f"cannot read image {name}: mode F (32-bit floating point) has no known white level; "
                         "save it as an 8- or 16-bit image")
    try:
        if alpha == "white" and has_alpha(img):
            with warnings.catch_warnings():  # PIL's "palette images with transparency" note
                warnings.simplefilter("ignore", UserWarning)
                rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
        return np.asarray(img.convert("RGB"))
    except ValueError as e:
        raise InputError(f"cannot read image {name}: PIL mode {img.mode} cannot be converted to RGB ({e})") from None


def _unit_tensor(a: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 or float32 in [0, 1] -> float32 (1, 3, H, W) in [0, 1]."""
    t = torch.from_numpy(np.array(a)).permute(2, 0, 1)[None]  # a copy: PIL's arrays are read-only
    return t.float() / 255 if a.dtype == np.uint8 else t.float()


def preprocess_pil(img: Image.Image, size: int, name="image") -> torch.Tensor:
    """Reference selfie preprocessing: RGB, bilinear antialiased resize to size x size, [-1, 1]."""
    t = _unit_tensor(rgb_array(img, name))
    t = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (t - 0.5) / 0.5


def _declared_size(path) -> tuple[int, int] | None:
    """Width and height a file's header declares, read without PIL's size guard (nothing decoded)."""
    Image.init()
    with open(path, "rb") as fp:
        prefix = fp.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            if accept is not None and not accept(prefix):
                continue
            fp.seek(0)
            try:
                return factory(fp, str(path)).size
            except Exception:  # noqa: BLE001 - any plugin that cannot parse the header is not this format
                fp.seek(0)
    return None


def open_image(path, min_side: bool = True):
    """`Image.open(path)` with its size checked first: InputError (one line) for tiny or huge images.

    `min_side=False` skips the minimum-side check (the tagger resizes any size itself).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError:
        size = _declared_size(path) or (0, 0)
        raise InputError(f"cannot read image {path}: {image_size_problem(*size) or 'too large to decode safely'}") \
            from None
    problem = image_size_problem(*img.size)
    if problem and (min_side or "decompression" in problem):
        img.close()
        raise InputError(f"cannot read image {path}: {problem}")
    return img


def read_rgb(path) -> np.ndarray:
    """One image file as uint8 RGB (H, W, 3), as DeepDanbooru reads it: alpha dropped, grey expanded,
    16-bit reduced to its high byte, no EXIF turn; InputError when unreadable or huge."""
    try:
        with open_image(path, min_side=False) as img:
            if img.mode in SIXTEEN_BIT_MODES:
                a = (_sixteen_bit(img, path) >> 8).astype(np.uint8)
                return np.repeat(a[..., None], 3, axis=-1)
            return rgb_array(img, path, alpha="drop", upright=False)
    except _READ_ERRORS as e:
        raise InputError(f"cannot read image {path}: {e}") from e


def load_selfie(path, size: int) -> torch.Tensor:
    """Read one image file and preprocess it like the reference (1,3,size,size), read right (see above)."""
    try:
        with open_image(path) as img:
            img.load()
            return preprocess_pil(img, size, path)
    except _READ_ERRORS as e:
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
