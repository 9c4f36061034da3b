"""Edits with paired opposite tags: w' = w + A * sum n(add) - B * sum n(sub).

The thesis edits a style code by adding the direction of the tag it wants and subtracting the
direction of its opposite (long_hair up, short_hair down), because tags co-occur and one direction
alone drags other features along. This module does that edit on codes (`edit_codes`), on images
(`Editor`), and end to end from a run or a folder of selfies to files on disk (`edit`).

Strengths
---------
Directions are unit vectors, so a strength is a distance in w-space, and a strength given by the
user is exactly that (w' - w == A n_add - B n_sub). The thesis used (+15, -5) for regression
directions and (-10, +5) for its SVD ones (its SVD sign was arbitrary; ours points toward the
tag, so the equivalent is (+10, -5)), as absolute distances in the w-space of the released
checkpoint. Another generator's w has another scale, so `DEFAULT_STRENGTHS` count in units of
the generator's code scale: the RMS over coordinates of the std of the run's codes
(`code_scale`; 0.69-0.70 for the demo generator's w), recorded on a direction set by `with_spread`.
On a generator whose w coordinates spread with std 1, the regression defaults are the thesis's.

Why that unit and these numbers (demo world, `measure_edits`: runs of 192 and 600 tagger-labelled
samples, 200 fresh samples, attributes read from the pixels):
- The std of the codes along each direction, the other obvious unit, is unstable: it mostly
  measures fit noise (linear directions: 1.0-1.5 when fitted on 3,000 codes with true labels,
  2.4-5.5 on 600 tagger-labelled codes), while the strength an edit needs stayed put in absolute
  terms (linear closed_eyes flips at about 5, long_hair peaks at about 10 for both fits). The code
  scale is a property of the generator: 0.695 and 0.699 on the two runs.
- Regression (linear, lasso, svm): 15 units (10.4 on the demo) keep the thesis's numbers. Linear
  flips closed_eyes for 100% of the samples, long_hair (minus short_hair) for 65-66%, open_mouth
  (minus closed_mouth) for 45% (192 samples) to 99% (600); lasso open_mouth 94-100%, closed_eyes
  21% (192) to 96% (600), long_hair 13-16%. More overshoots the hair edit: linear long_hair
  flipped fewer samples at 25 than at 10 (this and the sweeps above were measured on the earlier,
  two-stage demo generator, code scale 0.68; the rates here on the shipped one).
- SVD: 10 units (7.0 on the demo) flip a third of the samples at best. An uncentred SVD vector is
  mostly the mean code, so only a small part of a step along it moves the attribute: 40 units
  (27.9) flip long_hair (minus short_hair) for 91-93% and closed_eyes for 100%, open_mouth 43-65%.
- SeFa (and PCA) eigenvectors named by labelling: 30 units (20.9): closed_eyes 100%, open_mouth
  74% (43% with closed_mouth subtracted), long_hair 27-28% (its hair eigenvector changes everything
  else too).
All keep the thesis's add:sub ratios (3:1 regression, 2:1 the others). No default makes every
method flip every tag: use --sweep to find the strength of a particular edit.

Layer ranges (W+)
-----------------
With `layers`, an edit returns a W+ code (B, L, D): every layer keeps w except the chosen ones,
which get w'. "coarse", "middle" and "fine" split the L = G.n_latent modulated layers into thirds
by resolution (`layer_groups`; the same rule as SeFa's layer sets): the resolution levels are
cut into three near-equal consecutive parts. Release generator (L = 16: the 16x16 bottleneck
convs, conv1 and to_rgb1, then [up conv, conv, to_rgb] at 32, 64, 128, 256): coarse = 0-6
(16-32 px), middle = 7-12 (64-128 px), fine = 13-15 (256 px). Demo generator (L = 10, up to
64 px): coarse = 0-3 (16 px), middle = 4-6 (32 px), fine = 7-9 (64 px).
"""

from __future__ import annotations

import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import DirectionError, InputError, RunError, TagError, unknown_name_message
from .models.layers import layer_groups, layer_names as default_layer_names  # noqa: F401 (moved)

# (add, sub) strength per method, in units of the code scale (see the module docstring).
DEFAULT_STRENGTHS = {
    "linear": (15.0, 5.0),
    "lasso": (15.0, 5.0),
    "svm": (15.0, 5.0),
    "svd": (40.0, 20.0),
    "sefa": (30.0, 15.0),
    "pca": (30.0, 15.0),
}
UNNAMED_METHODS = ("sefa", "pca")
LAYER_GROUPS = ("all", "coarse", "middle", "fine")


