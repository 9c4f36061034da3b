"""Build the demo assets reproducibly: `python -m tools.world.build --seed 0`.

Trains the demo GNR generator on the demo world (train_generator.py) in five stages (from
scratch; a fine-tune that weighs the eyes and mouth up; a sharpening stage on fresh style codes,
many placed next to a tag threshold; a fidelity stage adding squared error on the eyes, mouth and
cheeks; a contrast stage that keeps each output nearer its target than the target with one small
attribute switched), measures it against the ground
truth, writes assets/demo-generator.pt, its sample grid and model card, then trains the demo
tagger (tools.world.train_tagger.build_demo_tagger_assets) into assets/demo-tagger/, and finally
rewrites assets/manifest.json. `--only generator` or `--only tagger` builds one part;
`--only style-encoder` trains the demo anime->style encoder (train_style_encoder.py), `--only stylegan2`
and `--only dcgan` the content-free demo generators (train_z_generator.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from latentedit.images import encode_png, grid
from latentedit.io import atomic_write_bytes, atomic_write_text
from latentedit.world import assets, render, truth
from latentedit.world.batch_readout import ATTRIBUTES, BatchReader
from tools.world import kernels
from tools.world.train_generator import (CONTRAST_MARGIN, NEAR_SPREAD, STYLES_PER_SELFIE, PairData, TrainConfig, evaluate,
                                         make_pairs, train)

VAL_SEED_OFFSET = 10_000


def pretrain_config(seed: int = 0) -> TrainConfig:
    """Stage 1: from scratch, plain L1 + gradient loss."""
    return TrainConfig(seed=seed)


def finetune_config(seed: int = 0) -> TrainConfig:
    """Stage 2: lower lr with extra weight on eyes and mouth, the small features stage 1 blurs."""
    return TrainConfig(seed=seed + 1, steps=6000, lr=5e-4, feature_weight=4.0, time_budget_s=25 * 60)


def sharpen_config(seed: int = 0) -> TrainConfig:
    """Stage 3: fresh codes every step, half of them next to a tag threshold, eyes and mouth x16.

    After stage 2 the mouth still opens gradually over about one unit of z on either side of its
    threshold; this stage makes the switch happen at the threshold (see MODEL_CARD_generator.md).
    More styles per selfie: decoding is cheap next to encoding, and the style path is what learns.
    """
    return TrainConfig(seed=seed + 2, steps=8000, lr=1e-3, feature_weight=16.0, fresh_styles=True,
                       near_threshold=0.5, batch=2, styles_per_step=6, time_budget_s=25 * 60)


def fidelity_config(seed: int = 0) -> TrainConfig:
    """Stage 4: like stage 3, longer, at half its lr; L1 x16 on eyes, mouth and (new) cheeks, plus
    squared error x64 on the same blobs.

    After stage 3 the generator draws a code's smile, blush and eye colour wrong in about a
    quarter of the faces (the reader's 0.745 / 0.815 / 0.744), and an edit that moves a face at all
    then flips what the readout sees (benchmarks/bench_ceiling.py): this stage is for fidelity.
    """
    return TrainConfig(seed=seed + 3, steps=12000, lr=5e-4, feature_weight=16.0, blush_weight=16.0, feature_l2=64.0,
                       fresh_styles=True, near_threshold=0.5, batch=2, styles_per_step=6, time_budget_s=30 * 60)


def contrast_config(seed: int = 0) -> TrainConfig:
    """Stage 5: stage 4 plus a margin loss against counterfactual renders (`train_generator.contrast_loss`).

    After stage 4 the generator still draws a closed-mouth smile as the plain closed line in four
    faces of five and leaves part of the blush and eye colours muddy: per-pixel losses let a blend
    of two states pass where the states differ in a few pixels (more squared error on the mouth
    did not help; MODEL_CARD_generator.md). Each target is paired with its render with one small
    attribute switched, and the output must be nearer the target, inside the pixels where they differ.
    """
    return TrainConfig(seed=seed + 4, steps=5000, lr=5e-4, feature_weight=16.0, blush_weight=16.0, feature_l2=64.0,
                       fresh_styles=True, near_threshold=0.5, batch=2, styles_per_step=6, contrast_weight=2.0,
                       time_budget_s=30 * 60)


SAMPLE_SEED_OFFSET = 20_000
HISTORY = ".demo-generator-history.json"  # hidden: kept out of the manifest, lets the card be redone


# --------------------------------------------------------------------------- measuring

def _reads(images: np.ndarray, geometry: dict, z: np.ndarray) -> list[tuple[dict, dict]]:
    """(true attributes, read attributes) of each image (eye colour read where the true code has open eyes)."""
    attrs, reads = truth.attributes(z), BatchReader(geometry, z, images.shape[1]).read(images)
    out = []
    for i in range(len(z)):
        a = render.take(attrs, i)
        names = [k for k in ATTRIBUTES if k != "background" and (k != "eye_color" or not a["closed_eyes"])]
        out.append((a, {k: int(reads[k][i]) for k in names}))
    return out


def attribute_accuracy(images: np.ndarray, geometry: dict, z: np.ndarray, reads=None) -> dict[str, float]:
    """Fraction of images whose read attribute equals the ground truth of their style code."""
    hits: dict[str, list[bool]] = {}
    for a, read in reads or _reads(images, geometry, z):
        for name, value in read.items():
            hits.setdefault(name, []).append(value == a[name])
    return {name: float(np.mean(v)) for name, v in hits.items()}


def smile_by_mouth(reads) -> dict[str, dict]:
    """Smile accuracy per true (mouth, smile) cell: {"closed mouth, smile": {"n", "accuracy"}, ...}.

    Where the smile is lost: the four ways a mouth is drawn differ most in size."""
    cells = {}
    for mouth in (0, 1):
        for smile in (0, 1):
            hits = [r["smile"] == a["smile"] for a, r in reads if a["open_mouth"] == mouth and a["smile"] == smile]
            name = f"{'open' if mouth else 'closed'} mouth, {'smile' if smile else 'no smile'}"
            cells[name] = {"n": len(hits), "accuracy": float(np.mean(hits)) if hits else None}
    return cells


def _flatten(data: PairData, limit: int) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    """The first `limit` (selfie, style) pairs flattened: (indices, geometry, z, anime targets)."""
    n, k = data.z.shape[:2]
    geometry = {key: np.repeat(v, k) for key, v in data.geometry.items()}
    z = data.z.reshape(n * k, -1)
    targets = data.anime.reshape(n * k, *data.anime.shape[2:])
    order = np.arange(n * k)[:limit]
    return order, {key: v[order] for key, v in geometry.items()}, z[order], targets[order]


SWITCH_OFFSETS = (-0.6, -0.4, -0.2, -0.1, 0.1, 0.2, 0.4, 0.6)
SWITCHES = {"open_mouth": ("mouth", truth.MOUTH_THRESHOLD), "closed_eyes": ("eyes_closed", truth.EYES_THRESHOLD)}


@torch.no_grad()
def switch_curves(G, val: PairData, n: int = 100) -> dict[str, list[float]]:
    """How sharply a tag switches on: the fraction of outputs read as 'on' per code offset from its threshold.

    Each of the first n held-out selfies keeps its first code, moved along the tag's planted
    vector to threshold + offset (SWITCH_OFFSETS). A perfect generator reads 0 below the
    threshold and 1 above it; a soft one drifts from one to the other across the band.
    """
    x = torch.from_numpy(val.selfies[:n]).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    content = G.encode(x)[0]
    geometry = {key: v[:n] for key, v in val.geometry.items()}
    z0 = val.z[:n, 0]
    curves = {}
    for tag, (vector, threshold) in SWITCHES.items():
        v = truth.VECTORS[vector]
        rates = []
        for offset in SWITCH_OFFSETS:
            z = z0 + (threshold + offset - z0 @ v)[:, None] * v
            out = G.decode(content, torch.from_numpy(z).float())
            out = out.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            rates.append(float(BatchReader(geometry, z, out.shape[1]).read(out)[tag].mean()))
        curves[tag] = rates
    return curves


def measure_generator(G, val: PairData, n_attr: int = 600, n_switch: int = 100) -> dict:
    """Held-out L1 and style RMSE, ground-truth attribute accuracy of the translations, switch curves."""
    G.eval()
    result = evaluate(G, val)
    order, geometry, z, targets = _flatten(val, n_attr)
    outputs = result.pop("outputs").reshape(-1, *val.anime.shape[2:])[order]
    reads = _reads(outputs, geometry, z)
    result["attribute_accuracy"] = attribute_accuracy(outputs, geometry, z, reads)
    result["smile_by_mouth"] = smile_by_mouth(reads)
    result["attribute_accuracy_of_targets"] = attribute_accuracy(targets, geometry, z)
    result["n_attribute_images"] = int(len(order))
    result["switch_curves"] = switch_curves(G, val, n_switch)
    result["n_switch_selfies"] = min(n_switch, len(val.selfies))
    return result


# --------------------------------------------------------------------------- samples and card

def sample_grid(G, seed: int, n_selfies: int = 4, n_styles: int = 8):
    """Rows: a demo selfie then its translations with n_styles fixed codes; last row: ground truth
    renders of the first selfie's geometry. Returns (uint8 grid, z (n_styles, 8))."""
    selfies, geometry = render.demo_selfies(n_selfies, seed + SAMPLE_SEED_OFFSET)
    z = np.random.default_rng(seed + SAMPLE_SEED_OFFSET).standard_normal((n_styles, truth.LATENT_DIM))
    with torch.no_grad():
        x = torch.from_numpy(selfies).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        content, _ = G.encode(x)
        zt = torch.from_numpy(z).float()
        out = G.decode(content.repeat_interleave(n_styles, 0), zt.repeat(n_selfies, 1))
    out = out.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = out.reshape(n_selfies, n_styles, *out.shape[1:])
    truth_row = render.anime_batch({k: np.repeat(v[:1], n_styles) for k, v in geometry.items()}, z)
    blank = np.full_like(selfies[0], 255)
    rows = [np.concatenate([selfies[i : i + 1], out[i]]) for i in range(n_selfies)]
    rows.append(np.concatenate([blank[None], truth_row]))
    tiles = np.concatenate(rows)
    return grid(tiles, n_selfies + 1, n_styles + 1), z


def _tags_of(z: np.ndarray) -> list[str]:
    m = truth.tag_matrix(z)
    return [", ".join(t for t, on in zip(truth.TAGS, row) if on and t != "simple_background") for row in m]


def _styles_note(cfg: TrainConfig) -> str:
    if not cfg.fresh_styles:
        return " (pre-rendered targets)"
    return (f" (fresh codes every step, {cfg.near_threshold:.0%} of them within {NEAR_SPREAD} of a tag threshold, "
            "targets rendered on the fly)")


def _extra_losses(cfg: TrainConfig) -> str:
    parts = [f"cheek (blush) L1 weight {cfg.blush_weight}"] if cfg.blush_weight else []
    parts += [f"squared error x{cfg.feature_l2} on the eye, mouth and cheek blobs"] if cfg.feature_l2 else []
    if cfg.contrast_weight:
        mouth = (f"; {cfg.mouth_contrast:.0%} of closed mouths contrasted on their smile or mouth"
                 if cfg.mouth_contrast else "")
        parts.append(f"counterfactual contrast loss x{cfg.contrast_weight} (margin {CONTRAST_MARGIN}{mouth})")
    return "".join(", " + p for p in parts)


def _stage_lines(stages: list[TrainConfig], histories: list[dict]) -> str:
    lines = []
    for k, (cfg, h) in enumerate(zip(stages, histories)):
        last = {key: round(h[key][-1], 4) for key in ("loss", "pixel_l1", "style_mse")} if h["loss"] else {}
        stopped = " (stopped early)" if h["steps_done"] < cfg.steps else ""
        lines.append(
            f"- Stage {k + 1}: {h['steps_done']} of {cfg.steps} steps{stopped}, lr {cfg.lr} (50-step warm-up, "
            f"cosine decay over {cfg.steps} steps), eye/mouth loss weight {cfg.feature_weight}{_extra_losses(cfg)}, batch "
            f"{cfg.batch} selfies x {cfg.styles_per_step} styles{_styles_note(cfg)}, torch.manual_seed({cfg.seed}); "
            f"{h['train_seconds'] / 60:.1f} min; last 100-step mean losses {json.dumps(last)}.")
    return "\n".join(lines)


def model_card(G, stages: list[TrainConfig], histories: list[dict], measured: dict, sample_z: np.ndarray,
               size_bytes: int) -> str:
    from latentedit.models.generator import fingerprint

    cfg = stages[0]
    acc = measured["attribute_accuracy"]
    acc_t = measured["attribute_accuracy_of_targets"]
    rows = "\n".join(f"| {k} | {acc[k]:.3f} | {acc_t[k]:.3f} |" for k in sorted(acc))
    curves = measured["switch_curves"]
    curve_rows = "\n".join(f"| {tag} | " + " | ".join(f"{r:.2f}" for r in rates) + " |" for tag, rates in curves.items())
    tags = "\n".join(f"| {j + 1} | {t} |" for j, t in enumerate(_tags_of(sample_z)))
    n_params = sum(p.numel() for p in G.parameters())
    rebuild = f"python -m tools.world.build --seed {cfg.seed} --only generator"
    if any(h["steps_done"] < c.steps for c, h in zip(stages, histories)):
        rebuild += " --stop-after " + " ".join(str(h["steps_done"]) for h in histories)
    minutes = sum(h["train_seconds"] for h in histories) / 60
    return f"""# Model card: demo GNR generator (assets/demo-generator.pt)

A small GANs N' Roses generator trained on the procedural demo world (latentedit.world), so that
every latentedit command runs without downloading weights and tests can check edits against a
known ground truth. It is not a model of real selfies or real anime.

- Architecture: latentedit.models.gnr.Generator, config `{json.dumps(G.config, sort_keys=True)}`
  ({G.n_latent} modulated layers, {n_params:,} parameters, float32, {size_bytes / 1e6:.1f} MB).
- Fingerprint: `{fingerprint(G)}`.
- Rebuild: `{rebuild}`.

## Training data
Pairs rendered by latentedit.world.render, seed {cfg.seed}: {cfg.n_train} selfies
(`render_selfie`, geometry from `sample_geometry`, appearance from a code z_s ~ N(0, I_8)). Stages
with pre-rendered targets use {STYLES_PER_SELFIE} anime targets per selfie,
`render_anime(geometry, truth.attributes(z))` for z ~ N(0, I_8); stages with fresh codes draw new
codes every step (`train_generator.near_threshold_codes`: a share of them moved along one planted
vector to within {NEAR_SPREAD} of its tag threshold) and render their targets on the fly.
Held-out: {cfg.n_val} selfies x {STYLES_PER_SELFIE} styles from seed {cfg.seed + VAL_SEED_OFFSET}. 64x64 RGB.

## Objective (supervised, no GAN)
decode(encode(selfie).content, z) should equal the anime render: L1 on pixels (optionally weighted
up on the eyes and mouth) plus {cfg.gradient_weight} x L1 on image gradients; the encoder's style
head regresses z_s (MSE, weight {cfg.style_weight}). Adam (betas 0.9, 0.99), mapping-network lr
x{cfg.mapping_lr_boost}, {cfg.threads} threads.

## Training run
{_stage_lines(stages, histories)}
- Total training time {minutes:.1f} min on {platform.machine()} CPU, a 2-core machine shared with other jobs.

## Measured quality (held-out pairs)
- Per-pixel L1 between the translation and the target render: **{measured['l1_255']:.2f}** / 255.
- Style-code RMSE of `encode(selfie).style` against the selfie's z_s: **{measured['style_rmse']:.3f}**
  (predicting 0 gives 1.0).
- Ground-truth attribute accuracy on {measured['n_attribute_images']} held-out translations. Each
  attribute is read off the image by the world's reader (`latentedit.world.batch_readout.BatchReader`:
  the nearest (L1) renders of the same geometry, attributes drawn in one place read jointly); the last column
  applies the same reader to the target renders themselves (its ceiling). eye_color counts open
  eyes only.

| attribute | generator output | target render |
|---|---|---|
{rows}

Where the smile is lost (`smile_by_mouth`: smile accuracy of the same outputs by how the target draws the mouth):

| target mouth | {" | ".join(measured["smile_by_mouth"])} |
|---|{"---|" * len(measured["smile_by_mouth"])}
| faces | {" | ".join(str(c["n"]) for c in measured["smile_by_mouth"].values())} |
| smile read right | {" | ".join("-" if c["accuracy"] is None else f"{c['accuracy']:.3f}" for c in measured["smile_by_mouth"].values())} |

How sharply the small features switch (`switch_curves`): {measured['n_switch_selfies']} held-out selfies, each
code moved along the tag's planted vector to its threshold + offset; the fraction of outputs the
same reader reads as "on" (a perfect generator: 0 left of the threshold, 1 right of it).

| offset from threshold | {" | ".join(f"{o:+.1f}" for o in SWITCH_OFFSETS)} |
|---|{"---|" * len(SWITCH_OFFSETS)}
{curve_rows}

## What a look at the outputs shows (seed-0 build)
Hair length, hair colour, background and face position follow the code and the selfie reliably.
Closed eyes read as closed (a soft line) and switch within about 0.1 of their threshold. The
mouth is the softest feature: an open mouth is a dark oval that grows over a few tenths of a unit
of code around its threshold (table above), and dark or red irises are sometimes muddy. Stage 3
exists for the switches: after stages 1-2 alone, open_mouth read 0.14 at +0.1 and 0.75 at +0.6,
closed_eyes 0.69 at +0.1, and the demo tagger reached only 0.877 balanced accuracy on open_mouth.
Stage 4 exists for the small features: after stage 3 the reader gave blush 0.815 (never drawn:
the share of faces without blush), smile 0.745, eye colour 0.744, open mouth 0.897. An L1 loss
lets a rare feature stay undrawn until the network is sure of it (a stage 4 with L1 weight 32 on
eyes, mouth and cheeks and no squared error moved blush 0.815 -> 0.815, smile 0.745 -> 0.753, eye
colour 0.744 -> 0.811); squared error on the same blobs grows it.

Stage 5 exists for the decisions that stage 4 left blended. After stage 4 the reader gave smile
0.793, blush 0.858, eye colour 0.850, and only 0.194 of closed-mouth smiles were read as smiles
(0.761 of open mouths without a smile were read right). Zoomed in, the closed mouth was a pink
smudge, the selfie's lips coming through the content code, where the render draws a thin dark
line or curve: a blend that costs a per-pixel loss little, because the two states differ in a few
pixels. More loss on the mouth did not draw it (a one-off experiment continuing stage 4 for 3000
steps with squared error x256 and gradient L1 x16 on the mouth blob moved closed smiles 0.196 ->
0.235). The contrast loss (`train_generator.contrast_loss`) pairs every target with its render
with one of smile, open mouth, blush, eye colour or closed eyes switched and asks the output to be
nearer the target by half their distance, inside the pixels where the two differ, normalised by
that area, so a three-pixel smile weighs as much as a whole eye. Its 5000 steps moved closed-mouth
smiles 0.194 -> 0.490, open mouths without a smile 0.761 -> 0.915, smile 0.793 -> 0.878, blush
0.858 -> 0.962, eye colour 0.850 -> 0.866 and open mouth 0.933 -> 0.950 (+0.1 past the threshold
0.53 -> 0.67), for a held-out L1 of 6.28 -> 6.54 (the tables above); a 2500-step trial had reached
closed smiles 0.510 and smile 0.875, so more steps of it would add little. Half the closed smiles
are still drawn as a smudge the reader takes for the plain line, and red irises come out magenta.
What is left costs edits their side effects (`python benchmarks/bench_ceiling.py`).
The nearest-render reader only decides which of two renders an output is closer to, so it rates
soft features more kindly than a tagger or a person would.

## Sample grid (assets/demo-generator-samples.png)
Rows 1-4: a held-out demo selfie, then its translation with 8 fixed style codes (one per column).
Row 5: the ground-truth render of the first selfie's geometry with the same codes. Ground-truth
tags of the codes, by column (simple_background is on everywhere):

| column | tags |
|---|---|
{tags}
"""


# --------------------------------------------------------------------------- build steps

def default_stages(seed: int = 0) -> list[TrainConfig]:
    return [pretrain_config(seed), finetune_config(seed), sharpen_config(seed), fidelity_config(seed),
            contrast_config(seed)]


def _same_stage(saved: dict, cfg: TrainConfig) -> bool:
    """Whether a saved stage history is this stage, run to its end (time budgets aside)."""
    def key(c: TrainConfig) -> dict:
        return {k: v for k, v in asdict(c).items() if k != "time_budget_s"}

    end = cfg.stop_after if cfg.stop_after is not None else cfg.steps
    return key(TrainConfig(**saved["config"])) == key(cfg) and saved["steps_done"] == end


def finished_stages(out_dir: Path, stages: list[TrainConfig]) -> list[dict]:
    """Histories of the leading stages of `stages` that the generator saved in `out_dir` has finished.

    Stages share nothing but the weights (each starts its own optimiser and seeds), so a build
    interrupted between stages, or extended by a new stage, resumes from the saved weights with
    the same bytes as an uninterrupted build. Empty when the saved history is another build's.
    """
    path = Path(out_dir) / HISTORY
    if not path.is_file() or not (Path(out_dir) / assets.GENERATOR).is_file():
        return []
    saved = json.loads(path.read_text())
    if len(saved) > len(stages) or not all(_same_stage(h, c) for h, c in zip(saved, stages)):
        return []
    return saved


def build_generator(out_dir: Path, seed: int = 0, stages: list[TrainConfig] | None = None, log=print,
                    resume: bool = False):
    """Train the stages in turn, saving weights and history after each; measure and document the result.

    resume: start after the stages the saved generator in `out_dir` has finished (`finished_stages`).
    """
    from latentedit.models.checkpoint import save_generator
    from latentedit.models.generator import load_generator
    from latentedit.models.gnr import DEMO_CONFIG, Generator

    stages = stages or default_stages(seed)
    out_dir = Path(out_dir)
    t0 = time.time()
    data = make_pairs(stages[0].n_train, seed)
    val = make_pairs(stages[0].n_val, seed + VAL_SEED_OFFSET)
    log(f"rendered {len(data.selfies)} + {len(val.selfies)} selfies x {STYLES_PER_SELFIE} styles "
        f"in {time.time() - t0:.0f} s")
    histories = finished_stages(out_dir, stages) if resume else []
    if histories:
        G = load_generator(out_dir / assets.GENERATOR)
        log(f"resuming after stage {len(histories)} of {len(stages)} (weights and history in {out_dir})")
    else:
        torch.manual_seed(seed)
        G = Generator(**DEMO_CONFIG)
    for k, cfg in enumerate(stages[len(histories):], start=len(histories)):
        log(f"stage {k + 1}/{len(stages)}: {cfg.steps} steps, lr {cfg.lr}, feature weight {cfg.feature_weight}")
        histories.append(train(G, data, cfg, val=val, log=log))
        path = save_generator(G, out_dir / assets.GENERATOR)
        atomic_write_text(out_dir / HISTORY, json.dumps(histories) + "\n")
        log(f"wrote {path} (after stage {k + 1})")
    del data
    write_generator_report(G, out_dir, stages, histories, val, log=log)
    return G


def write_generator_report(G, out_dir: Path, stages: list[TrainConfig], histories: list[dict],
                           val: PairData | None = None, log=print) -> dict:
    """Measure the generator on held-out pairs; write the sample grid and the model card."""
    out_dir = Path(out_dir)
    seed = stages[0].seed
    val = val if val is not None else make_pairs(stages[0].n_val, seed + VAL_SEED_OFFSET)
    measured = measure_generator(G, val)
    log(f"held-out L1 {measured['l1_255']:.2f}/255, style RMSE {measured['style_rmse']:.3f}, "
        f"attribute accuracy {json.dumps({k: round(v, 3) for k, v in measured['attribute_accuracy'].items()})}")
    image, sample_z = sample_grid(G, seed)
    big = np.kron(image, np.ones((2, 2, 1), np.uint8))
    atomic_write_bytes(out_dir / "demo-generator-samples.png", encode_png(big))
    size = (out_dir / assets.GENERATOR).stat().st_size
    atomic_write_text(out_dir / "MODEL_CARD_generator.md",
                      model_card(G, stages, histories, measured, sample_z, size))
    return measured


def rewrite_generator_card(out_dir: Path, log=print) -> dict:
    """Re-measure the saved generator; rewrite its sample grid and model card from its training history."""
    from latentedit.models.generator import load_generator

    out_dir = Path(out_dir)
    histories = json.loads((out_dir / HISTORY).read_text())
    stages = [TrainConfig(**h["config"]) for h in histories]
    return write_generator_report(load_generator(out_dir / assets.GENERATOR), out_dir, stages, histories, log=log)


def build_tagger(out_dir: Path, seed: int, generator=None, log=print):
    """Train the demo tagger into OUT/demo-tagger, evaluate it and write its model card."""
    from tools.world.train_tagger import build_demo_tagger_assets

    return build_demo_tagger_assets(Path(out_dir), seed, generator=generator, log=log)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m tools.world.build", description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=["generator", "tagger", "scorer", "style-encoder", "stylegan2", "dcgan", "card"],
                   default=None, help="build one part only; 'card' re-measures the saved generator and rewrites its "
                   "card and grid; 'stylegan2' and 'dcgan' train the content-free demo generators (train_z_generator.py)")
    p.add_argument("--out", type=Path, default=None, help="assets folder (default: the shipped one)")
    p.add_argument("--steps", type=int, default=None, help="stage-1 (pretraining) steps")
    p.add_argument("--finetune-steps", type=int, default=None, help="stage-2 (fine-tuning) steps; 0 skips it")
    p.add_argument("--sharpen-steps", type=int, default=None, help="stage-3 (sharpening) steps; 0 skips it")
    p.add_argument("--fidelity-steps", type=int, default=None, help="stage-4 (fidelity) steps; 0 skips it")
    p.add_argument("--contrast-steps", type=int, default=None,
                   help="stage-5 (counterfactual contrast) steps; 0 skips it")
    p.add_argument("--resume", action="store_true",
                   help="start after the stages the saved generator has finished (same bytes as a whole build)")
    p.add_argument("--budget-minutes", type=float, default=None, help="time budget of each training stage")
    p.add_argument("--stop-after", type=int, nargs="+", default=None, metavar="STEP",
                   help="stop stage 1, 2, ... at these steps (same lr schedule: reproduces a budget stop)")
    p.add_argument("--style-steps", type=int, default=None, help="style-encoder training steps")
    p.add_argument("--style-stop-after", type=int, default=None,
                   help="stop the style-encoder training at this step (same lr schedule: reproduces a budget stop)")
    p.add_argument("--z-steps", type=int, default=None, help="steps of the demo StyleGAN2 / DCGAN training")
    p.add_argument("--z-stop-after", type=int, nargs="+", default=None, metavar="STEP",
                   help="stop the demo StyleGAN2 / DCGAN stages at these steps (same lr schedule: reproduces a "
                   "budget stop)")
    args = p.parse_args(argv)
    print(f"CPU kernels: {kernels.pin()}")  # before any kernel runs, so the weights do not depend on the CPU
    out = args.out or assets.assets_dir()
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    G = None
    if args.only == "card":
        rewrite_generator_card(out)
    if args.only in (None, "generator"):
        stages = default_stages(args.seed)
        if args.steps:
            stages[0].steps = args.steps
        if args.finetune_steps is not None:
            stages[1].steps = args.finetune_steps
        if args.sharpen_steps is not None:
            stages[2].steps = args.sharpen_steps
        if args.fidelity_steps is not None:
            stages[3].steps = args.fidelity_steps
        if args.contrast_steps is not None:
            stages[4].steps = args.contrast_steps
        for k, cfg in enumerate(stages):
            if args.budget_minutes:
                cfg.time_budget_s = args.budget_minutes * 60
            if args.stop_after and k < len(args.stop_after):
                cfg.stop_after = args.stop_after[k]
        stages = [cfg for cfg in stages if cfg.steps > 0]
        G = build_generator(out, args.seed, stages, resume=args.resume)
    if args.only in (None, "tagger"):
        if G is None and (out / assets.GENERATOR).is_file():
            from latentedit.models.generator import load_generator

            G = load_generator(out / assets.GENERATOR)
        build_tagger(out, args.seed, generator=G)
    if args.only in (None, "style-encoder"):
        from tools.world.train_style_encoder import StyleEncoderConfig, build_style_encoder_assets

        style_cfg = StyleEncoderConfig(seed=args.seed, stop_after=args.style_stop_after)
        if args.style_steps:
            style_cfg.steps = args.style_steps
        if args.budget_minutes:
            style_cfg.time_budget_s = args.budget_minutes * 60
        build_style_encoder_assets(out, args.seed, generator=G, cfg=style_cfg)
    for kind in ("stylegan2", "dcgan"):
        if args.only in (None, kind):
            from tools.world.train_z_generator import build_z_generator, default_stages

            z_stages = default_stages(kind, args.seed)
            z_stages[0].steps = args.z_steps or z_stages[0].steps
            for k, cfg in enumerate(z_stages):
                cfg.stop_after = args.z_stop_after[k] if args.z_stop_after and k < len(args.z_stop_after) else None
                cfg.time_budget_s = args.budget_minutes * 60 if args.budget_minutes else cfg.time_budget_s
            build_z_generator(out, kind, z_stages, resume=args.resume)
    if args.only in (None, "scorer"):
        from tools.world.build_scorer import build_demo_scorer

        build_demo_scorer(out, args.seed)
    assets.update_manifest(out)
    print(f"updated {out / assets.MANIFEST}")


if __name__ == "__main__":
    main()
