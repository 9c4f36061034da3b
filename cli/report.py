"""`latentedit report`: re-scoring matrices, metrics and edit grids as a self-contained HTML page."""

import re
from pathlib import Path
from typing import Optional

import typer

from latentedit.errors import InputError
from latentedit.pipeline.report import DEFAULT_METHODS, DEFAULT_PAIRS, ReportRequest, check_methods, report as build
from latentedit.terminal import printable

from .common import EXIT_PARTIAL
from .options import ENGINE, RAY_ADDRESS, WORKERS, make_engine

_TAG = re.compile(r"[A-Za-z0-9_()\-.]+")


def parse_pairs(spec: str) -> tuple:
    """'long_hair:short_hair,open_mouth:closed_mouth,closed_eyes' -> ((add, sub or None), ...).

    A pair is ADD:SUB, or ADD alone (also ADD:) for an edit without an opposite tag.
    """
    pairs = []
    usage = "--pairs must be ADD:SUB[,ADD:SUB...] (SUB optional), e.g. long_hair:short_hair,closed_eyes"
    for part in spec.split(","):
        part = part.strip()
        if not part:
            raise InputError(f"{usage}; got an empty pair in {spec!r}")
        add, _, sub = (x.strip() for x in part.partition(":"))
        if not _TAG.fullmatch(add) or (sub and not _TAG.fullmatch(sub)):
            raise InputError(f"{usage}; got {part!r}")
        if add == sub:
            raise InputError(f"--pairs {part!r}: a pair cannot add and subtract the same tag")
        pair = (add, sub or None)
        if pair in pairs:
            raise InputError(f"--pairs lists {part!r} twice")
        pairs.append(pair)
    return tuple(pairs)


def format_pairs(pairs) -> str:
    """The inverse of `parse_pairs`: ((add, sub or None), ...) -> 'add:sub,add'."""
    return ",".join(f"{a}:{s}" if s else a for a, s in pairs)


def parse_methods(spec: str) -> tuple:
    """'linear,lasso,svd,sefa' -> known method names, in order, without repeats."""
    names = [m.strip() for m in spec.split(",")]
    if any(not m for m in names):
        raise InputError(f"--methods must be a comma-separated list such as linear,lasso,svd,sefa; got {spec!r}")
    return check_methods(names)


def report(
    run: Path = typer.Argument(Path("runs/demo"), help="Run directory (directions are fitted into it if missing)."),
    methods: str = typer.Option(",".join(DEFAULT_METHODS), help="Comma-separated methods to compare."),
    pairs: str = typer.Option(format_pairs(DEFAULT_PAIRS), help="ADD:SUB edits, comma-separated (SUB optional)."),
    samples: int = typer.Option(100, help="Edited samples per edit (re-scoring, FID)."),
    scorer: str = typer.Option("demo", help="Scorer file from train-scorer, or demo."),
    reference: Optional[Path] = typer.Option(None, help="Folder of anime images for FID (demo world: renders)."),
    tagger: str = typer.Option("demo", help="Tagger for untagged runs and for naming sefa directions."),
    seed: int = typer.Option(0, help="Seed of the evaluation selfies and styles."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default RUN/report)."),
    threads: int = typer.Option(0, help="torch CPU threads (0: every core; 1 is steadier on a machine others "
                                        "keep busy); with --engine ray, each worker's."),
    engine: str = ENGINE,
    ray_address: Optional[str] = RAY_ADDRESS,
    workers: Optional[int] = WORKERS,
):
    """Fit missing directions, edit, re-score, measure FID/DFID/LPIPS, and write RUN/report/index.html."""
    request = ReportRequest(methods=parse_methods(methods), pairs=parse_pairs(pairs), samples=samples, scorer=scorer,
                            reference=reference, tagger=tagger, seed=seed, out=out, threads=threads)
    result = build(run, request, engine=make_engine(engine, ray_address, workers))
    typer.echo(f"report     {result.index} ({result.report.seconds:.0f} s{', partial' if result.failed else ''})")
    typer.echo(f"data       {result.out}/report.json and CSV files")
    if result.failed:  # what was asked failed in part: say which stage and why, exit non-zero
        first, record = next(iter(result.failed.items()))
        typer.secho(printable(f"error: the report is partial: {len(result.failed)} of {len(result.report.stages)} stages "
                              f"failed, first {first}: {record.error}; the rest is in {result.index}, the failed "
                              "sections marked"), fg=typer.colors.RED, err=True)
        for name, s in result.failed.items():
            typer.secho(printable(f"failed     {name}: {s.error}"), fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(EXIT_PARTIAL)
