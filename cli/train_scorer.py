"""`latentedit train-scorer`: train the ResNet50 re-scoring classifier."""

from pathlib import Path
from typing import Optional

import typer

from latentedit.errors import InputError
from latentedit.limits import MAX_SAMPLES, MIN_IMAGE_SIDE, check_count
from latentedit.scoring.scorer import DEFAULT_ATTRIBUTES, MAX_SCORER_INPUT
from latentedit.scoring.training import DEMO_CONFIG, TrainingConfig, demo_scorer, train_scorer as train


def parse_attributes(spec: str) -> tuple:
    """'open_mouth,short_hair' -> ('open_mouth', 'short_hair'); one-line error when empty or repeated."""
    names = [a.strip() for a in spec.split(",")]
    if not names or any(not a for a in names):
        raise InputError(f"--attributes must be comma-separated names such as open_mouth,short_hair; got {spec!r}")
    if len(set(names)) != len(names):
        raise InputError(f"--attributes lists a name twice: {spec!r}")
    return tuple(names)


def train_scorer(
    data: Optional[Path] = typer.Argument(None, help="Run directory or image folder (default: demo-world renders, "
                                                      "trained once and cached)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="CSV: filename + one 0/1 column per attribute."),
    attributes: str = typer.Option(",".join(DEFAULT_ATTRIBUTES), help="Comma-separated attribute (tag) names."),
    epochs: int = typer.Option(4, help="Training epochs."),
    seed: int = typer.Option(0, help="Seed of the split, the initialisation and the batches."),
    input_size: int = typer.Option(64, help="Images are resized to this square size."),
    limit: Optional[int] = typer.Option(None, help="Use at most this many labelled images."),
    out: Optional[Path] = typer.Option(None, help="Scorer file to write (default scorer.pt; demo: the cache)."),
):
    """Train the re-scorer; prints held-out accuracy and AUC per attribute."""
    names = parse_attributes(attributes)
    check_count(input_size, "--input-size", MIN_IMAGE_SIDE, MAX_SCORER_INPUT)
    check_count(epochs, "--epochs", 1, 10_000)
    if limit is not None:
        check_count(limit, "--limit", 2, MAX_SAMPLES)
    if data is None:
        if labels is not None:
            raise typer.BadParameter("--labels needs an image folder (or a run) to go with it")
        config = {**DEMO_CONFIG, "attributes": list(names), "epochs": epochs, "seed": seed, "input_size": input_size}
        scorer = demo_scorer(config=config)
        if out is not None:
            scorer.save(out)
            typer.echo(f"saved      {out}")
    else:
        config = TrainingConfig(epochs=epochs, seed=seed, input_size=input_size, limit=limit)
        scorer = train(data, labels, names, config, out=out or Path("scorer.pt"))
    typer.echo(f"scorer     {scorer!r}")
    for name, m in scorer.metrics.get("held_out", {}).items():
        typer.echo(f"held out   {name:<14} accuracy {m['accuracy']:.3f}  AUC {m['auc']:.3f}  (n={m['n']})")
