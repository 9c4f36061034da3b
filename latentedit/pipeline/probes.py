"""Measuring callbacks for `latentedit.editing.auto`: what an edit does to a fixed batch of samples.

An `EditProbe` decodes its batch once unedited, and for each edit it is asked about decodes the
edited batch, reads both with `read(images) -> {name: (N,) values}` and returns the edit's
`EffectRow` (`latentedit.scoring.sideeffects`): success among the samples that could change,
and every other tag's or attribute's change rate. Measurements are cached per edit.

- `tagger_probe`: on any run, the tagger's scores thresholded at 0.5, over the tags the
  direction set has (the only ones an edit can be conditioned on): `--keep auto`, `--layers auto`.
  A score within PROBE_MARGIN of the threshold reads unsure, and a tag counts as changed only
  between sure reads (a tagger's noise around 0.5 is not a side effect to act on); the target
  counts as reached only when surely shown.
- `tagger_moved`: per sample, the tags the tagger sees an edit moved (the callback of `auto.hold`).
- `readout_probe`: on the demo world, the pixel readout of every attribute (`BatchReader`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError, TagError
from ..models.batched import encode_content
from ..scoring.sideeffects import UNSURE, EffectRow, edit_effects, sure_changes, tag_reads
from ..stats import TAG_THRESHOLD
from ..world.batch_readout import BatchReader, changes as readout_changes
from ..world.readout import tag_attribute
from .sample import run_inputs

__all__ = ["EditProbe", "thresholds_of", "run_probe_batch", "exclusive_tags", "tagger_probe", "other_values", "tagger_reached", "tagger_moved",
           "readout_probe", "edit_label", "DEFAULT_PROBE_SAMPLES"]

DEFAULT_PROBE_SAMPLES = 48
EXCLUSIVE_SHARE = 0.02
REACHED_SCORE = 0.97           # a paired edit's added tag, read confidently...
QUIET_SCORE = 0.05             # ...and the attribute's other values read absent
UNPAIRED_REACHED_SCORE = 0.9   # an unpaired edit's added tag (it has no other values to check)
PROBE_MARGIN = 0.1  # a probe's tag reads 'unsure' within 0.1 of the threshold: a drift across it is no change


def edit_label(edit, session=None) -> str:
    """'+long_hair -short_hair [coarse] keep black_hair' : a readable name for an edit (its layers by
    group name when `session` knows them as one)."""
    parts = [("+" if (s is None and t not in edit.opposite) or (s is not None and s >= 0) else "-") + t
             for t, s in edit.terms]
    layers = edit.layers if session is None else session.layers_spec(edit.layers)
    if layers is not None:
        parts.append(f"[{layers if isinstance(layers, str) else ','.join(map(str, layers))}]")
    if edit.keep:
        parts.append("keep " + ",".join(edit.keep))
    return " ".join(parts)


class EditProbe:
    """measure(edit) -> EffectRow of `edit` on one fixed batch (content, codes) of a session.

    read(images) -> {name: (N,) values}; target(edit) -> (name, value) or None; change_fn(before,
    after) -> {name: (N,) bool} (default: values differ).
    """

    def __init__(self, session, content, codes, read, target, change_fn=None, source: str = "", related=None):
        self.session, self.content, self.codes = session, content, codes
        self.read, self.target, self.change_fn, self.source = read, target, change_fn, source
        self.related = related or (lambda edit: set())
        self.before_images = session.decode(content, codes)
        self.before = read(self.before_images)
        self._cache: dict = {}

    def images(self, edit) -> np.ndarray:
        return self.session.render(self.content, self.codes, edit)

    def __call__(self, edit) -> EffectRow:
        row = self._cache.get(edit)
        if row is None:
            row = self._cache[edit] = self.effects(edit, self.images(edit))
        return row

    def effects(self, edit, images, label: str | None = None) -> EffectRow:
        """The EffectRow of `images` (the batch after `edit`, however it was made: e.g. `auto.per_sample`)."""
        after = self.read(images)
        changed = None if self.change_fn is None else self.change_fn(self.before, after)
        skip = self.related(edit)
        names = [a for a in self.before if a not in skip]
        return edit_effects(label or edit_label(edit, self.session), self.before, after, self.target(edit), changed, names)


def run_probe_batch(run, G, space: str, n: int = DEFAULT_PROBE_SAMPLES, seed: int = 0):
    """(content, codes) of `n` of the run's samples picked with `seed` (all of them when it has fewer)."""
    codes = run.codes()
    total = len(codes["id"])
    if n < 1:
        raise InputError(f"a probe needs at least one sample, got {n}")
    pick = np.sort(np.random.default_rng(seed).choice(total, min(n, total), replace=False))
    src = run_inputs(run, G.size)
    device = next(G.parameters()).device
    x = torch.cat([src.load(int(i)) for i in codes["input_id"][pick]]).to(device)
    return encode_content(G, x, 32), codes[space][pick].astype(np.float32)


