"""`latentedit studio`: the interactive editor in the browser (latentedit.studio)."""

from pathlib import Path
from typing import Optional

import typer

from latentedit.studio.server import StudioConfig, launch


def studio(
    run: Path = typer.Argument(Path("runs/demo"), help="Run to edit (the demo run is sampled on first start)."),
    generator: Optional[str] = typer.Option(None, help="A demo name or generator file (default: the run's)."),
    tagger: str = typer.Option("demo", help="Tagger ('demo', 'demo-wd14', a DeepDanbooru project or WD14 folder) for the side-effect meter and SeFa/PCA labels."),
    method: str = typer.Option("svd", help="Directions to start with: linear | lasso | svd | svm | sefa | pca"),
    host: str = typer.Option("127.0.0.1", help="Address to bind (the default keeps the studio on this machine)."),
    port: int = typer.Option(7860, help="Port to serve on."),
    out: Optional[Path] = typer.Option(None, help="Folder for saved recipes, PNGs and sweeps (default RUN/edits/studio)."),
    meter: str = typer.Option("auto", help="Side-effect meter: live (every move), release, or auto (live when the tagger is fast)."),
    preview: str = typer.Option("auto", help="While a slider moves: auto (a low-resolution preview when a full render is slow), off, or a resolution in px (e.g. 64); the full image follows on release."),
    threads: int = typer.Option(1, help="torch CPU threads for rendering (0: torch's default)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """Open the studio: pick a face, move sliders, watch side effects, save recipes and sweeps."""
    launch(StudioConfig(run=run, generator=generator, tagger=tagger, method=method, host=host, port=port, out=out,
                        device=device, threads=threads or None, meter=meter,
                        preview=preview))
