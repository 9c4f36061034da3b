"""Slider move -> preview shown, slider release -> full image shown, in the running studio, in a real headless Chromium.

For each configuration, starts `latentedit studio --preview R` as a user would (a subprocess serving on 127.0.0.1),
opens it in Debian's chromium through Playwright, and moves a slider `--moves` times: each move sets the slider
(the page shows the R px preview: the generator's RGB output there, `decode(..., resolution=R)`), then lets go of
it (the page shows the full image and the side-effect meter). Prints the median and 95th percentile of the time
from the input event to the preview decoded in the page, and from the release to the full image decoded. Then,
in this process, how well previews show the edits (every face of the run x the first sliders at -1 and +1): the
mean absolute pixel difference from the full render box-downsampled to R px, and how often the tagger reads each
tag the same way (score >= its threshold) on the preview (bilinearly upsampled) as on the full render; each beside
what the page would show without a preview, the unedited face, and beside a candidate not built (GNR's content code
box-downsampled to the preview's scale, decoded through every layer). Last, decoding work a slider move can reuse (issue
34 item 2), a render timed with and without it: the content encoding (cached per face), the mapping network (z
space; not cached: it costs nothing), the layers below a layer-limited edit's first edited layer (reused).

  demo     the shipped demo generator (64 px) on a small demo run (16 selfies x 3 styles)
  256      the 256 px release configuration of GNR with seeded random weights
           (latentedit.models.gnr.Generator(size=256): RELEASE_CHANNELS, num_down 4) on a run of
           4 samples, with random unit directions named like tags (speed does not depend on them)

Goal (issue 34): slider -> preview median <= 150 ms, p95 <= 250 ms at 256 px on 2 cores.

    python benchmarks/bench_studio.py --configs demo,256 --moves 20
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


def serve(run: Path, port: int, threads: int, preview: str, log) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("latentedit")
    cmd = [str(exe), "studio", str(run), "--port", str(port), "--threads", str(threads), "--preview", preview]
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

    from latentedit.studio.browser import launch_chromium, move_slider, open_page
    from latentedit.studio.sliders import slider_id

    sid = slider_id(slider)
    shown, full, kinds = [], [], set()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page, requests = open_page(browser, url)
            for k in range(warmup + moves):
                value = round(((k % 9) - 4) * 0.35 + 0.05, 2)  # never the same value twice in a row
                move = move_slider(page, sid, value)
                if k >= warmup:
                    shown.append(move.shown_ms)
                    full.append(move.full_ms)
                    kinds.add(move.kind)
                time.sleep(0.05)
            outside = [u for u in requests if not u.startswith(url.rstrip("/")) and not u.startswith("data:")]
        finally:
            browser.close()
    return {"shown": shown, "full": full, "kinds": kinds, "outside": outside}


def agreement(run: Path, resolution: int, n_sliders: int = 3) -> dict:
    """Previews against full renders on every face of the run x the first sliders at -1 and +1 (see the docstring).
    Also a candidate not built (GNR only): the content code box-downsampled to the preview's scale, decoded through
    every layer (the decoder is fully convolutional from it)."""
    import torch
    import torch.nn.functional as F

    from latentedit.images import to_uint8
    from latentedit.pipeline.probes import thresholds_of
    from latentedit.studio.core import EditState, Studio

    st = Studio(run)
    G, method = st.G, "svd"
    keys = [s.key for s in st.specs(method)][:n_sliders]
    errors, images = [], {"full": [], "preview": [], "unedited": [], "small content": []}

    def up(image):
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        x = F.interpolate(x, size=G.size, mode="bilinear", align_corners=False)
        return x[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()

    def small_content(content, codes):  # the candidate: a content code at the preview's scale
        shape, G.content_shape = G.content_shape, None
        try:
            G.content_shape = (shape[0],) + tuple(s * resolution // G.size for s in shape[1:])
            with torch.inference_mode():
                return to_uint8(G.decode(F.avg_pool2d(content, G.size // resolution), torch.as_tensor(codes),
                                         use_mapping=False))[0]
        finally:
            G.content_shape = shape

    for i in st.sample_ids():
        face = st.sample_face(int(i))
        content, w = st.face_tensors(face)
        for key in keys:
            for v in (-1.0, 1.0):
                state = EditState(method, {key: v})
                errors.append(st.preview_error(face, state, resolution))
                full = st.render(face, state, False).image
                candidate = small_content(content, st.session(method).apply(w, st.edit(state)))
                target = full.reshape(resolution, G.size // resolution, resolution, -1, 3).mean((1, 3))
                errors[-1] += (float(np.abs(candidate - target).mean()),)
                images["preview"].append(up(st.render(face, state, False, preview=resolution).image))
                images["small content"].append(up(candidate))
                images["full"].append(full)
                images["unedited"].append(st.unedited(face))
    th = np.asarray(thresholds_of(st.tagger))
    read = {k: st.tagger.score(np.stack(v)) >= th for k, v in images.items()}
    errors = np.asarray(errors)
    return {"n": len(errors), "error": errors.mean(0), "tags": {k: float((read[k] == read["full"]).mean())
                                                             for k in ("preview", "unedited", "small content")}}


def reuse(run: Path, threads: int, repeat: int = 6) -> list[tuple[str, float, float]]:
    """(decoding work, render ms with it reused, ms with it redone) on the run's first face: the content encoding (the
    studio caches it per face), the mapping network (z space: not cached), and, for a middle and a fine edit's
    slider moving, the layers below its first edited layer (Studio._decode) against decoding them every move."""
    import torch

    from latentedit.studio.core import EditState, Studio

    torch.set_num_threads(threads)
    st = Studio(run)
    G = st.G
    face = st.sample_face(int(st.sample_ids()[0]))
    content, w = st.face_tensors(face)
    w = torch.from_numpy(w).reshape(1, -1)
    key = st.specs("svd")[0].key

    def ms(fn, before=lambda: None):
        with torch.inference_mode():
            fn()
            times = []
            for k in range(repeat):
                before()
                t = time.perf_counter()
                fn(k)
                times.append((time.perf_counter() - t) * 1e3)
        return statistics.median(times)

    full = ms(lambda k=0: G.decode(content, w, use_mapping=False))
    selfie, z = torch.zeros(1, 3, G.size, G.size), torch.zeros(1, G.latent_dim)
    rows = [("content encoding (kept: cached per face)", full, full + ms(lambda k=0: G.encode(selfie))),
            ("mapping network z -> w (not kept)", full, full + ms(lambda k=0: G.mapping(z)))]
    for group in ("middle", "fine"):  # a coarse edit starts at the first layer: nothing below it
        def move(k=0, group=group):
            st.render(face, EditState("svd", {key: 0.3 + 0.1 * k}, layers=group), meter=False)

        def forget():
            st._prefix = (None, None)

        rows.append((f"layers below a {group} edit (kept)", ms(move), ms(move, forget)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default="demo,256", help="comma-separated: demo, 256")
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the studio")
    ap.add_argument("--preview", default="demo:32,256:64", help="preview resolution per configuration")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    previews = dict(item.split(":") for item in args.preview.split(","))
    results = []
    for config in args.configs.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            t = time.perf_counter()
            run, slider = demo_run(tmp) if config == "demo" else release_run(tmp)
            print(f"[{config}] run ready in {time.perf_counter() - t:.0f} s: {run}", flush=True)
            port = free_port()
            with open(tmp / "studio.log", "w") as log:
                t = time.perf_counter()
                proc = serve(run, port, args.threads, previews[config], log)
                print(f"[{config}] studio up in {time.perf_counter() - t:.0f} s at http://127.0.0.1:{port}/",
                      flush=True)
                try:
                    r = measure(f"http://127.0.0.1:{port}/", slider, args.moves)
                finally:
                    proc.terminate()
                    proc.wait(30)
            r.update(config=config, slider=slider, preview=int(previews[config]), load=os.getloadavg()[0],
                     agree=agreement(run, int(previews[config])), reuse=reuse(run, args.threads))
            results.append(r)
    print(f"\n{os.cpu_count()} CPU cores, torch threads {args.threads}, {args.moves} moves per configuration")
    for r in results:
        print(f"\n[{r['config']}] slider {r['slider']}, preview {r['preview']} px (load average {r['load']:.1f}; "
              f"first image of each move: {', '.join(sorted(r['kinds']))})")
        print(f"  slider move    -> preview shown:    median {statistics.median(r['shown']):7.1f} ms   "
              f"p95 {pct(r['shown'], 0.95):7.1f} ms")
        ratio = statistics.median(r["full"]) / statistics.median(r["shown"])
        print(f"  slider release -> full image shown: median {statistics.median(r['full']):7.1f} ms   "
              f"p95 {pct(r['full'], 0.95):7.1f} ms   (full / preview medians: {ratio:.1f}x)")
        a = r["agree"]
        print(f"  agreement with the full render over {a['n']} edits: pixel error at {r['preview']} px "
              f"{a['error'][0]:.1f} (unedited face: {a['error'][1]:.1f}); tag reads equal "
              f"{100 * a['tags']['preview']:.1f}% (unedited face: {100 * a['tags']['unedited']:.1f}%)")
        print(f"  candidate, not built: content code downsampled to {r['preview']} px scale: pixel error "
              f"{a['error'][2]:.1f}, tag reads equal {100 * a['tags']['small content']:.1f}%")
        for what, reused, again in r["reuse"]:
            print(f"  reuse {what:<40} render {reused:6.1f} ms reused, {again:6.1f} ms redone ({again / reused:.2f}x)")
        print(f"  requests outside the studio's address: {len(r['outside'])}")


if __name__ == "__main__":
    main()
