"""The `latentedit` command: a thin Typer layer over the library, one module per command."""

import typer

from .common import run_app
from .convert import convert
from .edit import edit
from .fit_directions import fit_directions
from .report import report
from .sample import sample
from .studio import studio
from .tag import tag
from .train_scorer import train_scorer
from .video import video

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Edit anime faces in the latent space of a GANs N' Roses generator.\n\nAnywhere on a command line: "
         "--wait queues behind another process writing the same run (instead of refusing), --debug shows a "
         "traceback instead of the one-line error.",
)


@app.callback()
def _root():
    """Pipeline: sample -> tag -> fit-directions -> edit -> train-scorer -> report."""


for command in (sample, tag, fit_directions, edit, video, train_scorer, report, studio, convert):
    app.command(name=command.__name__.replace("_", "-"))(command)


def main():
    run_app(app)
