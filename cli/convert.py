"""`latentedit convert`: a StyleGAN2 generator file as .safetensors, read without running any of its code."""

from pathlib import Path

import typer

from latentedit.errors import InputError
from latentedit.models.stylegan2 import load_stylegan2, save_stylegan2, summary


def convert(
    source: Path = typer.Argument(..., metavar="MODEL", help="NVIDIA stylegan2-ada .pkl, rosinality .pt (g_ema) or .safetensors."),
    out: Path = typer.Argument(..., metavar="OUT.safetensors", help="Where to write the generator."),
):
    """Write a StyleGAN2 generator as .safetensors (rosinality's names, the config in the metadata)."""
    if out.suffix != ".safetensors":
        raise InputError(f"{out}: the output must end in .safetensors")
    G = load_stylegan2(source)
    save_stylegan2(G, out)
    typer.echo(f"generator  StyleGAN2, {summary(G.config)}, {G.n_latent} W+ layers"
               + ("" if G.latent_avg is None else ", with its mean w"))
    typer.echo(f"written    {out}")
