"""SeFa: closed-form directions from a generator's style modulation weights (unsupervised)."""

import numpy as np

from latentedit.directions.base import DirectionEstimator, orient_largest_positive
from latentedit.errors import DirectionError
from latentedit.models.layers import level_groups, modulated_layers

def select_layers(layers, choice) -> list[int]:
    """Positions in `layers` ((key, W+ index, level) per modulation weight) of the weights SeFa
    stacks: "gnr", "all", "coarse", "middle", "fine" or W+ indices.

    - "gnr": the GNR notebook's set (rosinality's closed_form_factorization.py makes the same
      choice), every modulation weight except the to_rgbs list (to_rgb1 stays): 12 tensors, 4416
      rows at release.
    - "all": every modulated layer (16 at release).
    - "coarse" / "middle" / "fine": every modulated layer of the first / second / last third of
      the resolution levels (release: 16-32 px, 64-128 px, 256 px), like genforce's
      lower / middle / upper layer ranges.
    - a list of W+ layer indices (0 .. L-1).
    """
    n = max(i for _, i, _ in layers) + 1
    if isinstance(choice, str):
        if choice == "gnr":
            return [p for p, (key, _, _) in enumerate(layers) if "to_rgbs" not in key]
        if choice == "all":
            return list(range(len(layers)))
        if choice in ("coarse", "middle", "fine"):
            picked = level_groups([level for _, _, level in layers])[choice]
            if not picked:
                raise DirectionError(f"this generator has too few resolutions for a {choice!r} layer range; "
                                     f"use layers='all' or a list of layer indices")
            return picked
        raise DirectionError(f"unknown SeFa layer set {choice!r}; use gnr, all, coarse, middle, fine or "
                             f"a list of layer indices 0..{n - 1}")
    wanted = {int(i) for i in choice}
    if not wanted or min(wanted) < 0 or max(wanted) >= n:
        raise DirectionError(f"SeFa layer indices must be within 0..{n - 1}, got {list(choice)}")
    return [p for p, (_, i, _) in enumerate(layers) if i in wanted]


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
    k: at most this many directions kept (None: all D; a DCGAN's 8-d z has 8).

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
        if hasattr(generator, "modulation_weights"):
            weights = generator.modulation_weights()
        else:  # a GNR state dict
            weights = [(key, i, level, generator[key]) for i, (key, level) in enumerate(modulated_layers(generator))]
        picked = [weights[p] for p in select_layers([w[:3] for w in weights], self.layers)]
        self.layer_indices_ = sorted({i for _, i, _, _ in picked})
        self.layer_names_ = [key for key, _, _, _ in picked]
        A = np.concatenate([_as_numpy(w) for _, _, _, w in picked], axis=0)
        if self.normalize:
            A = A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-300)
        k = A.shape[1] if self.k is None else min(int(self.k), A.shape[1])
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
