"""How well `latentedit video` follows a moving face: the demo world's moving-face video.

The demo video (latentedit.world.video) knows its true face box in every frame. The script
writes it to mp4 and reads it back (the lossy frames the command sees), then

1. tracks the face with each box source and prints the box-centre error against the true boxes
   (mean / max px), the side error, and how many frames each source measured:
   a box fixed on the first frame (what `latentedit video --crop` did before), OpenCV's Haar
   cascade alone per frame (gaps bridged by the smoother), OpenCV's model-free MIL tracker,
   and latentedit.tracking (template tracker + zero-lag smoother), seeded by the true first box
   or by the cascade;
2. checks the smoother on the true boxes plus 2 px noise: error, lag (frames) and amplitude
   against a causal 5-frame moving average;
3. translates every frame with the shipped demo generator and one edited style (a seeded code
   whose hair length is moved from short to long along the world's planted vector) through the
   box of each source, as `latentedit video` does (pipeline.video.translate_video, mp4 read
   back), and prints `latentedit.world.video.follow_figures`: how the *output* face follows the
   input (the anime face's centre mapped back into the frame through the box vs the input face's
   centre: correlation of x and of y, mean error px, frames showing a face) and the share of
   frames in which the world's pixel readout reads every attribute of the edited code correctly.

    python benchmarks/bench_video_tracking.py [--frames 48] [--seed 0]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from latentedit import tracking
from latentedit.world import render
from latentedit.world.video import clear_long_hair_code, demo_video, follow_figures


def centres(boxes):
    return boxes[:, :2] + boxes[:, 2:] / 2


def box_errors(boxes, truth_boxes):
    e = np.hypot(*(centres(boxes) - centres(truth_boxes)).T)
    return e


def mil_track(frames, first_box):
    import cv2

    b = tuple(int(round(v)) for v in (first_box[0], first_box[1], first_box[2], first_box[2]))
    tr = cv2.TrackerMIL_create()
    tr.init(cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR), b)
    out = [np.asarray(first_box, float)]
    for f in frames[1:]:
        ok, (x, y, w, h) = tr.update(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        out.append(np.array([x + (w - h) / 2 if ok else np.nan, y if ok else np.nan, h if ok else np.nan]))
    return np.array(out)


def haar_only(frames, config=tracking.TrackConfig()):
    raw = np.full((len(frames), 3), np.nan)
    cascade = tracking._cascade()
    for t, f in enumerate(frames):
        faces = tracking.detect_faces(f, cascade)
        if len(faces):
            raw[t] = tracking.crop_box_of(faces[0], config)
    return raw


def translated(G, path, boxes, w, tmp):
    """The frames `latentedit video` writes (pipeline.video.translate_video through these boxes), read back."""
    import imageio.v2 as imageio

    from latentedit.pipeline.video import translate_video

    out = Path(tmp) / "out.mp4"
    translate_video(path, out, G, w, boxes=boxes, progress=False)
    with imageio.get_reader(str(out), format="ffmpeg") as r:
        return np.stack([np.asarray(f)[..., :3] for f in r])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    import imageio.v2 as imageio

    video = demo_video(args.frames, seed=args.seed)
    tmp = tempfile.mkdtemp()
    path = Path(tmp) / "demo.mp4"
    render.write_video(path, video.frames, fps=video.fps)
    with imageio.get_reader(str(path), format="ffmpeg") as r:
        frames = np.stack([np.asarray(f)[..., :3] for f in r])
    n = len(frames)
    print(f"demo video: {n} frames {frames.shape[2]}x{frames.shape[1]} (mp4 round trip), true box side "
          f"{video.boxes[:, 2].min():.0f}-{video.boxes[:, 2].max():.0f} px, face centre moves "
          f"{np.ptp(centres(video.boxes)[:, 0]):.0f} px across, {np.ptp(centres(video.boxes)[:, 1]):.0f} px down\n")

    sources = {}
    t0 = time.perf_counter()
    sources["fixed first box"] = (np.repeat(video.boxes[:1], n, axis=0), n, time.perf_counter() - t0)
    t0 = time.perf_counter()
    raw = haar_only(frames)
    sources["Haar cascade per frame + smoother"] = (tracking.smooth_boxes(raw), int(np.isfinite(raw[:, 0]).sum()),
                                                    time.perf_counter() - t0)
    t0 = time.perf_counter()
    raw = mil_track(frames, video.boxes[0])
    sources["OpenCV MIL tracker (true first box)"] = (raw, int(np.isfinite(raw[:, 0]).sum()), time.perf_counter() - t0)
    for name, first in (("true first box", video.boxes[0]), ("Haar-seeded", None)):
        t0 = time.perf_counter()
        tr = tracking.track_faces(frames, first)
        dt = time.perf_counter() - t0
        sources[f"latentedit.tracking raw ({name})"] = (tr.raw, int(np.isfinite(tr.raw[:, 0]).sum()), dt)
        sources[f"latentedit.tracking smoothed ({name})"] = (tr.boxes, int(np.isfinite(tr.raw[:, 0]).sum()), dt)

    print("1. boxes vs the true boxes")
    print(f"{'source':44s} {'measured':>9s} {'centre err mean':>16s} {'max':>6s} {'side err':>9s} {'ms/frame':>9s}")
    for name, (boxes, measured, dt) in sources.items():
        e = box_errors(boxes, video.boxes)
        side = np.nanmean(np.abs(boxes[:, 2] - video.boxes[:, 2]))
        print(f"{name:44s} {measured:>5d}/{n:<3d} {np.nanmean(e):>13.2f} px {np.nanmax(e):>6.2f} {side:>6.2f} px "
              f"{1000 * dt / n:>9.2f}")

    print("\n2. smoothing the true boxes + N(0, 2 px) noise (centre x)")
    rng = np.random.default_rng(args.seed)
    noisy = video.boxes + np.c_[rng.normal(0, 2.0, (n, 2)), np.zeros(n)]
    tx = centres(video.boxes)[:, 0]

    def lag(cx):
        shifts = list(range(-4, 5))
        return -shifts[int(np.argmax([np.dot(np.roll(np.diff(cx), s), np.diff(tx)) for s in shifts]))]

    ma = np.convolve(np.r_[np.full(4, noisy[0, 0] + noisy[0, 2] / 2), centres(noisy)[:, 0]], np.ones(5) / 5, "valid")
    for name, cx in (("noisy boxes", centres(noisy)[:, 0]),
                     ("Kalman + RTS smoother (latentedit)", centres(tracking.smooth_boxes(noisy))[:, 0]),
                     ("causal 5-frame moving average", ma)):
        print(f"{name:36s} err {np.abs(cx - tx).mean():5.2f} px   lag {lag(cx):+d} frames   "
              f"amplitude {np.ptp(cx) / np.ptp(tx):.3f} of the true motion")

    from latentedit.models.generator import load_generator

    G = load_generator("demo")
    z_long = clear_long_hair_code(args.seed + 5)  # the edited style: long hair, all else clear of its threshold
    with torch.inference_mode():
        w = G.mapping(torch.from_numpy(z_long))
    print("\n3. the translated video (demo generator, one edited style: long hair, all else clear of its threshold)")
    print("   (centre: the anime face's skin pixels, mapped into the frame through the box; correlation and error")
    print("   over the frames whose output shows a face at all)")
    print(f"{'box source':44s} {'face shown':>10s} {'corr x':>7s} {'corr y':>7s} {'centre err':>11s} "
          f"{'all attributes read right':>26s}")
    for name in ("fixed first box", "Haar cascade per frame + smoother", "latentedit.tracking smoothed (Haar-seeded)",
                 "latentedit.tracking smoothed (true first box)"):
        boxes = sources[name][0]
        boxes = np.where(np.isfinite(boxes), boxes, video.boxes[:1])
        f = follow_figures(video, translated(G, path, boxes, w, tmp), boxes, z_long[0])
        print(f"{name:44s} {f['faces']:>6d}/{n:<3d} {f['corr_x']:>7.3f} {f['corr_y']:>7.3f} {f['error_px']:>8.2f} px "
              f"{f['attributes_ok']:>20.1%} of {n}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
