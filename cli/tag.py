"""`latentedit tag`: score every sample of a run with a tagger (DeepDanbooru or WD14)."""

import time
from pathlib import Path
from typing import Optional

import typer

from latentedit.pipeline.tag import tag_run
from latentedit.store import Run
from latentedit.tagging import load_tagger, tag_frequencies
from latentedit.terminal import printable

from .options import ENGINE, RAY_ADDRESS, WORKERS, make_engine, workers_line


def tag(
    run: Path = typer.Argument(Path("runs/demo"), help="Run directory made by latentedit sample."),
    tagger: str = typer.Option("demo", help="'demo', 'demo-wd14', a DeepDanbooru project folder (project.json, tags.txt, "
                                            "model-*.h5) or a WD14 tagger folder (model.onnx, selected_tags.csv)."),
    threshold: float = typer.Option(None, help="Score at which a general tag is on (DeepDanbooru: every tag; "
                                               "default 0.5, WD14 0.35)."),
    character_threshold: float = typer.Option(None, help="Score at which a character tag is on (WD14 default 0.85)."),
    mcut: bool = typer.Option(False, help="Cut general and character tags per image by MCut (maximum cut thresholding)."),
    threads: int = typer.Option(0, help="onnxruntime threads of a WD14 tagger (0: onnxruntime's default)."),
    batch_size: int = typer.Option(32, help="Images per forward pass."),
    overwrite: bool = typer.Option(False, help="Replace tags made by another tagger."),
    top: int = typer.Option(10, help="How many of the most frequent tags to list."),
    engine: str = ENGINE,
    ray_address: Optional[str] = RAY_ADDRESS,
    workers: Optional[int] = WORKERS,
):
    """Tag the run's images (resumable): RUN/tags/<shard>.npz and RUN/tags/vocab.json."""
    t0 = time.perf_counter()
    the_run = Run(run)  # a bad run path fails before TensorFlow loads
    the_engine = make_engine(engine, ray_address, workers)
    the_tagger = load_tagger(tagger, threshold=threshold, character_threshold=character_threshold, mcut=mcut,
                             threads=threads or None)
    result = tag_run(the_run, the_tagger, batch_size=batch_size, overwrite=overwrite, engine=the_engine)
    scores, tags = result.run.tag_scores()
    typer.echo(f"run        {result.run.path}")
    typer.echo(f"tagger     {printable(the_tagger.source)} ({len(tags)} tags, fingerprint {the_tagger.fingerprint}, "
               f"input {the_tagger.input_size[1]}x{the_tagger.input_size[0]})")
    typer.echo(f"samples    {result.samples} ({result.tagged} tagged now, {result.kept} already tagged, kept)")
    if result.workers.peak_mb and the_engine.remote:
        typer.echo(f"workers    {workers_line(result.workers)}")
    typer.echo(f"top tags   ({_rule(the_tagger)})")
    frequencies = tag_frequencies(scores, tags, the_tagger.thresholds, the_tagger.categories, the_tagger.mcut)
    for name, count in frequencies[:top]:
        typer.echo(f"  {printable(name):<24} {count:>7}  {100 * count / len(scores):5.1f}%")  # names from the tagger's files
    typer.echo(f"written    {result.run.tags_dir}")
    typer.echo(f"time       {time.perf_counter() - t0:.1f} s")


def _rule(tagger) -> str:
    """'score >= 0.5', or the per-category thresholds, or MCut."""
    if tagger.mcut:
        return "MCut per image"
    by_category = dict(zip(tagger.categories, (float(t) for t in tagger.thresholds)))
    if len(set(by_category.values())) <= 1:
        return f"score >= {next(iter(by_category.values()), 0.5):g}"
    return ", ".join(f"{c} >= {t:g}" for c, t in by_category.items())
