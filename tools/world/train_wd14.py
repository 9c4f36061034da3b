"""The demo WD14 tagger: a small torch CNN trained on the demo world, exported to ONNX.

Same training images and labels as the demo DeepDanbooru tagger (`train_tagger`: procedural
renders plus demo generator outputs, labelled with the tags of their style codes), fed through
the WD14 reference preprocessing (64x64 images need no padding or resize: BGR float 0-255,
NHWC). The model takes that input itself (it scales and transposes inside), so the ONNX file
is a drop-in WD14 tagger: assets/demo-wd14/model.onnx with selected_tags.csv (the four WD14
rating rows, category 9, then the demo world's 19 general tags, category 0).

    python -m tools.world.train_wd14 --seed 0   # rebuilds assets/demo-wd14 and MODEL_CARD_wd14.md

Build-time needs: onnx and onnxscript (torch.onnx.export); the runtime needs only onnxruntime.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import numpy as np

from latentedit.io import atomic_write_bytes, atomic_write_text
from latentedit.tagging.wd14 import GENERAL_THRESHOLD, MODEL, TAGS
from latentedit.world import truth
from tools.world import kernels
from tools.world.train_tagger import (EVAL_SEED, evaluate_demo_tagger, generated_examples, render_examples,
                                     tagger_build_args)

RATINGS = ("general", "sensitive", "questionable", "explicit")  # the WD14 taggers' rating rows; every demo face is "general"
WIDTHS = (32, 64, 96, 128)
SIZE, STEPS, BATCH, LR = 64, 1500, 32, 3e-3
N_RENDERS, N_GENERATED = 12000, 10000


def build_model(n_out: int, widths=WIDTHS):
    """A small CNN: (B, H, W, 3) BGR float 0-255 -> (B, n_out) sigmoid scores."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [nn.Conv2d(3, widths[0], 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()], widths[0]
            for i, w in enumerate(widths):
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                if i < len(widths) - 1:
                    layers.append(nn.MaxPool2d(2))
                c = w
            self.features, self.head = nn.Sequential(*layers), nn.Linear(c, n_out)

        def forward(self, x):
            x = x.permute(0, 3, 1, 2) / 255.0
            return torch.sigmoid(self.head(self.features(x).mean(dim=(2, 3))))

    return Net()


def training_data(generator, seed: int):
    """(uint8 RGB images, 0/1 labels with the rating columns first), as the demo DeepDanbooru tagger's."""
    images, z = render_examples(N_RENDERS, seed, SIZE)
    if generator is not None:
        gen_images, gen_z, _ = generated_examples(generator, N_GENERATED, seed + 20_000)
        images, z = np.concatenate([images, gen_images]), np.concatenate([z, gen_z])
    ratings = np.zeros((len(z), len(RATINGS)), np.uint8)
    ratings[:, 0] = 1
    return images, np.concatenate([ratings, truth.tag_matrix(z)], axis=1)


def train(model, images: np.ndarray, labels: np.ndarray, seed: int, log=print) -> list:
    """Adam with cosine decay on BGR float batches; augmentation: horizontal flip and pixel noise."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS, eta_min=LR * 0.02)
    rng = np.random.default_rng(seed + 2)
    bgr = torch.from_numpy(np.ascontiguousarray(images[..., ::-1]))
    y_all = torch.from_numpy(labels.astype(np.float32))
    losses, t0 = [], time.time()
    model.train()
    for step in range(STEPS):
        idx = torch.from_numpy(rng.integers(0, len(images), BATCH))
        x = bgr[idx].float()
        flip = torch.from_numpy(rng.random(BATCH) < 0.5)
        x[flip] = x[flip].flip(2)
        x = (x + torch.from_numpy(rng.normal(0, 8, x.shape).astype(np.float32)) * float(rng.random())).clamp(0, 255)
        loss = torch.nn.functional.binary_cross_entropy(model(x), y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % 250 == 0:
            log(f"step {step + 1}/{STEPS}  loss {np.mean(losses[-250:]):.4f}  {time.time() - t0:.0f} s")
    model.eval()
    return [round(float(np.mean(losses[j : j + 250])), 5) for j in range(0, len(losses), 250)]


def export(model, out_dir: Path, counts: np.ndarray) -> Path:
    """Write model.onnx (batch axis dynamic) and selected_tags.csv to `out_dir`."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, SIZE, SIZE, 3)
    program = torch.onnx.export(model, (example,), input_names=["input"], output_names=["output"], dynamo=True,
                                dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False, verbose=False)
    atomic_write_bytes(out_dir / MODEL, program.model_proto.SerializeToString())
    rows = [(9, name) for name in RATINGS] + [(0, name) for name in truth.TAGS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["tag_id", "name", "category", "count"])
    for i, ((category, name), count) in enumerate(zip(rows, counts)):
        writer.writerow([i, name, category, int(count)])
    atomic_write_text(out_dir / TAGS, buf.getvalue())
    return out_dir


