"""`latentedit tag`: score every sample of a run with a DeepDanbooru tagger."""

import time
from pathlib import Path

import typer

from latentedit.pipeline.tag import tag_run
from latentedit.stats import TAG_THRESHOLD
from latentedit.store import Run
from latentedit.tagging import load_tagger, tag_frequencies
from latentedit.terminal import printable


def tag(
    run: Path = typer.Argument(Path("runs/demo"), help="Run directory made by latentedit sample."),
    tagger: str = typer.Option("demo", help="'demo' or a DeepDanbooru project folder (project.json, tags.txt, model-*.h5)."),
    batch_size: int = typer.Option(32, help="Images per forward pass."),
    overwrite: bool = typer.Option(False, help="Replace tags made by another tagger."),
    top: int = typer.Option(10, help="How many of the most frequent tags to list."),
):
    """Tag the run's images (resumable): RUN/tags/<shard>.npz and RUN/tags/vocab.json."""
    t0 = time.perf_counter()
    the_run = Run(run)  # a bad run path fails before TensorFlow loads
    the_tagger = load_tagger(tagger)
    result = tag_run(the_run, the_tagger, batch_size=batch_size, overwrite=overwrite)
    scores, tags = result.run.tag_scores()
    typer.echo(f"run        {result.run.path}")
    typer.echo(f"tagger     {printable(the_tagger.source)} ({len(tags)} tags, fingerprint {the_tagger.fingerprint}, "
               f"input {the_tagger.input_size[1]}x{the_tagger.input_size[0]})")
    typer.echo(f"samples    {result.samples} ({result.tagged} tagged now, {result.kept} already tagged, kept)")
    typer.echo(f"top tags   (score >= {TAG_THRESHOLD})")
    for name, count in tag_frequencies(scores, tags)[:top]:
        typer.echo(f"  {printable(name):<24} {count:>7}  {100 * count / len(scores):5.1f}%")  # names from tags.txt
    typer.echo(f"written    {result.run.tags_dir}")
    typer.echo(f"time       {time.perf_counter() - t0:.1f} s")
