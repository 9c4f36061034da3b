"""`latentedit video`: translate a face video frame by frame with one fixed edited style."""

from pathlib import Path
from typing import List, Optional

import typer

from latentedit.pipeline.video import VideoRequest, edit_video

from .options import parse_crop, parse_layers, parse_strength


def video(
    in_path: Path = typer.Argument(..., metavar="IN.mp4", help="Input face video."),
    add: Optional[List[str]] = typer.Option(None, "--add", help="Tag to add (repeat for several)."),
    sub: Optional[List[str]] = typer.Option(None, "--sub", help="Opposite tag to subtract (repeat for several)."),
    run: Path = typer.Option(Path("runs/demo"), help="Run whose generator and directions to use."),
    method: str = typer.Option("svd", help="linear | lasso | svd | svm | sefa | pca"),
    strength: Optional[str] = typer.Option(None, help="Add-strength A (w distance); default per method."),
    sub_strength: Optional[str] = typer.Option(None, help="Sub-strength B (w distance); default per method."),
    layers: Optional[str] = typer.Option(None, help="all | coarse | middle | fine | I-J: edit only these W+ layers."),
    keep: Optional[List[str]] = typer.Option(None, "--keep", help="Keep this tag: project its direction out of the edit (repeat)."),
    style_seed: int = typer.Option(0, help="Seed of the one random style every frame gets."),
    include: Optional[List[str]] = typer.Option(None, "--include", help="Fit this tag even if the tag filter drops it (repeat)."),
    crop: Optional[str] = typer.Option(None, help="X,Y,SIZE: square face box cropped from every frame."),
    side_by_side: bool = typer.Option(True, help="Also write OUT-side-by-side.mp4 (input | unedited | edited)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    out: Optional[Path] = typer.Option(None, help="Output mp4 (default IN-edited.mp4 beside the input)."),
):
    """Translate a video with a fixed style edited by paired opposite tags."""
    request = VideoRequest(
        add=add or [], sub=sub or [], method=method,
        strength=None if strength is None else parse_strength(strength, "--strength"),
        sub_strength=None if sub_strength is None else parse_strength(sub_strength, "--sub-strength"),
        layers=parse_layers(layers), layers_label=layers, keep=keep or [], style_seed=style_seed, crop=parse_crop(crop), out=out,
        side_by_side=side_by_side, include=include or [], device=device)
    info = edit_video(in_path, run, request)
    typer.echo(f"frames     {info.frames} at {info.fps:g} fps ({info.frame_size[0]}x{info.frame_size[1]}"
               f"{', crop ' + ','.join(map(str, info.crop)) if info.crop else ''})")
    typer.echo(f"edit       A={info.strength:.4g} B={info.sub_strength:.4g} ({info.method} directions)")
    typer.echo(f"output     {info.out}")
    if info.side_by_side:
        typer.echo(f"side by    {info.side_by_side}")
