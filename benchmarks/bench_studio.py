"""Slider move -> new image shown, in the running studio, in a real headless Chromium.

Starts `latentedit studio` as a user would (a subprocess serving on 127.0.0.1), opens it in
Debian's chromium through Playwright, and moves a slider `--moves` times (each move waits for the
previous image): prints the median and 95th percentile of the time from the slider's input event
to the edited image decoded in the page, and of the time until the side-effect meter is updated
too. Two configurations:

  demo     the shipped demo generator (64 px) on a small demo run (16 selfies x 3 styles)
  256      the 256 px release configuration of GNR with seeded random weights
           (latentedit.models.gnr.Generator(size=256): RELEASE_CHANNELS, num_down 4) on a run of
           4 samples, with random unit directions named like tags (speed does not depend on them)

Goal (issue 12): median <= 150 ms on the demo; at 256 px, a low-resolution preview first if the
full image takes more than 1 s.

    python benchmarks/bench_studio.py --config demo --moves 60
    python benchmarks/bench_studio.py --config 256 --moves 20
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_run(folder: Path) -> tuple[Path, str]:
    from latentedit.pipeline.fit import ensure_directions
    from latentedit.pipeline.sample import sample
    from latentedit.pipeline.tag import ensure_tags

    run = folder / "demo-run"
    sample("demo", run, n_inputs=16, styles_per_input=3, seed=0, progress=False)
    ensure_tags(run, "demo", progress=False)
    ensure_directions(run, "svd", progress=False)
    return run, "pair:long_hair:short_hair"


def release_run(folder: Path) -> tuple[Path, str]:
    import torch

    from latentedit.directions import DirectionSet
    from latentedit.directions.base import code_scale
    from latentedit.models.checkpoint import save_generator
    from latentedit.models.generator import fingerprint
    from latentedit.models.gnr import Generator
    from latentedit.pipeline.sample import sample
    from latentedit.pipeline.tag import ensure_tags
    from latentedit.store import Run

    torch.manual_seed(0)
    G = Generator(size=256).eval().requires_grad_(False)
    ckpt = save_generator(G, folder / "release-256-random.pt")
    run = folder / "release-run"
    sample(str(ckpt), run, n_inputs=2, styles_per_input=2, seed=0, batch_size=2, progress=False)
    ensure_tags(run, "demo", progress=False)
    r = Run(run)
    names = ["long_hair", "short_hair", "open_mouth", "closed_mouth", "closed_eyes"]
    V = np.random.default_rng(0).standard_normal((len(names), G.style_dim))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    DirectionSet("svd", "w", names, V.astype(np.float32), {}, fingerprint(G), {"note": "random, for speed only"},
                 code_scale(r.codes()["w"])).save(r.directions_path("svd", "w"))
    return run, "pair:long_hair:short_hair"


def serve(run: Path, port: int, threads: int, log) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("latentedit")
    cmd = [str(exe), "studio", str(run), "--port", str(port), "--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            log.flush()
            tail = Path(log.name).read_text().splitlines()[-15:]
            raise SystemExit(f"the studio exited with {proc.returncode}:\n" + "\n".join(tail))
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            return proc
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise SystemExit("the studio did not start within 10 minutes")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(np.ceil(q * len(xs))) - 1)]


def measure(url: str, slider: str, moves: int, warmup: int = 3) -> dict:
    from playwright.sync_api import sync_playwright

    from latentedit.studio.sliders import slider_id
    from latentedit.studio.browser import launch_chromium, move_slider, open_page

    sid = slider_id(slider)
    image, meter = [], []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page, requests = open_page(browser, url)
            for k in range(warmup + moves):
                value = round(((k % 9) - 4) * 0.35 + 0.05, 2)  # never the same value twice in a row
                a, b = move_slider(page, sid, value, meter=True)
                if k >= warmup:
                    image.append(a)
                    if b is not None:
                        meter.append(b)
                time.sleep(0.05)
            status = page.text_content("#timing") or ""
            outside = [u for u in requests if not u.startswith(url.rstrip("/")) and not u.startswith("data:")]
        finally:
            browser.close()
    return {"image": image, "meter": meter, "status": status.strip(), "outside": outside}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=["demo", "256"], default="demo")
    ap.add_argument("--moves", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the studio")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        run, slider = demo_run(tmp) if args.config == "demo" else release_run(tmp)
        print(f"run ready in {time.perf_counter() - t:.0f} s: {run}")
        port = free_port()
        with open(tmp / "studio.log", "w") as log:
            t = time.perf_counter()
            proc = serve(run, port, args.threads, log)
            print(f"studio up in {time.perf_counter() - t:.0f} s at http://127.0.0.1:{port}/")
            try:
                r = measure(f"http://127.0.0.1:{port}/", slider, args.moves)
            finally:
                proc.terminate()
                proc.wait(30)
    load = os.getloadavg()
    print(f"config {args.config}, {os.cpu_count()} CPU cores (load average {load[0]:.2f}), torch threads "
          f"{args.threads}, {args.moves} moves of slider {slider}")
    print(f"slider move -> new image shown:      median {statistics.median(r['image']):7.1f} ms   "
          f"p95 {pct(r['image'], 0.95):7.1f} ms")
    if r["meter"]:
        print(f"slider move -> image and meter shown: median {statistics.median(r['meter']):7.1f} ms   "
              f"p95 {pct(r['meter'], 0.95):7.1f} ms ({len(r['meter'])} of {args.moves} moves updated it)")
    else:
        print("side-effect meter: updated on slider release only (the tagger is slower than the live limit)")
    print(f"last server-side timing: {r['status']}")
    print(f"requests outside the studio's address: {len(r['outside'])}")


if __name__ == "__main__":
    main()