# -- parsing user input ------------------------------------------------------------------------
def parse_strength(value, option: str = "--strength") -> float:
    """A strength given as a number or a string -> float, with a one-line error otherwise."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{option} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise InputError(f"{option} must be a finite number, got {value!r}")
    return x


def parse_sweep(spec: str) -> list[float]:
    """'START:STOP:N' -> N evenly spaced strengths from START to STOP (both included)."""
    parts = str(spec).split(":")
    usage = f"--sweep must be START:STOP:N with N >= 2 (e.g. -20:20:5), got {spec!r}"
    if len(parts) != 3:
        raise InputError(usage)
    try:
        start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise InputError(usage) from None
    if n < 2 or not (math.isfinite(start) and math.isfinite(stop)):
        raise InputError(usage)
    return [float(x) for x in np.linspace(start, stop, n)]


def parse_layers(spec, n_latent: int | None = None, layer_names=None) -> list[int] | None:
    """"all" | "coarse" | "middle" | "fine" | "I-J" | "I" | "I-J,K" | list of ints -> sorted indices.

    None means no layer range (a plain w edit). Indices are 0-based and J is included.
    """
    if spec is None:
        return None
    if layer_names is None:
        if n_latent is None:
            raise DirectionError("a layer range needs the generator's number of layers (n_latent)")
        layer_names = default_layer_names(n_latent)
    n = len(layer_names)
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text in LAYER_GROUPS:
            idx = layer_groups(layer_names)[text]
            if not idx:
                raise InputError(f"--layers {text}: this generator has too few resolutions for a {text} group; "
                                 f"give indices 0-{n - 1} instead")
            return idx
        idx = []
        for part in text.split(","):
            m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if m is None:
                raise InputError(f"--layers must be all, coarse, middle, fine or I-J (e.g. 0-3), got {spec!r}")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if lo > hi:
                raise InputError(f"--layers {spec}: the range {lo}-{hi} is empty; write the lower index first")
            idx.extend(range(lo, hi + 1))
    else:
        idx = [int(i) for i in spec]
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise InputError(f"--layers {spec}: layer {bad[0]} is out of range; this generator has {n} W+ layers (0-{n - 1})")
    if not idx:
        raise InputError("--layers is empty; give all, coarse, middle, fine or I-J")
    return sorted(set(idx))


# -- checking tags against a direction set -------------------------------------------------------
def _as_list(tags) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tags]
    return list(tags)


def filtered_reason(directions, tag: str, run=None) -> str | None:
    """Why `tag` got no direction at fitting time, or None when it was not filtered out.

    Read from the set's params ("dropped": {tag: reason}) when the fitter recorded it, otherwise
    recomputed from the run's tags with the filter settings the set was fitted with.
    """
    params = getattr(directions, "params", None) or {}
    dropped = params.get("dropped")
    if isinstance(dropped, dict):
        return None if dropped.get(tag) is None else str(dropped[tag])
    if run is None or directions.method in UNNAMED_METHODS or not run.has_tags():
        return None
    from .directions.filtering import filter_tags

    scores, vocab = run.tag_scores()
    if tag not in vocab:
        return None
    Y = (scores >= params.get("threshold", 0.5)).astype(np.uint8)
    result = filter_tags(vocab, Y, len(Y), params.get("min_count"), params.get("max_count"),
                         [t for t in params.get("include", ()) if t in vocab],
                         [t for t in params.get("exclude", ()) if t in vocab])
    return result.reason(tag)


def check_request(add, sub=()) -> tuple[list[str], list[str]]:
    """The checks that need no directions: something to add, no tag both added and removed."""
    add, sub = _as_list(add), _as_list(sub)
    if not add:
        raise TagError("nothing to edit: give at least one --add TAG")
    for t in add:
        if t in sub:
            raise TagError(f"tag {t!r} is in both --add and --sub; an edit cannot add and remove the same tag")
    return add, sub


def check_tags(directions, add, sub=(), run=None) -> tuple[list[str], list[str]]:
    """Validate an edit request against a direction set; return (add, sub) as lists.

    `run` (optional) lets a tag the fit filtered out be explained from the run's tag counts.
    """
    add, sub = check_request(add, sub)
    known = list(directions.names)
    for t in add + sub:
        if t in known:
            continue
        reason = filtered_reason(directions, t, run)
        where = f"the {directions.method} directions"
        if reason is not None:
            raise TagError(f"tag {t!r} has no direction in {where}: it was filtered out at fitting time "
                           f"({reason}); pass --include {t} to fit it anyway")
        raise TagError(f"{unknown_name_message('tag', t, known)} (the {directions.method} directions have "
                       f"{len(known)} tags)")
    return add, sub


# -- strengths -------------------------------------------------------------------------------------
def code_scale(codes) -> float:
    """RMS over coordinates of the std of `codes` (N, D): the unit of the default strengths."""
    X = np.asarray(codes, dtype=np.float64)
    return float(np.sqrt(X.var(axis=0).mean()))


def default_strengths(method: str) -> tuple[float, float]:
    """The (add, sub) default strengths of a method, in units of the code scale."""
    return DEFAULT_STRENGTHS.get(method, DEFAULT_STRENGTHS["svd"])


def resolve_strengths(directions, add, sub=(), strength=None, sub_strength=None) -> tuple[float, float]:
    """Absolute strengths (A, B): the user's numbers, or the method's defaults times the code scale.

    Defaults need the code scale on the set (params['code_scale'], see `with_spread`).
    """
    a = None if strength is None else parse_strength(strength, "--strength")
    b = None if sub_strength is None else parse_strength(sub_strength, "--sub-strength")
    if b is None and not _as_list(sub):
        b = 0.0
    if a is None or b is None:
        scale = directions.params.get("code_scale")
        if scale is None:
            raise DirectionError(f"default strengths are counted in units of the code scale, which these "
                                 f"{directions.method} directions do not carry; give --strength/--sub-strength "
                                 f"or add it with latentedit.edit.with_spread(directions, codes)")
        a_default, b_default = default_strengths(directions.method)
        a = a_default * float(scale) if a is None else a
        b = b_default * float(scale) if b is None else b
    return a, b


def default_sub_ratio(directions, add=(), sub=()) -> float:
    """B / A of the method's default strengths (what a sweep keeps fixed while A varies)."""
    a, b = default_strengths(directions.method)
    return b / a


