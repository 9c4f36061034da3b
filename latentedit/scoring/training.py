"""Training a re-scorer (`train_scorer`, one `TrainingConfig`) and the demo-world scorer.

- `train_scorer(data, labels, attributes, TrainingConfig(...))`: data is a uint8 NHWC array, a `Run` (labels = its tag
  scores thresholded at 0.5, unless a CSV is given) or an image folder (labels from a CSV with a
  `filename` column and one 0/1 column per attribute), resolved by `latentedit.scoring.data`. It
  holds out a split and reports held-out accuracy and AUC per attribute. It starts from ImageNet
  weights when the user has torchvision's resnet50 file in the torch hub cache, from scratch
  otherwise, and says which.
- `demo_scorer(config)`: the shipped assets/demo-scorer.pt for `DEMO_CONFIG`; a demo scorer of
  another configuration (`latentedit train-scorer` options) is trained on first use and cached in
  ~/.cache/latentedit/scorer-<hash>.pt, or under $LATENTEDIT_CACHE.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import CheckpointError, InputError
from ..models.checkpoint import hub_checkpoint_dir
from ..requests import make_request
from ..stats import TAG_THRESHOLD, auc
from ..world import render, truth
from .data import training_data
from .scorer import DEFAULT_ATTRIBUTES, Scorer, _read_weights, load_scorer

# The demo scorer: trained on demo-world renders with ground-truth labels (the world's
# "real anime" domain, as the thesis trained on real anime), never on generator outputs, so that
# its agreement with the ground truth on decoded images measures how far it can be trusted there.
DEMO_CONFIG = dict(n_images=3000, seed=0, render_size=64, input_size=64, epochs=4, batch_size=64,
                   lr=2e-3, holdout=0.2, attributes=list(DEFAULT_ATTRIBUTES))


def cache_dir() -> Path:
    """Where trained-on-first-use models are cached: $LATENTEDIT_CACHE or ~/.cache/latentedit."""
    env = os.environ.get("LATENTEDIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "latentedit"


def imagenet_weights_file() -> Path | None:
    """The user's torchvision ResNet50 ImageNet weights (resnet50-*.pth in the hub cache), if any."""
    found = sorted(hub_checkpoint_dir().glob("resnet50-*.pth"))
    return found[0] if found else None


# -- metrics ---------------------------------------------------------------------------------------
def attribute_metrics(attributes, y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Per attribute: accuracy at 0.5, AUC, number of samples and positives."""
    out = {}
    for k, a in enumerate(attributes):
        pred = probs[:, k] >= TAG_THRESHOLD
        out[a] = {
            "accuracy": float((pred == (y_true[:, k] >= TAG_THRESHOLD)).mean()) if len(y_true) else float("nan"),
            "auc": auc(y_true[:, k], probs[:, k]),
            "n": int(len(y_true)),
            "positives": int(y_true[:, k].sum()),
        }
    return out


# -- training --------------------------------------------------------------------------------------
def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _init_weights(scorer: Scorer, pretrained) -> str:
    """Load ImageNet weights into the backbone when asked or available; return where it started from.

    pretrained: "auto" (the hub file when present), True (require it), False, or a file path.
    """
    where = hub_checkpoint_dir() / "resnet50-11ad3fa6.pth"
    if pretrained is False:
        return "scratch (ImageNet weights not requested)"
    if pretrained in ("auto", None, True):
        file = imagenet_weights_file()
        if file is None:
            if pretrained is True:
                raise CheckpointError(f"missing ImageNet ResNet50 weights: put torchvision's resnet50-11ad3fa6.pth at {where}")
            return f"scratch (no ImageNet weights: torchvision's resnet50-*.pth is not in {where.parent})"
    else:
        file = Path(pretrained)
    state = _read_weights(file, "ImageNet weights file", "delete it or replace it with torchvision's resnet50 file")
    try:
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = scorer.net.load_state_dict(state, strict=False)
    except Exception as e:
        raise CheckpointError(f"cannot load ImageNet weights {file} ({str(e).splitlines()[0][:120]}); "
                              "delete it or replace it with torchvision's resnet50 file") from e
    if unexpected or [k for k in missing if not k.startswith("fc.")]:
        raise CheckpointError(f"{file} is not a torchvision ResNet50 state dict; delete it or replace it")
    return f"ImageNet weights ({file})"


def _augment(x: torch.Tensor, gen: torch.Generator, shift: int = 3) -> torch.Tensor:
    """Random horizontal flips and shifts of up to `shift` pixels (edge padding)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
    padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


@dataclass(frozen=True)
class TrainingConfig:
    """How `train_scorer` trains: epochs; seed (of the split, the initialisation and the batches);
    input_size (images are resized to it); batch_size; lr (one-cycle peak); holdout (fraction held
    out for the metrics); pretrained ("auto": ImageNet weights when present in the torch hub cache,
    True: require them, False: from scratch, or a path); limit (at most this many labelled images);
    threads (bounds torch's threads during training only)."""

    epochs: int = 4
    seed: int = 0
    input_size: int = 64
    batch_size: int = 64
    lr: float = 2e-3
    holdout: float = 0.2
    pretrained: object = "auto"
    limit: int | None = None
    threads: int = 1

    def __post_init__(self):
        if self.epochs < 1:
            raise InputError(f"epochs must be at least 1, got {self.epochs}")


def train_scorer(data, labels=None, attributes=DEFAULT_ATTRIBUTES, config: TrainingConfig | None = None, *,
                 out=None, progress: bool = True, **options) -> Scorer:
    """Train a `Scorer` and report held-out accuracy and AUC per attribute (in `scorer.metrics`).

    data: uint8 (N, H, W, 3) with `labels` (N, A) 0/1; a Run or run folder (labels: its tags
    thresholded at 0.5, or a CSV naming sample PNGs); or an image folder with a label CSV.
    config: a TrainingConfig, or give its fields as keywords. `out`: also save the scorer there.
    """
    cfg = make_request(TrainingConfig, config, options)
    attributes = tuple(attributes)
    x_all, y, trained_on = training_data(data, labels, attributes, cfg.limit, cfg.input_size)
    n = len(y)
    n_hold = int(round(n * cfg.holdout))
    if n < 10 or n - n_hold < 2 or n_hold < 1:
        raise InputError(f"{n} labelled images are too few to train and hold out {cfg.holdout:.0%}; give at least 10")

    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(cfg.threads, old_threads)))
    try:
        torch.manual_seed(cfg.seed)
        scorer = Scorer(attributes, cfg.input_size)
        scorer.init = _init_weights(scorer, cfg.pretrained)
        _say(f"training the scorer from {scorer.init} on {n - n_hold} images, holding out {n_hold}", progress)
        order = np.random.default_rng(cfg.seed).permutation(n)
        hold, train = order[:n_hold], order[n_hold:]
        start = time.time()
        scorer = _fit(scorer, x_all[train], torch.from_numpy(y[train]), cfg, progress)
        train_seconds = time.time() - start
        probs = scorer.predict(x_all[hold].permute(0, 2, 3, 1).numpy())
    finally:
        torch.set_num_threads(old_threads)
    scorer.metrics = {"held_out": attribute_metrics(attributes, y[hold], probs), "n_train": int(len(train)),
                      "n_held_out": int(n_hold), "epochs": int(cfg.epochs), "train_seconds": round(train_seconds, 1)}
    scorer.trained_on = {**trained_on, "seed": int(cfg.seed), "input_size": int(cfg.input_size),
                         "holdout": float(cfg.holdout), "batch_size": int(cfg.batch_size), "lr": float(cfg.lr)}
    _say("held-out " + ", ".join(f"{a}: accuracy {m['accuracy']:.3f} AUC {m['auc']:.3f}"
                                 for a, m in scorer.metrics["held_out"].items())
         + f" ({train_seconds:.0f} s)", progress)
    if out is not None:
        scorer.save(out)
        _say(f"saved the scorer to {out}", progress)
    return scorer


