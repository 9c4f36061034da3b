"""Train the demo content-free generators (StyleGAN2, DCGAN) on the demo world, supervised. Build-time only.

`python -m tools.world.build --seed 0 --only stylegan2` (or `--only dcgan`) runs this and writes
assets/demo-stylegan2.safetensors (or assets/demo-dcgan.pt) and its model card.

A content-free generator draws a face from a code alone, so every face has one geometry
(`render.canonical_geometry`) and a code z decides the render: G(z) should equal
`render_anime(canonical, attributes(z))`. The losses are those of the demo GNR's stages
(train_generator.py) on fresh codes every step, a share of them next to a tag threshold
(`near_threshold_codes`): first L1 (eyes and mouth weighted up) plus gradient L1; then, for the
rest of the steps, also the cheeks weighted up, squared error on the eye, mouth and cheek blobs and
the counterfactual contrast loss, which the GNR needed for the small features (its model card).
One Adam run, one cosine schedule, 1 thread (two builds can share the 2-core machine).
"""

from __future__ import annotations

import io
import json
import math
import platform
import textwrap
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from latentedit.io import atomic_write_bytes, atomic_write_text
from latentedit.world import assets, render
from tools.world import kernels
from tools.world.train_generator import (CONTRAST_MARGIN, NEAR_SPREAD, _gradient_l1, _to_tensor, contrast_loss,
                                         counterfactuals, feature_weights, near_threshold_codes)

VAL_SEED_OFFSET = 30_000
FILES = {"stylegan2": assets.STYLEGAN2, "dcgan": assets.DCGAN}
CARDS = {"stylegan2": "MODEL_CARD_stylegan2.md", "dcgan": "MODEL_CARD_dcgan.md"}
MODELS = {
    "stylegan2": dict(size=64, style_dim=128, n_mlp=4, z_dim=8, channels={4: 128, 8: 128, 16: 128, 32: 64, 64: 32},
                      pixel_norm=False),  # the world's truth is on z itself, length included
    "dcgan": dict(nz=8, ngf=32, nc=3, size=64),
}


# What a look at 16 held-out codes' outputs next to their targets showed (seed-0 builds), for the cards.
LOOKS = {
    "dcgan": "The face follows the code sharply: hair and eye colour, closed eyes, the mouth, the smile and "
             "the blush are drawn as the render draws them. The ends of the hair (where the length changes, "
             "past the ears and over the shoulders) are smeared, and the background has a faint texture.",
    "stylegan2": "Eyes (open or closed, their colour), the mouth and the blush follow the code; the face is "
                 "softer than the render. Hair colour is the weak point: the five palette colours come out "
                 "blended (blonde as orange, blue and brown greyish, red as maroon), so the reader often "
                 "takes them for a neighbour; the hair ends and the background are blurred. Hair-colour edits "
                 "on this generator are scored less reliably than on the demo DCGAN or GNR.",
}


@dataclass
class ZTrainConfig:
    """Everything that decides the trained weights (saved into the model card)."""

    kind: str = "stylegan2"
    model: dict = field(default_factory=dict)
    seed: int = 0
    steps: int = 2000
    batch: int = 8
    lr: float = 2e-3
    mapping_lr_boost: float = 10.0   # StyleGAN2's mapping network (lr_mlp 0.01) learns this much faster
    plain_fraction: float = 0.3      # share of the steps with the plain losses only
    feature_weight: float = 16.0     # extra L1 weight on the eyes and mouth (4 in the plain steps)
    blush_weight: float = 16.0
    feature_l2: float = 64.0
    contrast_weight: float = 2.0
    gradient_weight: float = 1.0
    near_threshold: float = 0.5
    n_val: int = 600
    bn_batches: int = 64             # DCGAN: batches of 64 codes its batch-norm statistics are recomputed on
    threads: int = 1
    time_budget_s: float = 80 * 60   # safety stop on a busy machine (see stop_after)
    stop_after: int | None = None    # stop at this step without changing the lr schedule


