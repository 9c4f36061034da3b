"""The report's first screen and its side-effect tables: HTML, strips of faces, CSV.

- `verdict_html(report, figures)`: per edit, the best method or mode, its success among the
  samples that could change and its worst side effect, whether the goal is met (or by how much
  it is missed), the `latentedit edit` command that makes it, and a before/after strip of a few faces (`faces.face_strip`: 128 px, nearest-
  neighbour, so no pixel is blurred).
- `side_effects_html(report)`: the side-effect table of every method and source, and the modes.
The CSV files of the verdict and the side-effect tables are `pipeline.verdict.report_csvs`.
"""

from __future__ import annotations

import html
import re

import numpy as np

from .faces import face_strip

__all__ = ["STRIP_FACES", "strip_name", "verdict_figures", "verdict_html", "side_effects_html"]

STRIP_FACES = 6  # faces per strip, 128 px each


def _e(x) -> str:
    return html.escape(str(x))


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def strip_name(edit: str) -> str:
    """The figure name of an edit's before/after strip: 'strip-long_hair_short_hair'."""
    return "strip-" + (re.sub(r"[^A-Za-z0-9]+", "_", edit).strip("_") or "edit")


def verdict_figures(verdict: dict, before: np.ndarray, images_of) -> dict:
    """{strip_name(edit): PNG} per verdict edit; images_of(name, best) -> the best candidate's after images."""
    return {strip_name(name): face_strip(before, images_of(name, v["best"]), STRIP_FACES) for name, v in verdict.items()}


def _img(png, alt: str) -> str:
    import base64

    if not png:
        return f'<p class="failed">figure {_e(alt)} not available</p>'
    return (f'<img class="strip" alt="{_e(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode("ascii")}">')


def _command(command) -> str:
    """The line that makes the best edit on the user's run (older reports have none)."""
    return f'<p class="command">make it: <code>{_e(command)}</code></p>' if command else ""


def verdict_html(report: dict, figures: dict) -> str:
    """The first screen: one card per edit."""
    verdict = report.get("verdict") or {}
    if not verdict:
        return '<p class="failed">No verdict: the side-effect stages did not run (see the stages at the end).</p>'
    goal = report.get("goal", {})
    cards = []
    for name, v in verdict.items():
        best, worst = v["best"], v["worst"]
        if v["goal_met"]:
            status = '<span class="ok">goal met</span>'
        else:
            miss = v["missed_by"]
            parts = ([f"success {_pct(miss['success'])} short"] if miss["success"] else []) + (
                [f"side effect {_pct(miss['side_effect'])} over"] if miss["side_effect"] else [])
            status = f'<span class="failed">goal missed: {_e(", ".join(parts))}</span>'
        mode = "" if best["mode"] == "thesis" else f" + {_e(best['mode'])}"
        cards.append(
            f'<div class="verdict"><div class="text"><h3>{_e(name)}</h3>'
            f'<p class="big">best: <b>{_e(best["method"])}{mode}</b><br><small>{_e(best["label"])}</small></p>'
            f'<p class="big">success <b>{_pct(v["success"]["rate"])}</b> of {v["success"]["n"]} that could change'
            f'<br>worst side effect <b>{_e(worst["attribute"] or "none")} {_pct(worst["rate"])}</b> of all samples'
            f'<br>{status}</p><p class="note">faces: before (top), after (bottom)</p></div>'
            f'{_img(figures.get(strip_name(name)), f"before and after: {name}")}{_command(best.get("command"))}</div>')
    return (f'<p class="note">Per edit, the best of every method as the thesis edits and of latentedit\'s modes, '
            f'measured on {_e(report.get("config", {}).get("samples"))} fresh samples by the '
            f'{_e(next(iter(verdict.values()))["source"])}. Goal: success ≥ {_pct(goal.get("success"))} of the samples '
            f'that could change, every other attribute changed in ≤ {_pct(goal.get("side_effect"))}.</p>'
            f'<div class="verdicts">{"".join(cards)}</div>')


def _table_html(table: dict, caption: str) -> str:
    cols = [a for a in table["attributes"]]
    head = "".join(f"<th>{_e(a)}</th>" for a in cols)
    body = []
    for r in table["rows"]:
        cells = []
        for a in cols:
            if a == r["target"]:
                s = r["success"]
                cells.append(f'<td class="target">{_pct(s["rate"])}<br><small>of {s["n"]} could change'
                             f'<br>all: {_pct(r["target_changed"]["rate"])}</small></td>')
            elif a in r["changes"]:
                c = r["changes"][a]
                cls = ' class="bad"' if c["rate"] and c["rate"] > 0.03 else ""
                cells.append(f'<td{cls}>{_pct(c["rate"])}<br><small>± {_pct(c["std"])} · n={c["n"]}</small></td>')
            else:
                cells.append("<td>–</td>")
        worst = r["worst"]
        body.append(f'<tr><td class="name">{_e(r["edit"])}</td>{"".join(cells)}'
                    f'<td>{_e(worst["attribute"] or "–")} {_pct(worst["rate"])}</td></tr>')
    return (f'<table><caption>{_e(caption)}</caption><tr><th class="name">edit</th>{head}<th>worst</th></tr>'
            + "".join(body) + "</table>")


def side_effects_html(report: dict) -> str:
    """Every side-effect table (method x source), then the modes' rows."""
    parts = ['<p class="note">Highlighted: the target, as the share of the samples that could change (did not show '
             'it before) that show it after, and below it the share of all samples whose target changed. Other '
             'columns: share of all samples whose value changed (± spread over samples, sample count); red above '
             '3%. Ground truth: every attribute of the demo world read off the pixels; tagger tags and re-scorer: '
             'their scores thresholded at 0.5.</p>']
    for method, tables in report.get("side_effects", {}).items():
        for source, table in tables.items():
            parts.append(_table_html(table, f"{method}: {source}"))
    modes = report.get("modes") or {}
    for name, m in modes.items():
        rows = []
        for mode, r in m["rows"].items():
            t = r["tables"].get(m["source"])
            if t is None:
                continue
            other = r.get("method", m["method"]) != m["method"]  # a z mode on Z_METHOD
            label = f'{mode} ({r["method"]})' if other else mode
            rows.append(f'<tr><td class="name">{_e(label)}</td><td class="name">{_e(r["label"])}</td>'
                        f'<td>{_pct(t["success"]["rate"] if t["success"] else None)}</td>'
                        f'<td>{_e(t["worst"]["attribute"] or "–")} {_pct(t["worst"]["rate"])}</td>'
                        f'<td class="name"><small>{_e("; ".join(c["reason"] for c in r["choices"]))}</small></td></tr>')
        parts.append(f'<table><caption>{_e(name)}: modes on {_e(m["method"])} ({_e(m["source"])})</caption>'
                     '<tr><th class="name">mode</th><th class="name">chosen edit</th><th>success</th><th>worst</th>'
                     '<th class="name">why (measured with the tagger on the run\'s samples)</th></tr>'
                     + "".join(rows) + "</table>")
    return "".join(parts)