# -- the edit on codes ---------------------------------------------------------------------------
def edit_delta(directions, add, sub=(), strength=None, sub_strength=None) -> np.ndarray:
    """The w-space step A * sum n(add) - B * sum n(sub), float32 (D,)."""
    add, sub = check_tags(directions, add, sub)
    a, b = resolve_strengths(directions, add, sub, strength, sub_strength)
    delta = a * np.sum([directions.vector(t) for t in add], axis=0, dtype=np.float64)
    if sub:
        delta = delta - b * np.sum([directions.vector(t) for t in sub], axis=0, dtype=np.float64)
    return delta.astype(np.float32)


def edit_codes(w, directions, add, sub=(), strength=None, sub_strength=None, layers=None, n_latent=None,
               layer_names=None):
    """w' = w + A sum n(add) - B sum n(sub); returns the same kind (numpy or torch) as `w`.

    w is (B, D) (or (D,)), or W+ (B, L, D). With `layers` (a spec or a list of indices) the result
    is W+ (B, L, D) where only the chosen layers move; `n_latent` (or `layer_names`) tells L when w is
    not W+ already. Strengths default to the method's (see the module docstring).
    """
    delta = edit_delta(directions, add, sub, strength, sub_strength)
    is_torch = isinstance(w, torch.Tensor)
    x = w if is_torch else np.asarray(w, dtype=np.float32)
    step = torch.from_numpy(delta).to(device=x.device, dtype=x.dtype) if is_torch else delta
    if x.shape[-1] != delta.shape[0]:
        raise DirectionError(f"codes have {x.shape[-1]} dimensions but the {directions.method} directions have "
                             f"{delta.shape[0]}; fit directions for this generator's {directions.space}-space")
    if layers is None:
        return x + step
    if x.ndim == 3:
        n_latent = x.shape[1]
    if layer_names is None and n_latent is None:
        raise DirectionError("a layer range needs n_latent (the generator's number of W+ layers)")
    idx = parse_layers(layers, n_latent, layer_names)
    n = len(layer_names) if layer_names is not None else n_latent
    if x.ndim == 2:
        x = x[:, None, :].repeat(1, n, 1) if is_torch else np.repeat(x[:, None, :], n, axis=1)
    mask = np.zeros((n, 1), np.float32)
    mask[idx] = 1
    mask = torch.from_numpy(mask).to(device=x.device, dtype=x.dtype) if is_torch else mask
    return x + mask * step


def with_spread(directions, codes):
    """The set with the spread of `codes` recorded, as default strengths need it.

    params['code_scale'] = `code_scale(codes)` and stats['std'] (std of the codes along each
    direction), each only when missing.
    """
    from .directions.base import DirectionSet

    params, stats = dict(directions.params), dict(directions.stats)
    if "code_scale" in params and "std" in stats:
        return directions
    X = np.asarray(codes, dtype=np.float64)
    params.setdefault("code_scale", code_scale(X))
    stats.setdefault("std", (X @ directions.vectors.astype(np.float64).T).std(axis=0))
    return DirectionSet(directions.method, directions.space, directions.names, directions.vectors, stats,
                        directions.generator_fingerprint, params)


