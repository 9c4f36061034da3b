"""`latentedit video`: translate a face video frame by frame with one fixed edited style."""

from pathlib import Path
from typing import List, Optional

import typer

from latentedit.video import edit_video


def video(
    in_path: Path = typer.Argument(..., metavar="IN.mp4", help="Input face video."),
    add: Optional[List[str]] = typer.Option(None, "--add", help="Tag to add (repeat for several)."),
    sub: Optional[List[str]] = typer.Option(None, "--sub", help="Opposite tag to subtract (repeat for several)."),
    run: Path = typer.Option(Path("runs/demo"), help="Run whose generator and directions to use."),
    method: str = typer.Option("svd", help="linear | lasso | svd | svm | sefa | pca"),
    strength: Optional[str] = typer.Option(None, help="Add-strength A (w distance); default per method."),
    sub_strength: Optional[str] = typer.Option(None, help="Sub-strength B (w distance); default per method."),
    layers: Optional[str] = typer.Option(None, help="all | coarse | middle | fine | I-J: edit only these W+ layers."),
    style_seed: int = typer.Option(0, help="Seed of the one random style every frame gets."),
    include: Optional[List[str]] = typer.Option(None, "--include", help="Fit this tag even if the tag filter drops it (repeat)."),
    crop: Optional[str] = typer.Option(None, help="X,Y,SIZE: square face box cropped from every frame."),
    side_by_side: bool = typer.Option(True, help="Also write OUT-side-by-side.mp4 (input | unedited | edited)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    out: Optional[Path] = typer.Option(None, help="Output mp4 (default IN-edited.mp4 beside the input)."),
):
    """Translate a video with a fixed style edited by paired opposite tags."""
    info = edit_video(in_path, add or [], sub or [], run=run, method=method, strength=strength,
                      sub_strength=sub_strength, layers=layers, style_seed=style_seed, crop=crop, out=out,
                      side_by_side=side_by_side, include=include or [], device=device)
    typer.echo(f"frames     {info['frames']} at {info['fps']:g} fps ({info['frame_size'][0]}x{info['frame_size'][1]}"
               f"{', crop ' + ','.join(map(str, info['crop'])) if info['crop'] else ''})")
    typer.echo(f"edit       A={info['strength']:.4g} B={info['sub_strength']:.4g} ({info['method']} directions)")
    typer.echo(f"output     {info['out']}")
    if info["side_by_side"]:
        typer.echo(f"side by    {info['side_by_side']}")
