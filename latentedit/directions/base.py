"""The direction file format (`DirectionSet`), the fitters' base class and helpers they share.

A `DirectionSet` is what the fit stage hands to the edit stage: K named unit vectors in one latent
space ("w" or "z"), per-direction statistics, the code scale of the codes they were fitted on
(the unit of default edit strengths, `code_scale`), the fingerprint of the generator whose codes
they were fitted on, and the fitting parameters. It is saved as an .npz without pickles:

    kind             "latentedit-directions"
    format_version   int64, FORMAT_VERSION
    method, space    str
    names            unicode array (K,)
    vectors          float32 (K, D), unit rows
    stat/<key>       (K,) arrays, e.g. stat/n_positive, stat/score
    generator_fingerprint   str
    params           JSON string (sorted keys)
    code_scale       float64 scalar; absent when None (files written before it existed load
                     with code_scale None; readers that do not know the key ignore it)

Sign convention for every supervised fitter: a direction points TOWARD its tag (the mean
projection of the samples carrying the tag is larger than that of the others), so adding it adds
the tag.

The bottom of the module makes seeded synthetic codes with planted directions (`synthetic_codes`),
which the tests and benchmarks use as ground truth.
"""

import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from latentedit.errors import DirectionError, TagError, unknown_name_message
from latentedit.io import atomic_save_npz
from latentedit.stats import TAG_THRESHOLD, auc

FORMAT_KIND = "latentedit-directions"
FORMAT_VERSION = 1
UNIT_TOLERANCE = 1e-4


def code_scale(codes) -> float:
    """RMS over coordinates of the std of `codes` (N, D): the unit of default edit strengths."""
    X = np.asarray(codes, dtype=np.float64)
    return float(np.sqrt(X.var(axis=0).mean()))


