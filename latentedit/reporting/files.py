"""The files of a report folder, as {relative path: text or bytes} (written by `store.write_folder`).

    index.html                  the self-contained page (`html.render`)
    report.json                 every number of the page (NaN and infinities as null)
    rescore-<m>.csv, ground-truth-<m>.csv   re-scoring matrices, long format (given as `tables`)
    metrics.csv, sweeps.csv     FID / DFID / LPIPS rows; score change per sweep strength
    figures/<name>.png          heatmaps, edit grids, the sweep plot
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from . import html


def _csv(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def metrics_csv(metrics: dict) -> str:
    rows = [[r["method"], r["edit"], r["metric"], r["standard"], r["computed"],
             "" if r["value"] is None else f"{r['value']:.6f}", r["n"], r["note"]] for r in metrics["rows"]]
    return _csv(["method", "edit", "metric", "standard", "computed", "value", "n", "note"], rows)


def sweeps_csv(sweeps: dict) -> str:
    rows = [[method, name, f"{strength:.6g}", a, f"{values[i]:.6f}"]
            for method, edits in sweeps.items() for name, s in edits.items()
            for i, strength in enumerate(s["strengths"]) for a, values in s["per_attribute"].items()]
    return _csv(["method", "edit", "strength", "attribute", "mean_change"], rows)


def report_files(doc: dict, figures: dict, tables: dict) -> dict:
    """Every file of the report folder of `doc` (the report.json dict), its figures and CSV tables."""
    clean = finite(doc)
    return {
        **tables,
        "metrics.csv": metrics_csv(doc["metrics"]),
        "sweeps.csv": sweeps_csv(doc["sweeps"]),
        **{f"figures/{name}.png": png for name, png in figures.items()},
        "report.json": json.dumps(clean, indent=2, sort_keys=True) + "\n",
        "index.html": html.render(clean, figures),
    }


def finite(x):
    """JSON-safe copy: NaN and infinities become None."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.generic):
        return finite(x.item())
    return x
