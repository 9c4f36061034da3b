"""ResNet50 attribute scorer: the re-scoring classifier of the InterFaceGAN / SeFa protocol.

The thesis trains a ResNet50 on anime images with three labels (open_mouth, short_hair,
closed_eyes) and scores every image before and after an edit (see `latentedit.scoring.rescore`). Here:

- `Scorer`: torchvision `resnet50(weights=None)` with `fc` replaced by one logit per attribute.
  Images are resized to `input_size` (64 by default: ResNet50 is fully convolutional up to its
  adaptive pooling, and 64x64 is what the demo generator draws) and normalised like ImageNet.
  `predict(images) -> (N, A)` sigmoid probabilities; `features(images) -> (N, 2048)` penultimate
  features (used by the labelled substitute metrics in `latentedit.scoring.metrics`).
- `train_scorer(data, labels, attributes, TrainingConfig(...))`: data is a uint8 NHWC array, a `Run` (labels = its tag
  scores thresholded at 0.5, unless a CSV is given) or an image folder (labels from a CSV with a
  `filename` column and one 0/1 column per attribute). It holds out a split and reports held-out
  accuracy and AUC per attribute. It starts from ImageNet weights when the user has torchvision's
  resnet50 file in the torch hub cache, from scratch otherwise, and says which.
- `load_scorer(path | "demo")`: the file is a plain dict {attributes, state_dict, metrics,
  input_size, trained_on, init} saved with torch.save and read with weights_only=True.
  "demo" is the shipped demo-world scorer, assets/demo-scorer.pt (float16 weights, 47 MB; built by
  `python -m latentedit.world.build --only scorer`); a demo scorer of another configuration
  (`latentedit train-scorer` options) is trained on first use and cached in
  ~/.cache/latentedit/scorer-<hash>.pt, or under $LATENTEDIT_CACHE.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50
from tqdm.auto import tqdm

from ..errors import CheckpointError, InputError, LatentEditError, TagError, UnsafeFileError, unknown_name_message
from ..images import list_images, read_rgb
from ..io import atomic_write_bytes
from ..limits import MIN_IMAGE_SIDE, check_count
from ..models.checkpoint import hub_checkpoint_dir
from ..models.safeload import torch_load
from ..requests import make_request
from ..stats import TAG_THRESHOLD, auc
from ..store import Run, sample_file
from ..world import assets, render, truth

DEFAULT_ATTRIBUTES = ("open_mouth", "short_hair", "closed_eyes")
FORMAT = "latentedit-scorer/1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The demo scorer: trained on first use on demo-world renders with ground-truth labels (the world's
# "real anime" domain, as the thesis trained on real anime), never on generator outputs, so that
# its agreement with the ground truth on decoded images measures how far it can be trusted there.
DEMO_CONFIG = dict(n_images=3000, seed=0, render_size=64, input_size=64, epochs=4, batch_size=64,
                   lr=2e-3, holdout=0.2, attributes=list(DEFAULT_ATTRIBUTES))


class ScorerError(LatentEditError):
    """A scorer file, its attributes or its training labels cannot be used."""


def cache_dir() -> Path:
    """Where trained-on-first-use models are cached: $LATENTEDIT_CACHE or ~/.cache/latentedit."""
    env = os.environ.get("LATENTEDIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "latentedit"


def imagenet_weights_file() -> Path | None:
    """The user's torchvision ResNet50 ImageNet weights (resnet50-*.pth in the hub cache), if any."""
    found = sorted(hub_checkpoint_dir().glob("resnet50-*.pth"))
    return found[0] if found else None


MAX_SCORER_INPUT = 1024  # pixels per side: ResNet50 needs no more to tell hair, eyes and mouth apart


