"""Throughput of the generators: GNR at the official 256px configuration, StyleGAN2 (rosinality layout,
256px, channel multiplier 2 by default), the DCGAN tutorial's 64 px generator (one code path, so its two
rows time the same code: their ratio is the run's noise), random seeded weights.

Prints images/s for encode and decode on the fast (default) and the reference code path, the
achieved GFLOP/s (FLOPs counted once on the reference path with FlopCounterMode, so both paths are
credited with the same nominal work), the fp32 matmul GFLOP/s measured in the same run, their ratio,
and the speed-up of the fast path. On a shared machine wall-clock rates drop with the load, so the
rates are also given per CPU second of this process ("cpu" columns: process CPU time / threads;
still inflated by OpenMP spin-waits when other processes hold the cores; --threads 1 avoids those).

    python benchmarks/bench_generator.py --batch 8 --iters 3
    python benchmarks/bench_generator.py --backends stylegan2 --batch 4 --iters 2
"""

import argparse
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from latentedit.models.dcgan import DCGAN
from latentedit.models.gnr import Generator
from latentedit.models.stylegan2 import StyleGAN2


def timed(fn, iters):
    """Best wall and CPU-equivalent seconds of `iters` calls after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(iters):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append((time.process_time() - c) / torch.get_num_threads())
    return min(walls), min(cpus)


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@torch.inference_mode()
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=3, help="timed calls per measurement (best is kept)")
    parser.add_argument("--ref-iters", type=int, default=1, help="timed calls on the slow reference path")
    parser.add_argument("--mm-size", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--backends", default="gnr,stylegan2,dcgan", help="comma-separated: gnr, stylegan2, dcgan")
    parser.add_argument("--sg2-size", type=int, default=256)
    parser.add_argument("--sg2-multiplier", type=int, default=2, help="rosinality's channel_multiplier")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    backends = args.backends.split(",")

    torch.manual_seed(args.seed)
    a, b = torch.randn(args.mm_size, args.mm_size), torch.randn(args.mm_size, args.mm_size)

    def matmul():
        return timed(lambda: torch.mm(a, b), args.iters)

    jobs, flops, models = {}, {}, []
    if "gnr" in backends:
        G = Generator().eval()
        x = torch.rand(args.batch, 3, 256, 256) * 2 - 1
        z = torch.randn(args.batch, G.latent_dim)
        with torch.inference_mode():
            content = G.encode(x)[0]
        G.set_impl("reference")
        flops["GNR encode"] = count_flops(lambda: G.encode(x[:1])) * args.batch
        flops["GNR decode"] = count_flops(lambda: G.decode(content[:1], z[:1])) * args.batch
        jobs.update({"GNR encode": lambda: G.encode(x), "GNR decode": lambda: G.decode(content, z)})
        models.append(G)
    if "stylegan2" in backends:
        S = StyleGAN2(size=args.sg2_size, channel_multiplier=args.sg2_multiplier).eval()
        with torch.inference_mode():
            w = S.mapping(torch.randn(args.batch, S.latent_dim))
        S.set_impl("reference")
        flops["SG2 decode"] = count_flops(lambda: S.decode(None, w[:1], use_mapping=False)) * args.batch
        jobs["SG2 decode"] = lambda: S.decode(None, w, use_mapping=False)
        models.append(S)
    if "dcgan" in backends:  # the tutorial's 64 px generator: plain transposed convolutions, its one path
        D = DCGAN().eval()
        zd = torch.randn(args.batch, D.latent_dim)
        flops["DCGAN decode"] = count_flops(lambda: D.decode(None, zd[:1])) * args.batch
        jobs["DCGAN decode"] = lambda: D.decode(None, zd)
        models.append(D)

    with torch.inference_mode():
        mm_before = matmul()
        results = {}
        for impl, iters in (("fast", args.iters), ("reference", args.ref_iters)):
            for m in models:
                m.set_impl(impl)
            for name, job in jobs.items():
                results[impl, name] = timed(job, iters)
        mm_after = matmul()
    mm_wall, mm_cpu = min(mm_before[0], mm_after[0]), min(mm_before[1], mm_after[1])
    mm_flops = 2 * args.mm_size**3

    names = {"gnr": "GNR 256px", "stylegan2": f"StyleGAN2 {args.sg2_size}px channel multiplier {args.sg2_multiplier}",
             "dcgan": "DCGAN 64px (one path: fast = reference)"}
    print(f"{', '.join(names[b] for b in backends)}; batch {args.batch}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}")
    print("nominal work per image: " + ", ".join(f"{k} {v / args.batch / 1e9:.1f} GFLOP" for k, v in flops.items()))
    print(f"fp32 matmul {args.mm_size}^2: {mm_flops / mm_wall / 1e9:.0f} GFLOP/s wall, "
          f"{mm_flops / mm_cpu / 1e9:.0f} GFLOP/s cpu")
    print(f"{'path':10} {'stage':10} {'img/s':>7} {'GFLOP/s':>8} {'of mm':>6} {'img/s cpu':>10} "
          f"{'GFLOP/s cpu':>12} {'of mm cpu':>10}")
    for (impl, name), (wall, cpu) in results.items():
        gw, gc = flops[name] / wall / 1e9, flops[name] / cpu / 1e9
        print(f"{impl:10} {name:10} {args.batch / wall:7.2f} {gw:8.0f} {gw / (mm_flops / mm_wall / 1e9):6.0%} "
              f"{args.batch / cpu:10.2f} {gc:12.0f} {gc / (mm_flops / mm_cpu / 1e9):10.0%}")
    for name in jobs:
        (fw, fc), (rw, rc) = results["fast", name], results["reference", name]
        print(f"speed-up fast vs reference, {name}: {rw / fw:.1f}x wall, {rc / fc:.1f}x cpu")


if __name__ == "__main__":
    main()
