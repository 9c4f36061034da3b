"""Side-effect tables: how often an edit reaches its target, and how often it changes anything else.

For each edit (a row), from what the same samples show before and after it:

- `success`: the fraction of the samples that could change (did not show the target value
  before) that show it after. A perfect long-hair edit on a batch where a third already had
  long hair has success 1.0; counting over all samples would say 0.67 (`target_changed`, kept
  for comparison).
- `changes[a]`: for every other attribute a, the fraction of all samples whose value changed.
- `worst`: the other attribute that changed most often, and how often.
- `any_change`: the fraction of all samples on which any of the other attributes changed (what a
  user meets, where `worst` shows one attribute).

The report adds, on the demo world, `floor` (each attribute's change rate along random steps of
the edit's length orthogonal to its directions: the null-edit control, `scoring.controls`),
`floor_any` (the same for `any_change`) and `drift` (CIELAB deltaE per region: median, 90th
percentile, faces).

Each rate comes with its spread over samples (the standard deviation of the per-sample 0/1
outcome), a 95% Wilson interval and the number of samples it was computed from.

The values compared can be anything per sample: on the demo world, attribute values read off the
pixels (`latentedit.world.batch_readout`, source "ground truth"); on any run, a tagger's or the
re-scorer's scores thresholded at `TAG_THRESHOLD` (`tag_reads`, sources "tagger tags" and
"re-scorer"). One function computes every table, whatever its source.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

import numpy as np

from latentedit.errors import InputError
from latentedit.stats import TAG_THRESHOLD

UNSURE = 0.5  # what `tag_reads` with a margin reads for a score too close to the threshold

__all__ = ["Rate", "EffectRow", "SideEffectTable", "rate", "edit_effects", "side_effect_table", "tag_reads",
           "sure_changes"]


@dataclass(frozen=True)
class Rate:
    """A fraction of samples: `rate` = count / n, its spread over samples and a 95% Wilson interval."""

    rate: float
    count: int
    n: int

    @property
    def std(self) -> float:
        """Standard deviation of the per-sample 0/1 outcome."""
        return math.sqrt(self.rate * (1 - self.rate)) if self.n else float("nan")

    @property
    def ci95(self) -> tuple[float, float]:
        """Wilson score interval (z = 1.96); (nan, nan) without samples."""
        if not self.n:
            return float("nan"), float("nan")
        z, p, n = 1.96, self.rate, self.n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    def to_dict(self) -> dict:
        lo, hi = self.ci95
        return {"rate": _round(self.rate), "std": _round(self.std), "ci95": [_round(lo), _round(hi)],
                "count": self.count, "n": self.n}

    @classmethod
    def from_dict(cls, d: dict) -> "Rate":
        return cls(float("nan") if d["rate"] is None else float(d["rate"]), int(d["count"]), int(d["n"]))


def _round(x: float):
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def rate(mask) -> Rate:
    """The Rate of True values in a boolean (N,) array (nan rate for an empty one)."""
    mask = np.asarray(mask, bool)
    n = int(mask.size)
    return Rate(float(mask.mean()) if n else float("nan"), int(mask.sum()), n)


@dataclass
class EffectRow:
    """One edit's row: target success among candidates, and every other attribute's change rate."""

    edit: str
    target: str | None              # attribute the edit should set (None: no readable target)
    target_value: object = None
    success: Rate | None = None     # among samples that did not show target_value before
    target_changed: Rate | None = None  # the target attribute changed, among all samples
    changes: dict = field(default_factory=dict)  # other attribute -> Rate among all samples
    any_change: Rate | None = None  # any attribute of `changes` changed, among all samples
    floor: dict = field(default_factory=dict)  # attribute -> Rate of change along null steps (noise)
    floor_any: Rate | None = None  # any_change along the null steps
    drift: dict = field(default_factory=dict)  # region -> {"median", "p90", "n"} CIELAB deltaE

    @property
    def worst(self) -> tuple[str | None, float]:
        """(attribute, rate) of the most frequent side effect; (None, 0.0) with none measured."""
        if not self.changes:
            return None, 0.0
        name = max(self.changes, key=lambda a: (self.changes[a].rate, a))
        return name, self.changes[name].rate

    def to_dict(self) -> dict:
        worst, worst_rate = self.worst
        return {"edit": self.edit, "target": self.target, "target_value": _plain(self.target_value),
                "success": None if self.success is None else self.success.to_dict(),
                "target_changed": None if self.target_changed is None else self.target_changed.to_dict(),
                "changes": {a: r.to_dict() for a, r in self.changes.items()},
                "worst": {"attribute": worst, "rate": _round(worst_rate)},
                "any_change": None if self.any_change is None else self.any_change.to_dict(),
                "floor": {a: r.to_dict() for a, r in self.floor.items()},
                "floor_any": None if self.floor_any is None else self.floor_any.to_dict(),
                "drift": {k: {"median": _round(d["median"]), "p90": _round(d["p90"]), "n": d["n"]}
                          for k, d in self.drift.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "EffectRow":
        def r(x):
            return None if x is None else Rate.from_dict(x)

        return cls(d["edit"], d["target"], d.get("target_value"), r(d.get("success")), r(d.get("target_changed")),
                   {a: Rate.from_dict(x) for a, x in d.get("changes", {}).items()}, r(d.get("any_change")),
                   {a: Rate.from_dict(x) for a, x in (d.get("floor") or {}).items()}, r(d.get("floor_any")),
                   {k: {"median": _nan(x["median"]), "p90": _nan(x["p90"]), "n": x["n"]}
                    for k, x in (d.get("drift") or {}).items()})


def _nan(x):
    return float("nan") if x is None else float(x)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


@dataclass
class SideEffectTable:
    """Rows of `EffectRow`, all from one source ("ground truth", "tagger tags" or "re-scorer")."""

    source: str
    attributes: list
    rows: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def row(self, edit: str) -> EffectRow:
        for r in self.rows:
            if r.edit == edit:
                return r
        raise KeyError(edit)

    def to_dict(self) -> dict:
        return {"source": self.source, "attributes": list(self.attributes), "rows": [r.to_dict() for r in self.rows],
                "notes": dict(self.notes)}

    @classmethod
    def from_dict(cls, d: dict) -> "SideEffectTable":
        return cls(d["source"], list(d["attributes"]), [EffectRow.from_dict(r) for r in d["rows"]], dict(d.get("notes", {})))

    def to_csv(self) -> str:
        """Long format: one line per (edit, attribute); kind is success, target_changed, side_effect,
        any_change (attribute "any other") or floor (the null-edit control; "any other": of any_change).
        The colour drift is in report.json only."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["source", "edit", "attribute", "kind", "rate", "std", "ci95_low", "ci95_high", "count", "n"])

        def line(edit, attribute, kind, r):
            d = r.to_dict()
            w.writerow([self.source, edit, attribute, kind, *("" if v is None else f"{v:.6f}" for v in
                        (d["rate"], d["std"], *d["ci95"])), d["count"], d["n"]])

        for row in self.rows:
            if row.success is not None:
                line(row.edit, row.target, "success", row.success)
                line(row.edit, row.target, "target_changed", row.target_changed)
            for a, r in row.changes.items():
                line(row.edit, a, "side_effect", r)
            if row.any_change is not None:
                line(row.edit, "any other", "any_change", row.any_change)
            for a, r in row.floor.items():
                line(row.edit, a, "floor", r)
            if row.floor_any is not None:
                line(row.edit, "any other", "floor", row.floor_any)
        return buf.getvalue()


