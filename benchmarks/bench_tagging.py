"""Batched, compiled tagging (`Tagger.score`) vs DeepDanbooru's own per-image path.

The reference (`deepdanbooru.commands.evaluate_image`) reads and preprocesses one image and runs
one `model.predict` per image. Both paths score the same PNG files with the same model in the
same process; the script prints images/s of each, the ratio (goal >= 3x) and the largest score
difference.

    python benchmarks/bench_tagging.py                  # random 128x128 project, 200 tags
    python benchmarks/bench_tagging.py --project demo   # the shipped demo tagger (64x64)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def random_project(folder: Path, size: int, n_tags: int) -> Path:
    """A project with random weights, built with deepdanbooru's ResNet code (4 stages)."""
    from latentedit.tagging import import_deepdanbooru
    from tools.world.train_tagger import build_model, save_project

    import_deepdanbooru()
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = build_model(n_tags, image_size=size, filter_sizes=(64, 128, 256, 512), repeat_sizes=(1, 2, 2, 1),
                        name="resnet_custom_bench")
    return save_project(folder / "project", model, [f"tag_{i:04d}" for i in range(n_tags)])


def write_images(folder: Path, n: int, size: int, seed: int = 0) -> list[Path]:
    """`n` smooth random PNGs of `size` x `size` (same size: the common case of a run)."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        a = np.clip(np.cumsum(rng.integers(-12, 13, (size, size, 3)), axis=1) + 128, 0, 255).astype(np.uint8)
        paths.append(folder / f"{i:05d}.png")
        Image.fromarray(a).save(paths[-1])
    return paths


from timing import timed  # noqa: E402  (benchmarks/timing.py, beside this script)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ imports from the repository root


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", default=None, help="'demo' or a project folder (default: a random one)")
    parser.add_argument("--size", type=int, default=128, help="input size of the random project")
    parser.add_argument("--tags", type=int, default=200, help="tags of the random project")
    parser.add_argument("--n", type=int, default=96, help="images to tag")
    parser.add_argument("--image-size", type=int, default=160, help="side of the test images")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from latentedit.tagging import load_tagger, reference_scores

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        project = args.project or random_project(tmp, args.size, args.tags)
        tagger = load_tagger(project)
        (tmp / "images").mkdir()
        paths = write_images(tmp / "images", args.n, args.image_size)
        print(f"tagger {tagger}, {args.n} PNG images of {args.image_size}x{args.image_size}")

        tagger.score(paths[: args.batch_size], batch_size=args.batch_size)  # trace once
        reference_scores(tagger, paths[:2])  # build predict's function once
        t_batched, got = timed(lambda: tagger.score(paths, batch_size=args.batch_size), repeat=2)
        t_reference, want = timed(lambda: reference_scores(tagger, paths))

    print(f"reference, one predict per image   {args.n / t_reference:8.1f} images/s  ({t_reference:.2f} s)")
    print(f"Tagger.score, batch {args.batch_size:<3}            {args.n / t_batched:8.1f} images/s  ({t_batched:.2f} s)")
    print(f"speed-up                            {t_reference / t_batched:8.1f}x  (goal >= 3x)")
    print(f"max |score difference|              {np.abs(got - want).max():.2e}")


if __name__ == "__main__":
    main()
