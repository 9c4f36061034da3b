"""What every command shares: turning library errors into one-line messages."""

import sys

import typer

from latentedit.errors import LatentEditError


def run_app(app: typer.Typer) -> None:
    try:
        app(standalone_mode=False)
    except LatentEditError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        raise