def _first_add(edit) -> str:
    return (edit.add or [edit.terms[0][0]])[0]


def _last_word(tag: str) -> str:
    return tag.rsplit("_", 1)[-1]


def exclusive_tags(scores, vocab, tags, threshold: float = TAG_THRESHOLD, share: float = EXCLUSIVE_SHARE) -> set:
    """Tags of `vocab` that (almost) never show together with one of `tags` in thresholded `scores`.

    Such tags name other values of the same attribute (medium_hair for long_hair, brown_hair for
    blonde_hair): an edit that reaches its target changes them by definition, so they are not
    side effects. "Almost never": together in at most `share` of the rarer tag's samples. Danbooru
    names the values of one attribute with a shared last word (long_hair, medium_hair; blue_eyes,
    closed_eyes), so only tags sharing it count: two attributes' values (blonde_hair, blue_eyes)
    may simply never meet in a run.
    """
    on = np.asarray(scores) >= threshold
    vocab = list(vocab)
    out = set()
    for t in tags:
        if t not in vocab:
            continue
        a = on[:, vocab.index(t)]
        for k, u in enumerate(vocab):
            b = on[:, k]
            rarer = min(int(a.sum()), int(b.sum()))
            if u != t and _last_word(u) == _last_word(t) and rarer > 0 and int((a & b).sum()) <= share * rarer:
                out.add(u)
    return out


def thresholds_of(tagger, cols=None) -> np.ndarray:
    """The score at which `tagger` counts each tag (of columns `cols`) as shown: its own per-tag
    thresholds (a WD14 tagger's per category), else TAG_THRESHOLD. MCut, a per-image cut, is not used here."""
    own = getattr(tagger, "thresholds", None)
    th = np.full(len(tagger.tags), TAG_THRESHOLD) if own is None else np.asarray(own, np.float64)
    return th if cols is None else th[cols]


def tagger_probe(session, content, codes, tagger, run=None) -> EditProbe:
    """A probe reading the tagger's thresholded tags that the session's directions also have.

    The target is the edit's first added tag (success: samples without it before that have it
    after). With `run` (tagged), tags exclusive with the edit's tags in the run's tags
    (`exclusive_tags`) are not counted as side effects.
    """
    names = [t for t in tagger.tags if t in set(session.directions.names)]
    cols = [list(tagger.tags).index(t) for t in names]
    run_tags = run.tag_scores() if run is not None and run.has_tags() else None

    def related(edit):
        if run_tags is None:
            return set()
        return exclusive_tags(run_tags[0], run_tags[1], [t for t, _ in edit.terms])

    def read(images):
        return tag_reads(tagger.score(images)[:, cols], names, thresholds_of(tagger, cols), PROBE_MARGIN)

    def target(edit):
        tag = _first_add(edit)
        return (tag, 1) if tag in names else None

    return EditProbe(session, content, codes, read, target, sure_changes, source="tagger tags", related=related)


