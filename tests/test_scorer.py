"""The ResNet50 re-scorer: file round trip and errors, label CSVs, training from arrays, folders and
runs, ImageNet initialisation when the file exists, and the demo scorer's held-out accuracy."""

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.errors import CheckpointError, InputError, TagError
from latentedit.scoring import data as D, scorer as S, training as T



def toy_data(n=40, size=24, seed=0):
    """Images whose two labels are visible: bright (a) and a red left half (b)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, (n, 2)).astype(np.float32)
    x = rng.integers(0, 60, (n, size, size, 3)).astype(np.uint8)
    x[y[:, 0] == 1] += 150
    x[y[:, 1] == 1, :, : size // 2, 0] = 255
    return x, y


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    scorer = S.Scorer(("a", "b"), input_size=32).eval()
    scorer.metrics = {"held_out": {"a": {"accuracy": np.float64(0.5)}}}
    scorer.trained_on = {"kind": "array", "n": 3}
    x, _ = toy_data(4)
    path = scorer.save(tmp_path / "s.pt")
    loaded = S.load_scorer(path)
    assert loaded.attributes == ("a", "b") and loaded.input_size == 32
    assert loaded.metrics == {"held_out": {"a": {"accuracy": 0.5}}} and loaded.trained_on["n"] == 3
    assert loaded.predict(x).tobytes() == scorer.predict(x).tobytes()
    assert loaded.predict(x).shape == (4, 2) and loaded.features(x).shape == (4, 2048)
    assert S.load_scorer(path, attributes=["a", "b"]).attributes == ("a", "b")
    with pytest.raises(S.ScorerError) as e:
        S.load_scorer(path, attributes=("b", "a"))
    assert str(e.value) == ("the scorer was trained on attributes ['a', 'b'] but ['b', 'a'] were asked; "
                            "train a scorer for those with latentedit train-scorer")


def test_bad_scorer_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist; train one with latentedit train-scorer"):
        S.load_scorer(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot read scorer file"):
        S.load_scorer(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="is not a latentedit scorer file"):
        S.load_scorer(tmp_path / "other.pt")


@pytest.mark.parametrize("text, message", [
    ("name,a,b\nx.png,0,1\n", "has no 'filename' column (columns: name, a, b)"),
    ("filename,a\nx.png,0\n", "has no column for attribute 'b' (columns: a)"),
    ("filename,a,b\nx.png,0,2\n", "line 2: b must be 0 or 1, got '2'"),
    ("filename,a,b\nx.png,0,1\ny.png,yes,1\n", "line 3: a must be 0 or 1, got 'yes'"),
    ("filename,a,b\nx.png,0,1\nx.png,1,1\n", "line 3: filename 'x.png' appears twice"),
    ("filename,a,b\n", "has no label rows"),
])
def test_label_csv_errors(tmp_path, text, message):
    f = tmp_path / "labels.csv"
    f.write_text(text)
    with pytest.raises(InputError) as e:
        D.load_labels_csv(f, ["a", "b"])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_label_csv_reads_columns_in_attribute_order(tmp_path):
    f = tmp_path / "labels.csv"
    f.write_text("b,filename,a,extra\n1,x.png,0,7\n0,y.png,1,7\n")
    names, y = D.load_labels_csv(f, ["a", "b"])
    assert names == ["x.png", "y.png"] and y.tolist() == [[0, 1], [1, 0]]
    with pytest.raises(InputError, match="does not exist"):
        D.load_labels_csv(tmp_path / "nope.csv", ["a"])


def test_training_is_seeded_and_reports_held_out_metrics(hub):
    x, y = toy_data()
    a = T.train_scorer(x, y, ("a", "b"), epochs=1, input_size=32, batch_size=16, progress=False)
    b = T.train_scorer(x, y, ("a", "b"), epochs=1, input_size=32, batch_size=16, progress=False)
    assert all(torch.equal(v, b.net.state_dict()[k]) for k, v in a.net.state_dict().items())
    held = a.metrics["held_out"]
    assert set(held) == {"a", "b"} and held["a"]["n"] == 8 and a.metrics["n_train"] == 32
    assert 0 <= held["a"]["accuracy"] <= 1 and set(held["a"]) == {"accuracy", "auc", "n", "positives"}
    assert a.init.startswith("scratch (no ImageNet weights")
    with pytest.raises(InputError, match=r"labels must have shape \(40, 3\)"):
        T.train_scorer(x, y, ("a", "b", "c"), epochs=1, progress=False)
    with pytest.raises(InputError, match="too few"):
        T.train_scorer(x[:3], y[:3], ("a", "b"), epochs=1, progress=False)


def test_training_from_a_folder_with_a_csv(tmp_path, hub):
    x, y = toy_data(12)
    d = tmp_path / "imgs"
    d.mkdir()
    lines = ["filename,a,b"]
    for i, (img, lab) in enumerate(zip(x, y)):
        Image.fromarray(img).save(d / f"{i}.png")
        lines.append(f"{i}.png,{int(lab[0])},{int(lab[1])}")
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "s.pt"
    s = T.train_scorer(d, tmp_path / "l.csv", ("a", "b"), epochs=1, input_size=32, progress=False, out=out)
    assert s.trained_on["kind"] == "folder" and s.trained_on["n"] == 12
    assert S.load_scorer(out).trained_on["labels"] == str(tmp_path / "l.csv")
    (tmp_path / "bad.csv").write_text("filename,a,b\nmissing.png,0,1\n")
    with pytest.raises(InputError, match="1 file\\(s\\) of .* are not in .*, e.g. 'missing.png'"):
        T.train_scorer(d, tmp_path / "bad.csv", ("a", "b"), progress=False)
    with pytest.raises(InputError, match="is an image folder, not a run: give --labels CSV"):
        T.train_scorer(d, None, ("a", "b"), progress=False)


def test_training_from_a_run_uses_thresholded_tags(tmp_path, hub):
    from latentedit.images import encode_png
    from latentedit.store import Run

    x, y = toy_data(12)
    run = Run.create(tmp_path / "run", {"generator": {"fingerprint": "f" * 16}, "seed": 0})
    ids = np.arange(12, dtype=np.int64)
    codes = {"id": ids, "input_id": ids, "z": np.zeros((12, 8), np.float32), "w": np.zeros((12, 4), np.float32)}
    run.write_shard(0, codes, [encode_png(img) for img in x])
    scores = np.concatenate([y * 0.8 + 0.1, np.full((12, 1), 0.3)], axis=1).astype(np.float32)  # a, b, c
    run.write_tag_shard("shard-00000", ids, scores)
    run.write_tag_vocab({"tags": ["b", "a", "c"], "tagger": "t", "source": "test"})
    s = T.train_scorer(tmp_path / "run", None, ("b", "a"), epochs=1, input_size=32, progress=False)
    assert s.trained_on["kind"] == "run" and s.trained_on["labels"] == "tags >= 0.5"
    images, labels, _ = D.training_data(Run(tmp_path / "run"), None, ("a", "c"))
    assert labels.tolist() == np.stack([y[:, 1], np.zeros(12)], axis=1).tolist()  # column 'a' holds y[:, 1]
    with pytest.raises(TagError, match="attribute 'open_mouth' is not among the tags"):
        D.training_data(Run(tmp_path / "run"), None, ("open_mouth",))


def test_imagenet_initialisation_when_the_file_exists(hub):
    from torchvision.models import resnet50

    with pytest.raises(CheckpointError, match="missing ImageNet ResNet50 weights: put torchvision's "
                                              f"resnet50-11ad3fa6.pth at {hub}"):
        T._init_weights(S.Scorer(), True)
    torch.manual_seed(1)
    reference = resnet50(weights=None)
    torch.save(reference.state_dict(), hub / "resnet50-0123abcd.pth")
    scorer = S.Scorer(("a",))
    assert T._init_weights(scorer, "auto") == f"ImageNet weights ({hub / 'resnet50-0123abcd.pth'})"
    assert torch.equal(scorer.net.conv1.weight, reference.conv1.weight)
    assert scorer.net.fc.weight.shape == (1, 2048)
    assert T._init_weights(S.Scorer(), False) == "scratch (ImageNet weights not requested)"


def test_demo_scorer_is_accurate_on_held_out_renders():
    """The shipped float16 ResNet50 (assets/demo-scorer.pt): >= 95% per attribute, held out and on fresh renders."""
    from latentedit.world import render, truth
    from latentedit.world.assets import demo_scorer_path

    scorer = T.demo_scorer(progress=False)
    for attribute, m in scorer.metrics["held_out"].items():
        assert m["accuracy"] >= 0.95, (attribute, m)
    blob = torch.load(demo_scorer_path(), map_location="cpu", weights_only=True)
    assert blob["state_dict"]["conv1.weight"].dtype == torch.float16
    assert scorer.net.conv1.weight.dtype == torch.float32
    x, z, _ = render.demo_anime(300, seed=99)
    y = np.stack([truth.BINARY_ATTRIBUTES[a](z) for a in scorer.attributes], 1)
    accuracy = ((scorer.predict(x) >= 0.5) == y).mean(0)
    assert (accuracy >= 0.95).all(), dict(zip(scorer.attributes, accuracy))
    again = S.load_scorer("demo", attributes=S.DEFAULT_ATTRIBUTES)
    assert again.predict(x[:4]).tobytes() == scorer.predict(x[:4]).tobytes()