# -- decoding edits -------------------------------------------------------------------------------
class Editor:
    """Decode edits of style codes with one generator and one direction set.

    Codes live in the directions' space: w (B, D) for w-space sets, z (B, latent_dim) for z-space
    sets (mapped to w after the edit). Content codes come from `generator.encode`.
    """

    def __init__(self, generator, directions, device="cpu", batch_size: int = 16):
        self.generator = generator.to(device).eval()
        self.directions = directions
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.inference_mode()
    def to_w(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes of the directions' space -> w (B, D) or W+ (B, L, D) for the decoder."""
        codes = torch.as_tensor(codes, dtype=torch.float32, device=self.device)
        if self.directions.space != "z":
            return codes
        if codes.ndim == 3:
            b, n, d = codes.shape
            return self.generator.mapping(codes.reshape(b * n, d)).reshape(b, n, -1)
        return self.generator.mapping(codes)

    def codes(self, codes, add, sub=(), strength=None, sub_strength=None, layers=None) -> torch.Tensor:
        """The edited codes (in the directions' space); W+ shaped when `layers` is given."""
        codes = torch.as_tensor(codes, dtype=torch.float32, device=self.device)
        return edit_codes(codes, self.directions, add, sub, strength, sub_strength, layers,
                          layer_names=self.generator.layer_names)

    @torch.inference_mode()
    def decode(self, content, codes) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] of content codes with codes of the directions' space."""
        content = torch.as_tensor(content, device=self.device)
        w = self.to_w(codes)
        return torch.cat([
            self.generator.decode(content[i : i + self.batch_size], w[i : i + self.batch_size], use_mapping=False)
            for i in range(0, len(w), self.batch_size)
        ])

    def edit(self, content, codes, add, sub=(), strength=None, sub_strength=None, layers=None) -> torch.Tensor:
        """Images of the edited codes, (B, 3, H, W)."""
        return self.decode(content, self.codes(codes, add, sub, strength, sub_strength, layers))

    def sweep(self, content, codes, add, sub=(), strengths=(-20, -10, 0, 10, 20), sub_ratio=None,
              layers=None) -> torch.Tensor:
        """Images at each add-strength A of `strengths` (sub-strength A * sub_ratio): (S, B, 3, H, W).

        sub_ratio defaults to B / A of the default strengths, so that the sweep passes through the
        default edit.
        """
        if sub_ratio is None:
            sub_ratio = default_sub_ratio(self.directions, add, sub)
        return torch.stack([self.edit(content, codes, add, sub, s, s * sub_ratio, layers) for s in strengths])


# -- end to end: a run or a folder of selfies -> edited images on disk ------------------------------
@dataclass
class EditResult:
    """What `edit` did: images (uint8), codes, the strengths applied and the edit.json record."""

    before: np.ndarray            # (B, H, W, 3)
    after: np.ndarray             # (S, B, H, W, 3), S = 1 without a sweep
    codes: np.ndarray             # (B, D) codes that were edited (space of the directions)
    edited: np.ndarray            # (S, B, D) or (S, B, L, D)
    strengths: list               # [(A, B)] per column of `after`
    labels: list                  # one name per row (sample id or input file)
    grid: np.ndarray              # rows = samples, columns = before + each strength
    record: dict = field(default_factory=dict)
    out: Path | None = None


def _open_run(run):
    if run is None:
        return None
    from .stages import open_run

    return open_run(run)


def _is_run(path) -> bool:
    from .store import Run

    return isinstance(path, Run) or (Path(path) / "manifest.json").is_file()


def load_generator_for(run=None, generator=None, device="cpu"):
    """(generator, source): the one given (object, 'demo' or a checkpoint path) or the run's.

    A run's generator must have the run's fingerprint.
    """
    from .models.checkpoint import load_generator
    from .stages import generator_for_run

    if run is not None:
        source = str(generator) if generator is not None else run.manifest["generator"]["source"]
        if not isinstance(generator, (str, Path, type(None))):
            source = "in-memory"
        return generator_for_run(run, generator, device=device), source
    generator = "demo" if generator is None else generator
    if isinstance(generator, (str, Path)):
        return load_generator(generator, device=device), str(generator)
    return generator, "in-memory"


def load_directions_for(G, run=None, method="svd", space="w", directions=None, tags=(), tagger="demo",
                        label_n: int = 64, seed: int = 0, include=()):
    """The directions to edit with, and the file they came from.

    `directions` (a DirectionSet or a path) wins; otherwise the run's <method>-<space> directions,
    fitted and saved first when missing (`latentedit.stages.ensure_directions`, which also says why
    a tag has none); `include` names tags to fit even if the tag filter drops them (refits). Unnamed sets (sefa, pca) are named by labelling
    (`latentedit.directions.label`) when `tags` are not among their names. Every returned set
    carries the spread of the codes (`with_spread`), which default strengths need.
    """
    from .directions import DirectionSet
    from .directions.label import sample_w
    from .models.checkpoint import fingerprint

    tags = list(tags)
    dim = G.latent_dim if space == "z" else G.style_dim
    path = None
    if isinstance(directions, DirectionSet):
        ds = directions
    elif directions is not None:
        path = Path(directions)
        ds = DirectionSet.load(path, generator_fingerprint=fingerprint(G), dim=dim)
    elif run is not None:
        from .stages import ensure_directions

        named = method not in UNNAMED_METHODS
        extra = {"include": list(include)} if include and named else {}
        ds, path = ensure_directions(run, method, space, tags=tags if named else None, tagger=tagger, generator=G,
                                     **extra)
    else:
        raise RunError("edits need directions: give a RUN (made by latentedit sample) or a direction file")

    def spread_codes(space_):
        if run is not None:
            return run.codes()[space_]
        if space_ == "z":
            return np.random.default_rng(seed).standard_normal((1000, G.latent_dim))
        return sample_w(G, 1000, seed).cpu().numpy()

    ds = with_spread(ds, spread_codes(ds.space))
    missing = [t for t in tags if t not in ds.names]
    if missing and ds.method in UNNAMED_METHODS:
        from .directions.label import label_directions, named_directions
        from .tagging import load_tagger

        tg = load_tagger(tagger) if isinstance(tagger, (str, Path)) else tagger
        for t in tags:
            if t not in tg.tags:
                raise TagError(f"{unknown_name_message('tag', t, tg.tags)} (the tagger labelling the "
                               f"{ds.method} directions does not know it)")
        labels = label_directions(G, ds, tg, n=label_n, seed=seed, top=None)
        ds = with_spread(named_directions(ds, labels, tags), spread_codes(ds.space))
    return ds, path


