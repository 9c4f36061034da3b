"""Shared fixtures: small real models built with the same code as the full-size ones."""

import numpy as np
import pytest
import torch

TINY = dict(size=32, num_down=1, channels={4: 32, 8: 32, 16: 32, 32: 16})


def tiny_generator(seed: int = 0):
    """A small GNR generator (size 32) with seeded random weights."""
    from latentedit.models.gnr import Generator

    torch.manual_seed(seed)
    G = Generator(**TINY).eval()
    for p in G.parameters():
        p.requires_grad_(False)
    return G


@pytest.fixture
def tiny_G():
    return tiny_generator()


@pytest.fixture
def selfie_dir(tmp_path):
    """A folder of small selfie-like images in assorted modes and sizes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    d = tmp_path / "selfies"
    d.mkdir()
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), np.uint8)).save(d / "a.png")
    Image.fromarray(rng.integers(0, 255, (50, 30, 4), np.uint8), "RGBA").save(d / "b_rgba.png")
    Image.fromarray(rng.integers(0, 255, (33, 47), np.uint8), "L").save(d / "c_gray.jpg")
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(d / "d.jpg")
    (d / "notes.txt").write_text("not an image")
    (d / "e_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    return d


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub folder of our own (TORCH_HOME), so no user weights leak into the tests."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    d = tmp_path / "torch" / "hub" / "checkpoints"
    d.mkdir(parents=True)
    return d


def truth_tagged_run(path, n_inputs: int, styles_per_input: int = 3):
    """A demo-world run sampled into `path`, tagged with the world's ground-truth tags (no TensorFlow)."""
    from latentedit.pipeline.sample import sample
    from latentedit.world import truth

    run = sample("demo", path, n_inputs=n_inputs, styles_per_input=styles_per_input, progress=False).run
    for s in run.shards():
        codes = run.shard_codes(s)
        run.write_tag_shard(s, codes["id"], truth.tag_matrix(codes["z"]))
    run.write_tag_vocab({"tags": truth.TAGS, "tagger": "ground-truth", "source": "truth"})
    return run
