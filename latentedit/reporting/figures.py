"""Figures of the report as PNG bytes: re-scoring heatmaps, strength sweeps, image grids.

Edit grids are `faces.face_grid`: faces at 128 px, nearest-neighbour, labelled by method and edit.

matplotlib is used through its object API with the Agg canvas (no pyplot, no global backend
switch), so building a report never opens a window or touches the caller's matplotlib state.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .faces import face_grid

GRID_ROWS = 4  # samples shown per edit grid


def _canvas(width: float, height: float):
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def heatmap(values: np.ndarray, rows, columns, title: str, limit: float | None = None,
            std: np.ndarray | None = None) -> bytes:
    """A diverging heatmap of a (rows, columns) matrix centred on 0, every cell annotated."""
    values = np.asarray(values, np.float64)
    limit = limit or max(float(np.nanmax(np.abs(values))) if values.size else 0.0, 1e-6)
    fig = _canvas(1.3 + 1.25 * len(columns), 0.9 + 0.5 * len(rows))
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(columns)), [str(c) for c in columns], rotation=20, ha="right")
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            text = f"{values[i, j]:+.3f}" + (f"\n±{std[i, j]:.3f}" if std is not None else "")
            dark = abs(values[i, j]) > 0.6 * limit
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
    return _png(fig)


def sweep_plot(sweeps: dict) -> bytes:
    """Target vs off-target score change over edit strength: one panel per (method, edit).

    sweeps: {method: {edit: schema.Sweep}}; rows of panels are methods, columns edits.
    """
    methods = list(sweeps)
    edits = list(dict.fromkeys(e for m in methods for e in sweeps[m]))
    fig = _canvas(3.2 * max(len(edits), 1), 2.4 * max(len(methods), 1))
    for i, method in enumerate(methods):
        for j, edit in enumerate(edits):
            ax = fig.add_subplot(len(methods), len(edits), i * len(edits) + j + 1)
            s = sweeps[method].get(edit)
            if s is None:
                ax.set_axis_off()
                continue
            if s.target is not None:
                ax.plot(s.strengths, s.target_change, "o-", color="tab:red", label=f"target ({s.target})")
            ax.plot(s.strengths, s.off_target_change, "s--", color="tab:gray", label="off-target (mean |change|)")
            ax.axhline(0, color="black", lw=0.5)
            ax.set_title(f"{method}: {edit}", fontsize=9)
            ax.tick_params(labelsize=7)
            if i == len(methods) - 1:
                ax.set_xlabel("add strength (w distance)", fontsize=8)
            if j == 0:
                ax.set_ylabel("mean score change", fontsize=8)
            ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    return _png(fig)


def report_figures(report, before: np.ndarray | None, images: dict) -> dict:
    """{name: PNG bytes} of a `schema.Report`: heatmaps (one colour scale per source), edit grids, the sweep
    plot. before: the unedited images; images: {method: {edit name: (before, after)}}."""
    out = {}
    for key, label in (("rescore", "scorer"), ("ground_truth", "ground truth")):
        results = {m: getattr(r, key) for m, r in report.methods.items() if getattr(r, key) is not None}
        limit = max([float(np.max(np.abs(r.mean))) for r in results.values()] + [1e-6])
        for method, r in results.items():
            out[f"heatmap-{key}-{method}"] = heatmap(np.array(r.mean, np.float64), r.rows, r.columns,
                                                     f"{method}: mean change ({label})", limit, np.array(r.std, np.float64))
    for method, edits in images.items():
        columns = [before[:GRID_ROWS]] + [after[:GRID_ROWS] for _, after in edits.values()]
        out[f"grid-{method}"] = face_grid(columns, ["before", *[f"{method}: {name}" for name in edits]])
    sweeps = {m: r.sweeps for m, r in report.methods.items() if r.sweeps}
    if sweeps:
        out["sweeps"] = sweep_plot(sweeps)
    return out
