"""The `latentedit` command: a thin Typer layer over the library, one module per command."""

import typer

from .sample import sample

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Edit anime faces in the latent space of a GANs N' Roses generator.",
)


@app.callback()
def _root():
    """Pipeline: sample -> tag -> fit-directions -> edit -> train-scorer -> report."""


app.command()(sample)


def main():
    from .common import run_app

    run_app(app)