# -- the model -------------------------------------------------------------------------------------
class Scorer(nn.Module):
    """ResNet50 with one sigmoid output per attribute, fed images resized to `input_size`."""

    def __init__(self, attributes=DEFAULT_ATTRIBUTES, input_size: int = 64):
        super().__init__()
        self.attributes = tuple(str(a) for a in attributes)
        if not self.attributes:
            raise ScorerError("a scorer needs at least one attribute")
        self.input_size = check_count(input_size, "input_size", MIN_IMAGE_SIDE, MAX_SCORER_INPUT)
        self.net = resnet50(weights=None)
        self.net.fc = nn.Linear(self.net.fc.in_features, len(self.attributes))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.metrics: dict = {}
        self.trained_on: dict = {}
        self.init = "scratch"

    def __repr__(self):
        return f"Scorer(attributes={list(self.attributes)}, input_size={self.input_size}, init={self.init!r})"

    def prepare(self, images) -> torch.Tensor:
        """uint8 NHWC (numpy or tensor) or float NCHW in [-1, 1] -> normalised (N, 3, S, S)."""
        if isinstance(images, np.ndarray) or (isinstance(images, torch.Tensor) and images.dtype == torch.uint8):
            a = torch.as_tensor(np.ascontiguousarray(images))
            if a.ndim == 3:
                a = a[None]
            if a.ndim != 4 or a.shape[-1] != 3:
                raise InputError(f"images must be uint8 (N, H, W, 3), got shape {tuple(a.shape)}")
            x = a.permute(0, 3, 1, 2).float().div(255)
        else:
            x = images.float().add(1).div(2)
        x = x.to(self.mean.device)
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False,
                              antialias=True)
        return (x - self.mean) / self.std

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> penultimate features (N, 2048)."""
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        return torch.flatten(n.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> logits (N, A)."""
        return self.net.fc(self.embed(x))

    @torch.no_grad()
    def _batched(self, images, fn, batch_size: int) -> np.ndarray:
        was_training = self.training
        self.eval()
        try:
            out = [fn(self.prepare(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
        finally:
            self.train(was_training)
        if not out:
            return np.zeros((0, len(self.attributes)), np.float32)
        return torch.cat(out).cpu().numpy().astype(np.float32)

    def predict(self, images, batch_size: int = 128) -> np.ndarray:
        """Probability of every attribute for every image: float32 (N, A), columns = `attributes`."""
        return self._batched(images, lambda x: torch.sigmoid(self(x)), batch_size)

    def features(self, images, batch_size: int = 128) -> np.ndarray:
        """Penultimate (pooled layer4) features: float32 (N, 2048)."""
        return self._batched(images, self.embed, batch_size)

    # -- files -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "attributes": list(self.attributes),
            "input_size": self.input_size,
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
            "metrics": _plain(self.metrics),
            "trained_on": _plain(self.trained_on),
            "init": self.init,
        }

    def save(self, path) -> Path:
        """Write the scorer atomically with torch.save (plain tensors and Python values only)."""
        buf = io.BytesIO()
        torch.save(self.to_dict(), buf)
        return atomic_write_bytes(path, buf.getvalue())


def _plain(obj):
    """JSON-able copy (numpy scalars -> Python), so the file loads with weights_only=True."""
    return json.loads(json.dumps(obj, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _read_weights(path: Path, what: str, hint: str):
    """torch.load(path, weights_only=True), or a one-line CheckpointError naming `what` and what to do."""
    if not path.exists():
        raise CheckpointError(f"{what} {path} does not exist; {hint}")
    try:
        return torch_load(path)  # UnsafeFileError when the file would run code: said as such, not rewrapped
    except UnsafeFileError:
        raise
    except Exception as e:
        raise CheckpointError(f"cannot read {what} {path}: it is truncated or not a PyTorch file "
                              f"({type(e).__name__}); {hint}") from e


def load_scorer(path="demo", attributes=None, progress: bool = True) -> Scorer:
    """Load a scorer file (or "demo": the shipped demo-world scorer, `demo_scorer`).

    With `attributes`, the scorer must have been trained on exactly those attributes, in order.
    """
    if str(path) == "demo":
        scorer = demo_scorer(progress=progress)
    else:
        path = Path(path)
        blob = _read_weights(path, "scorer file", "train one with latentedit train-scorer")
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a latentedit scorer file (no format {FORMAT!r}); "
                                  "train one with latentedit train-scorer")
        scorer = Scorer(blob["attributes"], blob["input_size"])
        try:
            scorer.net.load_state_dict(blob["state_dict"])
        except RuntimeError as e:
            raise CheckpointError(f"{path} does not hold ResNet50 scorer weights ({str(e).splitlines()[0][:120]})") from e
        scorer.metrics = blob.get("metrics", {})
        scorer.trained_on = blob.get("trained_on", {})
        scorer.init = blob.get("init", "scratch")
        scorer.eval()
    if attributes is not None and tuple(attributes) != scorer.attributes:
        raise ScorerError(f"the scorer was trained on attributes {list(scorer.attributes)} but "
                          f"{list(attributes)} were asked; train a scorer for those with latentedit train-scorer")
    return scorer


# -- labels ----------------------------------------------------------------------------------------
def load_labels_csv(path, attributes) -> tuple[list[str], np.ndarray]:
    """Read a label CSV: a `filename` column and one 0/1 column per attribute -> (names, (N, A))."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"label file {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "filename" not in columns:
            raise InputError(f"{path} has no 'filename' column (columns: {', '.join(columns) or 'none'}); "
                             "the first row must name the columns: filename,<attribute>,...")
        missing = [a for a in attributes if a not in columns]
        if missing:
            raise InputError(f"{path} has no column for attribute {missing[0]!r} "
                             f"(columns: {', '.join(c for c in columns if c != 'filename')})")
        names, rows, seen = [], [], set()
        for line, row in enumerate(reader, start=2):
            name = (row.get("filename") or "").strip()
            if not name:
                raise InputError(f"{path} line {line}: empty filename")
            if name in seen:
                raise InputError(f"{path} line {line}: filename {name!r} appears twice")
            seen.add(name)
            values = []
            for a in attributes:
                v = (row.get(a) or "").strip()
                if v not in ("0", "1"):
                    raise InputError(f"{path} line {line}: {a} must be 0 or 1, got {v!r}")
                values.append(int(v))
            names.append(name)
            rows.append(values)
    if not rows:
        raise InputError(f"{path} has no label rows")
    return names, np.asarray(rows, np.float32)


def resize_uint8(images, size: int) -> torch.Tensor:
    """Images (list or array of HxWx3 uint8, any sizes) -> uint8 tensor (N, 3, size, size)."""
    out = []
    for img in images:
        x = torch.tensor(np.asarray(img)).permute(2, 0, 1)[None].float()
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def training_data(data, labels=None, attributes=DEFAULT_ATTRIBUTES, limit: int | None = None, size: int = 64):
    """Resolve what `train_scorer` was given into (uint8 images (N, 3, size, size), labels (N, A), trained_on).

    data: a run (Run or folder with manifest.json), an image folder (with a label CSV), or a uint8
    (N, H, W, 3) array (with (N, A) labels). Images are resized as they are read, so a large run
    never sits in memory at full size.
    """
    attributes = tuple(attributes)
    if isinstance(data, (str, Path)):
        p = Path(data)
        if (p / "manifest.json").exists():
            return _run_data(Run(p), labels, attributes, limit, size)
        if p.is_dir():
            return _folder_data(p, labels, attributes, limit, size)
        raise InputError(f"{p} is neither a run nor an image folder")
    if isinstance(data, Run):
        return _run_data(data, labels, attributes, limit, size)
    return _array_data(data, labels, attributes, limit, size)


def _absent(names, known, where: str, labels) -> None:
    absent = [n for n in names if n not in known]
    if absent:
        raise InputError(f"{len(absent)} file(s) of {labels} are not {where}, e.g. {absent[0]!r}")


def _folder_data(p: Path, labels, attributes, limit, size):
    if labels is None or not isinstance(labels, (str, Path)):
        raise InputError(f"{p} is an image folder, not a run: give --labels CSV with a filename column "
                         f"and the columns {', '.join(attributes)}")
    files, _ = list_images(p)
    by_name = {f.name: f for f in files}
    names, y = load_labels_csv(labels, attributes)
    _absent(names, by_name, f"in {p}", labels)
    names, y = names[:limit], y[:limit]
    images = torch.cat([resize_uint8([read_rgb(by_name[n])], size) for n in names])
    return images, y, {"kind": "folder", "path": str(p), "labels": str(labels), "n": len(names)}


def _run_data(run: Run, labels, attributes, limit, size):
    ids = run.codes()["id"]
    if labels is not None:
        names, y = load_labels_csv(labels, attributes)
        by_name = {sample_file(i): int(i) for i in ids}
        _absent(names, by_name, f"samples of {run.path} (expected names like 000000000.png)", labels)
        sel = [by_name[n] for n in names]
        source = str(labels)
    else:
        scores, tags = run.tag_scores()
        for a in attributes:
            if a not in tags:
                raise TagError(f"attribute {a!r} is not among the tags of {run.path}: "
                               f"{unknown_name_message('tag', a, tags)}")
        y = (scores[:, [tags.index(a) for a in attributes]] >= TAG_THRESHOLD).astype(np.float32)
        sel = [int(i) for i in ids]
        source = f"tags >= {TAG_THRESHOLD}"
    sel, y = sel[:limit], y[:limit]
    images = torch.cat([resize_uint8(run.images(sel[i : i + 256]), size) for i in range(0, len(sel), 256)])
    return images, y, {"kind": "run", "path": str(run.path), "generator": run.fingerprint, "labels": source,
                       "n": len(sel)}


def _array_data(data, labels, attributes, limit, size):
    images = np.asarray(data)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"training images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    if labels is None:
        raise InputError("training images need labels: an (N, A) 0/1 array or a CSV file")
    if isinstance(labels, (str, Path)):
        raise InputError("a label CSV needs an image folder or a run (it names files); pass an (N, A) array")
    y = np.asarray(labels, np.float32)
    if y.ndim == 1 and len(attributes) == 1:
        y = y[:, None]
    if y.shape != (len(images), len(attributes)):
        raise InputError(f"labels must have shape ({len(images)}, {len(attributes)}) for {len(images)} images "
                         f"and attributes {list(attributes)}, got {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 or 1")
    images, y = images[:limit], y[:limit]
    return resize_uint8(images, size), y, {"kind": "array", "n": len(y)}


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
        return load_scorer(assets.demo_scorer_path())
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
