"""Choosing an edit's conditions, W+ layers and strength by measuring what it does.

Every choice here is a search over variants of one `Edit`, each judged by a measuring callback:

    measure(edit) -> effects

where `effects` has `.success.rate` (the fraction of the samples that could change that reach
the edit's target) and `.changes` ({tag or attribute: object with `.rate`}, the fraction of all
samples where it changed): an `EffectRow` of `latentedit.scoring.sideeffects`, which
`latentedit.pipeline.probes` builds from the tagger's scores of decoded before/after images (on
any run) or from the demo world's pixel readout. The callback decides what is measured on which
samples; these functions only decide, and record why, so a pipeline stage, a benchmark and the
studio all choose the same way.

Every variant is judged by one utility: first whether it meets the goal (success >= GOAL_SUCCESS,
worst side effect <= GOAL_SIDE), then success minus the worst side effect, then the sum of all
side effects (`utility`).

- `choose_keep`: conditions (`Edit.keep`) added one at a time, the tag that moves most first,
  while some tag with a direction moves in more than `tolerance` of the samples (each conditioned
  step scaled back to the length of the edit as asked: `renormalised`); a condition is kept only
  when it raises the utility (conditioning on a tag the target needs, e.g. medium_hair for a
  hair-length edit, costs success and is recorded as rejected).
- `choose_layers`: every W+ layer range of `LAYER_RANGES`; the one of highest utility.
- `choose_strength`: multiples of the edit's strengths; the one of highest utility.
- `choose`: layers, then conditions, then strength, as asked; one record of every trial.
- `per_sample`: each sample edited at the smallest multiple of the edit's strengths (of
  `PER_SAMPLE_FACTORS`) at which a callback (e.g. the tagger's score of the added tag) says it
  shows the target: faces that switch easily are not pushed further than they need, and a face
  that shows it already (multiple 0) is left as it is (on the demo world, unedited: an "open the
  mouth" edit of a face whose mouth is open made 13 of 79 such faces smile).
- `hold`: closed-loop conditions per sample. After an edit, a callback reads each edited face
  (e.g. the tagger) and names the tags that left their unedited state; each such face gets a
  small step back along those tags' directions, off the edit's own directions, at the smallest
  multiple (of `HOLD_FACTORS`) that restores them while the target still shows. Projection
  (`keep`) removes what a direction predicts an edit moves; `hold` corrects what the decoded face
  shows moved, including what the generator draws differently from what its code says.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from latentedit.errors import InputError
from latentedit.models.layers import layer_groups

from .edit import Edit, EditSpec

__all__ = ["AutoOptions", "LAYER_RANGES", "STRENGTH_FACTORS", "PER_SAMPLE_FACTORS", "HOLD_FACTORS", "Trial", "Choice", "PerSample",
           "Held", "utility", "renormalised", "choose_keep", "choose_layers", "choose_strength", "choose", "per_sample",
           "hold"]

# Layer ranges tried by `choose_layers`: the three groups, their two neighbouring unions, and all.
LAYER_RANGES = ("all", "coarse", "middle", "fine", "coarse+middle", "middle+fine")
STRENGTH_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
PER_SAMPLE_FACTORS = (0.0, 0.25, 0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0)  # 0: a face already showing it stays
HOLD_FACTORS = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0)  # x the default add strength, per moved tag
HOLD_ROUNDS = 2
TOLERANCE = 0.05   # a tag moved in more than 5% of the probe's samples is a side effect to act on
GOAL_SUCCESS, GOAL_SIDE = 0.95, 0.03
MAX_RENORM = 4.0   # a conditioned step is scaled back to the original length, by at most this factor


@dataclass(frozen=True)
class AutoOptions:
    """What to choose by measuring: keep (the conditions), layers (the W+ range), strength (a multiple of
    the strengths: benchmarks only, no flag), per_sample (each face's multiple of the strengths), hold
    (each face's correction); `flags` are `latentedit edit`'s."""

    keep: bool = False
    layers: bool = False
    per_sample: bool = False
    hold: bool = False
    strength: bool = False

    @property
    def chooses(self) -> bool:
        return self.keep or self.layers or self.strength

    @property
    def per_face(self) -> bool:
        return self.per_sample or self.hold

    @property
    def flags(self) -> list[str]:
        return [*(["--layers", "auto"] if self.layers else []), *(["--keep", "auto"] if self.keep else []),
                *(["--per-sample"] if self.per_sample else []), *(["--hold"] if self.hold else [])]


@dataclass
class Trial:
    """One measured variant: the edit, its success, its worst side effect, and the verdict."""

    edit: object
    success: float
    worst: tuple
    total: float
    changes: dict
    accepted: bool = False
    note: str = ""

    def to_dict(self) -> dict:
        return {"edit": self.edit.to_dict(), "success": _r(self.success), "worst": [self.worst[0], _r(self.worst[1])],
                "total_side_effect": _r(self.total), "changes": {k: _r(v) for k, v in self.changes.items()},
                "accepted": self.accepted, "note": self.note}


@dataclass
class Choice:
    """What a search chose: the edit, why, and every trial it measured (in order)."""

    kind: str
    edit: object
    reason: str
    trials: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "chosen": self.edit.to_dict(), "reason": self.reason,
                "trials": [t.to_dict() for t in self.trials]}


def _r(x):
    return None if x is None else round(float(x), 4)


def _measure(measure, edit, ignore=()) -> Trial:
    """Run the callback on `edit` and summarise it (side effects over tags not in `ignore`)."""
    effects = measure(edit)
    success = effects.success.rate if effects.success is not None else float("nan")
    changes = {k: float(v.rate) for k, v in effects.changes.items() if k not in ignore}
    worst = max(changes.items(), key=lambda kv: (kv[1], kv[0])) if changes else (None, 0.0)
    return Trial(edit, float(success), worst, float(sum(changes.values())), changes)


def utility(trial: Trial) -> tuple:
    """(goal met, success - worst side effect, -sum of side effects): larger is better."""
    success = trial.success if trial.success == trial.success else 1.0  # nan: no target to reach
    met = success >= GOAL_SUCCESS - 1e-9 and trial.worst[1] <= GOAL_SIDE + 1e-9
    return (met, round(success - trial.worst[1], 9), round(-trial.total, 9))


def _best(trials: list) -> tuple:
    """(the trial of highest utility, the first on ties, marked accepted; 'note s%/w%, ...' of the others)."""
    pick = trials[0]
    for t in trials[1:]:
        if utility(t) > utility(pick):
            pick = t
    pick.accepted = True
    return pick, ", ".join(f"{t.note} {t.success:.0%}/{t.worst[1]:.0%}" for t in trials if t is not pick)


def renormalised(session, edit, reference, max_ratio: float = MAX_RENORM):
    """`edit` with its strengths scaled so that its step is as long as `reference`'s (InterFaceGAN
    normalises a conditioned direction the same way); the scale is capped at `max_ratio` and at
    the largest strength style codes can carry (`EditSession.strength_limit`)."""
    target = float(np.linalg.norm(session.delta(reference)))
    length = float(np.linalg.norm(session.delta(edit)))
    if length <= 0 or target <= 0:
        return edit
    largest = max(abs(x) for x in edit.strengths)
    ratio = min(target / length, max_ratio, session.strength_limit / largest)
    return edit.scaled(ratio)


def choose_keep(session, edit, measure, tolerance: float = TOLERANCE, max_conditions: int = 8) -> Choice:
    """Conditions for `edit`: tags (with a direction in the session's set) it moves, projected out.

    Starts from `edit` (its own `keep` included) and adds conditions greedily as the module
    docstring says. The edit's own tags are never conditions.
    """
    names = set(session.directions.names)
    own = set(t for t, _ in edit.terms)
    current = _measure(measure, edit, own)
    current.accepted, current.note = True, "the edit as asked"
    trials, tried = [current], set(own) | set(edit.keep)
    reason = f"stopped at {max_conditions} conditions"
    while len(current.edit.keep) - len(edit.keep) < max_conditions:
        moved = sorted(((r, t) for t, r in current.changes.items() if t not in tried and t in names and r > tolerance),
                       reverse=True)
        if not moved:
            reason = (f"no other tag with a direction moves in more than {tolerance:.0%} of the samples"
                      if len(trials) == 1 else f"no tag left that moves in more than {tolerance:.0%}")
            break
        accepted = None
        for r, tag in moved:
            tried.add(tag)
            conditioned = replace(current.edit, keep=current.edit.keep + (tag,))
            trial = _measure(measure, renormalised(session, conditioned, edit), own)
            trials.append(trial)
            effect = (f"success {current.success:.0%} -> {trial.success:.0%}, worst side effect "
                      f"{current.worst[1]:.0%} -> {trial.worst[1]:.0%}")
            if utility(trial) > utility(current):
                trial.accepted, trial.note = True, f"{tag} moved in {r:.0%}; kept: {effect}"
                accepted = trial
                break
            trial.note = f"{tag} moved in {r:.0%}; not kept: {effect}"
        if accepted is None:
            reason = "no further condition made the edit better"
            break
        current = accepted
    added = current.edit.keep[len(edit.keep):]
    summary = (f"kept {', '.join(added)}: " if added else "no condition kept: ") + reason
    return Choice("keep", current.edit, summary, trials)


def _layer_range(groups, name: str) -> tuple[int, ...] | None:
    """A LAYER_RANGES name -> W+ indices ("all": None, a plain edit; a union: its groups' layers)."""
    if name == "all":
        return None
    return tuple(sorted({i for part in name.split("+") for i in groups[part]}))


def choose_layers(session, edit, measure, ranges=LAYER_RANGES) -> Choice:
    """The W+ layer range of `edit` of highest utility (ties: the earlier range of `ranges`, "all" first).

    Ranges whose group is empty for this generator, or that repeat another's layers, are skipped.
    """
    own = set(t for t, _ in edit.terms)
    groups = layer_groups(session.layer_names)
    trials, seen = [], set()
    for name in ranges:
        idx = _layer_range(groups, name)
        if idx == () or idx in seen:
            continue
        seen.add(idx)
        trial = _measure(measure, replace(edit, layers=idx), own)
        trial.note = name
        trials.append(trial)
    if not trials:
        raise InputError("no W+ layer range to choose from")
    pick, others = _best(trials)
    reason = (f"layers {pick.note}: success {pick.success:.0%}, worst side effect {pick.worst[0]} {pick.worst[1]:.0%}; "
              f"others (success/worst): {others}")
    return Choice("layers", pick.edit, reason, trials)


def choose_strength(session, edit, measure, factors=STRENGTH_FACTORS) -> Choice:
    """The multiple of the edit's strengths of highest utility (ties: the first of `factors`).

    Multiples beyond what style codes can carry are skipped.
    """
    own = set(t for t, _ in edit.terms)
    limit = session.strength_limit
    trials = []
    for f in factors:
        if max(abs(s * f) for s in edit.strengths) > limit:
            continue
        trial = _measure(measure, edit.scaled(f), own)
        trial.note = f"x{f:g}"
        trials.append(trial)
    pick, others = _best(trials)
    reason = (f"strength {pick.note} ({', '.join(f'{s:.4g}' for s in pick.edit.strengths)}): success "
              f"{pick.success:.0%}, worst side effect {pick.worst[0]} {pick.worst[1]:.0%}; others: {others}")
    return Choice("strength", pick.edit, reason, trials)


def choose(session, edit, measure, keep: bool = False, layers: bool = False, strength: bool = False,
           tolerance: float = TOLERANCE) -> tuple[object, list]:
    """Layers, then conditions, then strength (each only when asked): (the chosen Edit, [Choice])."""
    choices = []
    if layers:
        choices.append(choose_layers(session, edit, measure))
        edit = choices[-1].edit
    if keep:
        choices.append(choose_keep(session, edit, measure, tolerance=tolerance))
        edit = choices[-1].edit
    if strength:
        choices.append(choose_strength(session, edit, measure))
        edit = choices[-1].edit
    return edit, choices


@dataclass
class PerSample:
    """`per_sample`'s result: per sample the multiple of the edit's strengths used, and what it gave."""

    factors: np.ndarray   # (N,) float
    reached: np.ndarray   # (N,) bool: the callback saw the target at that multiple
    codes: np.ndarray     # (N, D) or (N, L, D) edited codes
    images: np.ndarray    # (N, H, W, 3) uint8

    def to_dict(self) -> dict:
        return {"factors": [float(f) for f in self.factors], "reached": [bool(x) for x in self.reached],
                "reached_share": float(self.reached.mean()) if len(self.reached) else None}


def per_sample(session, content, codes, edit, reached, factors=PER_SAMPLE_FACTORS, before=None) -> PerSample:
    """Each sample at the smallest multiple of `edit`'s strengths at which it shows the target.

    reached(images, index) -> (n,) bool for uint8 images of the samples `index` (e.g. the tagger's
    score of the added tag >= 0.5). Multiples are tried in increasing order, each only on the samples not
    yet reached (a multiple 0 asks whether the unedited face shows it already); a sample never
    reached keeps the largest multiple. Multiples beyond what style codes can carry are skipped.
    `before`: the unedited decodes of all samples, if at hand (multiple 0 then decodes nothing).
    """
    codes = np.asarray(codes, np.float32)
    limit = session.strength_limit
    usable = [f for f in sorted(factors) if max(abs(s * f) for s in edit.strengths) <= limit]
    if not usable:
        raise InputError("no strength multiple within what style codes can carry")
    n = len(codes)
    out_f = np.full(n, usable[-1], np.float64)
    done = np.zeros(n, bool)
    images = edited = None
    for f in usable:
        todo = np.flatnonzero(~done)
        if not len(todo):
            break
        e = edit.scaled(f)
        x = session.apply(codes[todo], e)
        img = before[todo] if f == 0 and before is not None else session.render(content[todo], codes[todo], e)
        if images is None:
            images = np.zeros((n, *img.shape[1:]), np.uint8)
            edited = np.zeros((n, *x.shape[1:]), np.float32)
        images[todo], edited[todo] = img, x
        hit = np.asarray(reached(img, todo), bool)
        out_f[todo] = f
        done[todo[hit]] = True
    return PerSample(out_f, done, edited, images)


@dataclass
class Held:
    """`hold`'s result: per sample the correction added ({tag: signed strength}) and what it gave."""

    corrections: list     # (N,) dicts {tag: signed strength}, empty where nothing moved
    moved_before: list    # (N,) tuples of the tags that had moved before any correction
    moved_after: list     # (N,) tuples of the tags still moved after the last round
    codes: np.ndarray     # (N, D) or (N, L, D) edited and corrected codes
    images: np.ndarray    # (N, H, W, 3) uint8

    def to_dict(self) -> dict:
        n = len(self.corrections)
        return {"corrections": [{t: round(float(v), 4) for t, v in c.items()} for c in self.corrections],
                "moved_before": [list(m) for m in self.moved_before], "moved_after": [list(m) for m in self.moved_after],
                "moved_share_before": sum(bool(m) for m in self.moved_before) / n if n else None,
                "moved_share_after": sum(bool(m) for m in self.moved_after) / n if n else None}


def hold(session, content, edited, images, edit, moved, reached, factors=HOLD_FACTORS,
         rounds: int = HOLD_ROUNDS) -> Held:
    """Correct, sample by sample, the tags an edit moved (see the module docstring).

    edited, images: the edited codes and their decodes (e.g. a `PerSample`'s `.codes`, `.images`).
    moved(images, index) -> (n,) list of {tag: sign}: the tags with a direction in the session
    that the face of each sample `index` shows moved, and the sign (+1/-1) of the step along the
    tag's direction that moves it back. reached(images, index) -> (n,) bool as for `per_sample`.
    Each round, every sample with moved tags tries the multiples in increasing order of the
    default add strength, stepping +-f along each moved tag's direction with the edit's own
    directions projected out; it takes the first multiple at which nothing has moved and the
    target still shows, or else the one that leaves fewest tags moved (when fewer than before).
    """
    names = set(session.directions.names)
    own = tuple(dict.fromkeys(t for t, _ in edit.terms))
    unit = session.resolve(EditSpec(((own[0], None),))).strengths[0]
    codes, images = np.array(edited, np.float32), np.array(images, np.uint8)
    n = len(codes)
    index = np.arange(n)
    state = [dict(m) for m in moved(images, index)]
    first = [tuple(sorted(m)) for m in state]
    corrections = [{} for _ in range(n)]
    for _ in range(rounds):
        groups: dict = {}
        for i, m in enumerate(state):
            m = {t: s for t, s in m.items() if t in names and t not in own}
            if m:
                groups.setdefault(tuple(sorted(m.items())), []).append(i)
        if not groups:
            break
        for key, members in groups.items():
            members = np.asarray(members)
            best = {int(i): (len(key), None, None, None, None) for i in members}  # (moved, f, code, image, left)
            todo = members
            for f in sorted(factors):
                step = Edit(tuple((t, s * f * unit) for t, s in key), keep=own)
                x = session.apply(codes[todo], step)
                img = session.decode(content[todo], x)
                left = moved(img, todo)
                ok = np.asarray(reached(img, todo), bool)
                for j, i in enumerate(todo):
                    count = len(left[j]) if ok[j] else len(key) + 1
                    if count < best[int(i)][0]:
                        best[int(i)] = (count, f, x[j], img[j], left[j])
                todo = np.asarray([i for i in todo if best[int(i)][0] > 0])
                if not len(todo):
                    break
            for i in members:
                _, f, x, img, left = best[int(i)]
                if f is None:
                    state[i] = {}  # no multiple helped: leave the sample as it is
                    continue
                codes[i], images[i], state[i] = x, img, dict(left)
                for t, s in key:
                    corrections[i][t] = corrections[i].get(t, 0.0) + s * f * unit
    return Held(corrections, first, [tuple(sorted(m)) for m in moved(images, index)], codes, images)
