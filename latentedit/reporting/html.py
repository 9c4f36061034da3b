"""The report as one self-contained HTML page: inline CSS, images as base64 PNG data URIs.

The page needs no network and no other file: it can be mailed, archived or opened from disk.
`render(report, figures)` takes the `schema.Report` (what report.json holds) and the figures
({name: PNG bytes}) and returns the HTML text. Every number on the page is in report.json too.
"""

from __future__ import annotations

import html
import json

from .schema import Matrix, Report
from .verdict import img as _img, side_effects_html, verdict_html

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1500px; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 2em; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td.name, th.name { text-align: left; }
td.target { background: #fff3c4; font-weight: bold; }
.methods { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.method { border: 1px solid #ddd; padding: 6px 10px; border-radius: 6px; flex: 0 1 330px; }
.method img { width: 100%; } .grid { overflow-x: auto; } .grid img { max-width: none; }
.failed { color: #b00020; font-weight: bold; } .ok { color: #1b7f3b; } .skipped { color: #8a6d00; }
.note { color: #555; font-size: 13px; max-width: 1100px; }
.substitute { color: #8a4b00; font-style: italic; }
img { image-rendering: pixelated; max-width: 100%; }
.verdicts { display: flex; flex-direction: column; gap: 10px; }
.verdict { border: 2px solid #bbb; border-radius: 8px; padding: 6px 12px; display: flex; gap: 4px 18px;
           align-items: center; max-width: 1300px; flex-wrap: wrap; }
.verdict .command { flex: 1 0 100%; margin: 0 0 4px; font-size: 12px; color: #333; }
.verdict .command code { background: #f3f3f3; padding: 2px 6px; user-select: all; }
.verdict .text { flex: 0 0 440px; } .verdict h3 { margin: 2px 0; } .big { font-size: 15px; margin: 5px 0; }
img.strip { max-width: none; } td.bad { background: #fde2e2; }
.floor, .noise { font-size: 12px; color: #555; white-space: nowrap; } .noise { color: #8a6d00; font-weight: bold; }
.reliability { font-size: 13px; max-width: 1250px; margin: 4px 0 8px; }
pre { background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; }
"""


def _e(x) -> str:
    return html.escape(str(x))


def _num(x, fmt="{:+.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def _stage_table(stages: dict) -> str:
    rows = [f'<tr><td class="name">{_e(name)}</td><td class="name {s.status}">{_e(s.status)}</td>'
            f'<td>{_num(s.seconds, "{:.1f} s")}</td><td>{_num(s.cpu_seconds, "{:.1f} s")}</td>'
            f'<td class="name">{_e(s.error or "")}</td></tr>' for name, s in stages.items()]
    return ('<table class="stages"><tr><th class="name">stage</th><th class="name">status</th><th>wall time</th>'
            '<th>CPU time</th><th class="name">error</th></tr>' + "".join(rows) + "</table>")


TARGET = ' class="target"'


def matrix_table(result: Matrix, edits: dict, caption: str) -> str:
    """A re-scoring matrix: mean change ± std and flip fraction per (edit, attribute) cell."""
    cols = result.columns
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = []
    for i, row in enumerate(result.rows):
        e = edits.get(row)
        targets = {c for c in cols if e is not None and (c in e.add or c in e.sub)}
        cells = [f'<td{TARGET if c in targets else ""}>{result.mean[i][j]:+.3f}<br><small>± '
                 f"{result.std[i][j]:.3f}<br>{result.before[i][j]:.2f}→{result.after[i][j]:.2f}<br>"
                 f"flip {100 * result.flip[i][j]:.0f}%</small></td>" for j, c in enumerate(cols)]
        body.append(f'<tr><td class="name">{_e(row)}<br><small>n={result.n[i]}</small></td>{"".join(cells)}</tr>')
    identical = result.notes.get("identical_inputs")
    notes = f'<p class="failed">rows with byte-identical inputs: {_e(identical)}</p>' if identical else ""
    return (f'<table><caption>{_e(caption)}</caption><tr><th class="name">edit</th>{head}</tr>'
            + "".join(body) + "</table>" + notes)


def _methods_block(report: Report, figures: dict, key: str, source: str) -> str:
    parts = []
    for method in report.config.methods:
        r = report.methods.get(method)
        result = getattr(r, key) if r is not None else None
        inner = f"<h3>{_e(method)}</h3>"
        if result is None:
            inner += '<p class="failed">not computed (see stages)</p>'
        else:
            inner += matrix_table(result, r.edits, f"{method}, {source}")
            inner += _img(figures.get(f"heatmap-{key}-{method}"), f"{key} heatmap {method}")
        parts.append(f'<div class="method">{inner}</div>')
    return f'<div class="methods">{"".join(parts)}</div>'


def _agreement_table(report: Report) -> str:
    agreement = {m: r.agreement for m, r in report.methods.items() if r.agreement is not None}
    if not agreement:
        return '<p class="note">No ground truth for this run (only the demo world has one).</p>'
    cols = report.scorer.attributes
    rows = "".join(
        f'<tr><td class="name">{_e(m)}</td>' + "".join(f"<td>{100 * a.rates[c]:.1f}%</td>" for c in cols)
        + f"<td>{a.n}</td></tr>" for m, a in agreement.items())
    return ('<table><caption>classifier (score ≥ 0.5) agreeing with the ground truth on the decoded images '
            'before and after every edit</caption><tr><th class="name">method</th>'
            + "".join(f"<th>{_e(c)}</th>" for c in cols) + "<th>images</th></tr>" + rows + "</table>")


def _metrics_table(metrics) -> str:
    rows = metrics.rows
    if not rows:
        return '<p class="failed">no metrics computed (see stages)</p>'
    names = list(dict.fromkeys(r.metric for r in rows))
    keyed = {(r.method, r.edit, r.metric): r for r in rows}
    head = "".join(f'<th class="{"" if any(r.standard for r in rows if r.metric == n) else "substitute"}">'
                   f"{_e(n)}</th>" for n in names)
    body = []
    for method, edit in dict.fromkeys((r.method, r.edit) for r in rows):
        cells = []
        for n in names:
            r = keyed.get((method, edit, n))
            if r is None or not r.computed:
                cells.append(f'<td title="{_e("" if r is None else r.note)}">not computed</td>')
            else:
                cells.append(f"<td>{r.value:.4f}</td>")
        body.append(f'<tr><td class="name">{_e(method)}</td><td class="name">{_e(edit)}</td>{"".join(cells)}</tr>')
    notes = "".join(f"<li>{_e(n)}</li>" for n in metrics.notes)
    status = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in metrics.status.items())
    return (f'<table><tr><th class="name">method</th><th class="name">edit</th>{head}</tr>{"".join(body)}</table>'
            f'<p class="note">Standard metrics here:</p><ul class="note">{status}</ul><ul class="note">{notes}</ul>')


def render(report: Report, figures: dict) -> str:
    """The whole page."""
    cfg, scorer = report.config, report.scorer
    held = (scorer.metrics or {}).get("held_out", {}) if scorer is not None else {}
    held_rows = "".join(f'<tr><td class="name">{_e(a)}</td><td>{100 * m["accuracy"]:.1f}%</td>'
                        f'<td>{m["auc"]:.3f}</td><td>{m["n"]}</td></tr>' for a, m in held.items())
    grids = "".join(f'<div class="grid"><h3>{_e(m)}</h3>{_img(figures.get(f"grid-{m}"), f"edit grid {m}")}</div>'
                    for m in cfg.methods)
    partial = list(report.failed)
    banner = (f'<p class="failed">Partial report: {len(partial)} stage(s) failed ({_e(", ".join(partial))}); '
              "their sections are marked.</p>") if partial else ""
    settings = {"config": cfg.model_dump(mode="json"), "versions": report.versions,
                **{k: {m: v for m, r in report.methods.items() if (v := getattr(r, k))} for k in ("directions", "edits")}}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>latentedit report</title>
<style>{STYLE}</style></head><body>
<h1>latentedit report: {_e(cfg.run)}</h1>
<p class="note">Generator {_e(report.generator)}; methods {_e(", ".join(cfg.methods))};
{_e(cfg.samples)} samples; seed {_e(cfg.seed)}; built in {_num(report.seconds, "{:.0f} s")}.</p>
{banner}
<h2 id="verdict">Verdict: does each edit change only what it says?</h2>
{verdict_html(report, figures)}

<h2 id="side-effects">Side effects on every attribute</h2>
{side_effects_html(report)}

<h2 id="rescore">Re-scoring: classifier</h2>
<p class="note">Rows: edits (named by the edit itself: +added -subtracted tag); columns: the scorer's attributes.
Each cell: mean score change (after - before) over the samples; below, its std, the mean score
before → after, and the fraction of samples whose thresholded attribute (score ≥ 0.5) flips. Highlighted: the edit's own tags
(+tag should rise, -tag should fall); the other cells should stay near 0.</p>
{_methods_block(report, figures, "rescore", "scorer")}
<h3>The scorer</h3>
<p class="note">{_e(scorer.describe if scorer is not None else "")}</p>
<table><caption>held-out accuracy of the scorer on its own data</caption>
<tr><th class="name">attribute</th><th>accuracy</th><th>AUC</th><th>n</th></tr>{held_rows}</table>

<h2 id="truth">Re-scoring: ground truth (demo world)</h2>
<p class="note">{_e(report.ground_truth_readout or "")}</p>
{_methods_block(report, figures, "ground_truth", "ground truth")}
{_agreement_table(report)}

<h2 id="grids">Edit grids</h2><div class="methods">{grids}</div>

<h2 id="sweeps">Strength sweeps</h2>
<p class="note">Mean score change (scorer) of the edit's target attribute and mean absolute change of the other
attributes, as the add strength grows (the sub strength follows at the method's default ratio).</p>
{_img(figures.get("sweeps"), "strength sweeps")}

<h2 id="metrics">FID / DFID / LPIPS diversity</h2>
{_metrics_table(report.metrics)}

<h2 id="stages">Stages and timings</h2>{_stage_table(report.stages)}

<h2 id="config">Configuration and versions</h2>
<pre>{_e(json.dumps(settings, indent=2, sort_keys=True, default=lambda m: m.model_dump(mode="json")))}</pre>
<p class="note">Every number of this page is in report.json and the CSV files next to it.</p>
</body></html>
"""