def _run_content(run, G, input_ids, device, batch_size) -> torch.Tensor:
    """Content codes of a run's inputs, re-encoded from the inputs the run was sampled from."""
    from .images import load_selfie
    from .sample import demo_inputs

    m = run.manifest
    names = [i["name"] for i in m["inputs"]]
    if all(n.startswith(f"demo-selfie-{m['seed']}-") for n in names):
        src = demo_inputs(len(names), m["seed"], G.size)
        load = src.load
    elif m.get("inputs_dir") and Path(m["inputs_dir"]).is_dir():
        folder = Path(m["inputs_dir"])

        def load(i):
            return load_selfie(folder / names[i], G.size)
    else:
        raise RunError(f"run {run.path} does not record where its input selfies are; "
                       f"edit new ones with --inputs DIR")
    x = torch.cat([load(int(i)) for i in input_ids]).to(device)
    with torch.inference_mode():
        return torch.cat([G.encode(x[i : i + batch_size])[0] for i in range(0, len(x), batch_size)])


def _pick_run_samples(run, G, space, samples, seed, device, batch_size):
    """`samples` (default 8) of a run's samples picked with `seed`: codes, content, labels, record."""
    if run is None:
        raise RunError("give a RUN to take samples from, or --inputs DIR")
    codes = run.codes()
    n = 8 if samples is None else int(samples)
    if not 1 <= n <= len(codes["id"]):
        raise InputError(f"--samples must be between 1 and {len(codes['id'])} (the run's samples), got {n}")
    pick = np.sort(np.random.default_rng(seed).choice(len(codes["id"]), n, replace=False))
    ids = codes["id"][pick]
    content = _run_content(run, G, codes["input_id"][pick], device, batch_size)
    return (codes[space][pick].astype(np.float32), content, [f"{int(i):09d}" for i in ids],
            {"run": str(run.path), "samples": [int(i) for i in ids]})


def _encode_inputs(inputs, G, space, seed, device, batch_size):
    """Selfies of a folder, encoded for their content, each with a random style seeded by `seed`."""
    from .sample import folder_inputs

    src = folder_inputs(inputs, G.size)
    x = torch.cat([src.load(i) for i in range(len(src.names))]).to(device)
    z = np.random.default_rng(seed).standard_normal((len(src.names), G.latent_dim)).astype(np.float32)
    with torch.inference_mode():
        content = torch.cat([G.encode(x[i : i + batch_size])[0] for i in range(0, len(x), batch_size)])
        codes = z if space == "z" else G.mapping(torch.from_numpy(z).to(device)).cpu().numpy()
    labels = [f"{i:03d}-{Path(name).stem}" for i, name in enumerate(src.names)]
    return codes, content, labels, {"inputs": str(inputs), "input_names": list(src.names), "skipped": src.skipped}


