"""Re-scoring matrices: how much every edit moves every attribute (InterFaceGAN / SeFa protocol).

For each edit (a row) and each attribute (a column), from the scores of the same samples before
and after the edit:

- `mean`: mean score change (after - before), `std`: its standard deviation,
- `flip`: the fraction of samples whose thresholded attribute (score >= 0.5) changes, split into
  `flip_on` (0 -> 1) and `flip_off` (1 -> 0),
- `before`, `after`: the mean scores themselves, so that every change can be checked by hand.

The thesis's published tables repeat rows across edits and methods (a copy slip). Here there is
ONE function that turns scores into a matrix (`score_change_matrix`), used for the classifier
(`rescore_matrix`) and for the demo world's ground truth (`ground_truth_matrix`) alike, and a row
is always computed from the samples of the edit it is keyed by: the input is a dict
{edit name -> (before, after)}, and rows follow its key order. Each row also records a digest of
its inputs; two rows with different names but the same digest are refused.

Ground truth on the demo world: what a decoded image shows is read off its pixels by
the world's reader, `latentedit.world.batch_readout.BatchReader` (through
`latentedit.scoring.demo.DemoBatch.read`): the nearest of the world's renders with the geometry of
the input selfie, attributes drawn in one place read jointly. Before and after images are read
the same way, so the ground-truth matrix and the classifier's matrix measure the same thing and a
reader can see how far the classifier can be trusted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..stats import TAG_THRESHOLD
from ..world.readout import tag_attribute
FIELDS = ("before", "after", "mean", "std", "flip", "flip_on", "flip_off")


def edit_name(add, sub=()) -> str:
    """The row name of a paired edit, built from the edit itself: '+long_hair -short_hair'."""
    add = [add] if isinstance(add, str) else list(add or ())
    sub = [sub] if isinstance(sub, str) else list(sub or ())
    return " ".join([f"+{t}" for t in add] + [f"-{t}" for t in sub])


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


@dataclass
class RescoreResult:
    """A re-scoring matrix: rows = edits, columns = attributes; every field is (rows, columns)."""

    rows: list
    columns: list
    before: np.ndarray
    after: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    flip: np.ndarray
    flip_on: np.ndarray
    flip_off: np.ndarray
    n: np.ndarray
    source: str = ""
    digests: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict, repr=False)  # {edit: (before (N, A), after (N, A))}, not saved

    def row(self, name: str) -> dict:
        """Every field of one edit's row as {field: {attribute: value}}."""
        i = self.rows.index(name)
        return {f: dict(zip(self.columns, getattr(self, f)[i].tolist())) for f in FIELDS}

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows": list(self.rows),
            "columns": list(self.columns),
            "n": [int(x) for x in self.n],
            **{f: np.round(getattr(self, f).astype(np.float64), 6).tolist() for f in FIELDS},
            "digests": list(self.digests),
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "RescoreResult":
        """Rebuild from `to_dict()` (per-sample scores are not kept)."""
        return cls(rows=list(d["rows"]), columns=list(d["columns"]), n=np.asarray(d["n"], np.int64),
                   source=d.get("source", ""), digests=list(d.get("digests", [])), notes=dict(d.get("notes", {})),
                   **{f: np.asarray(d[f], np.float64) for f in FIELDS})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_csv(self) -> str:
        """Long format: one line per (edit, attribute) with n and every field."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["source", "edit", "attribute", "n", *FIELDS])
        for i, r in enumerate(self.rows):
            for j, c in enumerate(self.columns):
                w.writerow([self.source, r, c, int(self.n[i]),
                            *[f"{float(getattr(self, f)[i, j]):.6f}" for f in FIELDS]])
        return buf.getvalue()


def score_change_matrix(scores: dict, columns, source: str = "", threshold: float = TAG_THRESHOLD,
                        input_digests: dict | None = None) -> RescoreResult:
    """The one code path: {edit name -> (before (N, A), after (N, A)) scores} -> RescoreResult.

    Scores are probabilities (classifier) or 0/1 values (ground truth); row i is computed from
    scores[rows[i]] only. `input_digests` names each row's inputs (default: a hash of its scores).
    """
    columns = [str(c) for c in columns]
    if not isinstance(scores, dict) or not scores:
        raise InputError("re-scoring needs a non-empty dict {edit name: (before, after)}")
    input_digests = input_digests or {}
    rows, digests, per_field, ns, kept = [], [], {f: [] for f in FIELDS}, [], {}
    for name, pair in scores.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InputError(f"edit {name!r}: expected a (before, after) pair")
        b, a = (np.asarray(x, np.float64) for x in pair)
        if b.shape != a.shape or b.ndim != 2 or b.shape[1] != len(columns):
            raise InputError(f"edit {name!r}: before {b.shape} and after {a.shape} must both be (N, {len(columns)})")
        if len(b) == 0:
            raise InputError(f"edit {name!r} has no samples")
        d = a - b
        on_b, on_a = b >= threshold, a >= threshold
        rows.append(str(name))
        kept[str(name)] = (b, a)
        digests.append(input_digests.get(name) or _digest(b, a))
        per_field["before"].append(b.mean(0))
        per_field["after"].append(a.mean(0))
        per_field["mean"].append(d.mean(0))
        per_field["std"].append(d.std(0))
        per_field["flip"].append((on_b != on_a).mean(0))
        per_field["flip_on"].append((~on_b & on_a).mean(0))
        per_field["flip_off"].append((on_b & ~on_a).mean(0))
        ns.append(len(b))
    notes = {}
    same = _identical(rows, digests)
    if same:
        notes["identical_inputs"] = same
    return RescoreResult(rows=rows, columns=columns, n=np.asarray(ns, np.int64), source=source, digests=digests,
                         notes=notes, scores=kept,
                         **{f: np.stack(v) for f, v in per_field.items()})


def _identical(rows, digests) -> list:
    """Pairs of rows whose inputs are byte-identical (legitimate only for edits that change nothing)."""
    first, pairs = {}, []
    for r, d in zip(rows, digests):
        if d in first:
            pairs.append([first[d], r])
        else:
            first[d] = r
    return pairs


def rescore_matrix(edits: dict, scorer, batch_size: int = 128) -> RescoreResult:
    """Score {edit name -> (before images, after images)} (uint8 NHWC) with a scorer -> matrix.

    `scorer` needs `.attributes` and `.predict(images) -> (N, A)` (e.g. `scoring.scorer.Scorer`).
    """
    scores, digests = {}, {}
    for name, pair in edits.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InputError(f"edit {name!r}: expected a (before images, after images) pair")
        before, after = pair
        if len(before) != len(after):
            raise InputError(f"edit {name!r}: {len(before)} images before but {len(after)} after")
        scores[name] = (scorer.predict(before, batch_size=batch_size), scorer.predict(after, batch_size=batch_size))
        digests[name] = _digest(np.asarray(before), np.asarray(after))
    return score_change_matrix(scores, scorer.attributes, source="scorer", input_digests=digests)


def shown_tags(read: dict, attributes) -> np.ndarray:
    """0/1 (N, A): whether each image shows each tag, from the attribute values read off the images.

    `read` maps demo-world attribute names to (N,) values (`latentedit.scoring.demo.DemoBatch.read`);
    a tag names one value of one attribute (short_hair: hair_length_class 0).
    """
    cols = []
    for tag in attributes:
        attr, value = tag_attribute(tag)
        cols.append(np.asarray(read[attr]) == value)
    return np.stack(cols, axis=1).astype(np.float64)


def ground_truth_matrix(reads: dict, attributes, notes: dict | None = None) -> RescoreResult:
    """Demo-world truth: {edit name -> (read before, read after)} -> matrix, by the same code path.

    Each read is a dict of attribute values shown by the images (`DemoBatch.read`), so the
    scores are 0/1 and `mean` is the fraction of samples gaining the tag minus those losing it.
    """
    scores = {name: (shown_tags(b, attributes), shown_tags(a, attributes)) for name, (b, a) in reads.items()}
    result = score_change_matrix(scores, attributes, source="ground truth")
    result.notes.update(notes or {})
    return result