def edit_effects(edit: str, before: dict, after: dict, target=None, changed: dict | None = None,
                 attributes=None) -> EffectRow:
    """The row of one edit from per-sample values before and after it.

    before, after: {attribute: (N,) values} of the same N samples. target: (attribute, value) the
    edit should reach, or None. changed: {attribute: (N,) bool} where a value counts as changed
    (default: before != after), for attributes whose change needs a tolerance.
    attributes: which attributes to report (default: every key of `before`).
    """
    attributes = list(before if attributes is None else attributes)
    measured = attributes + [target[0]] if target is not None and target[0] not in attributes else attributes
    n = {len(np.asarray(before[a])) for a in measured if a in before} | {len(np.asarray(after[a])) for a in measured
                                                                         if a in after}
    if len(n) != 1:
        raise InputError(f"edit {edit!r}: before and after must hold the same samples, got sizes {sorted(n)}")
    if changed is None:
        changed = {a: np.asarray(before[a]) != np.asarray(after[a]) for a in measured if a in before}
    row = EffectRow(edit, None)
    if target is not None:
        attr, value = target
        if attr not in before:
            raise InputError(f"edit {edit!r}: target attribute {attr!r} is not measured "
                             f"(measured: {', '.join(attributes)})")
        could = np.asarray(before[attr]) != value
        row.target, row.target_value = attr, value
        row.success = rate(np.asarray(after[attr])[could] == value)
        row.target_changed = rate(changed[attr])
    row.changes = {a: rate(changed[a]) for a in attributes if a != row.target}
    if row.changes:
        row.any_change = rate(np.any([np.asarray(changed[a], bool) for a in row.changes], axis=0))
    return row


def side_effect_table(source: str, before: dict, afters: dict, targets: dict, change_fn=None, attributes=None,
                      notes: dict | None = None) -> SideEffectTable:
    """A table over edits: afters = {edit: after values}, targets = {edit: (attribute, value) or None}.

    change_fn(before, after) -> {attribute: (N,) bool} decides what counts as changed (default !=).
    """
    if not afters:
        raise InputError("a side-effect table needs at least one edit")
    attributes = list(before if attributes is None else attributes)
    rows = [edit_effects(name, before, after, targets.get(name), None if change_fn is None else change_fn(before, after),
                         attributes) for name, after in afters.items()]
    return SideEffectTable(source, attributes, rows, dict(notes or {}))


def tag_reads(scores, tags, threshold=TAG_THRESHOLD, margin: float = 0.0) -> dict:
    """Scores (N, T) of a tagger or the re-scorer -> {tag: (N,) 0/1} thresholded at `threshold` (one
    number, or one per tag: a WD14 tagger's per-category thresholds).

    With a `margin`, scores within it of the threshold read UNSURE (0.5): see `sure_changes`.
    """
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(tags):
        raise InputError(f"scores must be (N, {len(tags)}) for {len(tags)} tags, got {scores.shape}")
    out = {}
    for k, t in enumerate(tags):
        s, at = scores[:, k], threshold[k] if np.ndim(threshold) else threshold
        value = (s >= at).astype(np.float64)
        if margin > 0:
            value[np.abs(s - at) < margin] = UNSURE
        out[t] = value
    return out


def sure_changes(before: dict, after: dict) -> dict:
    """{tag: (N,) bool}: the value changed and was read surely (not UNSURE) both before and after."""
    return {t: (before[t] != after[t]) & (before[t] != UNSURE) & (after[t] != UNSURE) for t in before}
