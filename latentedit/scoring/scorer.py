"""ResNet50 attribute scorer: the re-scoring classifier of the InterFaceGAN / SeFa protocol.

The thesis trains a ResNet50 on anime images with three labels (open_mouth, short_hair,
closed_eyes) and scores every image before and after an edit (see `latentedit.scoring.rescore`).
This module is the model and its file; `latentedit.scoring.training` trains one on
`latentedit.scoring.data`'s images and labels.

- `Scorer`: torchvision `resnet50(weights=None)` with `fc` replaced by one logit per attribute.
  Images are resized to `input_size` (64 by default: ResNet50 is fully convolutional up to its
  adaptive pooling, and 64x64 is what the demo generator draws) and normalised like ImageNet.
  `predict(images) -> (N, A)` sigmoid probabilities; `features(images) -> (N, 2048)` penultimate
  features (used by the labelled substitute metrics in `latentedit.scoring.metrics`).
- `load_scorer(path | "demo")`: the file is a plain dict {attributes, state_dict, metrics,
  input_size, trained_on, init} saved with torch.save and read with weights_only=True.
  "demo" is the shipped demo-world scorer, assets/demo-scorer.pt (float16 weights, 47 MB; built by
  `python -m tools.world.build --only scorer`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50

from ..errors import CheckpointError, InputError, LatentEditError, UnsafeFileError
from ..io import atomic_write_bytes
from ..limits import MIN_IMAGE_SIDE, check_count
from ..models.safeload import torch_load
from ..world import assets

DEFAULT_ATTRIBUTES = ("open_mouth", "short_hair", "closed_eyes")
FORMAT = "latentedit-scorer/1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_SCORER_INPUT = 1024  # pixels per side: ResNet50 needs no more to tell hair, eyes and mouth apart



class ScorerError(LatentEditError):
    """A scorer file, its attributes or its training labels cannot be used."""


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


def load_scorer(path="demo", attributes=None) -> Scorer:
    """Load a scorer file (or "demo": the shipped demo-world scorer, assets/demo-scorer.pt).

    With `attributes`, the scorer must have been trained on exactly those attributes, in order.
    """
    if str(path) == "demo":
        path = assets.demo_scorer_path()
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
