"""`latentedit report`: re-scoring matrices, metrics and edit grids as a self-contained HTML page."""

from pathlib import Path
from typing import Optional

import typer

from latentedit.report import DEFAULT_METHODS, DEFAULT_PAIRS, format_pairs, report as build_report


def report(
    run: Path = typer.Argument(Path("runs/demo"), help="Run directory (directions are fitted into it if missing)."),
    methods: str = typer.Option(",".join(DEFAULT_METHODS), help="Comma-separated methods to compare."),
    pairs: str = typer.Option(format_pairs(DEFAULT_PAIRS), help="ADD:SUB edits, comma-separated (SUB optional)."),
    samples: int = typer.Option(100, help="Edited samples per edit (re-scoring, FID)."),
    scorer: str = typer.Option("demo", help="Scorer file from train-scorer, or demo."),
    reference: Optional[Path] = typer.Option(None, help="Folder of anime images for FID (demo world: renders)."),
    tagger: str = typer.Option("demo", help="Tagger for untagged runs and for naming sefa directions."),
    seed: int = typer.Option(0, help="Seed of the evaluation selfies and styles."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default RUN/report)."),
):
    """Fit missing directions, edit, re-score, measure FID/DFID/LPIPS, and write RUN/report/index.html."""
    index = build_report(run, methods=methods, pairs=pairs, samples=samples, scorer=scorer, reference=reference,
                         tagger=tagger, seed=seed, out=out)
    import json

    doc = json.loads((index.parent / "report.json").read_text())
    failed = {k: v for k, v in doc["stages"].items() if v["status"] == "failed"}
    for name, s in failed.items():
        typer.secho(f"failed     {name}: {s['error']}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"report     {index} ({doc['seconds']:.0f} s{', partial' if failed else ''})")
    typer.echo(f"data       {index.parent}/report.json and CSV files")
