"""Sampling and tagging here ("local") and on Ray workers (`--engine ray`), measured in one run.

For each engine (local with 1 and 2 torch/onnxruntime threads; Ray with 1 and 2 workers of one CPU
each, on a Ray started here once, its start-up timed apart) the script samples runs of N and 3N inputs
(the demo generator; --size 256: GNR's release configuration with random weights) and tags runs of K
and 3K copies of the small run's shards (the demo WD14 tagger by default). Rates are those of the
large runs once every worker has loaded its model (`engine.WorkerStats`: what a million-sample run
gets); the start-up before (loading the model, starting Ray's actors) and the rate over the whole call
are printed beside them. Ray's overhead is local's rate over Ray's at equal CPUs, minus 1 (goal: at
most 10%). Peak memory is each Ray worker's peak resident set in the small and the large run (flat:
a worker holds its model and one shard at a time). Every Ray run is checked to have the bytes of the local run on
one thread (`--threads 1`). On a machine others keep busy the rates move with their load: the load
average is printed. With --report, the small run's report (`latentedit report`, its defaults but
--samples) is also built locally on 1 thread and with its images drawn by 2 Ray workers of 1 thread
(`report --engine ray`): seconds, and whether both have the same numbers.

    python benchmarks/bench_scale.py                      # 32 and 96 inputs x 3 styles, 8 inputs per shard
    python benchmarks/bench_scale.py --size 256 --inputs 4 --inputs-per-shard 1 --copies 2
    python benchmarks/bench_scale.py --report 100         # and the report of 100 samples, local and on Ray
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from latentedit.pipeline.engine import Engine, import_ray
from latentedit.pipeline.sample import sample
from latentedit.pipeline.tag import tag_run
from latentedit.tagging import load_tagger


def sums(run: Path) -> dict:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file() and p.name != ".lock"}


def replicate(src: Path, dst: Path, copies: int) -> tuple[int, float]:
    """A run of `copies` x the shards of `src` (ids shifted, the same PNG bytes): tagging work in bulk.
    Returns the files written and the seconds `Run.write_shard` took: what the driver's writes cost."""
    from latentedit.store import Run

    a = Run(src)
    b = Run.create(dst, {k: v for k, v in a.manifest.items() if k != "format"})
    n, shards = a.manifest["n_samples"], a.shards()
    files, seconds = 0, 0.0
    for c in range(copies):
        for i, s in enumerate(shards):
            codes = dict(a.shard_codes(s))
            pngs = [(a.samples_dir / s / f"{int(j):09d}.png").read_bytes() for j in codes["id"]]
            codes["id"] = codes["id"] + c * n
            t = time.perf_counter()
            b.write_shard(c * len(shards) + i, codes, pngs)
            seconds += time.perf_counter() - t
            files += len(pngs) + 1
    return files, seconds


def generator_file(size: int, root: Path) -> str:
    """'demo' (64 px), or GNR's release configuration at `size` with seeded random weights, saved for the workers."""
    if size == 64:
        return "demo"
    from latentedit.models.checkpoint import save_generator
    from latentedit.models.gnr import Generator

    torch.manual_seed(0)
    return str(save_generator(Generator(size=size).eval(), root / f"gnr-{size}.pt"))


def measure(name: str, engine: Engine, threads: int, args, root: Path) -> dict:
    """Sample N and 3N inputs with `engine`, tag runs of K and 3K copies of the N run: seconds, counts, peaks."""
    torch.set_num_threads(threads)
    out = {"name": name}
    for x in (1, 3):
        run = root / f"{name}-{x}"
        t = time.perf_counter()
        s = sample(args.generator, run, n_inputs=x * args.inputs, styles_per_input=args.styles,
                   inputs_per_shard=args.inputs_per_shard, threads=threads, seed=0, device=args.device, progress=False, engine=engine)
        t_sample = time.perf_counter() - t
        tags = root / f"{name}-tag-{x}"
        files, write_s = replicate(root / f"{name}-1", tags, x * args.copies)
        t = time.perf_counter()
        g = tag_run(tags, load_tagger(args.tagger, threads=threads), progress=False, engine=engine)
        t_tag = time.perf_counter() - t
        out[x] = dict(files=files, write_s=write_s, sample_n=s.sampled, sample_s=t_sample, tag_n=g.tagged, tag_s=t_tag,
                      sample=s.workers, tag=g.workers, sums={**sums(run), **{f"tags/{k}": v for k, v in sums(tags / "tags").items()}})
    return out


def measure_report(run: Path, samples: int, root: Path) -> str:
    """The line comparing `run`'s report built here on 1 thread and drawn by 2 Ray workers of 1 thread."""
    import json

    from latentedit.pipeline.report import report

    seconds, numbers = {}, {}
    for name, engine in (("local", None), ("ray", Engine("ray", workers=2))):
        out, t = root / f"report-{name}", time.perf_counter()
        report(run, out=out, samples=samples, threads=1, progress=False, engine=engine)
        seconds[name] = time.perf_counter() - t
        rep = json.loads((out / "report.json").read_text().replace(str(out), "OUT"))
        numbers[name] = {k: v for k, v in rep.items() if k not in ("seconds", "stages")}
    return (f"report of {samples} samples: local 1 thread {seconds['local']:.1f} s, 2 Ray workers of 1 thread "
            f"{seconds['ray']:.1f} s (their start-up included); the same numbers: {numbers['local'] == numbers['ray']}")