def build(assets_dir: Path, seed: int = 0, generator=None, log=print) -> dict:
    """Train, export and evaluate the demo WD14 tagger next to the demo DeepDanbooru tagger; write the card."""
    import torch

    from latentedit.tagging import load_tagger

    t0 = time.time()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    images, labels = training_data(generator, seed)
    log(f"{len(images)} training images ready in {time.time() - t0:.0f} s")
    model = build_model(labels.shape[1])
    history = train(model, images, labels, seed, log)
    out = export(model, assets_dir / "demo-wd14", labels.sum(axis=0))
    seconds = time.time() - t0
    log(f"saved {out} in {seconds:.0f} s")
    evaluations = {
        "wd14": evaluate_demo_tagger(load_tagger(out), generator, threshold=GENERAL_THRESHOLD),
        "deepdanbooru": evaluate_demo_tagger(load_tagger("demo"), generator),
    }
    n_params = sum(p.numel() for p in model.parameters())
    atomic_write_text(assets_dir / "MODEL_CARD_wd14.md",
                      model_card(out, evaluations, seed, seconds, n_params, len(images), history, generator))
    return evaluations


ATTRIBUTES = {"hair_length": "hair length (long_hair, long vs short; medium left out)", "open_mouth": "mouth open (open_mouth)",
              "closed_eyes": "eyes closed (closed_eyes)", "hair_color": "hair colour (macro mean of one-vs-rest colour tags)",
              "hair_color_argmax": "hair colour, argmax of the colour tags (accuracy)"}


def model_card(out: Path, ev: dict, seed: int, seconds: float, n_params: int, n_train: int, history: list, generator) -> str:
    wd, dd = ev["wd14"], ev["deepdanbooru"]
    cell = lambda v: "n/a (on for every image)" if v is None else f"{v:.3f}"  # noqa: E731
    size = (out / MODEL).stat().st_size
    return "\n".join([
        "# Model card: demo WD14 tagger (`assets/demo-wd14`)",
        "",
        "A WD14-format tagger (`model.onnx` + `selected_tags.csv`) for latentedit's demo world, standing in",
        "for the WD14 taggers people use on real anime images (SmilingWolf/wd-* on Hugging Face), which",
        "latentedit loads the same way: `latentedit tag RUN --tagger FOLDER`. Select it with `--tagger demo-wd14`.",
        "",
        "## Model",
        f"- A small torch CNN: a 4x4 stride-2 conv, then 4 stages of a 3x3 conv + BatchNorm + ReLU, widths {list(WIDTHS)},"
        " max-pool between stages, global average pool, linear, sigmoid; exported with `torch.onnx.export` (dynamo, opset default,"
        " batch axis dynamic).",
        f"- Input (batch, {SIZE}, {SIZE}, 3) float32 BGR in 0-255 (the WD14 reference preprocessing); outputs"
        f" {len(RATINGS) + len(truth.TAGS)} sigmoid scores: the rating rows {', '.join(RATINGS)} (category 9; every"
        f" demo face is trained as 'general'), then the {len(truth.TAGS)} demo tags (category 0, general).",
        f"- {n_params:,} parameters; `model.onnx` {size / 1e6:.2f} MB.",
        "",
        "## Training",
        f"- {n_train:,} images, the demo DeepDanbooru tagger's recipe: {N_RENDERS:,} procedural renders"
        + (f" plus {n_train - N_RENDERS:,} demo generator outputs" if generator is not None else "")
        + "; labels, the ground-truth tags of each image's style code (`latentedit.world.truth.tag_matrix`).",
        f"- Adam, learning rate {LR} with cosine decay, {STEPS} steps of {BATCH} images, binary cross-entropy;"
        " augmentation: horizontal flip, pixel noise. Loss every 250 steps: " + ", ".join(map(str, history)) + ".",
        f"- Seed {seed}, torch deterministic algorithms; {kernels.summary(kernels.describe())}."
        f" Built in {seconds / 60:.1f} min on a shared 2-core CPU.",
        f"- Rebuild (about {max(1, round(seconds / 60))} min): `python -m tools.world.train_wd14 --seed {seed}`"
        " (needs `pip install onnx onnxscript` for the export); it rewrites this card and assets/manifest.json.",
        "",
        "## Evaluation",
        f"The demo DeepDanbooru tagger's held-out faces: {wd['n']} fresh style codes (seed {EVAL_SEED}) decoded by the"
        f" {'demo generator from fresh demo selfies' if wd['source'] == 'generator' else 'renderer'}; balanced accuracy"
        f" against the ground truth of each code, each tagger at its own threshold (WD14 general {GENERAL_THRESHOLD},"
        " DeepDanbooru 0.5). Measured by the build command above.",
        "",
        "| attribute | demo WD14 | demo DeepDanbooru |",
        "|---|---|---|",
        *[f"| {label} | {wd[k]:.3f} | {dd[k]:.3f} |" for k, label in ATTRIBUTES.items()],
        "",
        "Every tag (balanced accuracy against the tags of each image's code, same images):",
        "",
        "| tag | demo WD14 | demo DeepDanbooru |",
        "|---|---|---|",
        *[f"| {t} | {cell(wd['tags'][t])} | {cell(dd['tags'][t])} |" for t in truth.TAGS],
        "",
        "## Limits",
        "- Knows only the demo world: flat-shaded 64x64 faces with 19 tags and no characters. Its rating rows",
        "  say 'general' for everything; they are kept out of direction fitting like every rating tag.",
        "- Images of another size are padded to a white square and resized to 64x64, as the reference does.",
        "",
    ])


def main(argv=None):
    from latentedit.world import assets

    out, seed, generator = tagger_build_args("python -m tools.world.train_wd14",
                                             "Train the demo WD14 tagger into ASSETS/demo-wd14.", argv)
    evaluations = build(out, seed, generator)
    for name, ev in evaluations.items():
        print(name, {k: round(ev[k], 3) for k in ATTRIBUTES})
    assets.update_manifest(out)


if __name__ == "__main__":
    main()