class DirectionSet:
    """K named unit directions in one latent space, fitted for one generator.

    `code_scale` (float or None): `code_scale` of the codes the set was fitted on; default edit
    strengths count in this unit. Every `fit_directions` sets it.
    """

    def __init__(self, method, space, names, vectors, stats=None, generator_fingerprint="", params=None,
                 code_scale=None):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be (K, D), got shape {vectors.shape}")
        names = [str(n) for n in names]
        if len(names) != len(vectors):
            raise ValueError(f"{len(names)} names for {len(vectors)} vectors")
        if len(set(names)) != len(names):
            raise ValueError("direction names must be unique")
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
        if len(norms) and np.abs(norms - 1).max() > UNIT_TOLERANCE:
            raise ValueError(f"vectors must be unit rows; norms range {norms.min():.4g}..{norms.max():.4g}")
        stats = {str(k): np.asarray(v) for k, v in (stats or {}).items()}
        for key, value in stats.items():
            if value.shape != (len(names),):
                raise ValueError(f"stat {key!r} has shape {value.shape}, expected ({len(names)},)")
        self.method = str(method)
        self.space = str(space)
        self.names = names
        self.vectors = vectors
        self.stats = stats
        self.generator_fingerprint = str(generator_fingerprint)
        self.params = dict(params or {})
        self.code_scale = None if code_scale is None else float(code_scale)

    def __len__(self):
        return len(self.names)

    def __repr__(self):
        return (f"DirectionSet(method={self.method!r}, space={self.space!r}, {len(self)} directions "
                f"of dim {self.dim}, generator {self.generator_fingerprint or '?'})")

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            kind = "direction" if self.method in ("sefa", "pca") else "tag"
            raise DirectionError(unknown_name_message(kind, name, self.names)) from None

    def vector(self, name: str) -> np.ndarray:
        """The unit vector of one direction, (D,) float32."""
        return self.vectors[self.index(name)].copy()

    def paired(self, add: str, sub: str) -> np.ndarray:
        """Unit vector of n(add) - n(sub): a tag minus its opposite (see `paired_difference`).

        For SVD sets (stat "characteristic_sign") the difference is taken between the vectors
        signed so that each tag's own codes project positively, as `SVDDirections.paired` does.
        """
        i, j = self.index(add), self.index(sub)
        sign = self.stats.get("characteristic_sign", np.ones(len(self)))
        u = self.vectors[i].astype(np.float64) * sign[i]
        v = self.vectors[j].astype(np.float64) * sign[j]
        return paired_difference(u, v).astype(np.float32)

    def subset(self, names) -> "DirectionSet":
        """A new set holding only `names`, in that order."""
        rows = [self.index(n) for n in names]
        return DirectionSet(self.method, self.space, [self.names[i] for i in rows], self.vectors[rows],
                            {k: v[rows] for k, v in self.stats.items()}, self.generator_fingerprint,
                            self.params, self.code_scale)

    def table(self, names=None) -> str:
        """Plain-text table: one row per direction (all, or `names`), one column per stat."""
        rows = list(range(len(self))) if not names else [self.index(n) for n in names]
        first = [k for k in ("n_positive", "score", "std", "eigenvalue") if k in self.stats]
        keys = first + sorted(k for k in self.stats if k not in first)

        def cell(value):
            value = np.asarray(value).item()
            return str(value) if isinstance(value, (int, np.integer)) else f"{value:.4g}"

        lines = [["name"] + keys] + [[self.names[i]] + [cell(self.stats[k][i]) for k in keys] for i in rows]
        widths = [max(len(line[c]) for line in lines) for c in range(len(lines[0]))]
        return "\n".join("  ".join(text.ljust(w) if c == 0 else text.rjust(w)
                                   for c, (text, w) in enumerate(zip(line, widths))).rstrip()
                         for line in lines)

    def save(self, path) -> Path:
        """Write the set as an .npz (no pickles), atomically; the same set gives the same bytes."""
        arrays = {
            "kind": np.array(FORMAT_KIND),
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "method": np.array(self.method),
            "space": np.array(self.space),
            "names": np.array(self.names, dtype=np.str_).reshape(len(self.names)),
            "vectors": self.vectors,
            "generator_fingerprint": np.array(self.generator_fingerprint),
            "params": np.array(json.dumps(self.params, sort_keys=True, default=json_default)),
        }
        for key in sorted(self.stats):
            arrays[f"stat/{key}"] = self.stats[key]
        if self.code_scale is not None:
            arrays["code_scale"] = np.array(self.code_scale, dtype=np.float64)
        return atomic_save_npz(path, **arrays)

    @classmethod
    def load(cls, path, generator_fingerprint=None, dim=None) -> "DirectionSet":
        """Read a set saved by `save`; check it fits the generator (fingerprint) and space (dim)."""
        path = Path(path)
        if not path.is_file():
            raise DirectionError(f"no direction file at {path}; fit one with latentedit fit-directions")
        try:
            loaded = np.load(path, allow_pickle=False)
        except Exception:
            loaded = None
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DirectionError(f"{path} is not a latentedit direction file (not an .npz archive)")
        with loaded:
            try:
                data = {k: loaded[k] for k in loaded.files}
            except ValueError:  # object arrays: loading them would unpickle, which could run code
                raise DirectionError(f"{path} is not a latentedit direction file (it holds pickled object "
                                     "arrays, which are not loaded)") from None
        if str(data.get("kind", "")) != FORMAT_KIND:
            raise DirectionError(f"{path} is not a latentedit direction file (no {FORMAT_KIND!r} kind entry)")
        missing = sorted({"format_version", "method", "space", "names", "vectors", "generator_fingerprint",
                          "params"} - set(data))
        if missing:
            raise DirectionError(f"{path} is a damaged direction file (missing {', '.join(missing)}); refit "
                                 f"with latentedit fit-directions")
        version = int(data["format_version"])
        if version > FORMAT_VERSION:
            raise DirectionError(f"{path} has direction format version {version}, this latentedit reads "
                                 f"up to {FORMAT_VERSION}; upgrade latentedit")
        saved = str(data["generator_fingerprint"])
        if generator_fingerprint is not None and saved != str(generator_fingerprint):
            from latentedit.models.generator import named

            raise DirectionError(f"directions in {path} were fitted for {named(saved) if saved else 'an unknown generator'}, "
                                 f"this is {named(str(generator_fingerprint))}; refit with latentedit fit-directions")
        vectors = data["vectors"]
        if dim is not None and vectors.shape[1] != int(dim):
            raise DirectionError(f"directions in {path} are {vectors.shape[1]}-dimensional, the "
                                 f"{data['space']} space here is {int(dim)}-dimensional; refit with "
                                 f"latentedit fit-directions")
        stats = {k[len("stat/"):]: v for k, v in data.items() if k.startswith("stat/")}
        scale = float(data["code_scale"]) if "code_scale" in data else None
        return cls(str(data["method"]), str(data["space"]), [str(n) for n in data["names"]], vectors,
                   stats, saved, json.loads(str(data["params"])), scale)


