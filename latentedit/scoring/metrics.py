"""Image metrics of the thesis's protocol: FID, DFID, LPIPS diversity, and labelled substitutes.

- FID: Fréchet distance between Gaussian fits of InceptionV3 pool3 features (2048-d) of two image
  sets. The standard features need the FID Inception weights of pytorch-fid / TTUR,
  pt_inception-2015-12-05-6726825d.pth, in the torch hub checkpoints folder; the network is
  torchvision's inception_v3 with the FID variants of its blocks (average pools that exclude the
  padding, a max pool in the last block), inputs resized to 299x299 bilinearly and scaled to
  [-1, 1], as pytorch-fid does.
- DFID (GNR's diversity FID): for each input selfie, many random augmentations (crop, flip,
  colour jitter: `augment`) are translated with random styles (edited, for an edit) and the FID of
  those outputs against the reference anime images is taken; DFID is the mean over inputs.
- LPIPS diversity: for each input, the mean pairwise LPIPS (AlexNet, v0.1) between its outputs
  under several random styles; averaged over inputs. Needs torchvision's AlexNet ImageNet weights,
  alexnet-owt-7be5be79.pth, in the torch hub checkpoints folder (the LPIPS linear layers ship
  with the `lpips` package).

None of these weights can be downloaded here, and a metric computed with other weights is not
that metric. When a file is missing, the result says which file and where to put it, and a
clearly labelled substitute is computed in the feature space of the re-scoring classifier
(`scoring.scorer.Scorer.features`): "scorer-feature FD" instead of FID, "scorer-feature DFD"
instead of DFID, and "scorer-feature diversity" (mean pairwise cosine distance) instead of LPIPS.
Substitutes never carry the standard names, and their values are not comparable to published ones.

Every metric returns a `MetricResult`; too few samples leave it not computed, with the reason.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torchvision.models import alexnet
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE

from ..errors import CheckpointError, InputError
from ..models.checkpoint import hub_checkpoint_dir

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
INCEPTION_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + INCEPTION_FILE
ALEXNET_URL = "https://download.pytorch.org/models/" + ALEXNET_FILE
MIN_FID_SAMPLES = 10
MIN_DIVERSITY_SAMPLES = 2


class MissingWeightsError(CheckpointError):
    """The weights file a standard metric needs is not on disk."""

    def __init__(self, file: str, where: Path, url: str, metric: str):
        self.file, self.where, self.url, self.metric = file, Path(where), url, metric
        super().__init__(f"missing file {file} for {metric}: put it at {self.where / file} (from {url})")


def _load_into(net: torch.nn.Module, file: Path, what: str, url: str) -> torch.nn.Module:
    """`net` with the state dict of `file` (read with weights_only), or a one-line CheckpointError."""
    try:
        net.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    except Exception as e:
        raise CheckpointError(f"{file} is not {what} ({str(e).splitlines()[0][:120]}); replace it with {url}") from e
    return net


def _weights_file(file: str, url: str, metric: str, path=None) -> Path:
    p = Path(path) if path is not None else hub_checkpoint_dir() / file
    if not p.exists():
        raise MissingWeightsError(p.name, p.parent, url, metric)
    return p


@dataclass
class MetricResult:
    """One metric value (or why there is none) and what it was computed from."""

    metric: str
    value: float | None = None
    computed: bool = False
    standard: bool = True
    note: str = ""
    n: dict = field(default_factory=dict)
    per_input: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["value"] is not None:
            d["value"] = round(float(d["value"]), 6)
        d["per_input"] = [None if v is None else round(float(v), 6) for v in d["per_input"]]
        return d


# -- the Fréchet distance ------------------------------------------------------------------------
def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, rows = samples) of a feature matrix, in float64."""
    f = np.asarray(features, np.float64)
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance of two Gaussians: |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    The usual numerical care (as in pytorch-fid): when the matrix square root is not finite
    (near-singular product), eps is added to both diagonals; an imaginary part that numerical
    error leaves is dropped when it is negligible and is an error otherwise.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"mismatched moments: means {mu1.shape} {mu2.shape}, covariances {s1.shape} {s2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is expected with few samples; handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(mu1)) * eps
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"matrix square root has a large imaginary part ({np.abs(covmean.imag).max():.3g})")
        covmean = covmean.real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def frechet_distance_features(f1, f2) -> float:
    """The Fréchet distance of the Gaussian fits of two feature sets (rows = samples).

    Equal to `frechet_distance(*feature_stats(f1), *feature_stats(f2))`. With fewer samples than
    dimensions (the usual case: 100 images, 2048 features) the covariances are singular and the
    d x d square root is slow and unstable, so the cross term is computed exactly from the samples:
    with centred A (n1 x d) and B (n2 x d), the eigenvalues of S1 S2 are the squared singular
    values of A B^T over (n1 - 1)(n2 - 1), so Tr (S1 S2)^(1/2) = |A B^T|_* / sqrt((n1 - 1)(n2 - 1)).
    """
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    (n1, d), n2 = f1.shape, len(f2)
    if min(n1, n2) < 2:
        raise ValueError(f"a Fréchet distance needs at least 2 samples per set, got {n1} and {n2}")
    if min(n1, n2) > d:
        return frechet_distance(*feature_stats(f1), *feature_stats(f2))
    a, b = f1 - f1.mean(0), f2 - f2.mean(0)
    diff = f1.mean(0) - f2.mean(0)
    cross = np.linalg.svd(a @ b.T, compute_uv=False).sum() / math.sqrt((n1 - 1) * (n2 - 1))
    return float(diff @ diff + (a * a).sum() / (n1 - 1) + (b * b).sum() / (n2 - 1) - 2 * cross)


