"""WD14-format taggers: reference preprocessing, batched = one-at-a-time scores, categories and
thresholds, MCut, another input size, one-line refusals, the demo WD14 tagger through tagging."""

import shutil

import numpy as np
import pytest
from PIL import Image

from latentedit.errors import CheckpointError

onnx = pytest.importorskip("onnx")

CSV = ("tag_id,name,category,count\n"
       "1,general,9,100\n2,explicit,9,10\n3,long_hair,0,50\n4,smile,0,40\n5,blue_eyes,0,30\n6,hatsune_miku,4,20\n")
N_TAGS = 6


def make_tagger(folder, size=24, seed=0, csv=CSV):
    """A WD14 folder: model.onnx ((N, size, size, 3) -> flatten -> MatMul -> Sigmoid: every pixel and channel
    counts) built with onnx.helper, and selected_tags.csv."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    d = size * size * 3
    w = (rng.standard_normal((d, N_TAGS)) * 6 / (255 * np.sqrt(d))).astype(np.float32)
    b = rng.normal(0, 0.5, N_TAGS).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["input", "shape"], ["flat"]),
         helper.make_node("MatMul", ["flat", "w"], ["logits0"]),
         helper.make_node("Add", ["logits0", "b"], ["logits"]),
         helper.make_node("Sigmoid", ["logits"], ["output"])],
        "tiny_wd14",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", size, size, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", N_TAGS])],
        [numpy_helper.from_array(np.array([-1, d], np.int64), "shape"), numpy_helper.from_array(w, "w"),
         numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    (folder / "selected_tags.csv").write_text(csv)
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_tagger(tmp_path_factory.mktemp("wd14") / "tiny")


@pytest.fixture(scope="module")
def tagger(folder):
    from latentedit.tagging import load_tagger

    return load_tagger(folder)


def _items(tmp_path):
    """Images of many sizes and modes: arrays (RGB, RGBA, grey), PIL images (RGBA, L, P) and a PNG file."""
    rng = np.random.default_rng(1)
    smooth = lambda h, w, c: np.clip(  # noqa: E731
        np.cumsum(rng.integers(-20, 21, (h, w, c)), axis=1) + 128, 0, 255).astype(np.uint8)
    items = [smooth(24, 24, 3), smooth(40, 21, 3), smooth(17, 50, 4), smooth(64, 64, 1), smooth(7, 9, 3),
             smooth(100, 33, 3), Image.fromarray(smooth(45, 45, 4), "RGBA"), Image.fromarray(smooth(30, 70, 1)[..., 0], "L"),
             Image.fromarray(smooth(36, 28, 3)).convert("P")]
    path = tmp_path / "file.png"
    Image.fromarray(smooth(50, 31, 4), "RGBA").save(path)
    return items + [path]


def straightforward(rgba: np.ndarray, size: int) -> np.ndarray:
    """The reference preprocessing written out in numpy: alpha on white, centred white square, bicubic resize, BGR."""
    a = rgba[..., 3:].astype(np.float64) / 255
    rgb = np.round(rgba[..., :3] * a + 255 * (1 - a)).astype(np.uint8)
    h, w = rgb.shape[:2]
    side = max(h, w)
    square = np.full((side, side, 3), 255, np.uint8)
    square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = rgb
    resized = np.asarray(Image.fromarray(square).resize((size, size), Image.BICUBIC)) if side != size else square
    return resized[:, :, [2, 1, 0]].astype(np.float32)


def test_reference_preprocessing(tagger):
    from latentedit.tagging.wd14 import prepare, rgb_on_white

    rng = np.random.default_rng(2)
    for h, w in [(24, 24), (40, 21), (17, 50), (64, 64), (7, 9)]:
        rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        rgba[: h // 2, :, 3] = 255  # opaque and transparent parts
        got = prepare(rgb_on_white(rgba), 24)
        assert got.shape == (24, 24, 3) and got.dtype == np.float32  # NHWC once stacked, float 0-255
        assert np.abs(got - straightforward(rgba, 24)).max() <= 1  # PIL's alpha compositing rounds its own way
        opaque = rgba.copy()
        opaque[..., 3] = 255
        np.testing.assert_array_equal(prepare(rgb_on_white(opaque), 24), straightforward(opaque, 24))
    # the padding is white and the channels are BGR: a pure red 10x20 image
    red = np.zeros((10, 20, 3), np.uint8)
    red[..., 0] = 255
    x = prepare(red, 20)
    assert (x[:5] == 255).all() and (x[15:] == 255).all()
    assert (x[5:15] == [0, 0, 255]).all()


def test_scores_equal_one_image_at_a_time(tagger, tmp_path):
    from latentedit.tagging.wd14 import reference_scores

    items = _items(tmp_path)
    got = tagger.score(items, batch_size=3)
    want = reference_scores(tagger, items)
    assert got.shape == (len(items), N_TAGS) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5
    assert got.std(axis=0).min() > 1e-3  # the images really give different scores
    batch = np.random.default_rng(3).integers(0, 256, (7, 30, 20, 3), dtype=np.uint8)
    np.testing.assert_allclose(tagger.score(batch, batch_size=2), tagger.score(list(batch), batch_size=32), atol=1e-6)


def test_another_input_size(tmp_path):
    from latentedit.tagging import load_tagger
    from latentedit.tagging.wd14 import reference_scores

    t = load_tagger(make_tagger(tmp_path / "big", size=40, seed=5))
    assert t.input_size == (40, 40)
    items = _items(tmp_path)
    assert np.abs(t.score(items, batch_size=4) - reference_scores(t, items)).max() < 1e-5


def test_categories_and_thresholds(folder, tagger):
    from latentedit.tagging import Tagger, labels, load_tagger

    assert isinstance(tagger, Tagger)
    assert tagger.tags == ["general", "explicit", "long_hair", "smile", "blue_eyes", "hatsune_miku"]
    assert tagger.categories == ["rating", "rating", "general", "general", "general", "character"]
    np.testing.assert_array_equal(tagger.thresholds, [0.35, 0.35, 0.35, 0.35, 0.35, 0.85])
    assert len(tagger.fingerprint) == 16
    scores = np.array([[0.9, 0.1, 0.36, 0.34, 0.5, 0.84], [0.2, 0.3, 0.1, 0.9, 0.35, 0.86]])
    np.testing.assert_array_equal(labels(tagger, scores), [[1, 0, 1, 0, 1, 0], [0, 0, 0, 1, 1, 1]])
    lower = load_tagger(folder, threshold=0.2, character_threshold=0.5)
    np.testing.assert_array_equal(lower.thresholds, [0.2, 0.2, 0.2, 0.2, 0.2, 0.5])
    assert lower.fingerprint == tagger.fingerprint  # thresholds do not change the scores


def test_mcut():
    from latentedit.stats import mcut_threshold, tag_labels

    scores = np.array([[0.9, 0.8, 0.2, 0.1], [0.6, 0.55, 0.1, 0.05]])
    np.testing.assert_allclose(mcut_threshold(scores), [0.5, 0.325])  # midpoints of the widest gaps
    categories = ["general", "general", "general", "character"]
    np.testing.assert_array_equal(tag_labels(scores, 0.35, categories, mcut=True), [[1, 1, 0, 0], [1, 1, 0, 0]])
    # each category is cut on its own; characters at max(0.15, MCut): 0.14 stays off though MCut says 0.08
    for chars, want in (([0.3, 0.12], [1, 0]), ([0.14, 0.02], [0, 0])):
        one = np.array([[0.9, 0.1, *chars]])
        np.testing.assert_array_equal(tag_labels(one, 0.35, ["general", "general", "character", "character"], mcut=True),
                                      [[1, 0, *want]])
    one = np.array([[0.9, 0.1, 0.3, 0.12]])
    # rating tags keep their fixed threshold under MCut
    np.testing.assert_array_equal(tag_labels(one, 0.35, ["rating", "general", "general", "general"], mcut=True),
                                  [[1, 0, 1, 0]])


def test_rating_category_is_not_fitted():
    from latentedit.directions.filtering import filter_tags

    vocab = ["general", "long_hair", "rating:safe"]
    counts = np.array([50, 50, 50])
    r = filter_tags(vocab, counts, 100, categories=["rating", "general", "general"])
    assert r.kept == ["long_hair", "rating:safe"] and r.dropped == {"general": "rating tag"}
    r = filter_tags(vocab, counts, 100)  # runs tagged before categories were recorded: by name
    assert r.kept == ["general", "long_hair"] and r.dropped == {"rating:safe": "rating tag"}


def test_refusals_in_one_line(folder, tmp_path):
    from latentedit.tagging import load_tagger

    def copy(name, drop=None, csv=None, model=None):
        d = shutil.copytree(folder, tmp_path / name)
        if drop:
            (d / drop).unlink()
        if csv is not None:
            (d / "selected_tags.csv").write_text(csv)
        if model is not None:
            (d / "model.onnx").write_bytes(model)
        return d

    where = "the SmilingWolf/wd-* taggers on Hugging Face ship both files"
    cases = [
        (copy("a", drop="selected_tags.csv"), f"{tmp_path / 'a'} has model.onnx but no selected_tags.csv; a WD14 tagger needs both ({where})"),
        (copy("b", drop="model.onnx"), f"{tmp_path / 'b'} has selected_tags.csv but no model.onnx; a WD14 tagger needs both ({where})"),
        (copy("c", csv="id,tag\n1,long_hair\n"),
         f"{tmp_path / 'c' / 'selected_tags.csv'} has no column tag_id, name, category, count (header: id, tag); "
         "a WD14 selected_tags.csv has the columns tag_id, name, category, count"),
        (copy("d", model=(folder / "model.onnx").read_bytes()[:300]),
         f"cannot load {tmp_path / 'd' / 'model.onnx'} (InvalidProtobuf); the file is damaged or not an ONNX model"),
        (copy("e", csv=CSV.rsplit("6,", 1)[0]),
         f"{tmp_path / 'e'}: selected_tags.csv lists 5 tags but the model has 6 outputs; use the selected_tags.csv "
         "that came with the model"),
        (tmp_path / "nowhere", f"tagger {tmp_path / 'nowhere'} does not exist; pass 'demo', 'demo-wd14', a DeepDanbooru "
                               "project folder or a WD14 tagger folder"),
    ]
    for path, message in cases:
        with pytest.raises(CheckpointError) as e:
            load_tagger(path)
        assert str(e.value) == message


def _balanced_accuracy(truth, pred):
    return 0.5 * (pred[truth].mean() + (~pred[~truth]).mean())


def test_demo_wd14_through_the_pipeline(tmp_path):
    """sample --n-inputs 8, tag --tagger demo-wd14, fit: the tags agree with the world's truth and ratings are not fitted."""
    from latentedit.directions.fit import fit_directions
    from latentedit.pipeline.sample import sample
    from latentedit.pipeline.tag import tag_run
    from latentedit.tagging import load_tagger
    from latentedit.world import truth

    run = sample("demo", tmp_path / "run", n_inputs=8, progress=False).run
    tagger = load_tagger("demo-wd14")
    assert tagger.input_size == (64, 64) and tagger.categories[:4] == ["rating"] * 4
    result = tag_run(run, tagger, progress=False)
    assert result.tagged == 24 and run.tag_vocab()["source"] == "demo-wd14"
    scores, tags = run.tag_scores()
    on, want = run.tag_labels(scores).astype(bool), truth.tag_matrix(run.codes()["z"]).astype(bool)
    accuracy = [_balanced_accuracy(want[:, k], on[:, tags.index(t)]) for k, t in enumerate(truth.TAGS)
                if 0 < want[:, k].sum() < len(want)]
    assert len(accuracy) >= 12 and np.mean(accuracy) > 0.85, accuracy  # the card reports >= 0.9 per attribute on 500
    ds = fit_directions(run, "linear", min_count=1)
    assert ds.params["dropped"]["general"] == "rating tag" and "general" not in ds.names
    assert ds.params["threshold"] == 0.35


def test_side_effect_reads_count_a_tag_at_the_taggers_own_threshold():
    """The probes, the report's tagger tables and the studio meter read a WD14 tag at 0.35 / 0.85, not 0.5."""
    from latentedit.pipeline.probes import thresholds_of
    from latentedit.scoring.sideeffects import UNSURE, tag_reads

    scores = np.array([[0.40, 0.40], [0.90, 0.80]])
    reads = tag_reads(scores, ["a_general", "a_character"], [0.35, 0.85], margin=0.1)
    assert reads["a_general"].tolist() == [UNSURE, 1] and reads["a_character"].tolist() == [0, UNSURE]
    assert tag_reads(scores, ["x", "y"])["x"].tolist() == [0, 1]  # one number: as before

    class WD14:
        tags, thresholds = ("a", "b", "c"), (0.35, 0.85, 0.35)

    class NoThresholds:
        tags = ("a", "b")

    assert thresholds_of(WD14(), [1, 2]).tolist() == [0.85, 0.35]
    assert thresholds_of(NoThresholds()).tolist() == [0.5, 0.5]
