"""`latentedit sample`: generate anime samples with random styles into a run."""

import time
from pathlib import Path
from typing import Optional

import typer

from latentedit.pipeline.sample import SampleRequest, sample as sample_run, write_preview
from latentedit.terminal import printable

from .options import ENGINE, RAY_ADDRESS, WORKERS, make_engine, workers_line


def sample(
    generator: str = typer.Option("demo", help="demo, demo-stylegan2, demo-dcgan, or a generator file: GNR_checkpoint.pt, a StyleGAN2 .pt (rosinality), .pkl (NVIDIA) or .safetensors, a DCGAN .pt."),
    inputs: Optional[Path] = typer.Option(None, help="Folder of selfie images; default: demo-world selfies."),
    n_inputs: Optional[int] = typer.Option(None, help="Use at most this many inputs (demo default: 64)."),
    styles_per_input: int = typer.Option(3, help="Random styles per input (the thesis used 3)."),
    seed: int = typer.Option(0, help="Seed of the styles (and of the demo selfies)."),
    batch_size: int = typer.Option(8, help="Images per forward pass."),
    inputs_per_shard: int = typer.Option(16, help="Inputs per shard, the unit of resuming and of a Ray worker's task."),
    threads: int = typer.Option(0, help="torch CPU threads (0: every core); recorded in the run, as they can change "
                                        "its bytes; with --engine ray each worker takes this many CPUs."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    out: Path = typer.Option(Path("runs/demo"), help="Run directory to create or resume."),
    overwrite: bool = typer.Option(False, help="Replace a run of another generator/seed/inputs at --out."),
    engine: str = ENGINE,
    ray_address: Optional[str] = RAY_ADDRESS,
    workers: Optional[int] = WORKERS,
):
    """Sample style codes and anime images into a run directory (resumable)."""
    t0 = time.perf_counter()
    request = SampleRequest(inputs=inputs, n_inputs=n_inputs, styles_per_input=styles_per_input, seed=seed,
                            batch_size=batch_size, inputs_per_shard=inputs_per_shard, threads=threads,
                            device=device,
                            overwrite=overwrite)
    result = sample_run(generator, out, request, engine=make_engine(engine, ray_address, workers))
    run, m = result.run, result.run.manifest
    grid = write_preview(run)
    g = m["generator"]
    typer.echo(f"run        {run.path}")
    typer.echo(f"generator  {run.generator_source or 'in-memory'} (fingerprint {g['fingerprint']}, size {g['config']['size']})")
    typer.echo(f"inputs     {m['n_inputs']} used, {len(m['skipped'])} skipped")
    for s in m["skipped"][:10]:
        typer.echo(f"           skipped {printable(s['name'])}: {printable(s['reason'])}")  # names from the folder
    typer.echo(f"samples    {m['n_samples']} ({m['styles_per_input']} styles per input, seed {m['seed']})")
    typer.echo(f"shards     {result.shards} ({result.resumed_shards} already done, kept)")
    if result.workers.peak_mb and engine == "ray":
        typer.echo(f"workers    {workers_line(result.workers)}")
    typer.echo(f"preview    {grid}")
    typer.echo(f"time       {time.perf_counter() - t0:.1f} s")
