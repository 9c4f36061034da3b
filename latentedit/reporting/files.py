"""The files of a report folder, as {relative path: text or bytes} (written by `store.write_folder`).

    index.html                  the self-contained page (`html.render`)
    report.json                 every number of the page (`schema.Report`; NaN and infinities as null)
    rescore-<m>.csv, ground-truth-<m>.csv   re-scoring matrices, long format (given as `tables`)
    side-effects.csv            every side-effect row of every method, source and mode (given as `tables`)
    verdict.csv                 every candidate of every edit, the best marked (`verdict.verdict_csv`)
    metrics.csv, sweeps.csv     FID / DFID / LPIPS rows; score change per sweep strength
    figures/<name>.png          heatmaps, edit grids, the sweep plot
"""

from __future__ import annotations

from . import html
from .schema import Report
from .verdict import csv_text, verdict_csv


def metrics_csv(report: Report) -> str:
    rows = [[r.method, r.edit, r.metric, r.standard, r.computed, "" if r.value is None else f"{r.value:.6f}",
             r.n, r.note] for r in report.metrics.rows]
    return csv_text(["method", "edit", "metric", "standard", "computed", "value", "n", "note"], rows)


def sweeps_csv(report: Report) -> str:
    rows = [[method, name, f"{strength:.6g}", a, f"{values[i]:.6f}"]
            for method, r in report.methods.items() for name, s in r.sweeps.items()
            for i, strength in enumerate(s.strengths) for a, values in s.per_attribute.items()]
    return csv_text(["method", "edit", "strength", "attribute", "mean_change"], rows)


def report_files(report: Report, figures: dict, tables: dict) -> dict:
    """Every file of the report folder of `report`, its figures and the CSV tables of the pipeline."""
    return {
        **tables,
        **verdict_csv(report),
        "metrics.csv": metrics_csv(report),
        "sweeps.csv": sweeps_csv(report),
        **{f"figures/{name}.png": png for name, png in figures.items()},
        "report.json": report.to_json(),
        "index.html": html.render(report, figures),
    }
