"""Style codes from anime reference images: GNR's G_B2A style encoder, and optional refinement.

GANs N' Roses trains its selfie->anime decoder on the styles of real anime pictures encoded by
the other generator: `G_B2A.style_encode(anime)` is the 8-d code `G_A2B.decode(content, style)`
takes. `load_style_encoder` (latentedit.models.checkpoint) reads that encoder from a checkpoint's
`G_B2A_ema` ("demo": the shipped demo one); `encode_style(encoder, image)` preprocesses a
reference like the official test transform (RGB, resized to the encoder's size, [-1, 1]) and
returns its code. RGBA and palette images are composited on white, grayscale is replicated to RGB.

`refine_style` optionally improves that first guess by gradient descent on z, w or W+ so that the
face decoded on a selfie's content re-encodes to the reference's style (GNR's style-consistency
idea): seeded, a fixed step budget, a progress bar, the loss curve in the result. Measured on the
demo world (benchmarks/bench_reference.py, assets/MODEL_CARD_style_encoder.md) before any default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from latentedit.errors import InputError
from latentedit.images import open_image, preprocess_pil
from latentedit.limits import image_size_problem
from latentedit.models.checkpoint import load_style_encoder

__all__ = ["load_style_encoder", "reference_image", "preprocess_reference", "encode_style", "RefineConfig",
           "RefineResult", "refine_style", "SPACES"]

BACKGROUND = (255, 255, 255)  # what transparent pixels of a reference become
SPACES = ("z", "w", "w+")


def _from_array(a: np.ndarray) -> Image.Image:
    if a.dtype != np.uint8:
        raise InputError(f"a reference array must be uint8 (H, W[, 1|3|4]), got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return Image.fromarray(a, "L")
    if a.ndim == 3 and a.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(a), "RGB" if a.shape[2] == 3 else "RGBA")
    raise InputError(f"a reference array must be (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}")


def _open(path: Path) -> Image.Image:
    if not path.exists():
        raise InputError(f"reference image {path} not found")
    if path.is_dir():
        raise InputError(f"reference {path} is a folder; pass one anime image file (PNG, JPEG, WebP, ...)")
    try:
        with open_image(path) as img:  # too small (< 16 px) or too large to decode safely: one line
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        kind = "empty" if path.stat().st_size == 0 else "not an image Pillow can read"
        raise InputError(f"reference {path} is {kind} ({type(e).__name__}); pass an anime image file "
                         "(PNG, JPEG, WebP, ...)") from None


def reference_image(source) -> Image.Image:
    """An RGB PIL image from a path, a PIL image or a uint8 array; transparency composited on white."""
    if isinstance(source, (str, Path)):
        img = _open(Path(source))
    elif isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        img = _from_array(source)
    else:
        raise InputError(f"a reference must be an image path, a PIL image or a uint8 array, "
                         f"got {type(source).__name__}")
    problem = image_size_problem(*img.size)
    if problem:
        raise InputError(f"cannot use the reference image: {problem}")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        img = Image.alpha_composite(canvas, rgba)
    return img.convert("RGB")


def preprocess_reference(source, size: int) -> torch.Tensor:
    """A reference as the official test transform makes it: (1, 3, size, size) float32 in [-1, 1]."""
    return preprocess_pil(reference_image(source), size)


def _batch(encoder, image) -> tuple[torch.Tensor, bool]:
    """(images (B, 3, S, S) in [-1, 1], whether one image was given)."""
    if isinstance(image, (list, tuple)):
        if not image:
            raise InputError("no reference images given")
        return torch.cat([preprocess_reference(im, encoder.size) for im in image]), False
    if isinstance(image, np.ndarray) and image.ndim == 4:
        return torch.cat([preprocess_reference(im, encoder.size) for im in image]), False
    return preprocess_reference(image, encoder.size), True


@torch.no_grad()
def encode_style(encoder, image, batch_size: int = 16) -> np.ndarray:
    """Style code z of a reference (path, PIL image or uint8 array): float32 (latent_dim,).

    A list of references (or a uint8 (B, H, W, 3) array) gives (B, latent_dim), `batch_size` at a time.
    """
    x, single = _batch(encoder, image)
    device = next(encoder.parameters()).device
    z = torch.cat([encoder.style_encode(x[i : i + batch_size].to(device)).float().cpu()
                   for i in range(0, len(x), batch_size)]).numpy()
    return z[0] if single else z


# --------------------------------------------------------------------------- refinement

@dataclass(frozen=True)
class RefineConfig:
    """How `refine_style` optimises a reference's code.

    space: "z" (8-d), "w" (one 512-d w) or "w+" (one w per modulated layer). The loss is the
    squared distance between the re-encoded style of the decoded face and the reference's style,
    plus `prior_weight` x the squared distance of the code from its start (per coordinate, in
    units of the start's spread), so that the code stays a plausible one.

    Measured on the demo world (benchmarks/bench_reference.py, 200 references): in z it raises
    agreement with the reference's ground truth for open mouth (0.945 -> 0.970) and eye colour
    (0.815 -> 0.889) and lowers it for hair length (0.980 -> 0.960); in W+ at the same lr it
    fools the encoder (hair colour 0.995 -> 0.895, eye colour -> 0.648). Hence z by default and
    refinement opt-in.
    """

    steps: int = 30
    lr: float = 0.05
    space: str = "z"
    prior_weight: float = 0.05
    jitter: int = 2        # random shift (pixels) of the decoded face before re-encoding
    seed: int = 0
    progress: bool = True

    def __post_init__(self):
        if self.space not in SPACES:
            raise InputError(f"unknown refinement space {self.space!r}; choose one of {', '.join(SPACES)}")
        if self.steps < 0:
            raise InputError(f"refinement steps must be >= 0, got {self.steps}")


@dataclass
class RefineResult:
    """A refined style: the encoder's first guess `z` (B, 8) and the optimised `code`.

    code is z (B, latent_dim), w (B, style_dim) or W+ (B, n_latent, style_dim) by `space`;
    `losses` holds the mean loss before each step and after the last one (steps + 1 values).
    """

    z: np.ndarray
    code: np.ndarray
    space: str
    losses: list[float] = field(default_factory=list)
    config: RefineConfig = field(default_factory=RefineConfig)

    @property
    def use_mapping(self) -> bool:
        """Whether `code` is z (decode with use_mapping=True) or already w / W+."""
        return self.space == "z"


def _shift(y: torch.Tensor, gen: torch.Generator, jitter: int) -> torch.Tensor:
    if jitter <= 0:
        return y
    dx, dy = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=gen))
    return torch.roll(y, shifts=(dy, dx), dims=(2, 3))


def _style_of_faces(encoder, y: torch.Tensor) -> torch.Tensor:
    if y.shape[-1] != encoder.size:
        y = F.interpolate(y, size=(encoder.size, encoder.size), mode="bilinear", align_corners=False,
                          antialias=True)
    return encoder.style_encode(y.clamp(-1, 1))


def refine_style(generator, encoder, reference, content, config: RefineConfig | None = None) -> RefineResult:
    """Refine the encoded style of each reference for the selfie content it will be decoded with.

    reference: one reference (or a list / uint8 batch of B); content: (B, C, S, S) content codes
    from `generator.encode` (or (1, ...), shared by every reference).
    """
    from tqdm.auto import tqdm

    cfg = config or RefineConfig()
    x, _ = _batch(encoder, reference)
    device = next(generator.parameters()).device
    x, content = x.to(device), torch.as_tensor(content).to(device).clone()  # clone: may be an inference tensor
    if len(content) not in (1, len(x)):
        raise InputError(f"{len(x)} references but {len(content)} content codes; pass one content or one per reference")
    content = content.expand(len(x), *content.shape[1:]) if len(content) == 1 else content
    with torch.no_grad():
        target = encoder.style_encode(x)
        z = target.clone()
        if cfg.space == "z":
            start = z
        else:
            w = generator.mapping(z)
            start = w if cfg.space == "w" else w[:, None].repeat(1, generator.n_latent, 1)
        scale = start.std(dim=-1, keepdim=True).clamp_min(1e-6) if cfg.space != "z" else torch.ones_like(start[..., :1])
    code = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([code], lr=cfg.lr * (1.0 if cfg.space == "z" else float(scale.mean())))
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []

    def loss_of(c):
        y = generator.decode(content, c, use_mapping=cfg.space == "z")
        style = _style_of_faces(encoder, _shift(y, gen, cfg.jitter))
        fit = (style - target).pow(2).mean(dim=1)
        prior = ((c - start) / scale).pow(2).flatten(1).mean(dim=1)
        return (fit + cfg.prior_weight * prior).mean()

    with torch.enable_grad():
        for _ in tqdm(range(cfg.steps), desc="refine style", unit="step", disable=not cfg.progress):
            loss = loss_of(code)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        with torch.no_grad():
            losses.append(float(loss_of(code)))
    return RefineResult(z=target.cpu().numpy(), code=code.detach().cpu().numpy(), space=cfg.space,
                        losses=losses, config=cfg)