def _fit(scorer: Scorer, x_train: torch.Tensor, y_train: torch.Tensor, cfg: TrainingConfig, progress: bool) -> Scorer:
    """AdamW with a one-cycle schedule over augmented batches (uint8 images); returns the scorer in eval mode."""
    gen = torch.Generator().manual_seed(cfg.seed)
    net = scorer.to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = cfg.epochs * ((len(x_train) + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.2)
    bar = tqdm(total=steps, desc="train scorer", unit="batch", disable=not progress, leave=False)
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(x_train), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if len(idx) < 2:
                continue
            xb = _augment(x_train[idx].float().div(255), gen)
            xb = ((xb - scorer.mean) / scorer.std).contiguous(memory_format=torch.channels_last)
            loss = F.binary_cross_entropy_with_logits(net(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return scorer.to(memory_format=torch.contiguous_format).eval()


# -- the demo scorer -------------------------------------------------------------------------------
def demo_training_data(config: dict = DEMO_CONFIG) -> tuple[np.ndarray, np.ndarray]:
    """Demo-world anime renders with their ground-truth labels for the configured attributes."""
    images, z, _ = render.demo_anime(config["n_images"], seed=config["seed"], size=config["render_size"])
    y = np.stack([truth.BINARY_ATTRIBUTES[a](z) for a in config["attributes"]], axis=1).astype(np.float32)
    return images, y


def demo_scorer_path(images: np.ndarray, labels: np.ndarray, config: dict = DEMO_CONFIG) -> Path:
    """Cache file of the demo scorer, named by a hash of its training data and configuration."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    h.update(torch.__version__.encode())
    h.update(str(imagenet_weights_file()).encode())  # an ImageNet start gives another scorer
    return cache_dir() / f"scorer-{h.hexdigest()[:16]}.pt"


def demo_scorer(progress: bool = True, config: dict = DEMO_CONFIG) -> Scorer:
    """The demo-world scorer: the shipped assets/demo-scorer.pt for `DEMO_CONFIG` (float16 weights,
    see assets/MODEL_CARD_scorer.md); another configuration is trained on first use (a few
    minutes) and cached."""
    if config == DEMO_CONFIG:
        return load_scorer("demo")
    images, y = demo_training_data(config)
    path = demo_scorer_path(images, y, config)
    if path.exists():
        try:
            return load_scorer(path)
        except CheckpointError:
            _say(f"the cached scorer {path} is unreadable; training it again", progress)
    _say(f"no cached demo scorer at {path}: training one on {len(y)} demo-world renders (a few minutes, once)",
         progress)
    scorer = train_scorer(images, y, config["attributes"], epochs=config["epochs"], seed=config["seed"],
                          progress=progress, input_size=config["input_size"], batch_size=config["batch_size"],
                          lr=config["lr"], holdout=config["holdout"], pretrained="auto")
    scorer.trained_on.update({"kind": "demo world renders", "config": dict(config)})
    scorer.save(path)
    return scorer
