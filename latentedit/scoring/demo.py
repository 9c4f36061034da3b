"""Measuring edits on the demo world, where the truth of every attribute is known.

What an edit changes is read from the pixels by the world's reader
(`latentedit.world.batch_readout.BatchReader`: for each decoded image, the attribute values whose
render, with the selfie's geometry, is nearest). `DemoBatch` holds fresh demo selfies
with random styles; `flip_rates` and `layer_effects` edit them and read what changed;
`measure_edits` runs both for every method on a run (the numbers behind
`latentedit.editing.strengths`).

It edits (latentedit.editing) and fits (latentedit.directions), so it sits above them in scoring/;
the world runtime it reads (latentedit.world) is below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentedit.directions import fit_directions
from latentedit.directions.label import sample_content
from latentedit.editing import EditSession, EditSpec, with_spread
from latentedit.editing.tags import UNNAMED_METHODS, name_for_tags
from latentedit.errors import RunError
from latentedit.images import to_uint8
from latentedit.models import batched
from latentedit.world.batch_readout import ATTRIBUTES, BatchReader, changes as attribute_changes
from latentedit.world.readout import tag_attribute
from latentedit.world.render import canonical_geometry, demo_selfies

__all__ = ["DemoBatch", "attribute_changes", "layer_effects", "flip_rates", "measure_edits"]


@dataclass
class DemoBatch:
    """Demo selfies' content codes and geometry, with random styles z, w and their true attributes."""

    content: torch.Tensor
    geometry: dict
    z: np.ndarray
    w: torch.Tensor

    BATCH_SIZE = 32

    @classmethod
    def sample(cls, G, n: int, seed: int = 0, batch_size: int = BATCH_SIZE) -> "DemoBatch":
        geometry = demo_selfies(n, seed=seed, size=G.size)[1] if G.takes_content else canonical_geometry(n)
        content = sample_content(G, n, seed, batch_size)
        z = np.random.default_rng([seed, 1]).standard_normal((n, G.latent_dim)).astype(np.float32)
        with torch.inference_mode():
            w = G.mapping(torch.from_numpy(z).to(content.device))
        return cls(content, geometry, z, w)

    def decode(self, G, w, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """uint8 (n, H, W, 3) images of the batch's content with styles w (or W+)."""
        return batched.decode(G, self.content, w, batch_size, convert=to_uint8)

    def read(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Attribute values the images show (`BatchReader.read`; one reader per batch, its renders kept)."""
        if getattr(self, "_reader", None) is None or self._reader.size != images.shape[1]:
            self._reader = BatchReader(self.geometry, self.z, images.shape[1])
        return self._reader.read(images)



def _session(G, directions) -> EditSession:
    return EditSession(G, directions, device=next(G.parameters()).device, batch_size=DemoBatch.BATCH_SIZE)


def layer_effects(generator, directions, add="long_hair", sub="short_hair", groups=("all", "coarse", "middle", "fine"),
                  n: int = 64, seed: int = 0, strength=None, sub_strength=None, batch: DemoBatch | None = None) -> list[dict]:
    """Which W+ layers control what: edit only each layer group and read every attribute.

    Returns one row per group: {layers, indices, baseline and target (fractions of samples showing
    the added tag before and after the edit), changed {attribute: fraction of samples whose read
    value changed}, pixels (mean |after - before| in 0..255)}.
    """
    G = generator
    batch = batch or DemoBatch.sample(G, n, seed)
    session = _session(G, directions)
    before_img = batch.decode(G, batch.w)
    before = batch.read(before_img)
    attr, value = tag_attribute(EditSpec.paired(add, sub).add[0])
    rows = []
    for group in groups:
        edit = session.resolve(EditSpec.paired(add, sub, strength, sub_strength, layers=group))
        img = session.render(batch.content, batch.w, edit)
        after = batch.read(img)
        rows.append({
            "layers": group, "indices": None if edit.layers is None else list(edit.layers),
            "baseline": float(np.mean(before[attr] == value)), "target": float(np.mean(after[attr] == value)),
            "changed": {a: float(v.mean()) for a, v in attribute_changes(before, after).items()},
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
        session = _session(G, ds)
        for add, opposite in pairs:
            attr, value = tag_attribute(add)
            candidates = before[attr] != value
            for use_sub in (with_opposite if opposite else (False,)):
                sub = [opposite] if use_sub else []
                a, b = (strengths or {}).get(method, (None, None))
                edit = session.resolve(EditSpec.paired([add], sub, a, b if sub else None))
                a, *rest = edit.strengths
                after = batch.read(session.render(batch.content, batch.w, edit))
                changes = attribute_changes(before, after)
                others = [k for k in ATTRIBUTES if k != attr]
                unchanged = np.stack([~changes[k] for k in others])
                rows.append({
                    "method": method, "add": add, "sub": sub[0] if sub else "", "strength": a,
                    "sub_strength": -rest[0] if sub else 0.0, "n": len(candidates), "candidates": int(candidates.sum()),
                    "flipped": float(np.mean(after[attr][candidates] == value)) if candidates.any() else float("nan"),
                    "kept_all": float(unchanged.all(axis=0).mean()),
                    "kept": float(unchanged.mean()),
                    "changed": {k: float(changes[k].mean()) for k in others},
                })
    return rows


def measure_edits(run, G, methods=("linear", "lasso", "svd", "sefa"), n: int = 200, seed: int = 0, tagger="demo",
                  include=("long_hair", "short_hair", "open_mouth", "closed_mouth", "closed_eyes"),
                  layer_methods=("linear", "svd"), layer_tags=("long_hair", "short_hair")) -> dict:
    """Flip rates of every method and the layer-effects tables on a tagged demo-world run.

    Fits each supervised method on the run's codes and tags (with `include` kept despite the tag
    filter, so both sides of every pair have a direction; nothing is saved), fits SeFa/PCA and
    names their eigenvectors by labelling them with `tagger`, then runs `flip_rates` and, for each
    of `layer_methods`, `layer_effects` on `n` fresh demo samples (the same for every table).
    `G` is the run's generator.
    """
    if not run.has_tags():
        raise RunError(f"{run.path} is not tagged; run latentedit tag {run.path} first")
    vocab = run.tag_vocab()["tags"]
    w = run.codes()["w"]
    sets = {}
    for method in dict.fromkeys(tuple(methods) + tuple(layer_methods)):
        if method in UNNAMED_METHODS:
            ds = with_spread(fit_directions(run, method, generator=G), w)
            sets[method] = with_spread(name_for_tags(G, ds, include, lambda: _tagger(tagger), seed=seed), w)
        else:
            sets[method] = with_spread(fit_directions(run, method, generator=G,
                                                      include=[t for t in include if t in vocab]), w)
    batch = DemoBatch.sample(G, n, seed)
    layers = []
    for method in layer_methods:
        layers += [{"method": method, **row} for row in layer_effects(G, sets[method], *layer_tags, batch=batch)]
    return {"flip_rates": flip_rates(G, {m: sets[m] for m in methods}, n=n, seed=seed, batch=batch),
            "layer_effects": layers,
            "labelled_from": {m: sets[m].params.get("labelled_from") for m in sets if m in UNNAMED_METHODS}}


def _tagger(tagger):
    from latentedit.tagging import load_tagger  # TensorFlow: imported only when labelling

    return load_tagger(tagger) if isinstance(tagger, str) else tagger
