"""DeepDanbooru adapter: equality with deepdanbooru's own evaluation path, loading errors, tag_run."""

import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from latentedit.errors import CheckpointError, RunError
from latentedit.store import Run

TAGS = ["long_hair", "short_hair", "open_mouth", "closed_eyes", "blue_hair"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny project (32x32 input, 5 tags) built with deepdanbooru's builders, random weights."""
    from latentedit.tagging import import_deepdanbooru
    from tools.world.train_tagger import build_model, save_project

    import_deepdanbooru()  # before TensorFlow is imported anywhere: it orders triton first
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = build_model(len(TAGS), image_size=32, filter_sizes=(16, 32), repeat_sizes=(1, 1), name="resnet_custom_tiny")
    rng = np.random.default_rng(0)
    for layer in model.layers:  # untrained BN layers are near-identity; make every path matter
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n), rng.uniform(0.5, 2, n)])
    return save_project(tmp_path_factory.mktemp("proj") / "tiny", model, TAGS)


@pytest.fixture(scope="module")
def tagger(project):
    from latentedit.tagging import load_tagger

    return load_tagger(project)


def _images(tmp_path):
    """Images of many sizes and modes: arrays, PIL images (RGBA, L, P) and PNG files."""
    rng = np.random.default_rng(1)
    smooth = lambda h, w, c: np.clip(  # noqa: E731
        np.cumsum(rng.integers(-20, 21, (h, w, c)), axis=1) + 128, 0, 255
    ).astype(np.uint8)
    items = [
        smooth(32, 32, 3),       # exact size
        smooth(40, 21, 3),       # tall, odd padding -> half-pixel shift
        smooth(17, 50, 4),       # RGBA array, wide, upsampled
        smooth(64, 64, 1),       # grayscale array, downsampled
        smooth(7, 9, 3),         # tiny
        smooth(100, 33, 3),
    ]
    items.append(Image.fromarray(smooth(45, 45, 4), "RGBA"))
    items.append(Image.fromarray(smooth(30, 70, 1)[..., 0], "L"))
    items.append(Image.fromarray(smooth(36, 28, 3)).convert("P"))
    path = tmp_path / "file.png"
    Image.fromarray(smooth(50, 31, 3)).save(path)
    items.append(path)
    return items