def _prepare_out(out: Path) -> Path:
    """Check `out` can take an edit; return the temporary folder to write into."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "edit.json").exists())):
        raise InputError(f"--out {out} exists and is not an earlier edit output; choose a new or empty folder")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _swap_into_place(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_files(folder: Path, result: EditResult) -> None:
    from .images import encode_png
    from .io import atomic_save_npz, atomic_write_bytes, atomic_write_json

    sweep = result.record["sweep"] is not None
    before, after = [], []
    for i, label in enumerate(result.labels):
        before.append(f"before/{label}.png")
        atomic_write_bytes(folder / before[-1], encode_png(result.before[i]))
        for k in range(len(result.strengths)):
            after.append(f"after/{label}-{k:02d}.png" if sweep else f"after/{label}.png")
            atomic_write_bytes(folder / after[-1], encode_png(result.after[k, i]))
    atomic_write_bytes(folder / "grid.png", encode_png(result.grid))
    atomic_save_npz(folder / "codes.npz", codes=result.codes.astype(np.float32),
                    edited=np.asarray(result.edited, np.float32),
                    strength=np.array([a for a, _ in result.strengths], np.float64),
                    sub_strength=np.array([b for _, b in result.strengths], np.float64),
                    labels=np.array(result.labels, dtype=np.str_))
    result.record["files"] = {"before": before, "after": after, "grid": "grid.png", "codes": "codes.npz"}
    atomic_write_json(folder / "edit.json", result.record)


def edit(run_or_inputs, add, sub=(), method: str = "svd", strength=None, sub_strength=None, sweep=None,
         layers=None, samples: int | None = None, inputs=None, seed: int = 0, generator=None, directions=None,
         space: str = "w", tagger="demo", include=(), out=None, device: str = "cpu", batch_size: int = 16) -> EditResult:
    """Edit anime faces with paired opposite tags and (optionally) write the result to `out`.

    run_or_inputs: a run (path or Run) to take directions, codes and the generator from, or a folder
    of selfies (then pass `directions`, a DirectionSet or file). From a run, `samples` (default 8)
    of its samples are picked with `seed`; with `inputs` (or a folder as first argument) each selfie
    is encoded for its content and gets a random style seeded by `seed`. Before and after images
    use the same content. `sweep` ('START:STOP:N' or a list) replaces `strength` by a series of
    add-strengths (the sub-strength follows at the same ratio). `out` receives before/ and after/
    PNGs, grid.png, codes.npz and edit.json, all at once (written to a temporary folder first).
    `include`: tags to fit even though the tag filter drops them (the run's directions are refitted).
    """
    from .images import grid as tile
    from .images import to_uint8
    from .models.checkpoint import fingerprint

    add, sub = check_request(add, sub)
    if strength is not None:
        strength = parse_strength(strength, "--strength")
    if sub_strength is not None:
        sub_strength = parse_strength(sub_strength, "--sub-strength")
    sweep_values = parse_sweep(sweep) if isinstance(sweep, str) else (None if sweep is None else
                                                                       [parse_strength(s, "--sweep") for s in sweep])
    if run_or_inputs is not None and not _is_run(run_or_inputs) and Path(run_or_inputs).is_dir():
        if inputs is not None:
            raise InputError(f"{run_or_inputs} is not a run (no manifest.json) and --inputs is given too")
        run, inputs = None, run_or_inputs
    else:
        run = _open_run(run_or_inputs)
    if inputs is not None and samples is not None:
        raise InputError("give either --samples N (from the run) or --inputs DIR, not both")
    out = Path(out) if out is not None else None
    tmp = _prepare_out(out) if out is not None else None
    try:
        dev = torch.device(device)
        G, gen_source = load_generator_for(run, generator, device=device)
        ds, path = load_directions_for(G, run, method, space, directions, add + sub, tagger, seed=seed,
                                       include=_as_list(include))
        add, sub = check_tags(ds, add, sub, run)
        layer_idx = parse_layers(layers, layer_names=G.layer_names)
        a, b = resolve_strengths(ds, add, sub, strength, sub_strength)
        if sweep_values is None:
            pairs = [(a, b)]
        else:
            ratio = b / a if a else default_sub_ratio(ds, add, sub)
            pairs = [(s, s * ratio) for s in sweep_values]

        if inputs is None:
            codes, content, labels, source = _pick_run_samples(run, G, ds.space, samples, seed, dev, batch_size)
        else:
            codes, content, labels, source = _encode_inputs(inputs, G, ds.space, seed, dev, batch_size)
            source["run"] = str(run.path) if run is not None else None

        editor = Editor(G, ds, device=device, batch_size=batch_size)
        before = to_uint8(editor.decode(content, codes))
        edited = [editor.codes(codes, add, sub, pa, pb, layer_idx) for pa, pb in pairs]
        after = np.stack([to_uint8(editor.decode(content, e)) for e in edited])
        columns = np.concatenate([before[None], after]).transpose(1, 0, 2, 3, 4)
        grid_img = tile(columns.reshape(-1, *before.shape[1:]), len(labels), len(pairs) + 1)
        record = {
            "format": "latentedit-edit/1",
            "add": add, "sub": sub, "method": ds.method, "space": ds.space,
            "strength": pairs[0][0] if sweep_values is None else None,
            "sub_strength": pairs[0][1] if sweep_values is None else None,
            "strength_given": strength is not None, "sub_strength_given": sub_strength is not None,
            "default_strengths_in_code_scale": list(default_strengths(ds.method)),
            "code_scale": ds.params.get("code_scale"),
            "sweep": [[pa, pb] for pa, pb in pairs] if sweep_values is not None else None,
            "layers": None if layers is None else (layers if isinstance(layers, str) else list(layer_idx)),
            "layer_indices": layer_idx,
            "directions": {"file": str(path) if path is not None else None,
                           "labelled_from": {t: ds.params.get("labelled_from", {}).get(t) for t in add + sub}
                           if "labelled_from" in ds.params else None,
                           "fitted_for": ds.generator_fingerprint},
            "seed": seed,
            "generator": {"fingerprint": fingerprint(G), "config": _plain(G.config), "source": gen_source},
            **source,
            "grid": {"rows": "samples", "columns": ["before"] + [f"A={pa:g}, B={pb:g}" for pa, pb in pairs]},
        }
        result = EditResult(before, after, np.asarray(codes), np.stack([e.cpu().numpy() for e in edited]),
                            pairs, labels, grid_img, record)
        if out is not None:
            _write_files(tmp, result)
            _swap_into_place(tmp, out)
            result.out = out
        return result
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _plain(value):
    """JSON-friendly copy of a config (int keys of the channel table become strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def default_out(run, add, sub=(), method: str = "svd", layers=None) -> Path:
    """RUN/edits/<+add-sub>-<method>[-layers]: where the CLI writes an edit without --out."""
    name = "".join(f"+{t}" for t in _as_list(add)) + "".join(f"-{t}" for t in _as_list(sub))
    name = f"{name or 'edit'}-{method}" + (f"-layers-{layers}" if layers else "")
    return Path(getattr(run, "path", run)) / "edits" / re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


# -- measurements on the demo world ---------------------------------------------------------------
# What an edit changes is read from the pixels: the demo world's renderer draws every attribute
# value, so for each decoded image the value of one attribute is the one whose render (all other
# attributes as in the unedited style, the selfie's geometry) is nearest
# (latentedit.world.build.read_attributes). Tags name an attribute value:
TAG_ATTRIBUTE = {
    "short_hair": ("hair_length_class", 0), "medium_hair": ("hair_length_class", 1),
    "long_hair": ("hair_length_class", 2), "closed_eyes": ("closed_eyes", 1),
    "open_mouth": ("open_mouth", 1), "closed_mouth": ("open_mouth", 0),
    "smile": ("smile", 1), "blush": ("blush", 1),
}
READ_ATTRIBUTES = ("hair_length_class", "hair_color", "eye_color", "closed_eyes", "open_mouth", "smile", "blush")


def _tag_attribute(tag: str) -> tuple[str, int]:
    from .world import truth

    if tag in TAG_ATTRIBUTE:
        return TAG_ATTRIBUTE[tag]
    for names, attr, suffix in ((truth.HAIR_COLORS, "hair_color", "_hair"), (truth.EYE_COLORS, "eye_color", "_eyes")):
        for k, c in enumerate(names):
            if tag == f"{c}{suffix}":
                return attr, k
    raise TagError(unknown_name_message("tag", tag, list(TAG_ATTRIBUTE)))


@dataclass
class DemoBatch:
    """Demo selfies' content codes and geometry, with random styles z, w and their true attributes."""

    content: torch.Tensor
    geometry: dict
    z: np.ndarray
    w: torch.Tensor

    @classmethod
    def sample(cls, G, n: int, seed: int = 0, batch_size: int = 32) -> "DemoBatch":
        from .directions.label import sample_content
        from .world.render import demo_selfies

        _, geometry = demo_selfies(n, seed=seed, size=G.size)
        content = sample_content(G, n, seed, batch_size)
        z = np.random.default_rng([seed, 1]).standard_normal((n, G.latent_dim)).astype(np.float32)
        with torch.inference_mode():
            w = G.mapping(torch.from_numpy(z).to(content.device))
        return cls(content, geometry, z, w)

    def decode(self, G, w, batch_size: int = 32) -> np.ndarray:
        from .images import to_uint8

        with torch.inference_mode():
            return np.concatenate([
                to_uint8(G.decode(self.content[i : i + batch_size], w[i : i + batch_size], use_mapping=False))
                for i in range(0, len(w), batch_size)])

    def read(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Attribute values the images show, read from pixels; eye_color is -1 where it is not read."""
        from .world import truth
        from .world.build import read_attributes
        from .world.render import take

        attrs = truth.attributes(self.z)
        rows = [read_attributes(images[i], take(self.geometry, i), take(attrs, i)) for i in range(len(images))]
        return {a: np.array([r.get(a, -1) for r in rows]) for a in READ_ATTRIBUTES}


def _changes(before: dict, after: dict) -> dict[str, np.ndarray]:
    """Per attribute, True where the read value changed (eye colour only where both show open eyes)."""
    out = {a: before[a] != after[a] for a in READ_ATTRIBUTES}
    shown = (before["closed_eyes"] == 0) & (after["closed_eyes"] == 0) & (before["eye_color"] >= 0) & (
        after["eye_color"] >= 0)
    out["eye_color"] = out["eye_color"] & shown
    return out


def layer_effects(generator, directions, add="long_hair", sub="short_hair", groups=("all", "coarse", "middle", "fine"),
                  n: int = 64, seed: int = 0, strength=None, sub_strength=None, batch: DemoBatch | None = None) -> list[dict]:
    """Which W+ layers control what: edit only each layer group and read every attribute.

    Returns one row per group: {layers, indices, baseline and target (fractions of samples showing
    the added tag before and after the edit), changed {attribute: fraction of samples whose read
    value changed}, pixels (mean |after - before| in 0..255)}.
    """
    G = generator
    batch = batch or DemoBatch.sample(G, n, seed)
    before_img = batch.decode(G, batch.w)
    before = batch.read(before_img)
    attr, value = _tag_attribute(_as_list(add)[0])
    rows = []
    for group in groups:
        idx = parse_layers(group, layer_names=G.layer_names)
        edited = edit_codes(batch.w, directions, add, sub, strength, sub_strength, idx, layer_names=G.layer_names)
        img = batch.decode(G, edited)
        after = batch.read(img)
        rows.append({
            "layers": group, "indices": idx, "baseline": float(np.mean(before[attr] == value)),
            "target": float(np.mean(after[attr] == value)),
            "changed": {a: float(v.mean()) for a, v in _changes(before, after).items()},
            "pixels": float(np.abs(img.astype(np.int16) - before_img.astype(np.int16)).mean()),
        })
    return rows


def flip_rates(generator, directions_by_method: dict, pairs=(("long_hair", "short_hair"), ("open_mouth", "closed_mouth"),
               ("closed_eyes", None)), n: int = 200, seed: int = 0, with_opposite=(True, False), strengths=None,
               batch: DemoBatch | None = None) -> list[dict]:
    """How often an edit flips its target attribute and leaves the others alone, on the demo world.

    For each method (a DirectionSet per method, named by tags; label SeFa's first), each
    (add, opposite) pair, with and without subtracting the opposite tag: samples whose read
    target attribute is not already the added value are the candidates; `flipped` is the
    fraction of candidates showing it after the edit; `kept_all` the fraction of all samples whose
    every other read attribute is unchanged; `kept` the mean over other attributes of the fraction
    unchanged. Strengths are each method's defaults unless `strengths[method] = (A, B)`.
    """
    G = generator
    batch = batch or DemoBatch.sample(G, n, seed)
    before = batch.read(batch.decode(G, batch.w))
    rows = []
    for method, ds in directions_by_method.items():
        for add, opposite in pairs:
            attr, value = _tag_attribute(add)
            candidates = before[attr] != value
            for use_sub in (with_opposite if opposite else (False,)):
                sub = [opposite] if use_sub else []
                a, b = (strengths or {}).get(method, (None, None))
                a, b = resolve_strengths(ds, [add], sub, a, b)
                after = batch.read(batch.decode(G, edit_codes(batch.w, ds, [add], sub, a, b)))
                changes = _changes(before, after)
                others = [k for k in READ_ATTRIBUTES if k != attr]
                unchanged = np.stack([~changes[k] for k in others])
                rows.append({
                    "method": method, "add": add, "sub": sub[0] if sub else "", "strength": a,
                    "sub_strength": b if sub else 0.0, "n": len(candidates), "candidates": int(candidates.sum()),
                    "flipped": float(np.mean(after[attr][candidates] == value)) if candidates.any() else float("nan"),
                    "kept_all": float(unchanged.all(axis=0).mean()),
                    "kept": float(unchanged.mean()),
                    "changed": {k: float(changes[k].mean()) for k in others},
                })
    return rows


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table of measurement rows (floats with 3 decimals)."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, (list, tuple)):
            return f"{v[0]}-{v[-1]}" if v else "-"
        return str(v)

    table = [columns] + [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    return "\n".join("  ".join(x.ljust(wd) for x, wd in zip(row, widths)).rstrip() for row in table)


def measure_edits(run, methods=("linear", "lasso", "svd", "sefa"), n: int = 200, seed: int = 0, tagger="demo",
                  include=("long_hair", "short_hair", "open_mouth", "closed_mouth", "closed_eyes"),
                  layer_methods=("linear", "svd"), layer_tags=("long_hair", "short_hair"), progress: bool = True) -> dict:
    """Flip rates of every method and the layer-effects tables on a demo-world run.

    Fits each supervised method on the run's codes and tags (with `include` kept despite the tag
    filter, so both sides of every pair have a direction; nothing is saved), names SeFa's
    eigenvectors by labelling them with `tagger`, then runs `flip_rates` and, for each of
    `layer_methods`, `layer_effects` on `n` fresh demo samples (the same for every table).
    """
    from .directions import fit_directions
    from .stages import ensure_tags

    run = _open_run(run)
    G, _ = load_generator_for(run)
    ensure_tags(run, tagger, progress=progress)
    vocab = run.tag_vocab()["tags"]
    sets = {}
    for method in dict.fromkeys(tuple(methods) + tuple(layer_methods)):
        if method in UNNAMED_METHODS:
            sets[method] = load_directions_for(G, run, method, "w", tags=list(include), tagger=tagger, seed=seed)[0]
        else:
            ds = fit_directions(run, method, generator=G, include=[t for t in include if t in vocab])
            sets[method] = with_spread(ds, run.codes()["w"])
    batch = DemoBatch.sample(G, n, seed)
    layers = []
    for method in layer_methods:
        layers += [{"method": method, **row} for row in layer_effects(G, sets[method], *layer_tags, batch=batch)]
    return {"flip_rates": flip_rates(G, {m: sets[m] for m in methods}, n=n, seed=seed, batch=batch),
            "layer_effects": layers,
            "labelled_from": {m: sets[m].params.get("labelled_from") for m in sets if m in UNNAMED_METHODS}}
