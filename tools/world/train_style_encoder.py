"""Train the demo anime->style encoder (the encoder of a G_B2A) on the demo world. Build-time only.

`python -m tools.world.build --seed 0 --only style-encoder` runs this and writes
assets/demo-style-encoder.pt and assets/MODEL_CARD_style_encoder.md.

GNR's G_B2A.style_encode(anime) returns the code G_A2B.decode(content, code) draws. In the demo
world every anime render has a known code z, so the encoder learns by regression: MSE between
`style_encode(render_anime(geometry, attributes(z)))` and z, over fresh renders every step (no
data set to over-fit). A render shows which cell of z-space its attributes fall in, and hair
length and background hue exactly, not where inside the cell z lies: the minimiser is the
posterior mean E[z | render], a code well inside the reference's attribute cell. A share of each
batch is rendered at another size and resized by the reference preprocessing, so a 256-px or a
48-px picture encodes like a 64-px one. The encoder is the Encoder of a Generator(**DEMO_CONFIG),
seeded, trained from scratch (starting from the demo generator's own selfie encoder was tried and
learned slower: held-out RMSE 0.52 against 0.48 after 400 steps). Only the style path (stem and
style head) is trained; the content head keeps its seeded initial weights (style_encode skips it).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from latentedit.editing.reference import preprocess_reference
from latentedit.world import render, truth
from tools.world import kernels

VAL_SEED_OFFSET = 50_000
# Attributes drawn small (mouth, smile, eyes) or needing precision (hair length): their planted vectors get
# extra loss weight; any positive weighting keeps the minimiser (the posterior mean), it only focuses learning.
FEATURES = ("hair_length", "mouth", "smile", "eyes_closed")


@dataclass
class StyleEncoderConfig:
    """Everything that decides the trained weights (saved into the model card)."""

    seed: int = 0
    steps: int = 3000
    batch: int = 16
    lr: float = 3e-3
    resize_fraction: float = 0.25  # share of a batch rendered at another size and resized
    sizes: tuple = (40, 48, 96, 128, 256)
    n_val: int = 256
    feature_weight: float = 3.0    # extra loss weight on errors along the planted vectors of FEATURES
    eye_weight: float = 8.0        # extra loss weight on errors in the eye-colour plane (span of truth.EYE_VECTORS)
    threads: int = 1              # on a shared 2-core machine one thread trains faster than two
    time_budget_s: float = 90 * 60  # safety stop on a busy machine (see stop_after)
    stop_after: int | None = None   # stop at this step without changing the lr schedule


def references(rng: np.random.Generator, n: int, size: int = 64, resize_fraction: float = 0.0,
               sizes=(64,)) -> tuple[torch.Tensor, np.ndarray]:
    """n anime renders of random geometry and codes z ~ N(0, I), preprocessed: ((n, 3, size, size), z (n, 8))."""
    geometry = render.sample_geometry(rng, n)
    z = rng.standard_normal((n, truth.LATENT_DIM))
    other = rng.random(n) < resize_fraction
    drawn = rng.choice(np.asarray(sizes), n)
    attrs = truth.attributes(z)
    images = []
    for i in range(n):
        s = int(drawn[i]) if other[i] else size
        img = render.render_anime(render.take(geometry, i), render.take(attrs, i), s)
        images.append(preprocess_reference(img, size))
    return torch.cat(images), z


class PosteriorMeans:
    """E[z | render] by world truth: the training target, and what a perfect encoder returns.

    A render shows the attribute values (a cell of z-space: hair length class, hair and eye colour,
    mouth, smile, closed eyes, blush) and, exactly, hair length (z . e0) and the background hue
    (z . bg unless white). The mean of `n_samples` N(0, I) codes per cell and background bin
    (BG_BINS), with the two visible components then set to their true values, is that posterior
    mean up to Monte Carlo error. A code whose cell has < 20 samples, or whose target would leave
    its cell (about 0.3%), keeps z itself as target (unbiased, noisier).
    """

    BG_BINS = 10
    RADIX = (3, 5, 5, 2, 2, 2, 2, BG_BINS + 1)

    def __init__(self, n_samples: int = 4_000_000, seed: int = 0):
        Z = np.random.default_rng(seed + 123).standard_normal((n_samples, truth.LATENT_DIM))
        ids = self.cells(truth.attributes(Z))
        n_cells = int(np.prod(self.RADIX))
        self.counts = np.bincount(ids, minlength=n_cells)
        sums = np.stack([np.bincount(ids, weights=Z[:, d], minlength=n_cells) for d in range(Z.shape[1])], axis=1)
        self.means = sums / np.maximum(self.counts, 1)[:, None]

    @classmethod
    def cells(cls, a: dict) -> np.ndarray:
        eye = np.where(a["closed_eyes"] == 1, len(truth.EYE_COLORS), a["eye_color"])
        bg = np.minimum((a["background"] / truth.WHITE_BACKGROUND_ABOVE * cls.BG_BINS).astype(np.int64), cls.BG_BINS)
        idx = np.zeros(len(eye), np.int64)
        for col, r in zip((a["hair_length_class"], a["hair_color"], eye, a["open_mouth"], a["smile"],
                           a["closed_eyes"], a["blush"], bg), cls.RADIX):
            idx = idx * r + col
        return idx

    def __call__(self, z: np.ndarray) -> np.ndarray:
        a = truth.attributes(z)
        ids = self.cells(a)
        t = self.means[ids].copy()
        for name, visible in (("hair_length", np.ones(len(z), bool)),
                              ("background", a["background"] <= truth.WHITE_BACKGROUND_ABOVE)):
            v = truth.VECTORS[name]
            t[visible] += ((z @ v - t @ v)[:, None] * v)[visible]
        at = truth.attributes(t)
        keep = self.counts[ids] >= 20
        for k in ("hair_length_class", "hair_color", "open_mouth", "smile", "closed_eyes", "blush"):
            keep &= at[k] == a[k]
        keep &= (at["eye_color"] == a["eye_color"]) | (a["closed_eyes"] == 1)
        return np.where(keep[:, None], t, z)


def _eye_plane() -> np.ndarray:
    """Orthonormal rows spanning the eye-colour vectors: eye colour is the sector of the code's
    projection there, so an error in that plane moves a code across a colour boundary."""
    u, s, _ = np.linalg.svd(truth.EYE_VECTORS.T, full_matrices=False)
    return u[:, s > 1e-9 * s.max()].T


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, feature_weight: float,
                 eye_weight: float = 0.0) -> torch.Tensor:
    """Mean squared error plus `feature_weight` x the squared error along each of FEATURES' vectors
    and `eye_weight` x the squared error in the eye-colour plane."""
    d = pred - target
    loss = d.pow(2).mean()
    for weight, rows in ((feature_weight, lambda: np.stack([truth.VECTORS[n] for n in FEATURES])),
                         (eye_weight, _eye_plane)):
        if weight:
            V = torch.from_numpy(rows()).float()
            loss = loss + weight * (d @ V.T).pow(2).mean() * len(V) / d.shape[1]
    return loss


def _lr_at(step: int, steps: int, lr: float) -> float:
    warm = min(1.0, (step + 1) / 50)
    return lr * warm * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * min(step / max(steps, 1), 1.0))))


def new_encoder(cfg: StyleEncoderConfig):
    """(encoder, G_B2A config): the Encoder of a demo-config Generator with seeded initial weights."""
    from latentedit.models.gnr import DEMO_CONFIG, Generator

    torch.manual_seed(cfg.seed)
    G = Generator(**DEMO_CONFIG)
    return G.encoder, G.config


@torch.no_grad()
def style_rmse(encoder, x: torch.Tensor, z: np.ndarray, batch: int = 64) -> float:
    encoder.eval()
    out = torch.cat([encoder.style_encode(x[i : i + batch]) for i in range(0, len(x), batch)]).numpy()
    return float(np.sqrt(((out - z) ** 2).mean()))


def train_style_encoder(cfg: StyleEncoderConfig, log=print):
    """Train; returns (encoder, G_B2A config, history)."""
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    encoder, config = new_encoder(cfg)
    params = list(encoder.stem.parameters()) + list(encoder.style.parameters())
    encoder.content.requires_grad_(False)
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.99))
    rng = np.random.default_rng(cfg.seed + 1)
    posterior = PosteriorMeans(seed=cfg.seed)
    val_x, val_z = references(np.random.default_rng(cfg.seed + VAL_SEED_OFFSET), cfg.n_val)
    val_t = posterior(val_z)
    history = {"step": [], "loss": [], "val_rmse": [], "seconds": []}  # val_rmse: to E[z | render]
    start, running, done = time.time(), [], 0
    try:
        for step in range(cfg.steps):
            if cfg.stop_after is not None and step >= cfg.stop_after:
                break
            if time.time() - start > cfg.time_budget_s:
                log(f"time budget reached at step {step}")
                break
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, cfg.steps, cfg.lr)
            x, z = references(rng, cfg.batch, resize_fraction=cfg.resize_fraction, sizes=cfg.sizes)
            encoder.train()
            loss = weighted_mse(encoder.style_encode(x), torch.from_numpy(posterior(z)).float(), cfg.feature_weight,
                                cfg.eye_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running.append(loss.item())
            done = step + 1
            if done % 200 == 0 or done == cfg.steps:
                val = style_rmse(encoder, val_x, val_t)
                for key, v in zip(history, (done, float(np.mean(running)), val, time.time() - start)):
                    history[key].append(float(v))
                running = []
                log(f"step {done:5d}  loss {history['loss'][-1]:.4f}  val_rmse {val:.4f}  "
                    f"{(time.time() - start) / 60:.1f} min")
    finally:
        torch.set_num_threads(old_threads)
        encoder.eval()
    encoder.requires_grad_(False)
    history["steps_done"] = done
    history["train_seconds"] = time.time() - start
    history["config"] = asdict(cfg)
    history["kernels"] = kernels.describe()
    return encoder, config, history


# --------------------------------------------------------------------------- measuring

REFERENCE_SEED_OFFSET = 70_000  # fresh references and selfies of the goal table, unseen in training
GOAL = {"hair_length_class": 0.95, "hair_color": 0.95, "closed_eyes": 0.95, "open_mouth": 0.95, "eye_color": 0.85}


@dataclass
class GoalTable:
    """Agreement rates per attribute (GOAL's keys); rows named like 'encoded vs true-code face'."""

    rows: dict
    n: int
    seed: int
    seconds: dict

    def markdown(self) -> str:
        keys = list(GOAL)
        head = "| faces compared | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys)
        goal = "| goal (vs true-code face) | " + " | ".join(f">= {GOAL[k]:.2f}" for k in keys) + " |"
        body = "\n".join(f"| {name} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |"
                         for name, row in self.rows.items())
        return "\n".join([head, goal, body])


def _decode(G, content: torch.Tensor, code, use_mapping=True) -> np.ndarray:
    from latentedit.images import to_uint8
    from latentedit.models.batched import decode

    return decode(G, content, torch.as_tensor(np.asarray(code), dtype=torch.float32), 50, use_mapping, to_uint8)


def goal_table(G, encoder, n: int = 200, seed: int = 0, refine=None, oracle: bool = False) -> GoalTable:
    """The issue-14 goal measured on `n` fresh anime renders, each translated onto a demo selfie's content.

    Each face is read by the world's pixel readout with the reference's true attributes as context
    (so both faces of a pair are judged alike; eye colour only where the true code has open eyes).
    Rows: the face of the encoded style (refinement off, and on with `refine`, a RefineConfig)
    against the face of the reference's true code and against its ground truth; the true-code face
    against ground truth; with `oracle`, the posterior-mean code (what a perfect encoder returns).
    """
    from latentedit.editing.reference import encode_style, refine_style
    from latentedit.images import from_uint8
    from latentedit.models.batched import encode_content
    from latentedit.world.batch_readout import BatchReader

    refs, z_ref, _ = render.demo_anime(n, seed=seed + REFERENCE_SEED_OFFSET)
    selfies, geometry = render.demo_selfies(n, seed=seed + REFERENCE_SEED_OFFSET)
    attrs = truth.attributes(z_ref)
    content = encode_content(G, from_uint8(selfies), 50)
    seconds = {}

    reader = BatchReader(geometry, z_ref, G.size)

    def reads(faces):  # eye colour where the reference has open eyes
        r = reader.read(faces)
        return [{k: r[k][i] for k in GOAL if k != "eye_color" or not attrs["closed_eyes"][i]} for i in range(n)]

    def agree(a, b=None):
        return {k: float(np.mean([a[i][k] == (b[i][k] if b is not None else attrs[k][i])
                                  for i in range(n) if k in a[i]])) for k in GOAL}

    t = time.time()
    z_enc = encode_style(encoder, refs)
    seconds["encode"] = time.time() - t
    true_reads = reads(_decode(G, content, z_ref))
    enc_reads = reads(_decode(G, content, z_enc))
    rows = {"encoded vs true-code face": agree(enc_reads, true_reads)}
    if refine is not None:
        t = time.time()
        result = refine_style(G, encoder, refs, content, refine)
        seconds["refine"] = time.time() - t
        ref_reads = reads(_decode(G, content, result.code, result.use_mapping))
        rows["encoded + refined vs true-code face"] = agree(ref_reads, true_reads)
    rows["encoded vs ground truth"] = agree(enc_reads)
    if refine is not None:
        rows["encoded + refined vs ground truth"] = agree(ref_reads)
    rows["true-code face vs ground truth"] = agree(true_reads)
    if oracle:
        post_reads = reads(_decode(G, content, PosteriorMeans(seed=seed)(z_ref)))
        rows["posterior-mean oracle vs true-code face"] = agree(post_reads, true_reads)
        rows["posterior-mean oracle vs ground truth"] = agree(post_reads)
    return GoalTable(rows=rows, n=n, seed=seed, seconds=seconds)


# --------------------------------------------------------------------------- asset and card

def build_style_encoder_assets(out_dir, seed: int = 0, generator=None, cfg: StyleEncoderConfig | None = None,
                               n_references: int = 200, log=print) -> GoalTable:
    """Train the demo style encoder, write OUT/demo-style-encoder.pt, measure the goal table, write its card."""
    from pathlib import Path

    from latentedit.editing.reference import RefineConfig
    from latentedit.io import atomic_write_text
    from latentedit.models.checkpoint import save_style_encoder
    from latentedit.models.generator import fingerprint, load_generator

    from latentedit.world import assets

    out_dir = Path(out_dir)
    G = generator if generator is not None else load_generator(out_dir / assets.GENERATOR)
    cfg = cfg or StyleEncoderConfig(seed=seed)
    encoder, config, history = train_style_encoder(cfg, log=log)
    path = save_style_encoder(encoder, config, out_dir / assets.STYLE_ENCODER, generator_fingerprint=fingerprint(G))
    log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    refine = RefineConfig(seed=seed, progress=False)
    table = goal_table(G, encoder, n=n_references, seed=seed, refine=refine, oracle=True)
    log(table.markdown())
    atomic_write_text(out_dir / CARD, model_card(encoder, config, cfg, history, table, refine, path, fingerprint(G)))
    return table


CARD = "MODEL_CARD_style_encoder.md"


def model_card(encoder, config: dict, cfg: StyleEncoderConfig, history: dict, table: GoalTable, refine,
               path, generator_fingerprint: str) -> str:
    import json
    import platform

    n_params = sum(p.numel() for p in encoder.parameters())
    n_style = n_params - sum(p.numel() for p in encoder.content.parameters())
    rebuild = f"python -m tools.world.build --seed {cfg.seed} --only style-encoder"
    if cfg.steps != StyleEncoderConfig.steps:
        rebuild += f" --style-steps {cfg.steps}"
    if history["steps_done"] < cfg.steps:
        rebuild += f" --style-stop-after {history['steps_done']}"
    curve = ", ".join(f"{int(s)}: {v:.3f}" for s, v in zip(history["step"], history["val_rmse"]))
    return f"""# Model card: demo anime->style encoder (assets/demo-style-encoder.pt)

The encoder of a GANs N' Roses G_B2A for the demo world: `G_B2A.style_encode(anime)` returns the
8-d style code that the demo generator's `G_A2B.decode(content, code)` draws, as in GNR's
training, so that `latentedit` can take the style of an anime reference picture offline
(`latentedit.editing.reference.encode_style(load_style_encoder("demo"), image)`). It is not a model
of real anime pictures.

- Architecture: the `Encoder` (stem, content head, style head) of
  `latentedit.models.gnr.Generator(**{json.dumps(config, sort_keys=True)})`, the demo generator's
  configuration; {n_params:,} parameters ({n_style:,} on the style path), float32,
  {path.stat().st_size / 1e6:.1f} MB. Only the encoder is shipped: `style_encode` needs nothing else.
- File: `{{"config": G_B2A config, "G_B2A_ema": {{"encoder.<name>": tensor}}, "generator_fingerprint"}}`, the
  official state-dict names of G_B2A_ema's encoder; `load_style_encoder` loads it strictly into the
  encoder of a Generator of that config (a full G_B2A_ema, as in GNR_checkpoint.pt, loads strictly
  into a Generator). Pairs with the demo generator of fingerprint `{generator_fingerprint}`.
- Rebuild: `{rebuild}` ({history['train_seconds'] / 60:.1f} min of training on {platform.machine()} CPU with
  {cfg.threads} threads, a 2-core machine shared with other jobs). CPU kernels: {_kernels(history)}.

## Training (tools.world.train_style_encoder)
Fresh anime renders every step (`render_anime` of `sample_geometry` geometry and z ~ N(0, I_8)),
{cfg.batch} per step, {history['steps_done']} of {cfg.steps} steps; {cfg.resize_fraction:.0%} of them drawn at
another size ({", ".join(map(str, cfg.sizes))} px) and resized by the reference preprocessing. Loss:
MSE between `style_encode(render)` and E[z | render], the posterior mean of the code given what the
render shows (`PosteriorMeans`: attribute cell means of 4M N(0, I) codes per background bin, with hair
length and background hue set to their true values). A render shows only which attribute cell z lies
in, so z itself is an unbiased but noisy target with the same minimiser; the posterior mean cuts
the target noise from RMSE 0.56 to about 0.1. Adam (betas 0.9, 0.99), lr {cfg.lr} (50-step warm-up,
cosine decay), extra weight {cfg.feature_weight} on errors along the hair length, mouth, smile and
closed-eyes vectors and {cfg.eye_weight} on errors in the eye-colour plane, from scratch with torch.manual_seed({cfg.seed}). Only the stem and style head train; the content head stays as initialised.
Held-out RMSE to E[z | render] ({cfg.n_val} renders) by step: {curve}.

## Goal table ({table.n} fresh references, seed {table.seed}; `python benchmarks/bench_reference.py`)
Each reference (a fresh render, unseen in training) is encoded; its code is decoded by the demo
generator on the content of one demo selfie; the face of the reference's true code is decoded on
the same content. The world's pixel readout (`batch_readout.BatchReader`: the nearest renders, attributes
drawn in one place read jointly, with the reference's true attributes as context) reads every face. Eye colour
counts references with open eyes only. Refinement: `RefineConfig(steps={refine.steps}, lr={refine.lr},
space="{refine.space}", prior_weight={refine.prior_weight}, jitter={refine.jitter})`.

{table.markdown()}

{_reading(table, refine)}
"""


def _kernels(history: dict) -> str:
    k = history.get("kernels")
    if not k:
        return "not recorded (built before tools.world.kernels pinned them: a rebuild gives other bytes)"
    pinned = all(k.get(name) == value for name, value in kernels.PINNED.items())
    return (kernels.summary(k) + f" (torch dispatch {k['torch_cpu_capability']})"
            + ("; `tools.world.kernels` pins them, so a rebuild on another x86-64 machine runs the same float"
               " kernels (before the pin, stop 17's rebuild differed from stop 15's in every tensor)"
               if pinned else "; not the pinned values: another machine may give other bytes"))


def _reading(table: GoalTable, refine) -> str:
    """What the goal table says, in numbers taken from it."""
    r = table.rows

    def fmt(row, keys=GOAL):
        return ", ".join(f"{k} {r[row][k]:.3f}" for k in keys)

    short = [k for k in GOAL if r["posterior-mean oracle vs true-code face"][k] < GOAL[k]]
    met = [k for k in GOAL if r["encoded vs true-code face"][k] >= GOAL[k]]
    lines = [
        "## Reading the table",
        f"- Goal met (encoded vs true-code face) for: {', '.join(met) or 'none'}.",
        f"- The demo generator itself draws the reference's true code unfaithfully in part of the cases "
        f"(true-code face vs ground truth: {fmt('true-code face vs ground truth')}), mostly for codes near a "
        "boundary of their attribute cell: a mouth score just past its threshold is drawn closed (the switch "
        "curves of MODEL_CARD_generator.md), a code between two colour vectors gets a muddy colour. A render "
        "shows which cell its code lies in, not where in it, so no encoder can tell those references apart "
        "from codes deep inside the cell, which the generator draws right. The posterior-mean oracle (the code "
        "a perfect encoder of the render returns, computed from the world's truth) shows what an encoder can "
        f"reach against the true-code face: {fmt('posterior-mean oracle vs true-code face')}"
        + (f"; below the goal for {', '.join(short)}: out of reach, up to chance, for an encoder that sees only "
           "the render, with this generator." if short else "."),
        f"- The shipped encoder reaches {fmt('encoded vs true-code face')} against the true-code face, and "
        f"{fmt('encoded vs ground truth')} against the references' ground truth.",
    ]
    if "encoded + refined vs ground truth" in r:
        gt, tc = "encoded + refined vs ground truth", "encoded + refined vs true-code face"
        up = [k for k in GOAL if r[gt][k] > r["encoded vs ground truth"][k]]
        down = [k for k in GOAL if r[tc][k] < r["encoded vs true-code face"][k]]
        lines.append(
            f"- Refinement ({refine.steps} steps in {refine.space}; {table.seconds.get('refine', 0):.0f} s for "
            f"{table.n} references on this machine) makes the face re-encode to the reference's style: against "
            f"the ground truth it reaches {fmt(gt)} (higher for {', '.join(up) or 'none'}), against the true-code "
            f"face {fmt(tc)} (lower for {', '.join(down) or 'none'}): it draws the reference's attributes even "
            "where the generator would have drawn the true code wrong. So it is not a default: `encode_style` "
            "returns the encoder's code, `refine_style` is a separate, opt-in step for fidelity to the picture.")
    return "\n".join(lines) + "\n"