def default_config(kind: str, seed: int = 0) -> ZTrainConfig:
    if kind == "dcgan":  # a step costs about a quarter of StyleGAN2's at twice the batch
        return ZTrainConfig(kind="dcgan", model=dict(MODELS["dcgan"]), seed=seed, steps=5000, batch=16, lr=1e-3)
    # equalized-lr weights move lr per step relative to their scale: 2e-3 (StyleGAN2's GAN lr, GNR's) reached
    # pixel L1 0.284 after 300 steps, 1e-2 0.240 (DCGAN: 0.168)
    return ZTrainConfig(kind="stylegan2", model=dict(MODELS["stylegan2"]), seed=seed, lr=1e-2)


def default_stages(kind: str, seed: int = 0) -> list[ZTrainConfig]:
    """DCGAN: one run. StyleGAN2: that run, then two warm restarts of the schedule with every loss from the
    start (64 held-out codes' mean attribute accuracy after each: 0.809, 0.844, 0.876; the DCGAN's 0.976)."""
    first = default_config(kind, seed)
    if kind == "dcgan":
        return [first]
    return [first] + [replace(first, seed=seed + k, steps=steps, plain_fraction=0.0) for k, steps in ((1, 1500), (2, 2000))]


def new_generator(cfg: ZTrainConfig):
    """A seeded, untrained generator: StyleGAN2 with its noise weights held at 0, or DCGAN with the
    tutorial's init (conv weights N(0, 0.02), batch-norm scales N(1, 0.02))."""
    torch.manual_seed(cfg.seed)
    if cfg.kind == "stylegan2":
        from latentedit.models.stylegan2 import StyleGAN2

        return StyleGAN2(**cfg.model)
    from latentedit.models.dcgan import DCGAN

    G = DCGAN(**cfg.model)
    for m in G.modules():
        if isinstance(m, torch.nn.ConvTranspose2d):
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)
    return G


def _lr_at(step: int, steps: int, lr: float) -> float:
    """100-step warm-up, then cosine decay to 5% of lr."""
    warm = min(1.0, (step + 1) / 100)
    return lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step / max(steps, 1), 1.0))))


@torch.no_grad()
def decode_uint8(G, z: np.ndarray, batch: int = 64) -> np.ndarray:
    """G(z) as uint8 (N, H, W, 3)."""
    out = [G(torch.from_numpy(z[i:i + batch]).float()) for i in range(0, len(z), batch)]
    return torch.cat(out).clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def settle_batch_norm(G, seed: int, n_batches: int = 64, batch: int = 64) -> None:
    """Running batch-norm statistics as the exact mean over n_batches of N(0, I) codes (none in StyleGAN2):
    eval mode then draws what training drew, not a momentum average of stale batches."""
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not bns:
        return
    gen = torch.Generator().manual_seed(seed)
    G.train()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    for _ in range(n_batches):
        G(torch.randn(batch, G.latent_dim, generator=gen))
    for m in bns:
        m.momentum = 0.1
    G.eval()


