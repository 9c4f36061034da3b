"""`latentedit fit-directions`: one semantic direction per tag (or per SeFa/PCA component)."""

from pathlib import Path
from typing import List, Optional

import typer

from latentedit.pipeline.fit import ensure_directions
from latentedit.terminal import printable_lines


def fit_directions(
    run: Path = typer.Argument(Path("runs/demo"), help="Run directory (tagged first if it has no tags)."),
    method: str = typer.Option("svd", help="linear | lasso | svd | sefa | svm | pca"),
    space: str = typer.Option("w", help="w (default) or z."),
    tags: Optional[List[str]] = typer.Option(None, "--tags", help="Fit only these tags (repeat the option)."),
    tagger: str = typer.Option("demo", help="'demo', 'demo-wd14', a DeepDanbooru project or a WD14 tagger folder, used if the run is untagged."),
    min_count: Optional[int] = typer.Option(None, help="Keep tags in more than this many samples (default: n*100/10200)."),
    max_count: Optional[int] = typer.Option(None, help="Keep tags in fewer than this many samples (default: n - min; thesis: n/3)."),
    out: Optional[Path] = typer.Option(None, help="Also write the direction file here."),
):
    """Fit directions and print a table of the fitted tags with their statistics."""
    bounds = {k: v for k, v in (("min_count", min_count), ("max_count", max_count)) if v is not None}
    ds, path = ensure_directions(run, method, space, tags=tags or None, tagger=tagger, refit=True, only=True, **bounds)
    if out is not None:
        ds.save(out)
        path = out
    typer.echo(printable_lines(ds.table(tags)))  # tag names come from the tagger's tags.txt
    typer.echo(f"\n{len(ds.names)} {method} directions in {space} space -> {path}")
