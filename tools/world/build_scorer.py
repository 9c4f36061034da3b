"""Build the shipped demo re-scorer: assets/demo-scorer.pt and assets/MODEL_CARD_scorer.md.

The demo re-scorer is a torchvision ResNet50 (`Scorer`) trained on demo-world anime renders with
their ground-truth labels (`DEMO_CONFIG`). Training it takes minutes on 2 CPU cores, so it is
trained once here and shipped, in half precision (the weights are cast back to float32 when
loaded; the card measures the shipped half-precision file, not the float32 model it came from).
The file is the plain dict of `Scorer.to_dict()` (read with torch.load(weights_only=True)).

    python -m tools.world.build --only scorer --seed 0
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import torch

from latentedit.io import atomic_write_bytes, atomic_write_text
from latentedit.scoring import scorer as S, training as T
from latentedit.world import assets, render, truth
from tools.world import kernels

CARD = "MODEL_CARD_scorer.md"
FRESH_RENDERS = 1000      # an independent test set: renders of another seed
GENERATOR_SAMPLES = 300   # demo-generator outputs scored against the tags of their style codes


def half_precision(blob: dict) -> dict:
    """A scorer dict with every floating tensor of its state dict cast to float16."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    return {**blob, "state_dict": state, "dtype": "float16"}


def held_out_split(n: int, holdout: float, seed: int) -> np.ndarray:
    """Indices `train_scorer` holds out for `n` images (the same permutation it draws)."""
    return np.random.default_rng(seed).permutation(n)[: int(round(n * holdout))]


def evaluate(scorer, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, AUC, n and positives per attribute of a scorer on labelled uint8 images."""
    return T.attribute_metrics(scorer.attributes, labels, scorer.predict(images))


def generator_outputs(G, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Demo-generator outputs (content of fresh demo selfies, random z) and the tags of their z."""
    from latentedit.directions.label import sample_content
    from latentedit.images import to_uint8

    content = sample_content(G, n, seed, 32)
    z = np.random.default_rng([seed, 1]).standard_normal((n, G.latent_dim)).astype(np.float32)
    with torch.inference_mode():
        images = np.concatenate([to_uint8(G.decode(content[i : i + 32], torch.from_numpy(z[i : i + 32])))
                                 for i in range(0, n, 32)])
    return images, z


def build_demo_scorer(out_dir, seed: int = 0, config: dict | None = None, threads: int = 2, log=print) -> dict:
    """Train the demo scorer, ship it in half precision into OUT, measure it, write its card."""
    from latentedit.models.generator import load_generator

    out_dir = Path(out_dir)
    config = {**T.DEMO_CONFIG, "seed": int(seed)} if config is None else dict(config)
    t0 = time.time()
    images, y = T.demo_training_data(config)
    scorer = T.train_scorer(images, y, config["attributes"], epochs=config["epochs"], seed=config["seed"],
                            progress=True, input_size=config["input_size"], batch_size=config["batch_size"],
                            lr=config["lr"], holdout=config["holdout"], pretrained=False, threads=threads)
    seconds = time.time() - t0
    scorer.trained_on.update({"kind": "demo world renders", "config": dict(config)})
    float32_held_out = scorer.metrics["held_out"]
    buf = io.BytesIO()
    torch.save(half_precision(scorer.to_dict()), buf)
    path = atomic_write_bytes(out_dir / assets.SCORER, buf.getvalue())

    shipped = S.load_scorer(path)
    hold = held_out_split(len(y), config["holdout"], config["seed"])
    fresh_x, fresh_z, _ = render.demo_anime(FRESH_RENDERS, seed=config["seed"] + 1, size=config["render_size"])
    fresh_y = np.stack([truth.BINARY_ATTRIBUTES[a](fresh_z) for a in config["attributes"]], 1).astype(np.float32)
    measured = {"held_out": evaluate(shipped, images[hold], y[hold]), "held_out_float32": float32_held_out,
                "fresh_renders": evaluate(shipped, fresh_x, fresh_y), "train_seconds": round(seconds, 1),
                "threads": int(threads), "file_bytes": path.stat().st_size, "kernels": kernels.describe()}
    gen_file = out_dir / assets.GENERATOR
    if gen_file.is_file():
        gx, gz = generator_outputs(load_generator(gen_file), GENERATOR_SAMPLES, config["seed"] + 2)
        gy = np.stack([truth.BINARY_ATTRIBUTES[a](gz) for a in config["attributes"]], 1).astype(np.float32)
        measured["generator_outputs"] = evaluate(shipped, gx, gy)
    log(json.dumps(measured, indent=1))
    atomic_write_text(out_dir / CARD, model_card(shipped, config, measured))
    return measured


def _rows(metrics: dict) -> str:
    return "\n".join(f"| {a} | {m['accuracy']:.3f} | {m['auc']:.3f} | {m['n']} | {m['positives']} |"
                     for a, m in metrics.items())


def _kernels_note(k: dict | None) -> str:
    if not k:
        return "CPU kernels not recorded."
    return (f"CPU kernels: {kernels.summary(k)} ({k['machine']}, torch dispatch {k['torch_cpu_capability']}; "
            "`tools.world.kernels`).")


def model_card(scorer, config: dict, measured: dict) -> str:
    """The markdown model card of the shipped demo scorer."""
    n_params = sum(p.numel() for p in scorer.net.parameters())
    table = "| attribute | accuracy | AUC | n | positives |\n|---|---|---|---|---|\n"
    parts = [
        "# Demo re-scorer (ResNet50)",
        "",
        "The re-scoring classifier of the demo world, shipped so that `latentedit report` does not train it "
        "on first use.",
        "",
        f"- torchvision `resnet50(weights=None)` with `fc` replaced by {len(scorer.attributes)} logits "
        f"({', '.join(scorer.attributes)}); {n_params:,} parameters.",
        f"- `{assets.SCORER}`: {measured['file_bytes'] / 1e6:.1f} MB, float16 weights (cast to float32 when "
        "loaded), a plain dict read with `torch.load(weights_only=True)`.",
        f"- Trained from scratch (no ImageNet weights) on {config['n_images']} demo-world anime renders "
        f"({config['render_size']} px, seed {config['seed']}) labelled with the ground truth of their style codes; "
        f"{config['epochs']} epochs, batch {config['batch_size']}, AdamW + one-cycle lr {config['lr']}, flips and "
        f"shifts; {config['holdout']:.0%} held out. {measured['train_seconds'] / 60:.1f} min on "
        f"{measured['threads']} CPU threads. {_kernels_note(measured.get('kernels'))}",
        "",
        "## Held-out renders (the shipped float16 file)",
        "",
        table + _rows(measured["held_out"]),
        "",
        "Before the cast to float16: " + ", ".join(f"{a} {m['accuracy']:.3f}"
                                                   for a, m in measured["held_out_float32"].items()) + ".",
        "",
        f"## {FRESH_RENDERS} fresh renders (seed {config['seed'] + 1})",
        "",
        table + _rows(measured["fresh_renders"]),
    ]
    if "generator_outputs" in measured:
        parts += [
            "",
            f"## {GENERATOR_SAMPLES} demo-generator outputs, against the tags of their style codes",
            "",
            "The domain the report scores. The generator does not draw every code's attributes exactly "
            "(see MODEL_CARD_generator.md), so this is a lower bound of the scorer's accuracy there; the report "
            "also measures its agreement with the pixel readout of every edited image.",
            "",
            table + _rows(measured["generator_outputs"]),
        ]
    parts += ["", "Rebuild: `python -m tools.world.build --only scorer --seed 0`.", ""]
    return "\n".join(parts)