def train(G, cfg: ZTrainConfig, log=print) -> dict:
    """Fit G(z) to the canonical renders of fresh codes with Adam; stops at cfg.steps, stop_after or the budget."""
    torch.manual_seed(cfg.seed)
    for name, p in G.named_parameters():  # StyleGAN2's noise weights stay 0: the output does not depend on noise
        p.requires_grad_("noise.weight" not in name)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed + 1)
    geometry = render.canonical_geometry(cfg.batch)
    size = G.size
    plain_w = feature_weights(geometry, [0], size, 4.0)
    full_w = feature_weights(geometry, [0], size, cfg.feature_weight, cfg.blush_weight)
    blobs = feature_weights(geometry, [0], size, 1.0, 1.0) - 1
    mapping = [p for p in (G.style.parameters() if hasattr(G, "style") else []) if p.requires_grad]
    ids = {id(p) for p in mapping}
    others = [p for p in G.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": others, "boost": 1.0}]
    groups += [{"params": mapping, "boost": cfg.mapping_lr_boost}] if mapping else []
    opt = torch.optim.Adam(groups, lr=cfg.lr, betas=(0.9, 0.99))
    val_z = np.random.default_rng(cfg.seed + VAL_SEED_OFFSET + 1).standard_normal((64, G.latent_dim))
    history = {"step": [], "loss": [], "pixel_l1": [], "val_accuracy": [], "seconds": []}
    start, running, done = time.time(), [], 0
    G.train()
    try:
        for step in range(cfg.steps):
            if (cfg.stop_after is not None and step >= cfg.stop_after) or time.time() - start > cfg.time_budget_s:
                log(f"stopped at step {step}")
                break
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, cfg.steps, cfg.lr) * group["boost"]
            codes = near_threshold_codes(rng, cfg.batch, cfg.near_threshold)
            target = _to_tensor(render.anime_batch(geometry, codes, size))
            y = G(torch.from_numpy(codes).float())
            full = step >= cfg.plain_fraction * cfg.steps
            l1 = (y - target).abs()
            pixel = (l1 * (full_w if full else plain_w)).mean()
            loss = pixel + cfg.gradient_weight * _gradient_l1(y, target)
            if full:
                loss = loss + cfg.feature_l2 * ((y - target).pow(2) * blobs).mean()
                if cfg.contrast_weight:
                    other = _to_tensor(counterfactuals(rng, geometry, codes, size))
                    loss = loss + cfg.contrast_weight * contrast_loss(y, target, other)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running.append((loss.item(), l1.mean().item()))
            done = step + 1
            if done % 100 == 0 or done == cfg.steps:
                acc = float("nan")
                if done % 1000 == 0:  # 64 held-out codes read by the world's reader (does not touch the training draws)
                    G.eval()
                    acc = float(np.mean(list(accuracy(G, val_z)[0].values())))
                    G.train()
                loss_mean, l1_mean = np.mean(running, axis=0)
                running = []
                for key, v in zip(history, (done, loss_mean, l1_mean, acc, time.time() - start)):
                    history[key].append(float(v))
                log(f"{cfg.kind} step {done:5d}  loss {loss_mean:.4f}  pixel_l1 {l1_mean:.4f}  "
                    f"val mean accuracy {acc:.3f}  {(time.time() - start) / 60:.1f} min")
    finally:
        torch.set_num_threads(old_threads)
    settle_batch_norm(G, cfg.seed + 2, cfg.bn_batches)
    G.eval().requires_grad_(False)
    history.update(steps_done=done, train_seconds=time.time() - start, config=asdict(cfg), kernels=kernels.describe())
    return history


# --------------------------------------------------------------------------- measuring and files

def accuracy(G, z: np.ndarray, reads=None) -> tuple[dict, list, np.ndarray]:
    """(ground-truth attribute accuracy, (true, read) pairs, uint8 images) of G's renders of codes z."""
    from tools.world.build import _reads, attribute_accuracy

    images = decode_uint8(G, z)
    reads = _reads(images, render.canonical_geometry(len(z)), z)
    return attribute_accuracy(images, None, z, reads), reads, images


def measure(G, cfg: ZTrainConfig) -> dict:
    """Held-out L1 to the target renders and attribute accuracy (of the outputs and of the targets)."""
    from tools.world.build import attribute_accuracy, smile_by_mouth

    z = np.random.default_rng(cfg.seed + VAL_SEED_OFFSET).standard_normal((cfg.n_val, G.latent_dim))
    geometry = render.canonical_geometry(len(z))
    targets = render.anime_batch(geometry, z, G.size)
    acc, reads, images = accuracy(G, z)
    return {"l1_255": float(np.abs(images.astype(np.float32) - targets).mean()), "attribute_accuracy": acc,
            "attribute_accuracy_of_targets": attribute_accuracy(targets, geometry, z),
            "smile_by_mouth": smile_by_mouth(reads), "n": len(z)}


def save(G, kind: str, path: Path) -> Path:
    """StyleGAN2: .safetensors (save_stylegan2); DCGAN: the tutorial's plain state dict (torch.save)."""
    if kind == "stylegan2":
        from latentedit.models.stylegan2 import save_stylegan2

        return save_stylegan2(G, path)
    buf = io.BytesIO()
    torch.save(G.state_dict(), buf)
    return atomic_write_bytes(path, buf.getvalue())


def load(kind: str, path: Path):
    if kind == "stylegan2":
        from latentedit.models.stylegan2 import load_stylegan2

        return load_stylegan2(path)
    from latentedit.models.dcgan import load_dcgan

    return load_dcgan(path)