def other_values(edit, tagger, run=None) -> tuple[str, ...]:
    """The tagger's tags naming other values of a paired edit's attribute: its subtracted tags and,
    on a tagged run, the tags exclusive with both the added and the subtracted ones (medium_hair
    for +long_hair -short_hair). An unpaired edit names no attribute's values: closed_eyes never
    shows with an eye colour, yet eye colour is another attribute."""
    add, sub = _first_add(edit), list(edit.sub)
    if not sub:
        return ()
    out = set(sub)
    if run is not None and run.has_tags():
        scores = run.tag_scores()
        out |= set.intersection(*(exclusive_tags(*scores, [t]) for t in [add, *sub]))
    return tuple(t for t in tagger.tags if t in out and t != add)


def reached_score(edit) -> float:
    """The score at which the tagger counts an edit's added tag as shown (see `tagger_reached`)."""
    return REACHED_SCORE if edit.sub else UNPAIRED_REACHED_SCORE


def tagger_reached(tagger, edit, run=None, threshold: float | None = None, quiet_below: float = QUIET_SCORE):
    """reached(images, index) -> (n,) bool (the callback of `editing.auto.per_sample` and `hold`):
    the tagger scores the edit's added tag at least `threshold` (default `reached_score(edit)`) and
    every other value of that attribute (`other_values`) at most `quiet_below`. A confident tagger
    is asked for: at 0.5 the demo tagger sees an open mouth before the pixels show one (success 27%
    vs 44% at 0.9 for svd, measured on 100 fresh demo samples), and at 0.9 alone it read long hair
    on faces the pixels show medium (svd, layers+keep, hold, 200 fresh samples: success 93.7% at
    0.9, 95.1% at 0.97 with medium/short_hair <= 0.05, hair colour side effect 3.5% -> 3.0%). An
    unpaired edit stops at 0.9: pushed to 0.97, closed eyes (linear, layers+keep, per sample)
    dragged open mouth in 4.0% / 5.5% of faces on two draws of 200, 3.5% / 4.0% at 0.9."""
    threshold = reached_score(edit) if threshold is None else threshold
    tags = list(tagger.tags)
    column = tags.index(_first_add(edit))
    quiet = [tags.index(t) for t in other_values(edit, tagger, run)]

    def reached(images, index=None):
        scores = tagger.score(images)
        return (scores[:, column] >= threshold) & (scores[:, quiet] <= quiet_below).all(axis=1)
    return reached


def tagger_moved(tagger, session, before_images, skip=(), margin: float = PROBE_MARGIN, count_unsure: bool = False):
    """moved(images, index) -> [{tag: sign}] (the callback of `editing.auto.hold`): per sample, the
    tags with a direction in the session, other than `skip`, that the tagger read surely before
    (on `before_images`, all samples) and reads surely the other way after; the sign restores
    them. With `count_unsure`, a tag read unsure after counts as moved too (on its way across): on
    the demo world that flags about half again as many faces, mostly where the pixels show no change."""
    names = [t for t in tagger.tags if t in set(session.directions.names) and t not in set(skip)]
    cols = [list(tagger.tags).index(t) for t in names]
    before = tag_reads(tagger.score(before_images)[:, cols], names, thresholds_of(tagger, cols), margin)

    def moved(images, index):
        after = tag_reads(tagger.score(images)[:, cols], names, thresholds_of(tagger, cols), margin)
        out = []
        for j, i in enumerate(np.asarray(index)):
            out.append({t: (1 if before[t][i] == 1 else -1) for t in names
                        if before[t][i] != UNSURE and after[t][j] != before[t][i]
                        and (after[t][j] != UNSURE or count_unsure)})
        return out

    return moved


def readout_probe(session, batch) -> EditProbe:
    """A probe reading the demo world's attributes off the pixels of a `DemoBatch`'s decodes (of its
    w, or of its z for a z-space session)."""
    reader = BatchReader(batch.geometry, batch.z, session.generator.size)

    def target(edit):
        try:
            return tag_attribute(_first_add(edit))
        except TagError:  # a tag the demo world does not define has no readable target
            return None

    codes = batch.z if session.directions.space == "z" else batch.w  # the batch's codes in the session's space
    return EditProbe(session, batch.content, codes, reader.read, target, readout_changes, source="ground truth")
