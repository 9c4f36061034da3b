"""`latentedit video`: translate a face video frame by frame with one fixed edited style."""

from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from latentedit.pipeline.video import VideoRequest, edit_video

from .options import parse_crop, parse_layers, parse_strength


def video(
    in_path: Optional[Path] = typer.Argument(None, metavar="[IN.mp4]",
                                             help="Input face video (default: the demo world's, written into RUN/videos/)."),
    add: Optional[List[str]] = typer.Option(None, "--add", help="Tag to add (repeat for several)."),
    sub: Optional[List[str]] = typer.Option(None, "--sub", help="Opposite tag to subtract (repeat for several)."),
    run: Path = typer.Option(Path("runs/demo"), help="Run whose generator and directions to use."),
    method: str = typer.Option("svd", help="linear | lasso | svd | svm | sefa | pca"),
    strength: Optional[str] = typer.Option(None, help="Add-strength A (w distance); default per method."),
    sub_strength: Optional[str] = typer.Option(None, help="Sub-strength B (w distance); default per method."),
    layers: Optional[str] = typer.Option(None, help="all | coarse | middle | fine | I-J: edit only these W+ layers."),
    keep: Optional[List[str]] = typer.Option(None, "--keep", help="Keep this tag: project its direction out of the edit (repeat)."),
    style_seed: int = typer.Option(0, help="Seed of the one random style every frame gets."),
    reference: Optional[Path] = typer.Option(None, help="Anime reference image: edit its style (GNR's G_B2A encoder)."),
    recipe: Optional[Path] = typer.Option(None, help="Re-apply a recipe (.json, or a PNG latentedit edit wrote): its style and edit."),
    track: bool = typer.Option(True, help="Follow the face (--crop seeds the box; else OpenCV's face cascade finds it)."),
    include: Optional[List[str]] = typer.Option(None, "--include", help="Fit this tag even if the tag filter drops it (repeat)."),
    fit: bool = typer.Option(False, "--fit", help="Fit the run's directions first when they are missing (else: an error naming fit-directions)."),
    crop: Optional[str] = typer.Option(None, help="X,Y,SIZE: the face box on the first frame (with --no-track: on every frame)."),
    side_by_side: bool = typer.Option(True, help="Also write OUT-side-by-side.mp4 (input | unedited | edited)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    out: Optional[Path] = typer.Option(None, help="Output mp4 (default IN-edited.mp4 beside the input)."),
):
    """Translate a video with a fixed style edited by paired opposite tags (or a recipe); the face box follows the face."""
    request = VideoRequest(
        add=add or [], sub=sub or [], method=method,
        strength=None if strength is None else parse_strength(strength, "--strength"),
        sub_strength=None if sub_strength is None else parse_strength(sub_strength, "--sub-strength"),
        layers=parse_layers(layers) and layers, keep=keep or [], style_seed=style_seed, crop=parse_crop(crop), out=out,
        side_by_side=side_by_side, include=include or [], fit=fit, device=device, reference=reference, recipe=recipe, track=track)
    info = edit_video(in_path, run, request)
    typer.echo(f"frames     {info.frames} at {info.fps:g} fps ({info.frame_size[0]}x{info.frame_size[1]}"
               f"{', crop ' + ','.join(map(str, info.crop)) if info.crop else ''})")
    if info.boxes is not None:
        b = info.boxes
        typer.echo(f"face box   tracked (seeded by {info.tracked_by}), side {b[:, 2].min():.0f}-{b[:, 2].max():.0f} px, "
                   f"centre moved {np.ptp(b[:, 0] + b[:, 2] / 2):.0f} px across, {np.ptp(b[:, 1] + b[:, 2] / 2):.0f} px down")
    typer.echo(f"edit       A={info.strength:.4g} B={info.sub_strength:.4g} ({info.method} directions)")
    typer.echo(f"output     {info.out}")
    if info.side_by_side:
        typer.echo(f"side by    {info.side_by_side}")
    typer.echo(f"recipe     {info.recipe}")