def history_path(out_dir: Path, kind: str) -> Path:
    return Path(out_dir) / f".demo-{kind}-history.json"  # hidden: kept out of the manifest, lets the card be redone


def finished_stages(out_dir: Path, kind: str, stages: list[ZTrainConfig]) -> list[dict]:
    """Histories of the leading `stages` the generator saved in `out_dir` has finished (each stage starts its
    own optimiser and draws, so resuming after them gives the bytes of an uninterrupted build)."""
    path = history_path(out_dir, kind)
    if not path.is_file() or not (Path(out_dir) / FILES[kind]).is_file():
        return []
    saved = json.loads(path.read_text())

    def same(h, cfg):
        plain = json.loads(json.dumps({k: v for k, v in asdict(cfg).items() if k != "time_budget_s"}))
        return {k: v for k, v in h["config"].items() if k != "time_budget_s"} == plain and \
            h["steps_done"] == (cfg.stop_after or cfg.steps)

    ok = len(saved) <= len(stages) and all(same(h, c) for h, c in zip(saved, stages))
    return saved if ok else []


def build_z_generator(out_dir: Path, kind: str, stages: list[ZTrainConfig] | None = None, resume: bool = False,
                      log=print):
    """Train the stages in turn (saving weights and history after each), measure and document the generator.

    resume: start after the stages the generator saved in `out_dir` has finished (`finished_stages`)."""
    stages = stages or default_stages(kind)
    histories = finished_stages(out_dir, kind, stages) if resume else []
    G = load(kind, Path(out_dir) / FILES[kind]) if histories else new_generator(stages[0])
    log(f"{kind}: {sum(p.numel() for p in G.parameters()):,} parameters; resuming after {len(histories)} stages")
    for k, cfg in enumerate(stages[len(histories):], start=len(histories)):
        log(f"{kind} stage {k + 1}/{len(stages)}: {cfg.steps} steps of batch {cfg.batch}, lr {cfg.lr}")
        histories.append(train(G, cfg, log=log))
        path = save(G, kind, Path(out_dir) / FILES[kind])
        atomic_write_text(history_path(out_dir, kind), json.dumps(histories) + "\n")
        log(f"wrote {path}")
    return write_card(out_dir, kind, log=log)


