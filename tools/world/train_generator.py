"""Train the demo GNR generator on the demo world, supervised (no GAN needed).

The world knows the right answer for every input: the selfie of geometry g and appearance code
z_s must translate, under style z, into `render_anime(g, attributes(z))`. So the generator learns
by regression:

- content: decode(encode(selfie).content, z) reproduces the anime render (L1 on pixels, optionally
  weighted up on the eyes and mouth, plus L1 on image gradients, which keeps outlines sharp);
- style: the encoder's style head regresses z_s (MSE), so `encode` returns a meaningful style
  code in z-space, as GNR's does.

Each selfie is pre-rendered with STYLES_PER_SELFIE anime targets of the same geometry; a step
encodes `batch` selfies once and decodes each with `styles_per_step` of its targets' codes.
Small batches and many steps: on a shared 2-core CPU that converges fastest per example seen.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, asdict

import numpy as np
import torch

from latentedit.world import render, truth

STYLES_PER_SELFIE = 6


@dataclass
class TrainConfig:
    """Everything that decides the trained weights (saved into the model card)."""

    seed: int = 0
    n_train: int = 6000          # selfies (each with STYLES_PER_SELFIE anime targets)
    n_val: int = 200
    steps: int = 16000
    batch: int = 4               # selfies per step
    styles_per_step: int = 2     # of each selfie's STYLES_PER_SELFIE targets -> batch * this decoded
    stop_after: int | None = None  # stop early at this step without changing the lr schedule
    lr: float = 2e-3
    mapping_lr_boost: float = 10.0
    gradient_weight: float = 1.0
    style_weight: float = 0.1
    feature_weight: float = 0.0  # extra L1 weight on the eyes and mouth (Gaussian blobs)
    blush_weight: float = 0.0    # extra L1 weight on the cheeks, where blush is drawn
    feature_l2: float = 0.0      # squared-error weight on the eye, mouth and cheek blobs (see train)
    fresh_styles: bool = False   # draw new style codes every step and render their targets
    near_threshold: float = 0.0  # with fresh_styles: fraction of codes moved next to a tag threshold
    contrast_weight: float = 0.0  # with fresh_styles: weight of the counterfactual margin loss (`contrast_loss`)
    mouth_contrast: float = 0.0  # with contrast_weight: share of closed mouths contrasted on smile or mouth
    time_budget_s: float = 45 * 60  # safety stop on a slow or busy machine (see stop_after)
    threads: int = 2


@dataclass
class PairData:
    """Pre-rendered training pairs: selfies (N,H,W,3), their codes, and K anime targets each."""

    selfies: np.ndarray
    z_selfie: np.ndarray
    z: np.ndarray        # (N, K, 8)
    anime: np.ndarray    # (N, K, H, W, 3)
    geometry: dict


def make_pairs(n: int, seed: int, size: int = 64, k: int = STYLES_PER_SELFIE) -> PairData:
    """Render `n` selfies and k anime targets for each, deterministically from `seed`."""
    rng = np.random.default_rng(seed)
    geometry = render.sample_geometry(rng, n)
    z_selfie = rng.standard_normal((n, truth.LATENT_DIM))
    z = rng.standard_normal((n, k, truth.LATENT_DIM))
    selfies = render.selfie_batch(geometry, z_selfie, size)
    anime = np.stack([render.anime_batch(geometry, z[:, j], size) for j in range(k)], axis=1)
    return PairData(selfies, z_selfie, z, anime, geometry)


# The planted vectors whose threshold decides a tag, and that threshold (truth.attributes).
THRESHOLDS = (
    ("mouth", truth.MOUTH_THRESHOLD), ("eyes_closed", truth.EYES_THRESHOLD),
    ("hair_length", truth.SHORT_BELOW), ("hair_length", truth.LONG_ABOVE),
    ("smile", truth.SMILE_THRESHOLD), ("blush", truth.BLUSH_THRESHOLD),
)
NEAR_SPREAD = 0.3


def near_threshold_codes(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """n codes ~ N(0, I); a `fraction` of them moved along one planted vector to within NEAR_SPREAD of its threshold.

    Under N(0, I) few codes sit where a tag switches, so a generator trained on plain samples
    draws a half-open mouth across a wide band around the threshold. Codes placed on both sides
    of it, close by, teach the switch itself; the other coordinates keep their Gaussian spread.
    """
    z = rng.standard_normal((n, truth.LATENT_DIM))
    moved = rng.random(n) < fraction
    which = rng.integers(len(THRESHOLDS), size=n)
    offset = rng.uniform(-NEAR_SPREAD, NEAR_SPREAD, size=n)
    for i in np.flatnonzero(moved):
        name, threshold = THRESHOLDS[which[i]]
        v = truth.VECTORS[name]
        z[i] += (threshold + offset[i] - z[i] @ v) * v
    return z


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 (prod(...), 3, H, W) in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(a)).reshape(-1, *a.shape[-3:])
    return t.permute(0, 3, 1, 2).float().div(127.5).sub(1)


FEATURE_POINTS = ((-0.085, 0.03), (0.085, 0.03), (0.0, 0.15))  # eyes and mouth, face-local
CHEEK_POINTS = ((-0.115, 0.095), (0.115, 0.095))  # where blush is drawn (render._draw_blush)


def feature_weights(geometry: dict, idx: np.ndarray, size: int, weight: float, cheek_weight: float = 0.0) -> torch.Tensor:
    """Per-pixel loss weights (B, 1, H, W): 1 + weight x Gaussian blobs on the eyes and mouth
    (+ cheek_weight x blobs on the cheeks).

    Eyes, mouth and blush are a few pixels wide at 64x64; without extra weight plain L1 learns them last.
    """
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    maps = []
    for i in idx:
        g = render.take(geometry, int(i))
        sigma = 0.045 * g["scale"] * size
        frame = render._Frame(g, size)

        def blobs(points):
            return sum(np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) for x, y in frame(points))

        m = 1 + weight * blobs(FEATURE_POINTS)
        maps.append(m + cheek_weight * blobs(CHEEK_POINTS) if cheek_weight else m)
    return torch.from_numpy(np.stack(maps)[:, None]).float()


# The small attributes `contrast_loss` toggles: the ones a generator draws wrong most (model card).
CONTRAST_ATTRIBUTES = ("smile", "open_mouth", "blush", "eye_color", "closed_eyes")
CONTRAST_MARGIN = 0.5  # of the target's own distance to its counterfactual, inside the pixels they differ in


def counterfactuals(rng: np.random.Generator, geometry: dict, codes: np.ndarray, size: int,
                    mouth_share: float = 0.0) -> np.ndarray:
    """Per code, its target render with one of CONTRAST_ATTRIBUTES switched (eye colour: another one
    of EYE_COLORS; only where the eyes are open): uint8 (N, H, W, 3).

    mouth_share: for this share of closed-mouth codes the switch is the smile or the open mouth
    (half each) instead of a uniform pick. A closed smile is a few pixels of curve, and one
    contrast in five leaves it drawn as the plain line in half the faces. With 0, the draws from
    `rng` are those of the uniform pick alone.
    """
    attrs = truth.attributes(codes)
    out = []
    for i in range(len(codes)):
        a = render.take(attrs, i)
        names = [n for n in CONTRAST_ATTRIBUTES if n != "eye_color" or not a["closed_eyes"]]
        name = names[rng.integers(len(names))]
        if mouth_share and not a["open_mouth"] and rng.random() < mouth_share:
            name = "smile" if rng.random() < 0.5 else "open_mouth"
        if name == "eye_color":
            a[name] = (a[name] + 1 + rng.integers(len(truth.EYE_COLORS) - 1)) % len(truth.EYE_COLORS)
        else:
            a[name] = 1 - a[name]
        out.append(render.render_anime(render.take(geometry, i), a, size))
    return np.stack(out)


def contrast_loss(y: torch.Tensor, target: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Margin loss that the output be nearer its target than the target's counterfactual `other`,
    measured only where the two renders differ and normalised by that area.

    The world's readout (and a tagger) decides an attribute by which of two such renders an
    output is nearer. Per-pixel losses weigh a closed smile's few pixels by their area and let a
    blend of both states pass; here every image's decision counts the same, whatever its size.
    """
    mask = ((target - other).abs().sum(1, keepdim=True) > 0.1).float()
    area = mask.sum((1, 2, 3)).clamp(min=1.0)
    gap = ((target - other).abs() * mask).sum((1, 2, 3)) / area
    near = ((y - target).abs() * mask).sum((1, 2, 3)) / area
    far = ((y - other).abs() * mask).sum((1, 2, 3)) / area
    return (torch.relu(CONTRAST_MARGIN * gap - (far - near)) / gap.clamp(min=1e-3)).mean()  # 0 where nothing differs


