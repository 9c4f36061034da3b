"""The report's verdict: choosing the best way to make each edit, and presenting it (HTML, CSV).

`MODES`: the modes the report measures (`pipeline.modes` runs them; adding one is a line here).
`verdicts(report)`: per edit, the best method (as the thesis edits) or mode, whether it meets the
goal, and the `latentedit edit` command that makes it. `verdict_html`: the first screen, one card
and a before/after strip (128 px, nearest-neighbour) per edit; `side_effects_html`, `verdict_csv`.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import shlex
from dataclasses import dataclass

import numpy as np

from ..editing.auto import AutoOptions
from .faces import face_strip
from .schema import Candidate, EffectRow, Miss, Report, Verdict

GOAL_SUCCESS, GOAL_SIDE = 0.95, 0.03
STRIP_FACES = 6  # faces per strip, 128 px each
STRIP = ' class="strip"'


@dataclass(frozen=True)
class Mode(AutoOptions):
    """`latentedit edit` with these `AutoOptions`, on codes in `space`."""

    space: str = "w"

    @property
    def flags(self) -> list[str]:
        return (["--space", "z"] if self.space == "z" else []) + super().flags


THESIS = Mode()  # the pair edit at the method's default strengths, every layer
# Measured for the verdict, each on the method that did best as the thesis edits. "in z" edits the
# 8-d style code before the mapping network: on the demo world the best mode of +open_mouth
# -closed_mouth (benchmarks/bench_disentangle.py --space w,z).
MODES = {"layers+keep auto": Mode(layers=True, keep=True),
         "layers+keep auto, per sample": Mode(layers=True, keep=True, per_sample=True),
         "layers+keep auto, per sample, hold": Mode(layers=True, keep=True, per_sample=True, hold=True),
         "keep auto, per sample, in z": Mode(space="z", keep=True, per_sample=True)}


def mode_command(run, add, sub, method: str, mode: Mode, seed: int = 0) -> str:
    """The `latentedit edit` command line that makes the edit +add -sub with `method` in `mode`. `--layers
    auto` and `--keep auto` measure on the run's samples picked with the seed, as the report's modes do."""
    parts = ["latentedit", "edit", str(run or "RUN"), *[x for t in add for x in ("--add", t)],
             *[x for t in sub for x in ("--sub", t)], "--method", method, *mode.flags]
    parts += ["--seed", str(seed)] if seed and mode.flags else []
    return " ".join(shlex.quote(p) for p in parts)


def faces_flags(config) -> str:
    """' --inputs DIR --inputs-seed S': the report's own faces (selfies and styles of its batch) for a
    `latentedit edit` line; '' for a report that did not write them."""
    if config.faces is None:
        return ""
    return f" --inputs {shlex.quote(config.faces)} --inputs-seed {config.faces_seed}"


def best_source(report: Report) -> str:
    """"ground truth" when the run has it, else "tagger tags"."""
    return "ground truth" if any("ground truth" in r.side_effects for r in report.methods.values()) else "tagger tags"


def _score(row: EffectRow | None) -> tuple:
    """Ranking of a side-effect row: goal met first, then success minus worst side effect."""
    success = row.success.rate if row is not None and row.success else None
    worst = (row.worst.rate if row is not None else None) or 0.0
    if success is None:
        return (False, -1.0, -worst)
    return (success >= GOAL_SUCCESS and worst <= GOAL_SIDE, success - worst, -worst)


def ranked_methods(report: Report, source: str, name: str) -> list[str]:
    """The methods with a `source` table, best thesis edit `name` first."""
    tables = {m: r.side_effects[source] for m, r in report.methods.items() if source in r.side_effects}
    return sorted(tables, key=lambda m: _score(tables[m].row(name)), reverse=True)


def verdicts(report: Report) -> dict[str, Verdict]:
    """Per edit: every candidate (method as the thesis edits, or method + mode) and the best one."""
    source, out, faces = best_source(report), {}, faces_flags(report.config)
    for name in dict.fromkeys(n for r in report.methods.values() for n in r.edits):
        found = []
        for method, r in report.methods.items():
            if source in r.side_effects:
                e = r.edits.get(name)
                command = None if e is None else mode_command(report.config.run, e.add, e.sub, method, THESIS) + faces
                found.append((method, "thesis", name, command, r.side_effects[source].row(name)))
        modes = report.modes.get(name)
        found += [(r.method, mode, r.label, r.command + faces, r.tables[source])
                  for mode, r in (modes.rows.items() if modes else ()) if source in r.tables]
        found = [(Candidate(method=m, mode=mode, label=label, command=command, success=row.success.rate,
                            worst=row.worst, any_change=row.any_change), row)
                 for m, mode, label, command, row in found if row and row.success]
        if not found:
            continue
        best, row = max(found, key=lambda c: _score(c[1]))
        out[name] = Verdict(source=source, best=best, success=row.success, worst=row.worst, goal_met=_score(row)[0],
                            missed_by=Miss(success=round(max(0.0, GOAL_SUCCESS - row.success.rate), 6),
                                           side_effect=round(max(0.0, (row.worst.rate or 0.0) - GOAL_SIDE), 6)),
                            candidates=[c for c, _ in found], effects=row)
    return out


def csv_text(header, rows) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue()


def verdict_csv(report: Report) -> dict:
    """{"verdict.csv": per edit, every candidate with its success and worst side effect, the best marked}."""
    rows = []
    for name, v in report.verdict.items():
        for c in v.candidates:
            best = c.method == v.best.method and c.mode == v.best.mode
            rows.append([name, c.method, c.mode, c.label, f"{c.success:.6f}", c.worst.attribute or "",
                         "" if c.worst.rate is None else f"{c.worst.rate:.6f}", int(best), int(best and v.goal_met),
                         "" if c.any_change is None else f"{c.any_change.rate:.6f}"])
    header = ["edit", "method", "mode", "chosen", "success", "worst_attribute", "worst_rate", "best", "goal_met",
              "any_change"]
    return {"verdict.csv": csv_text(header, rows)} if rows else {}


def _e(x) -> str:
    return html.escape(str(x))


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _ci(r) -> str:
    """'[lo–hi]' of a Rate's 95% interval, in percent."""
    lo, hi = r.ci95
    return "" if lo is None else f"[{100 * lo:.0f}–{100 * hi:.0f}%]"


