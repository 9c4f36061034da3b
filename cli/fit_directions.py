"""`latentedit fit-directions`: one semantic direction per tag (or per SeFa/PCA component)."""

from pathlib import Path
from typing import List, Optional

import typer

from latentedit.stages import ensure_directions


def fit_directions(
    run: Path = typer.Argument(Path("runs/demo"), help="Run directory (tagged first if it has no tags)."),
    method: str = typer.Option("svd", help="linear | lasso | svd | sefa | svm | pca"),
    space: str = typer.Option("w", help="w (default) or z."),
    tags: Optional[List[str]] = typer.Option(None, "--tags", help="Fit only these tags (repeat the option)."),
    tagger: str = typer.Option("demo", help="'demo' or a DeepDanbooru project folder, used if the run is untagged."),
    out: Optional[Path] = typer.Option(None, help="Also write the direction file here."),
):
    """Fit directions and print a table of the fitted tags with their statistics."""
    ds, path = ensure_directions(run, method, space, tags=tags or None, tagger=tagger, refit=True)
    if out is not None:
        ds.save(out)
        path = out
    typer.echo(ds.table(tags))
    typer.echo(f"\n{len(ds.names)} {method} directions in {space} space -> {path}")