def write_card(out_dir: Path, kind: str, log=print) -> dict:
    """Load the saved generator (as users will), measure it and write its model card."""
    from latentedit.models.checkpoint import fingerprint

    out_dir = Path(out_dir)
    histories = json.loads(history_path(out_dir, kind).read_text())
    stages = [ZTrainConfig(**h["config"]) for h in histories]
    cfg = stages[0]
    G = load(kind, out_dir / FILES[kind])
    m = measure(G, cfg)
    log(f"{kind}: held-out L1 {m['l1_255']:.2f}/255, accuracy "
        f"{json.dumps({k: round(v, 3) for k, v in m['attribute_accuracy'].items()})}")
    acc, acc_t = m["attribute_accuracy"], m["attribute_accuracy_of_targets"]
    rows = "\n".join(f"| {k} | {acc[k]:.3f} | {acc_t[k]:.3f} |" for k in sorted(acc))
    cells = m["smile_by_mouth"]
    rebuild = f"python -m tools.world.build --seed {cfg.seed} --only {kind}"
    if any(h["steps_done"] < c.steps for h, c in zip(histories, stages)):
        rebuild += " --z-stop-after " + " ".join(str(h["steps_done"]) for h in histories)
    size_bytes = (out_dir / FILES[kind]).stat().st_size
    n_params = sum(p.numel() for p in G.parameters())
    arch = ("latentedit.models.stylegan2.StyleGAN2 (rosinality's layout; noise weights held at 0, so the "
            "output does not depend on noise)" if kind == "stylegan2" else
            "latentedit.models.dcgan.DCGAN (the PyTorch DCGAN tutorial's Generator; the file is its plain "
            "`state_dict()`)")
    runs = "\n".join(
        f"- Stage {k + 1}: {h['steps_done']} of {c.steps} steps, lr {c.lr}, batch {c.batch}, plain losses in the first "
        f"{c.plain_fraction:.0%}, torch.manual_seed({c.seed}); {h['train_seconds'] / 60:.1f} min; last 100-step mean "
        f"losses {json.dumps({key: round(h[key][-1], 4) for key in ('loss', 'pixel_l1')})}; mean held-out attribute "
        f"accuracy every 1000 steps {[round(a, 3) for a in h['val_accuracy'] if a == a]}."
        for k, (c, h) in enumerate(zip(stages, histories)))
    minutes = sum(h["train_seconds"] for h in histories) / 60
    bn = (f"\nThe batch-norm running statistics are then recomputed as the exact mean over {cfg.bn_batches} batches "
          "of 64\nN(0, I) codes, so eval mode draws what training drew." if kind == "dcgan" else "")
    mapping_lr = f", mapping network lr x{cfg.mapping_lr_boost}" if kind == "stylegan2" else ""
    look = f"\n## What a look at the outputs shows\n{textwrap.fill(LOOKS[kind], 100)}\n" if kind in LOOKS else ""
    card = f"""# Model card: demo {'StyleGAN2' if kind == 'stylegan2' else 'DCGAN'} (assets/{FILES[kind]})

A small content-free generator (z only) trained on the procedural demo world (latentedit.world), so
that `--generator demo-{kind}` runs without downloading weights and its edits can be scored against
the world's ground truth as the demo GNR's are. Every face has the one canonical geometry
(`render.canonical_geometry`): the code decides only the attributes. It is not a model of real anime.

- Architecture: {arch}, config `{json.dumps(G.config, sort_keys=True)}`
  ({n_params:,} parameters, float32, {size_bytes / 1e6:.1f} MB).
- Fingerprint: `{fingerprint(G)}`.
- Rebuild: `{rebuild}`.

## Training data and objective (supervised, no GAN)
Fresh codes z ~ N(0, I_8) every step ({cfg.near_threshold:.0%} of them moved along one planted vector to within
{NEAR_SPREAD} of its tag threshold, `train_generator.near_threshold_codes`), targets
`render_anime(canonical geometry, truth.attributes(z))` rendered on the fly, 64x64 RGB.
G(z) should equal the target: L1 on pixels weighted up on the eyes and mouth (x4 in the first
{cfg.plain_fraction:.0%} of the steps; then x{cfg.feature_weight}, cheeks x{cfg.blush_weight}, plus squared error
x{cfg.feature_l2} on the eye, mouth and cheek blobs and the counterfactual contrast loss x{cfg.contrast_weight}, margin
{CONTRAST_MARGIN}) plus {cfg.gradient_weight} x L1 on image gradients. Adam (betas 0.9, 0.99), lr {cfg.lr}
(100-step warm-up, cosine decay to 5%){mapping_lr},
batch {cfg.batch}, torch.manual_seed({cfg.seed}), {cfg.threads} thread{'s' if cfg.threads > 1 else ''}.{bn}

## Training run
{runs}
- Total {minutes:.1f} min on {platform.machine()} CPU ({kernels.summary(histories[0]['kernels'])}), a 2-core
  machine shared with other jobs (load average 4-13 during the seed-0 builds).

## Measured quality ({m['n']} held-out codes z ~ N(0, I), seed {cfg.seed + VAL_SEED_OFFSET})
- Per-pixel L1 between G(z) and the target render: **{m['l1_255']:.2f}** / 255.
- Ground-truth attribute accuracy: each attribute read off the image by the world's reader
  (`latentedit.world.batch_readout.BatchReader` with the canonical geometry), against the truth of
  the code; the last column applies the same reader to the target renders (its ceiling). eye_color
  counts open eyes only.

| attribute | generator output | target render |
|---|---|---|
{rows}

Smile accuracy by how the target draws the mouth:

| target mouth | {" | ".join(cells)} |
|---|{"---|" * len(cells)}
| faces | {" | ".join(str(c["n"]) for c in cells.values())} |
| smile read right | {" | ".join("-" if c["accuracy"] is None else f"{c['accuracy']:.3f}" for c in cells.values())} |
{look}"""
    atomic_write_text(out_dir / CARDS[kind], card)
    return m