def _floor(row: EffectRow | None, attribute: str) -> str:
    """' floor F%' of a row's null-edit control (attribute, or "any"), marked when the rate is not above it."""
    f = None if row is None else (row.floor_any if attribute == "any" else row.floor.get(attribute))
    if f is None:
        return ""
    above = row.above_floor(attribute)
    return (f' <span class="{"floor" if above else "noise"}" title="null edit: random steps of the edit\'s length '
            f'orthogonal to its directions, {f.n} reads">floor {_pct(f.rate)}{"" if above else " ≈ noise"}</span>')


def _drift(row: EffectRow | None) -> str:
    """'hair 2.1/6.0 · eyes ...': median / 90th percentile CIELAB deltaE per region."""
    if row is None or not row.drift:
        return ""
    return " · ".join(f"{k} {_f1(d.median)}/{_f1(d.p90)}" for k, d in row.drift.items())


def _f1(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def reliability_html(report: Report) -> str:
    """One line: per attribute, how often the reader agrees with the code's truth on the unedited faces."""
    if not report.reliability:
        return ""
    parts = [f"{_e(a.replace('_class', '').replace('_', ' '))} <b>{_pct(r.rate)}</b>"
             for a, r in report.reliability.items()]
    n = max(r.n for r in report.reliability.values())
    return (f'<p class="reliability">Reader reliability, agreement with the true attributes of the {n} unedited faces '
            f'(what every rate is read against): {" · ".join(parts)}. Floor: the same edit with random steps of its '
            f'length orthogonal to its directions, {report.config.null_draws} random directions, face by face in turn); "≈ noise": not above it '
            f'(95% intervals overlap).</p>')


def strip_name(edit: str) -> str:
    """The figure name of an edit's before/after strip: 'strip-long_hair_short_hair'."""
    return "strip-" + (re.sub(r"[^A-Za-z0-9]+", "_", edit).strip("_") or "edit")


def verdict_figures(verdict: dict[str, Verdict], before: np.ndarray, images_of) -> dict:
    """{strip_name(edit): PNG} per verdict edit; images_of(name, best) -> the best candidate's after images."""
    return {strip_name(name): face_strip(before, images_of(name, v.best), STRIP_FACES) for name, v in verdict.items()}


def img(png, alt: str, cls: str = "") -> str:
    """An <img> with the PNG inline as a data URI (or a marked note that the figure is missing)."""
    if not png:
        return f'<p class="failed">figure {_e(alt)} not available</p>'
    return f'<img{cls} alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def verdict_html(report: Report, figures: dict) -> str:
    """The first screen: one card per edit."""
    if not report.verdict:
        return '<p class="failed">No verdict: the side-effect stages did not run (see the stages at the end).</p>'
    cards = []
    for name, v in report.verdict.items():
        best, miss = v.best, v.missed_by
        parts = ([f"success {_pct(miss.success)} short"] if miss.success else []) + (
            [f"side effect {_pct(miss.side_effect)} over"] if miss.side_effect else [])
        status = ('<span class="ok">goal met</span>' if v.goal_met
                  else f'<span class="failed">goal missed: {_e(", ".join(parts))}</span>')
        mode = "" if best.mode == "thesis" else f" + {_e(best.mode)}"
        command = f'<p class="command">make it: <code>{_e(best.command)}</code></p>' if best.command else ""
        row = v.effects
        worst = row.changes.get(v.worst.attribute) if row is not None and v.worst.attribute else None
        anything = "" if row is None or row.any_change is None else (
            f'<br>anything else changed <b>{_pct(row.any_change.rate)}</b> <small>{_ci(row.any_change)}</small>'
            f'{_floor(row, "any")}')
        drift = _drift(row)
        cards.append(
            f'<div class="verdict"><div class="text"><h3>{_e(name)}</h3>'
            f'<p class="big">best: <b>{_e(best.method)}{mode}</b><br><small>{_e(best.label)}</small></p>'
            f'<p class="big">success <b>{_pct(v.success.rate)}</b> of {v.success.n} that could change'
            f'<br>worst side effect <b>{_e(v.worst.attribute or "none")} {_pct(v.worst.rate)}</b>'
            f' <small>{"" if worst is None else _ci(worst)}</small>{_floor(row, v.worst.attribute or "")}'
            f'{anything}<br>{status}</p>'
            + (f'<p class="note">colour drift ΔE median/p90: {drift}</p>' if drift else "")
            + f'</div>{img(figures.get(strip_name(name)), f"before and after: {name}", STRIP)}{command}</div>')
    goal = report.goal
    return (f'<p class="note">Per edit, the best of every method as the thesis edits and of latentedit\'s modes, '
            f'measured on {_e(report.config.samples)} fresh samples by the '
            f'{_e(next(iter(report.verdict.values())).source)}. Goal: success ≥ {_pct(goal and goal.success)} of the '
            f'samples that could change, every other attribute changed in ≤ {_pct(goal and goal.side_effect)}. '
            f'Faces: before (top), after (bottom).</p>{reliability_html(report)}'
            f'<div class="verdicts">{"".join(cards)}</div>')


def _table_html(table, caption: str) -> str:
    drift = any(r.drift for r in table.rows)
    head = "".join(f"<th>{_e(a)}</th>" for a in table.attributes)
    body = []
    for r in table.rows:
        cells = []
        for a in table.attributes:
            if a == r.target:
                cells.append(f'<td class="target">{_pct(r.success.rate)}<br><small>of {r.success.n} could change'
                             f'<br>all: {_pct(r.target_changed.rate)}</small></td>')
            elif a in r.changes:
                c = r.changes[a]
                cls = ' class="bad"' if c.rate and c.rate > 0.03 else ""
                cells.append(f'<td{cls}>{_pct(c.rate)}<br><small>± {_pct(c.std)} · n={c.n}</small>{_floor(r, a)}</td>')
            else:
                cells.append("<td>–</td>")
        extra = any_cell(r) + (f'<td><small>{_drift(r)}</small></td>' if drift else "")
        body.append(f'<tr><td class="name">{_e(r.edit)}</td>{"".join(cells)}'
                    f'<td>{_e(r.worst.attribute or "–")} {_pct(r.worst.rate)}</td>{extra}</tr>')
    return (f'<table><caption>{_e(caption)}</caption><tr><th class="name">edit</th>{head}<th>worst</th>'
            f'<th>any other changed</th>{"<th>colour drift ΔE median/p90</th>" if drift else ""}</tr>'
            + "".join(body) + "</table>")


def any_cell(r: EffectRow) -> str:
    """A cell of the share of samples on which any other attribute changed, its interval and floor."""
    if r.any_change is None:
        return "<td>–</td>"
    return f'<td>{_pct(r.any_change.rate)}<br><small>{_ci(r.any_change)}</small>{_floor(r, "any")}</td>'


def side_effects_html(report: Report) -> str:
    """Every side-effect table (method x source), then the modes' rows."""
    parts = ['<p class="note">Highlighted: the target, as the share of the samples that could change (did not show '
             'it before) that show it after, and below it the share of all samples whose target changed. Other '
             'columns: share of all samples whose value changed (± spread over samples, sample count); red above '
             '3%. Ground truth: every attribute of the demo world read off the pixels; tagger tags and re-scorer: '
             'their scores thresholded at 0.5. Any other changed: share of all samples on which any attribute but '
             'the target changed [95% interval]. Floor (ground truth): the change rate of the same procedure along '
             'random steps of the edit\'s length orthogonal to its directions (noise, not the edit); "≈ noise": the '
             'rate\'s 95% interval overlaps the floor\'s. Colour drift: CIELAB ΔE of the pixels showing only the hair, '
             'the irises, the background, median / 90th percentile over faces.</p>']
    parts += [_table_html(table, f"{method}: {source}") for method, r in report.methods.items()
              for source, table in r.side_effects.items()]
    for name, m in report.modes.items():
        rows = []
        for mode, r in m.rows.items():
            t = r.tables.get(m.source)
            if t is None:
                continue
            label = f"{mode} ({r.method})" if r.method != m.method else mode  # a z mode on another method
            rows.append(f'<tr><td class="name">{_e(label)}</td><td class="name">{_e(r.label)}</td>'
                        f'<td>{_pct(t.success.rate if t.success else None)}</td>'
                        f'<td>{_e(t.worst.attribute or "–")} {_pct(t.worst.rate)}'
                        f'{_floor(t, t.worst.attribute or "")}</td>{any_cell(t)}<td><small>{_drift(t)}</small></td>'
                        f'<td class="name"><small>{_e("; ".join(c["reason"] for c in r.choices))}</small></td></tr>')
        parts.append(f'<table><caption>{_e(name)}: modes on {_e(m.method)} ({_e(m.source)})</caption>'
                     '<tr><th class="name">mode</th><th class="name">chosen edit</th><th>success</th><th>worst</th>'
                     '<th>any other changed</th><th>colour drift ΔE median/p90</th>'
                     '<th class="name">why (measured with the tagger on the run\'s samples)</th></tr>'
                     + "".join(rows) + "</table>")
    return "".join(parts)
