"""The `latentedit` command: a thin Typer layer over the library, one module per command."""

import typer

from .sample import sample

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Edit anime faces in the latent space of a GANs N' Roses generator.")
app.command()(sample)


def main():
    from .common import run_app

    run_app(app)