def _gradient_l1(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    dx = (y[..., :, 1:] - y[..., :, :-1]) - (t[..., :, 1:] - t[..., :, :-1])
    dy = (y[..., 1:, :] - y[..., :-1, :]) - (t[..., 1:, :] - t[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def translate(G, selfies: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Decode each selfie's content with each of its k styles: z (B, k, 8) -> images (B*k, 3, H, W)."""
    content, _ = G.encode(selfies)
    k = z.shape[1]
    content = content.repeat_interleave(k, dim=0)
    return G.decode(content, z.reshape(-1, z.shape[-1]))


def _subset(data: PairData, n: int) -> PairData:
    return PairData(data.selfies[:n], data.z_selfie[:n], data.z[:n], data.anime[:n],
                    {k: v[:n] for k, v in data.geometry.items()})


def _lr_at(step: int, steps: int, lr: float) -> float:
    """Short warm-up, then cosine decay to 5% of lr."""
    warm = min(1.0, (step + 1) / 50)
    return lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step / max(steps, 1), 1.0))))


@torch.no_grad()
def evaluate(G, data: PairData, batch: int = 16) -> dict:
    """Held-out per-pixel L1 (0-255 scale), style-code RMSE, and the outputs (uint8)."""
    G.eval()
    outs, styles = [], []
    for i in range(0, len(data.selfies), batch):
        x = _to_tensor(data.selfies[i : i + batch])
        z = torch.from_numpy(data.z[i : i + batch]).float()
        outs.append(translate(G, x, z))
        styles.append(G.encode(x)[1])
    out = torch.cat(outs).clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = out.reshape(data.anime.shape)
    style = torch.cat(styles).numpy()
    return {
        "l1_255": float(np.abs(out.astype(np.float32) - data.anime.astype(np.float32)).mean()),
        "style_rmse": float(np.sqrt(((style - data.z_selfie) ** 2).mean())),
        "outputs": out,
    }