# -- feature spaces --------------------------------------------------------------------------------
def _as_unit_float(images) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    a = np.asarray(images)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3:
        raise InputError(f"images must be uint8 (N, H, W, 3), got {a.dtype} {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div(255)


# FID variants of torchvision's Inception blocks (pytorch-fid / TTUR's TensorFlow graph): average
# pools that exclude the padding, a max pool in the last block.
def _avg_pool(x):
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(InceptionA):
    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool(x))], 1)


class FIDInceptionC(InceptionC):
    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7d = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):
            b7d = conv(b7d)
        return torch.cat([self.branch1x1(x), b7, b7d, self.branch_pool(_avg_pool(x))], 1)


class FIDInceptionE(InceptionE):
    pool = staticmethod(_avg_pool)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3d = torch.cat([self.branch3x3dbl_3a(b3d), self.branch3x3dbl_3b(b3d)], 1)
        return torch.cat([self.branch1x1(x), b3, b3d, self.branch_pool(self.pool(x))], 1)


class FIDInceptionE2(FIDInceptionE):
    pool = staticmethod(lambda x: F.max_pool2d(x, kernel_size=3, stride=1, padding=1))


def fid_inception_network() -> torch.nn.Module:
    """torchvision's Inception3 with 1008 classes and the FID blocks (random weights)."""
    A, C, E1, E2 = FIDInceptionA, FIDInceptionC, FIDInceptionE, FIDInceptionE2
    net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = A(192, 32), A(256, 64), A(288, 64)
    net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e = C(768, 128), C(768, 160), C(768, 160), C(768, 192)
    net.Mixed_7b, net.Mixed_7c = E1(1280), E2(2048)
    return net


class FeatureSpace:
    """A named image -> feature map used by a Fréchet distance; `standard` only for real FID."""

    def __init__(self, name: str, fn, standard: bool, note: str = "", batch_size: int = 50):
        self.name, self.fn, self.standard, self.note, self.batch_size = name, fn, standard, note, batch_size

    @torch.no_grad()
    def features(self, images) -> np.ndarray:
        out = [self.fn(images[i : i + self.batch_size]) for i in range(0, len(images), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 0))