def json_default(value):
    """`json.dumps` default for parameter values: numpy scalars and arrays, tuples and sets as lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"parameter value {value!r} cannot be stored in a direction file")


# --- the fitters' base class and shared helpers ------------------------------------------------

class DirectionEstimator(BaseEstimator):
    """Base of every direction fitter: a scikit-learn estimator with one fit interface.

    Parameters are stored untouched by `__init__` (so `sklearn.base.clone` and `set_params`
    work); fitted attributes end in "_". Every fitter has the same fit signature:

        fit(X, Y=None, *, tag_names=None, scores=None, generator=None) -> self

    X: codes (N, D); Y: 0/1 tag labels (N, T), required by supervised fitters
    (`requires_labels`); tag_names: names of Y's columns; scores: the tagger's scores (N, T),
    which SVMDirections ranks samples by; generator: a GNR generator or its state dict, whose
    modulation weights SeFa reads. A fitter ignores what it does not use.

    Class attributes tell `fit_directions` and the pipeline what to give: `requires_codes` (X from
    a run), `requires_labels` (thresholded tag scores of that run), `requires_generator`,
    `spaces` (latent spaces the directions can live in).
    Fitted by every fitter: `directions_` (K, D) unit rows, `names_` (K,), `score_` (K,).
    """

    requires_codes = True
    requires_labels = True
    requires_generator = False
    spaces = ("w", "z")

    @classmethod
    def defaults_for(cls, space, latent_dim, dim=None) -> dict:
        """Parameter defaults that depend on the codes' space and the generator's latent_dim."""
        return {}

    def direction_stats(self) -> dict:
        """Per-direction stats of the fit, (K,) arrays, for a DirectionSet."""
        return {"n_positive": np.asarray(self.n_positive_, dtype=np.int64),
                "score": np.asarray(self.score_, dtype=np.float64)}

    def fit_record(self) -> dict:
        """What the fit found that the DirectionSet's params should record (JSON-able)."""
        return {}

    def _set_tag_directions(self, coef, X, Y, names, what):
        """Fitted `directions_` (coef rows made unit, pointing toward each tag), `score_`,
        `n_positive_`, `names_`; `what` names the vectors in the error for a zero row."""
        unit = unit_rows(coef, what, names)
        self.directions_, self.score_ = orient_toward(unit, X, Y, return_auc=True)
        self.n_positive_ = Y.sum(0)
        self.names_ = names
        return self



def check_codes_labels(X, Y, tag_names=None):
    """Validate codes X (N, D) and 0/1 labels Y (N, T) (or (N,)); return float64 X, bool Y, names.

    Every tag needs at least one sample with and one without it, or no direction is defined.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be (N, D), got shape {X.shape}")
    if Y is None:
        raise ValueError("this fitter is supervised: fit(X, Y) needs 0/1 tag labels Y (N, T)")
    Y = np.asarray(Y)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or len(Y) != len(X):
        raise ValueError(f"Y must be (N, T) with N={len(X)}, got shape {Y.shape}")
    if not np.isin(Y, (0, 1)).all():
        raise ValueError("Y must hold 0/1 labels; threshold tag scores first")
    Y = Y.astype(bool)
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values")
    names = list(tag_names) if tag_names is not None else [f"column {j}" for j in range(Y.shape[1])]
    n_pos = Y.sum(0)
    bad = [j for j in range(Y.shape[1]) if n_pos[j] == 0 or n_pos[j] == len(Y)]
    if bad:
        j = bad[0]
        which = "no sample carries" if n_pos[j] == 0 else "every sample carries"
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise TagError(f"{which} tag {names[j]}{more}, so it has no direction; drop it or sample more")
    return X, Y, names


def unit_rows(V, what="direction", names=None):
    """Normalise the rows of V to unit length; a zero row is an error naming the tag."""
    V = np.asarray(V, dtype=np.float64)
    norms = np.linalg.norm(V, axis=1)
    zero = np.flatnonzero(~(norms > 1e-12 * max(1.0, norms.max(initial=0.0))))
    if len(zero):
        name = names[zero[0]] if names is not None else f"column {zero[0]}"
        more = f" (and {len(zero) - 1} more)" if len(zero) > 1 else ""
        raise DirectionError(f"the {what} of {name}{more} is zero; lower the regularisation (alpha)")
    return V / norms[:, None]


def orient_toward(V, X, Y, return_auc=False):
    """Flip rows of V so that samples carrying tag j project higher on V[j] than the others.

    With return_auc, also return the AUC of each flipped row's projection X @ V[j] for telling
    tag-j samples from the rest (T,) (1.0: every sample with the tag projects higher than every
    sample without; 0.5: chance).
    """
    V = np.asarray(V, dtype=np.float64)
    P = X @ V.T
    Yf = Y.astype(np.float64)
    n_pos = Yf.sum(0)
    gap = (Yf * P).sum(0) / n_pos - ((1 - Yf) * P).sum(0) / (len(Y) - n_pos)
    sign = np.where(gap < 0, -1.0, 1.0)
    if not return_auc:
        return V * sign[:, None]
    return V * sign[:, None], auc(Y, P * sign)


def orient_largest_positive(V):
    """Deterministic sign for unsupervised directions: each row's largest-|.| component is positive."""
    V = np.asarray(V, dtype=np.float64)
    idx = np.abs(V).argmax(axis=1)
    sign = np.sign(V[np.arange(len(V)), idx])
    sign[sign == 0] = 1.0
    return V * sign[:, None]