def train(G, data: PairData, cfg: TrainConfig, val: PairData | None = None, log=print) -> dict:
    """Fit G to the pairs with Adam; stops at cfg.steps or cfg.time_budget_s. Returns a history."""
    torch.manual_seed(cfg.seed)
    G.requires_grad_(True)  # a loaded generator comes frozen (models.checkpoint.load_generator)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed + 1)
    mapping = list(G.mapping.parameters())
    mapping_ids = {id(p) for p in mapping}
    others = [p for p in G.parameters() if id(p) not in mapping_ids]
    opt = torch.optim.Adam([{"params": others, "boost": 1.0},
                            {"params": mapping, "boost": cfg.mapping_lr_boost}],
                           lr=cfg.lr, betas=(0.9, 0.99))
    history = {"step": [], "loss": [], "pixel_l1": [], "style_mse": [], "val_l1_255": [], "seconds": []}
    start = time.time()
    G.train()
    running = []
    done = 0
    try:
        for step in range(cfg.steps):
            if time.time() - start > cfg.time_budget_s:
                log(f"time budget reached at step {step}")
                break
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, cfg.steps, cfg.lr) * group["boost"]
            if cfg.stop_after is not None and step >= cfg.stop_after:
                break
            idx = rng.choice(len(data.selfies), cfg.batch, replace=False)
            x = _to_tensor(data.selfies[idx])
            if cfg.fresh_styles:
                codes = near_threshold_codes(rng, cfg.batch * cfg.styles_per_step, cfg.near_threshold)
                geometry = {key: np.repeat(v[idx], cfg.styles_per_step) for key, v in data.geometry.items()}
                target = _to_tensor(render.anime_batch(geometry, codes, data.anime.shape[-2]))
                z = torch.from_numpy(codes.reshape(cfg.batch, cfg.styles_per_step, -1)).float()
            else:
                cols = rng.choice(data.z.shape[1], cfg.styles_per_step, replace=False)
                target = _to_tensor(data.anime[idx][:, cols])
                z = torch.from_numpy(data.z[idx][:, cols]).float()
            content, style = G.encode(x)
            y = G.decode(content.repeat_interleave(z.shape[1], dim=0), z.reshape(-1, z.shape[-1]))
            if cfg.feature_weight or cfg.blush_weight:
                w = feature_weights(data.geometry, idx, target.shape[-1], cfg.feature_weight, cfg.blush_weight)
                pixel = ((y - target).abs() * w.repeat_interleave(z.shape[1], 0)).mean()
            else:
                pixel = (y - target).abs().mean()
            if cfg.feature_l2:  # L1 leaves a rare feature undrawn until it is sure; squared error grows it
                blobs = feature_weights(data.geometry, idx, target.shape[-1], 1.0, 1.0) - 1
                pixel = pixel + cfg.feature_l2 * ((y - target).pow(2) * blobs.repeat_interleave(z.shape[1], 0)).mean()
            style_mse = (style - torch.from_numpy(data.z_selfie[idx]).float()).pow(2).mean()
            loss = pixel + cfg.gradient_weight * _gradient_l1(y, target) + cfg.style_weight * style_mse
            if cfg.contrast_weight and cfg.fresh_styles:
                other = _to_tensor(counterfactuals(rng, geometry, codes, data.anime.shape[-2], cfg.mouth_contrast))
                loss = loss + cfg.contrast_weight * contrast_loss(y, target, other)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running.append((loss.item(), pixel.item(), style_mse.item()))
            done = step + 1
            if (step + 1) % 100 == 0 or step == cfg.steps - 1:
                l, p, s = np.mean(running, axis=0)
                running = []
                val_l1 = float("nan")
                if val is not None and (step + 1) % 500 == 0:
                    val_l1 = evaluate(G, _subset(val, 32))["l1_255"]
                G.train()
                elapsed = time.time() - start
                for key, v in zip(history, (step + 1, l, p, s, val_l1, elapsed)):
                    history[key].append(float(v))
                log(f"step {step + 1:5d}  loss {l:.4f}  pixel_l1 {p:.4f}  style_mse {s:.3f}  "
                    f"val_l1_255 {val_l1:.2f}  {elapsed / 60:.1f} min")
    finally:
        torch.set_num_threads(old_threads)
        G.eval()
    history["steps_done"] = done
    history["train_seconds"] = time.time() - start
    history["config"] = asdict(cfg)
    return history
