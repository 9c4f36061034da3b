"""Latency of repeated edits with one EditSession (what the studio calls at every slider move).

On the demo generator and random demo-world directions: the median time of
`session.render(content, w, edit)` for one face at a new strength each call (the session keeps the
generator, directions and the face's content on the device), against the same edit done from
scratch each call (a new session: generator moved and checked, directions resolved, content
copied). Prints both medians and their ratio, and a 5-step sweep's time.

    python benchmarks/bench_session.py --calls 40
"""

import argparse
import statistics
import time

import numpy as np
import torch

from latentedit.directions import DirectionSet
from latentedit.editing import EditSession, EditSpec
from latentedit.models.generator import load_generator
from latentedit.world.render import demo_selfies


def median_ms(fn, calls: int) -> float:
    fn(0)
    times = []
    for i in range(calls):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    G = load_generator("demo")
    rng = np.random.default_rng(0)
    V = rng.standard_normal((4, G.style_dim))
    ds = DirectionSet("linear", "w", ["a", "b", "c", "d"], V / np.linalg.norm(V, axis=1, keepdims=True),
                      code_scale=0.7)
    selfie = demo_selfies(1, seed=0, size=G.size)[0]
    session = EditSession(G, ds)
    content = session.content(selfie)
    w = G.mapping(torch.from_numpy(rng.standard_normal((1, G.latent_dim)).astype(np.float32))).detach()

    def edit(i):
        return EditSpec.paired("a", "b", strength=float(i % 20), layers="coarse", keep=["c"])

    fast = median_ms(lambda i: session.render(content, w, edit(i)), args.calls)
    cold = median_ms(lambda i: EditSession(G, ds).render(content.numpy(), w.numpy(), edit(i)), args.calls)
    sweep = median_ms(lambda i: session.sweep(content, w, edit(i), [-20, -10, 0, 10, 20]), max(5, args.calls // 5))
    print(f"demo generator ({G.size} px), {args.threads} thread(s), median of {args.calls} calls")
    print(f"session.render, one face       {fast:7.2f} ms")
    print(f"new session each call          {cold:7.2f} ms   ratio {cold / fast:.2f}x")
    print(f"session.sweep, 5 strengths     {sweep:7.2f} ms")


if __name__ == "__main__":
    main()
