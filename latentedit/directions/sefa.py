"""SeFa: closed-form directions from a GNR generator's style modulation weights (unsupervised)."""

import re

import numpy as np

from latentedit.directions.base import DirectionEstimator, orient_largest_positive
from latentedit.errors import DirectionError
from latentedit.models.layers import level_groups

_MODULATED = re.compile(
    r"(?:^|\.)(?:adain_bottleneck\.(?P<block>\d+)\.conv(?P<half>[12])|(?P<conv1>conv1)|(?P<rgb1>to_rgb1)"
    r"|convs\.(?P<conv>\d+)|to_rgbs\.(?P<rgb>\d+))\.conv\.modulation\.weight$")


def modulated_layers(state_dict) -> list[tuple[str, int]]:
    """(state-dict key, resolution level) of every modulation weight, in W+ layer order.

    W+ order: the bottleneck's styled convs, conv1, to_rgb1 (level 0, the content resolution),
    then per doubling of the resolution (level 1, 2, ...): up conv, conv, to_rgb.
    """
    layers = []
    for key in state_dict:
        if "modulation" not in key or "weight" not in key:
            continue
        m = _MODULATED.search(key)
        if m is None:
            raise DirectionError(f"unrecognised modulated layer {key!r}; SeFa needs a GANs N' Roses "
                                 f"generator (state-dict names as in spec/gnr-state-dict.txt)")
        if m["block"] is not None:
            order = (0, 0, int(m["block"]), int(m["half"]))
        elif m["conv1"]:
            order = (0, 1, 0, 0)
        elif m["rgb1"]:
            order = (0, 2, 0, 0)
        elif m["conv"] is not None:
            i = int(m["conv"])
            order = (i // 2 + 1, i % 2, 0, 0)
        else:
            order = (int(m["rgb"]) + 1, 2, 0, 0)
        layers.append((order, key))
    if not layers:
        raise DirectionError("no style modulation weights found; SeFa needs a GANs N' Roses generator "
                             "or its state dict")
    layers.sort()
    return [(key, order[0]) for order, key in layers]


def select_layers(layers, choice) -> list[int]:
    """W+ indices of the layers SeFa stacks: "gnr", "all", "coarse", "middle", "fine" or indices.

    - "gnr": the GNR notebook's set, every modulation weight except the to_rgbs list (to_rgb1
      stays): 12 tensors, 4416 rows at release.
    - "all": every modulated layer (16 at release).
    - "coarse" / "middle" / "fine": every modulated layer of the first / second / last third of
      the resolution levels (release: 16-32 px, 64-128 px, 256 px), like genforce's
      lower / middle / upper layer ranges.
    - a list of W+ layer indices (0 .. L-1).
    """
    n = len(layers)
    if isinstance(choice, str):
        if choice == "gnr":
            return [i for i, (key, _) in enumerate(layers) if "to_rgbs" not in key]
        if choice == "all":
            return list(range(n))
        if choice in ("coarse", "middle", "fine"):
            picked = level_groups([level for _, level in layers])[choice]
            if not picked:
                raise DirectionError(f"this generator has too few resolutions for a {choice!r} layer range; "
                                     f"use layers='all' or a list of layer indices")
            return picked
        raise DirectionError(f"unknown SeFa layer set {choice!r}; use gnr, all, coarse, middle, fine or "
                             f"a list of layer indices 0..{n - 1}")
    picked = sorted({int(i) for i in choice})
    if not picked or picked[0] < 0 or picked[-1] >= n:
        raise DirectionError(f"SeFa layer indices must be within 0..{n - 1}, got {list(choice)}")
    return picked


def _is_generator(obj) -> bool:
    return hasattr(obj, "state_dict") or isinstance(obj, dict)


def _as_numpy(tensor):
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().double().numpy()
    return np.asarray(tensor, dtype=np.float64)


class SeFa(DirectionEstimator):
    """Top-k eigenvectors of A^T A, A the stacked style modulation weights (Shen & Zhou 2021).

    A modulation weight maps w (512) to one scale per input channel of its conv, so the w
    directions that change the scales most are the leading right singular vectors of the
    stacked weights A (rows = channels of the selected layers). Equalised-lr scaling is the same
    constant for every modulation layer and does not change the vectors.

    layers: see `select_layers` (default "gnr", the GNR notebook's choice).
    normalize: genforce's reference first scales every channel's 512-d weight vector (a column in
    genforce's transposed layout, a row of A here) to unit length, so wide layers do not dominate
    through weight magnitude.
    k: number of directions kept (None: all D).

    Unsupervised and code-free: `fit(generator=G)` reads the modulation weights of G (a GNR
    generator or its state dict); X, Y and the other arguments of the shared signature (see
    `DirectionEstimator`) are not used. The directions live in w space.

    Fitted: `directions_` (k, D) unit rows in descending eigenvalue order, sign fixed so the
    largest-magnitude coordinate is positive; `eigenvalues_` (k,); `score_` (k,) = eigenvalue /
    trace(A^T A), the share of the stacked weights' energy along the direction;
    `layer_indices_` (W+ indices stacked), `layer_names_` (their state-dict keys), `n_rows_`,
    `names_` ("sefa_0", ...).
    """

    requires_codes = False
    requires_labels = False
    requires_generator = True
    spaces = ("w",)

    def __init__(self, layers="gnr", normalize=False, k=10):
        self.layers = layers
        self.normalize = normalize
        self.k = k

    def fit(self, X=None, Y=None, *, tag_names=None, scores=None, generator=None):
        if generator is None:
            if X is not None and _is_generator(X):
                raise DirectionError("SeFa.fit takes the generator as fit(generator=G); X (codes) is not used")
            raise DirectionError("sefa directions come from the generator's weights; pass generator=")
        state_dict = generator.state_dict() if hasattr(generator, "state_dict") else generator
        layers = modulated_layers(state_dict)
        self.layer_indices_ = select_layers(layers, self.layers)
        self.layer_names_ = [layers[i][0] for i in self.layer_indices_]
        A = np.concatenate([_as_numpy(state_dict[key]) for key in self.layer_names_], axis=0)
        if self.normalize:
            A = A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-300)
        k = A.shape[1] if self.k is None else int(self.k)
        if not 1 <= k <= A.shape[1]:
            raise ValueError(f"k must be in 1..{A.shape[1]}, got {self.k}")
        eig, V = np.linalg.eigh(A.T @ A)
        order = np.argsort(eig, kind="stable")[::-1][:k]
        self.n_rows_ = A.shape[0]
        self.eigenvalues_ = np.maximum(eig[order], 0.0)
        self.score_ = self.eigenvalues_ / max(eig.sum(), 1e-300)
        self.directions_ = orient_largest_positive(V[:, order].T)
        self.names_ = [f"sefa_{i}" for i in range(k)]
        return self

    def direction_stats(self) -> dict:
        return {"score": self.score_, "eigenvalue": self.eigenvalues_}

    def fit_record(self) -> dict:
        return {"layer_indices": [int(i) for i in self.layer_indices_], "n_rows": int(self.n_rows_)}
