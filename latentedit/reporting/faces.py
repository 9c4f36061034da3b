"""Faces in the report: upscaled to FACE_PX with nearest-neighbour (no pixel blurred), labelled.

The demo generator draws 64 px faces; a page shows them at FACE_PX (128) or more, each source
pixel an exact block, with labels drawn into the PNG so a grid reads on its own.

- `upscale(images, size)`: uint8 (N, H, W, 3) -> (N, size, size, 3), nearest-neighbour.
- `face_grid(columns, titles, row_labels)`: columns of faces side by side, each headed by its title.
- `face_strip(before, after, n)`: two rows, before over after, of the first n faces.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..images import encode_png

__all__ = ["FACE_PX", "upscale", "face_grid", "face_strip"]

FACE_PX = 128
_GAP = 4
_FONT_PX = 13


def upscale(images: np.ndarray, size: int = FACE_PX) -> np.ndarray:
    """uint8 (N, H, W, 3) faces -> (N, size, size, 3), nearest-neighbour (integer factors stay exact)."""
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((size, size), Image.NEAREST))
                     for img in images])


def _font():
    return ImageFont.load_default(size=_FONT_PX)


def _wrap(text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in str(text).split():
        trial = f"{line} {word}".strip()
        if line and font.getlength(trial) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def face_grid(columns: list[np.ndarray], titles: list[str], size: int = FACE_PX, row_labels=None) -> bytes:
    """PNG: columns of faces (each uint8 (rows, H, W, 3)) at `size` px, each column headed by its title."""
    font = _font()
    wrapped = [_wrap(t, font, size) for t in titles]
    head = (max(len(w) for w in wrapped) if wrapped else 0) * (_FONT_PX + 3) + 6
    label_w = 0 if not row_labels else int(max(font.getlength(str(r)) for r in row_labels)) + 8
    rows = len(columns[0])
    width = label_w + len(columns) * (size + _GAP) + _GAP
    height = head + rows * (size + _GAP) + _GAP
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for k, (col, lines) in enumerate(zip(columns, wrapped)):
        x = label_w + _GAP + k * (size + _GAP)
        for j, line in enumerate(lines):
            draw.text((x, 3 + j * (_FONT_PX + 3)), line, fill=(20, 20, 20), font=font)
        for r, face in enumerate(upscale(col, size)):
            canvas.paste(Image.fromarray(face), (x, head + _GAP + r * (size + _GAP)))
    for r, text in enumerate(row_labels or ()):
        draw.text((3, head + _GAP + r * (size + _GAP) + size // 2 - _FONT_PX // 2), str(text), fill=(60, 60, 60),
                  font=font)
    return encode_png(np.asarray(canvas))


def face_strip(before: np.ndarray, after: np.ndarray, n: int = 6, size: int = FACE_PX) -> bytes:
    """PNG: the first `n` faces before (top row) and after (bottom row), at `size` px."""
    n = min(n, len(before))
    row_b, row_a = upscale(before[:n], size), upscale(after[:n], size)
    canvas = np.full((2 * size + _GAP, n * size + (n - 1) * _GAP, 3), 255, np.uint8)
    for i in range(n):
        x = i * (size + _GAP)
        canvas[:size, x: x + size] = row_b[i]
        canvas[size + _GAP:, x: x + size] = row_a[i]
    return encode_png(canvas)