def inception_space(path=None) -> FeatureSpace:
    """Standard FID features (pool3 of the FID Inception); MissingWeightsError without the file."""
    file = _weights_file(INCEPTION_FILE, INCEPTION_URL, "FID", path)
    net = _load_into(fid_inception_network(), file, "the FID Inception state dict", INCEPTION_URL).eval()

    def fn(images):
        x = F.interpolate(_as_unit_float(images), size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                     "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                     "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(net, name)(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1).numpy()

    return FeatureSpace("FID", fn, standard=True, note=f"InceptionV3 pool3 features ({file.name})")


def scorer_space(scorer, name: str = "scorer-feature FD", note: str = "") -> FeatureSpace:
    """Substitute features: the re-scoring ResNet50's penultimate layer.

    Whole image sets go to the scorer (it batches itself), so a `scoring.cache.ScoreCache` that
    already scored a set answers from its cache.
    """
    return FeatureSpace(name, lambda images: scorer.features(images), standard=False, note=note, batch_size=1 << 30)


def _standard_or_substitute(metric: str, standard, substitute, scorer):
    """`standard()` when its weights are present, else `substitute(note)` (needs a scorer) labelled as such."""
    try:
        return standard()
    except MissingWeightsError as e:
        if scorer is None:
            raise
        return substitute(f"substitute for {metric}, not comparable to published {metric}: {e}")


def fid_space(scorer=None, path=None) -> FeatureSpace:
    """The FID feature space when its weights are present, else the labelled scorer substitute."""
    return _standard_or_substitute("FID", lambda: inception_space(path),
                                   lambda note: scorer_space(scorer, note=note), scorer)


# -- FID and DFID ------------------------------------------------------------------------------------
def _features_of(space: FeatureSpace, images_or_features):
    """Images (uint8 NHWC) -> features; a 2-d float array is taken as features already."""
    a = np.asarray(images_or_features)
    return a if a.ndim == 2 else space.features(a)


def fid(images, reference, space: FeatureSpace, min_samples: int = MIN_FID_SAMPLES) -> MetricResult:
    """FID (or the space's substitute) of uint8 images against reference images (or their features)."""
    n, n_ref = len(images), len(reference)
    result = MetricResult(space.name, standard=space.standard, note=space.note, n={"images": n, "reference": n_ref})
    if min(n, n_ref) < max(2, min_samples):
        result.note = _join(f"{space.name} needs at least {max(2, min_samples)} images per set, got {n} and {n_ref}; "
                            "not computed", space.note)
        return result
    f1, f2 = space.features(images), _features_of(space, reference)
    result.value, result.computed = frechet_distance_features(f1, f2), True
    if min(n, n_ref) <= f1.shape[1]:
        result.note = _join(space.note, f"{min(n, n_ref)} samples <= {f1.shape[1]} feature dimensions: covariances "
                                        "are rank-deficient, so values are biased upward and comparable only at equal n")
    return result


def dfid(groups, reference, space: FeatureSpace, min_samples: int = MIN_FID_SAMPLES) -> MetricResult:
    """Mean over inputs of the FID of each input's outputs (a list of uint8 arrays) vs the reference."""
    name = "DFID" if space.standard else space.name.replace("FD", "DFD")
    ref = _features_of(space, reference)
    n_ref = len(ref)
    per = [fid(g, ref, space, min_samples) for g in groups]
    result = MetricResult(name, standard=space.standard, note=space.note,
                          n={"inputs": len(per), "per_input": [r.n["images"] for r in per], "reference": n_ref},
                          per_input=[r.value for r in per])
    if not _mean_over_inputs(result, [r.value if r.computed else None for r in per], "images"):
        result.note = _join(f"{name} not computed: " + (per[0].note if per else "no inputs"), space.note)
    elif all(r.computed for r in per):
        result.note = per[0].note
    return result


# -- diversity ---------------------------------------------------------------------------------------
class LPIPSDistance:
    """Real LPIPS (AlexNet v0.1): torchvision's AlexNet ImageNet features + the package's linear layers."""

    name = "LPIPS diversity"
    standard = True

    def __init__(self, path=None):
        file = _weights_file(ALEXNET_FILE, ALEXNET_URL, "LPIPS", path)
        import lpips  # heavy, and only for real LPIPS: imported once its AlexNet weights are there

        backbone = _load_into(alexnet(weights=None), file, "torchvision's AlexNet state dict", ALEXNET_URL)
        with warnings.catch_warnings():  # lpips passes torchvision's deprecated pretrained=False
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(pretrained=False, net="alex", pnet_rand=True, verbose=False)
        for slice_ in (model.net.slice1, model.net.slice2, model.net.slice3, model.net.slice4, model.net.slice5):
            for index, module in slice_.named_children():
                module.load_state_dict(backbone.features[int(index)].state_dict())
        linear = Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"
        weights = torch.load(linear, map_location="cpu", weights_only=True)
        wanted = {k for k in model.state_dict() if k.startswith("lin") and not k.startswith("lins.")}
        if set(weights) != wanted:
            raise CheckpointError(f"{linear} does not hold the LPIPS AlexNet linear layers; reinstall lpips==0.1.4")
        model.load_state_dict(weights, strict=False)
        self.model = model.eval()
        self.note = f"LPIPS v0.1, AlexNet ({file.name})"

    @torch.no_grad()
    def pairwise_mean(self, images) -> float:
        x = _as_unit_float(images) * 2 - 1
        i, j = np.triu_indices(len(x), k=1)
        d = self.model(x[i], x[j])
        return float(d.mean())


class ScorerFeatureDistance:
    """Substitute for LPIPS: mean pairwise cosine distance of the re-scorer's penultimate features."""

    name = "scorer-feature diversity"
    standard = False

    def __init__(self, scorer, note: str = ""):
        self.scorer, self.note = scorer, note

    def pairwise_mean(self, images) -> float:
        f = torch.from_numpy(self.scorer.features(images)).double()
        f = F.normalize(f, dim=1)
        i, j = np.triu_indices(len(f), k=1)
        return float((1 - (f[i] * f[j]).sum(1)).mean())


def diversity_measure(scorer=None, path=None):
    """Real LPIPS when AlexNet's weights are present, else the labelled scorer-feature substitute."""
    return _standard_or_substitute("LPIPS", lambda: LPIPSDistance(path),
                                   lambda note: ScorerFeatureDistance(scorer, note=note), scorer)


def diversity(groups, measure, min_samples: int = MIN_DIVERSITY_SAMPLES) -> MetricResult:
    """Mean over inputs of the mean pairwise distance between each input's outputs (uint8 arrays)."""
    per = [measure.pairwise_mean(g) if len(g) >= min_samples else None for g in groups]
    result = MetricResult(measure.name, standard=measure.standard, note=measure.note, per_input=per,
                          n={"inputs": len(per), "per_input": [len(g) for g in groups]})
    if not _mean_over_inputs(result, per, "outputs"):
        result.note = _join(f"{measure.name} needs at least {min_samples} outputs per input; not computed",
                            measure.note)
    return result


def _mean_over_inputs(result: MetricResult, values: list, unit: str) -> bool:
    """Set `result` to the mean of the per-input values that were computed (not None); a partial
    mean says so in its note. False when no input had enough `unit`."""
    done = [v for v in values if v is not None]
    if not done:
        return False
    result.value, result.computed = float(np.mean(done)), True
    if len(done) < len(values):
        result.note = _join(f"partial: {len(done)} of {len(values)} inputs had enough {unit}", result.note)
    return True


# -- augmentations for DFID -----------------------------------------------------------------------
def augment(image: np.ndarray, n: int, seed: int = 0, min_scale: float = 0.8, jitter: float = 0.2) -> np.ndarray:
    """`n` random augmentations of one uint8 HxWx3 image: resized crop, horizontal flip, colour jitter.

    Crops keep a random square of side min_scale..1 of the image, resized back to its size;
    brightness, contrast and saturation are each scaled by a factor in [1 - jitter, 1 + jitter].
    """
    rng = np.random.default_rng(seed)
    x = _as_unit_float(np.asarray(image)[None])
    _, _, h, w = x.shape
    out = []
    for _ in range(n):
        side = rng.uniform(min_scale, 1.0)
        ch, cw = max(1, int(round(h * side))), max(1, int(round(w * side)))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        y = x[:, :, top : top + ch, left : left + cw]
        y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        if rng.random() < 0.5:
            y = y.flip(-1)
        b, c, s = (rng.uniform(1 - jitter, 1 + jitter) for _ in range(3))
        y = y * b
        gray = (0.299 * y[:, 0] + 0.587 * y[:, 1] + 0.114 * y[:, 2]).unsqueeze(1)
        y = (y - gray.mean()) * c + gray.mean()
        gray = (0.299 * y[:, 0] + 0.587 * y[:, 1] + 0.114 * y[:, 2]).unsqueeze(1)
        y = (y - gray) * s + gray
        out.append(y.clamp(0, 1))
    t = torch.cat(out).mul(255).round().to(torch.uint8)
    return t.permute(0, 2, 3, 1).numpy()


def _join(*parts) -> str:
    return "; ".join(p for p in parts if p)


def status() -> dict:
    """Which standard metrics can run here: {metric: "ok" | "missing file X: put it at PATH"}."""
    out = {}
    for metric, file in (("FID", INCEPTION_FILE), ("DFID", INCEPTION_FILE), ("LPIPS", ALEXNET_FILE)):
        p = hub_checkpoint_dir() / file
        out[metric] = "ok" if p.exists() else f"missing file {file}: put it at {p}"
    return out