def paired_difference(u, v):
    """Unit vector along u - v: a tag's direction minus its opposite's.

    Two tag directions fitted separately share whatever both tags drag along (for uncentred SVD:
    mostly the mean code); the difference cancels it.
    """
    d = np.asarray(u, dtype=np.float64) - np.asarray(v, dtype=np.float64)
    norm = np.linalg.norm(d)
    if norm < 1e-12:
        raise DirectionError("the two directions are identical, so their difference has no direction")
    return d / norm


# --- synthetic codes with planted directions (tests, benchmarks) --------------------------------

def synthetic_codes(n=10200, dim=512, n_factors=8, seed=0, condition=100.0, mean_scale=1.0,
                    label_noise=0.5, factor_correlation=0.3, rate_range=(0.03, 0.3)):
    """Seeded codes like sampled w: non-zero mean, anisotropic covariance, planted tag directions.

    Codes: x = m + Q diag(sqrt(eig)) g, g ~ N(0, I), eig log-spaced over `condition` (largest 1),
    Q a random rotation, m a positive mean of per-coordinate scale `mean_scale`.
    Each factor k has a planted unit direction u_k (pairwise cosines about `factor_correlation`)
    and a standardised score s_k = <x - m, u_k> / sd_k. It makes two opposite tags, like
    long_hair / short_hair: "f{k}_high" = [s_k + noise > t] and "f{k}_low" = [-s_k + noise > t'],
    noise ~ N(0, label_noise^2), thresholds giving rates within `rate_range`.
    The planted direction of f{k}_high is +u_k and of f{k}_low is -u_k (pointing toward the tag).

    Returns a dict: X float32 (n, dim), Y uint8 (n, 2 n_factors), scores float32 (tagger-like
    sigmoid scores, Y = scores >= TAG_THRESHOLD), planted float64 (2 n_factors, dim), names, mean, eig, Q.
    """
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    eig = np.logspace(0, -np.log10(condition), dim)
    mean = mean_scale * (1.0 + 0.3 * rng.standard_normal(dim))
    g = rng.standard_normal((n, dim))
    X = mean + (g * np.sqrt(eig)) @ Q.T

    shared = rng.standard_normal(dim)
    c = np.sqrt(factor_correlation / (1 - factor_correlation))
    U = rng.standard_normal((n_factors, dim)) + c * shared
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    cov_u = (U @ Q) * np.sqrt(eig)
    sd = np.linalg.norm(cov_u, axis=1)
    S = (X - mean) @ U.T / sd

    names, planted, logits = [], [], []
    for k in range(n_factors):
        for side, label in ((1.0, "high"), (-1.0, "low")):
            rate = rng.uniform(*rate_range)
            noisy = side * S[:, k] + label_noise * rng.standard_normal(n)
            t = np.quantile(noisy, 1 - rate)
            names.append(f"f{k}_{label}")
            planted.append(side * U[k])
            logits.append((noisy - t) * 4.0)
    logits = np.stack(logits, axis=1)
    scores = (1 / (1 + np.exp(-logits))).astype(np.float32)
    return {"X": X.astype(np.float32), "Y": (scores >= TAG_THRESHOLD).astype(np.uint8), "scores": scores,
            "planted": np.array(planted), "names": names, "mean": mean, "eig": eig, "Q": Q}