def rates(r: dict, stage: str) -> tuple[float, float, float]:
    """(images/s once the workers are loaded, their start-up s, images/s over the whole call) of the large run."""
    big = r[3]
    return big[f"{stage}_n"] / big[stage].work_s, big[stage].start_s, big[f"{stage}_n"] / big[f"{stage}_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=32, help="N: the small run's inputs (the large one has 3N)")
    parser.add_argument("--styles", type=int, default=3, help="styles per input")
    parser.add_argument("--inputs-per-shard", type=int, default=8)
    parser.add_argument("--copies", type=int, default=20, help="K: the small tagging run is K copies of the N run")
    parser.add_argument("--tagger", default="demo-wd14", help="'demo-wd14', 'demo' (DeepDanbooru) or a folder")
    parser.add_argument("--device", default="cpu", help="where the generator runs (cuda: one GPU per Ray worker)")
    parser.add_argument("--size", type=int, default=64, help="64: the demo generator; 256: GNR's release "
                                                                 "configuration, random weights")
    parser.add_argument("--report", type=int, default=0, metavar="SAMPLES",
                        help="also build the small run's report of SAMPLES samples, local and on Ray (demo world)")
    args = parser.parse_args()
    ray = import_ray()
    root = Path(tempfile.mkdtemp())
    args.generator = generator_file(args.size, root)
    for warm in (1, 2):  # imports, the generator's and the tagger's first load: paid before any timing
        sample(args.generator, root / f"warm-{warm}", n_inputs=1, styles_per_input=1, progress=False)
        load_tagger(args.tagger, threads=warm)
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    ray_start = time.perf_counter() - t
    results = []
    try:
        for name, engine, threads in (("local 1 thread", Engine(), 1), ("ray 1 worker", Engine("ray", workers=1), 1),
                                      ("local 2 threads", Engine(), 2), ("ray 2 workers", Engine("ray", workers=2), 1)):
            results.append(measure(name.replace(" ", "-"), engine, threads, args, root))
            results[-1]["name"] = name
        if args.report:
            tag_run(root / "local-1-thread-1", load_tagger("demo"), progress=False)
            report_line = measure_report(root / "local-1-thread-1", args.report, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ray.shutdown()
    same = all(r[x]["sums"] == results[0][x]["sums"] for r in results if "ray" in r["name"] for x in (1, 3))

    r = results[0]
    print(f"{'demo generator' if args.size == 64 else 'GNR release configuration'} ({args.size} px): runs of "
          f"{r[1]['sample_n']} and {r[3]['sample_n']} samples ({args.styles} styles per input, {args.inputs_per_shard} "
          f"inputs per shard); tagger {args.tagger}: runs of {r[1]['tag_n']} and {r[3]['tag_n']} images; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; Ray start-up {ray_start:.1f} s (once, not in the rates)")
    print("rates once every worker has loaded its model (whole call, start-up included, in brackets); large runs")
    print(f"{'engine':<16} {'samples/s':>17} {'start s':>8} {'tagged/s':>17} {'start s':>8}  "
          "peak MB per worker (sample, tag), small | large run")
    table = {}
    for r in results:
        (sr, s0, sw), (tr, t0, tw) = rates(r, "sample"), rates(r, "tag")
        table[r["name"]] = (sr, tr)
        peaks = " | ".join(f"{max(r[x]['sample'].peak_mb):.0f}, {max(r[x]['tag'].peak_mb):.0f}" for x in (1, 3))
        print(f"{r['name']:<16} {sr:>8.1f} ({sw:>6.1f}) {s0:>8.1f} {tr:>8.1f} ({tw:>6.1f}) {t0:>8.1f}  "
              f"{peaks if 'ray' in r['name'] else '-'}")
    for local, remote in (("local 1 thread", "ray 1 worker"), ("local 2 threads", "ray 2 workers")):
        (ls, lt), (rs, rt) = table[local], table[remote]
        print(f"Ray overhead, {remote} vs {local}: sampling {100 * (ls / rs - 1):+.1f}%, tagging {100 * (lt / rt - 1):+.1f}% "
              "(goal <= +10%)")
    files, write_s = (sum(r[x][k] for r in results for x in (1, 3)) for k in ("files", "write_s"))
    print(f"the driver's writes (Run.write_shard, every file fsynced, into {tempfile.gettempdir()}): "
          f"{files / write_s:.0f} files/s")
    (s1, t1), (s2, t2) = table["ray 1 worker"], table["ray 2 workers"]
    print(f"Ray 2 workers vs 1: sampling {s2 / s1:.2f}x, tagging {t2 / t1:.2f}x")
    print(f"every Ray run (1 thread per worker) has the bytes of the local run on 1 thread: {same}")
    if args.report:
        print(report_line)


if __name__ == "__main__":
    main()
