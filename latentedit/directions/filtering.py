"""Which tags get a direction: drop rating tags, rare tags and near-universal ones.

Rating tags are those of the tagger's category "rating" (WD14's category 9; DeepDanbooru's
rating:* tags); for runs tagged before categories were recorded, the names "rating:...".

The thesis kept tags carried by more than 100 and fewer than 3,400 of its 10,200 images: rarer
tags give too few positives to fit, commoner ones sit on nearly every image and describe the
style of the whole set rather than a feature. The lower bound scales with the run size:

    min_count = ceil(n_samples * 100 / 10200)     (100 at 10,200 samples)

The upper bound defaults to n_samples - min_count: a tag is dropped when fewer than min_count
samples lack it, the symmetric reading of "on nearly every image". The thesis's own cap,
floor(n_samples / 3) (3,400 at 10,200; `thesis_max_count`), also drops legitimate attributes
that are simply common: on the demo world it drops short_hair, open_mouth and closed_mouth
(35-45% of samples), the very tags of the thesis's paired edits. Pass
max_count=thesis_max_count(n) to reproduce the thesis exactly.

A tag is kept when min_count < count < max_count (strict, as in the thesis).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from latentedit.errors import TagError, unknown_name_message

THESIS_SAMPLES = 10200
THESIS_MIN = 100


def default_min_count(n_samples: int) -> int:
    return math.ceil(n_samples * THESIS_MIN / THESIS_SAMPLES)


def default_max_count(n_samples: int) -> int:
    return n_samples - default_min_count(n_samples)


def thesis_max_count(n_samples: int) -> int:
    return n_samples // 3


@dataclass
class TagFilterResult:
    """Kept tags (vocabulary order) and the reason each other tag was dropped."""

    kept: list
    dropped: dict
    counts: dict
    n_samples: int
    min_count: int
    max_count: int
    included: list = field(default_factory=list)

    def kept_indices(self, vocab) -> np.ndarray:
        position = {t: i for i, t in enumerate(vocab)}
        return np.array([position[t] for t in self.kept], dtype=np.int64)

    def reason(self, tag: str) -> str | None:
        """Why `tag` was dropped, or None if it was kept."""
        return self.dropped.get(tag)

    def summary(self) -> str:
        return (f"kept {len(self.kept)} of {len(self.kept) + len(self.dropped)} tags in "
                f"{self.n_samples} samples (count > {self.min_count} and < {self.max_count})")


def _counts(counts_or_matrix, n_tags):
    a = np.asarray(counts_or_matrix)
    if a.ndim == 2:
        if not np.isin(a, (0, 1)).all():
            raise ValueError("a tag matrix must hold 0/1 labels; threshold the tag scores first")
        a = a.sum(axis=0)
    if a.shape != (n_tags,):
        raise ValueError(f"expected counts for {n_tags} tags, got shape {a.shape}")
    return a.astype(np.int64)


def _check_known(names, vocab):
    known = set(vocab)
    for name in names:
        if name not in known:
            raise TagError(unknown_name_message("tag", name, vocab))


def filter_tags(vocab, counts, n_samples, min_count=None, max_count=None, include=(), exclude=(), categories=None):
    """Decide which tags of `vocab` to fit.

    counts: per-tag sample counts (T,) or a 0/1 matrix (N, T). Rating tags (`categories` "rating",
    or without categories the names "rating:...") are always dropped. `exclude` drops tags by name; `include` keeps tags despite the count bounds
    (not rating tags, and never tags carried by no sample or by every sample: those have no
    direction). Unknown names in include/exclude raise TagError with close matches.
    """
    vocab = [str(t) for t in vocab]
    include, exclude = [str(t) for t in include], [str(t) for t in exclude]
    _check_known(include, vocab)
    _check_known(exclude, vocab)
    both = sorted(set(include) & set(exclude))
    if both:
        raise TagError(f"tag {both[0]!r} is both included and excluded; pick one")
    n_samples = int(n_samples)
    lo = default_min_count(n_samples) if min_count is None else int(min_count)
    hi = default_max_count(n_samples) if max_count is None else int(max_count)
    count = _counts(counts, len(vocab))
    include_set, exclude_set = set(include), set(exclude)

    rating = [c == "rating" for c in categories] if categories is not None else [t.startswith("rating:") for t in vocab]
    kept, dropped = [], {}
    for tag, c, is_rating in zip(vocab, count.tolist(), rating):
        if is_rating:
            dropped[tag] = "rating tag"
        elif tag in exclude_set:
            dropped[tag] = "excluded"
        elif c == 0 or c >= n_samples:
            dropped[tag] = f"in {c} of {n_samples} samples (no direction can be fitted)"
        elif tag in include_set:
            kept.append(tag)
        elif c <= lo:
            dropped[tag] = f"in {c} samples (<= min {lo})"
        elif c >= hi:
            dropped[tag] = f"in {c} samples (>= max {hi})"
        else:
            kept.append(tag)
    return TagFilterResult(kept=kept, dropped=dropped, counts=dict(zip(vocab, count.tolist())),
                           n_samples=n_samples, min_count=lo, max_count=hi, included=include)