def test_import_is_lazy_and_restores_process_settings():
    code = (
        "import os, sys, warnings\n"
        "import latentedit.tagging as t\n"
        "assert 'tensorflow' not in sys.modules and 'deepdanbooru' not in sys.modules\n"
        "filters, level = list(warnings.filters), os.environ.get('TF_CPP_MIN_LOG_LEVEL')\n"
        "t.import_deepdanbooru()\n"
        "assert 'deepdanbooru' in sys.modules\n"
        "assert list(warnings.filters) == filters, 'warning filters changed'\n"
        "assert os.environ.get('TF_CPP_MIN_LOG_LEVEL') == level, 'TF_CPP_MIN_LOG_LEVEL changed'\n"
        "import torch._dynamo\n"  # imports triton: crashed (SIGSEGV) when TensorFlow came first
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_scores_equal_deepdanbooru_evaluate_image(tagger, tmp_path):
    from latentedit.tagging import reference_scores

    items = _images(tmp_path)
    got = tagger.score(items, batch_size=4)
    want = reference_scores(tagger.project_dir, items)
    assert got.shape == (len(items), len(TAGS)) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5
    assert got.std(axis=0).min() > 1e-3  # the images really give different scores


def test_batch_size_invariance_and_array_input(tagger):
    rng = np.random.default_rng(2)
    batch = rng.integers(0, 256, (7, 48, 40, 3), dtype=np.uint8)
    one = tagger.score(batch, batch_size=1)
    np.testing.assert_allclose(tagger.score(batch, batch_size=3), one, atol=1e-6)
    np.testing.assert_allclose(tagger.score(list(batch), batch_size=32), one, atol=1e-6)


def test_tagger_attributes(tagger, project):
    assert tagger.tags == TAGS
    assert tagger.input_size == (32, 32)
    assert len(tagger.fingerprint) == 16 and int(tagger.fingerprint, 16) >= 0
    ctx = json.loads((project / "project.json").read_text())
    assert ctx["model"] == "resnet_custom_tiny" and ctx["image_width"] == ctx["image_height"] == 32
    import deepdanbooru as dd  # the files also load with deepdanbooru's own loader

    assert dd.project.load_model_from_project(str(project), compile_model=False).output_shape == (None, len(TAGS))


def test_load_errors(project, tmp_path):
    from latentedit.tagging import load_tagger

    def broken(name, drop=(), tags=None):
        d = tmp_path / name
        shutil.copytree(project, d)
        for f in drop:
            (d / f).unlink()
        if tags is not None:
            (d / "tags.txt").write_text("\n".join(tags) + "\n")
        return d

    cases = [
        (tmp_path / "nowhere", f"tagger {tmp_path / 'nowhere'} does not exist; pass 'demo', 'demo-wd14', a DeepDanbooru "
                               "project folder or a WD14 tagger folder"),
        (broken("a", ["project.json"]), f"{tmp_path / 'a'} is not a DeepDanbooru project: no project.json"),
        (broken("b", ["tags.txt"]), f"{tmp_path / 'b'} is not a DeepDanbooru project: no tags.txt"),
        (broken("c", ["model-resnet_custom_tiny.h5"]),
         f"{tmp_path / 'c'} has no model-resnet_custom_tiny.keras or model-resnet_custom_tiny.h5; copy the model file into the folder"),
        (broken("d", tags=TAGS[:3]),
         f"{tmp_path / 'd'}: tags.txt lists 3 tags but the model has 5 outputs; use the tags.txt that came with the model"),
    ]
    damaged = broken("e")
    model_file = damaged / "model-resnet_custom_tiny.h5"
    model_file.write_bytes(model_file.read_bytes()[:5000])
    cases.append((damaged, f"cannot load {model_file} (OSError); the file is damaged or not a Keras model"))
    for path, message in cases:
        with pytest.raises(CheckpointError) as e:
            load_tagger(path)
        assert str(e.value) == message


def _fake_run(path, n_shards=3, per_shard=4, size=36):
    rng = np.random.default_rng(3)
    run = Run.create(path, {"generator": {"fingerprint": "fake", "config": {}, "kind": "in-memory"}, "seed": 0,
                            "styles_per_input": 1, "inputs_per_shard": per_shard, "inputs": []})
    for s in range(n_shards):
        ids = np.arange(s * per_shard, (s + 1) * per_shard, dtype=np.int64)
        codes = {"id": ids, "input_id": ids, "z": rng.standard_normal((per_shard, 8)).astype(np.float32),
                 "w": rng.standard_normal((per_shard, 512)).astype(np.float32)}
        pngs = []
        for _ in ids:
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
            pngs.append(buf.getvalue())
        run.write_shard(s, codes, pngs)
    return run


def _tag_bytes(run):
    return {f.name: f.read_bytes() for f in sorted(run.tags_dir.iterdir())}


def test_tag_run_resumes_and_refuses_another_tagger(tagger, project, tmp_path, monkeypatch):
    from latentedit.pipeline.tag import tag_run
    from latentedit.tagging import load_tagger

    complete = _fake_run(tmp_path / "complete")
    summary = tag_run(complete, tagger, batch_size=3, progress=False)
    assert summary.samples == 12 and summary.tagged == 12
    scores, tags = complete.tag_scores()
    assert tags == TAGS and scores.shape == (12, 5)
    np.testing.assert_allclose(scores[:4], tagger.score(complete.shard_images("shard-00000")), atol=1e-6)
    vocab = json.loads((complete.tags_dir / "vocab.json").read_text())
    assert vocab == {"tags": TAGS, "tagger": tagger.fingerprint, "source": str(project), "categories": ["general"] * 5,
                     "thresholds": [0.5] * 5, "mcut": False}

    run = _fake_run(tmp_path / "interrupted")
    score = tagger.score
    calls = []

    def interrupt_after_one(images, batch_size=32):
        if calls:
            raise KeyboardInterrupt
        calls.append(len(images))
        return score(images, batch_size)

    monkeypatch.setattr(tagger, "score", interrupt_after_one)
    with pytest.raises(KeyboardInterrupt):
        tag_run(run, tagger, batch_size=3, progress=False)
    assert sorted(f.name for f in run.tags_dir.glob("*.npz")) == ["shard-00000.npz"]

    calls.clear()
    monkeypatch.setattr(tagger, "score", lambda images, batch_size=32: calls.append(len(images)) or score(images, batch_size))
    summary = tag_run(run, tagger, batch_size=3, progress=False)
    assert calls == [4, 4] and summary.tagged == 8 and summary.kept == 4
    assert _tag_bytes(run) == _tag_bytes(complete)
    calls.clear()
    assert tag_run(run, tagger, progress=False).tagged == 0 and calls == []
    monkeypatch.undo()

    other_dir = shutil.copytree(project, tmp_path / "other")
    (other_dir / "tags.txt").write_text("\n".join(t.upper() for t in TAGS) + "\n")
    other = load_tagger(other_dir)
    with pytest.raises(RunError) as e:
        tag_run(run, other, progress=False)
    assert str(e.value) == (
        f"{run.tags_dir} holds scores of another tagger ({project}, fingerprint {tagger.fingerprint}); "
        f"pass --overwrite to re-tag with {other_dir}"
    )
    assert tag_run(run, other, progress=False, overwrite=True).tagged == 12
    assert run.tag_scores()[1] == [t.upper() for t in TAGS]


@pytest.mark.slow
def test_demo_tagger_meets_quality_bar_on_generator_outputs():
    import latentedit
    from latentedit.tagging import load_tagger
    from latentedit.world import assets

    assets.verify(assets.GENERATOR)  # shipped: a missing or altered file fails the test
    assets.verify(assets.TAGGER)
    from tools.world.train_tagger import evaluate_demo_tagger

    result = evaluate_demo_tagger(load_tagger("demo"), latentedit.load_generator("demo"), n=500, seed=12345)
    for name in ("hair_length", "open_mouth", "closed_eyes", "hair_color"):
        assert result[name] >= 0.90, (name, result)


def test_shown_tags_of_clean_renders_are_their_codes_tags():
    """A render shows exactly its code's tags, so `shown_tags` (the readout labels a tagger can be
    trained on) must return `truth.tag_matrix`; an edited image's labels follow the pixels."""
    from latentedit.world import render, truth
    from tools.world.train_tagger import shown_tags

    rng = np.random.default_rng(3)
    geometry = render.sample_geometry(rng, 24)
    z = rng.standard_normal((24, truth.LATENT_DIM))
    images = render.anime_batch(geometry, z, 64)
    np.testing.assert_array_equal(shown_tags(images, z, geometry, chunk=10), truth.tag_matrix(z))
    # the first face drawn with its mouth switched: its labels follow what it shows, the rest stay
    attrs = render.take(truth.attributes(z), 0)
    attrs["open_mouth"] = 1 - attrs["open_mouth"]
    images[0] = render.render_anime(render.take(geometry, 0), attrs, 64)
    shown = shown_tags(images, z, geometry)
    col = list(truth.TAGS).index("open_mouth")
    assert shown[0, col] == 1 - truth.tag_matrix(z)[0, col]
    np.testing.assert_array_equal(shown[1:], truth.tag_matrix(z)[1:])


def test_tagger_labels_option_is_checked_before_any_work():
    from tools.world.train_tagger import TaggerTrainConfig

    with pytest.raises(ValueError, match="labels must be one of code, shown, got 'pixels'"):
        TaggerTrainConfig(labels="pixels")
