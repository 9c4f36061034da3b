"""What every command shares: library errors become one-line messages, not tracebacks."""

import sys

import typer

from latentedit.errors import LatentEditError


def run_app(app: typer.Typer) -> None:
    try:
        app()
    except LatentEditError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
