"""Edits: the algebra of paired edits, W+ layer masks, strengths, errors, output files, the demo world."""

import json

import numpy as np
import pytest
import torch
from conftest import tiny_generator
from PIL import Image

from cli.options import parse_layers, parse_strength, parse_sweep
from latentedit.directions import DirectionSet, code_scale
from latentedit.editing import (DEFAULT_STRENGTHS, EditSession, EditSpec, check_tags, filtered_reason,
                                with_spread)
from latentedit.errors import DirectionError, InputError, TagError
from latentedit.io import atomic_save_npz, atomic_write_json
from latentedit.models.generator import fingerprint
from latentedit.models.layers import layer_groups, layer_names
from latentedit.pipeline.edit import edit

TAGS = ["long_hair", "short_hair", "open_mouth", "closed_mouth"]


def random_directions(method="linear", dim=512, fp="", seed=0, stats=None):
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((len(TAGS), dim))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    return DirectionSet(method, "w", TAGS, V, stats=stats, generator_fingerprint=fp)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 12-sample run of the tiny generator with ground-truth tags and saved linear directions."""
    from latentedit.pipeline.sample import sample
    from latentedit.world import truth

    G = tiny_generator()
    run = sample(G, tmp_path_factory.mktemp("runs") / "tiny", n_inputs=4, styles_per_input=3, progress=False).run
    codes = run.codes()
    atomic_write_json(run.tags_dir / "vocab.json", {"tags": truth.TAGS, "tagger": "truth", "source": "truth"})
    for s in run.shards():
        z = run.shard_codes(s)["z"]
        atomic_save_npz(run.tags_dir / f"{s}.npz", id=run.shard_codes(s)["id"],
                        scores=truth.tag_matrix(z).astype(np.float32))
    random_directions(fp=fingerprint(G)).save(run.directions_path("linear", "w"))
    return run, G, codes


# -- codes -----------------------------------------------------------------------------------------
def test_edit_codes_algebra_is_exact(tiny_G):
    ds = random_directions()
    session = EditSession(tiny_G, ds)
    w = np.random.default_rng(1).standard_normal((5, 512)).astype(np.float32)
    out = session.apply(w, EditSpec.paired(["long_hair", "open_mouth"], ["short_hair"], strength=7.5, sub_strength=2.5))
    want = 7.5 * (ds.vector("long_hair") + ds.vector("open_mouth")) - 2.5 * ds.vector("short_hair")
    np.testing.assert_allclose(out - w, np.broadcast_to(want, w.shape), atol=1e-5)
    out_t = session.apply(torch.from_numpy(w), EditSpec.paired("long_hair", strength=3.0))
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.numpy() - w, np.broadcast_to(3.0 * ds.vector("long_hair"), w.shape), atol=1e-5)


def test_default_strengths_per_method_count_in_code_scale_units():
    assert DEFAULT_STRENGTHS == {"linear": (15.0, 5.0), "lasso": (15.0, 5.0), "svm": (15.0, 5.0),
                                   "svd": (40.0, 20.0), "sefa": (30.0, 15.0), "pca": (30.0, 15.0)}
    w = np.random.default_rng(0).standard_normal((400, 512)) * np.linspace(0.5, 1.5, 512)
    scale = code_scale(w)
    assert scale == pytest.approx(np.sqrt(np.mean(np.linspace(0.5, 1.5, 512) ** 2)), rel=0.02)
    for method, (a, b) in DEFAULT_STRENGTHS.items():
        ds = with_spread(random_directions(method), w)
        assert ds.code_scale == scale
        session = EditSession(tiny_generator(), ds)
        assert session.defaults == pytest.approx((a * scale, b * scale))
        resolved = session.resolve(EditSpec.paired(["long_hair", "open_mouth"], ["short_hair"]))
        assert resolved.strengths == pytest.approx((a * scale, a * scale, -b * scale))
        assert session.resolve(EditSpec.paired("long_hair", "short_hair", "2", 1)).strengths == (2.0, -1.0)
    with pytest.raises(DirectionError, match="^default strengths are counted in units of the code scale"):
        EditSession(tiny_generator(), random_directions()).resolve(EditSpec.paired("long_hair"))


def test_layer_groups_of_release_and_demo_generators():
    release = layer_groups(layer_names(16))
    assert (release["coarse"], release["middle"], release["fine"]) == (list(range(7)), list(range(7, 13)), [13, 14, 15])
    demo = layer_groups(layer_names(10))
    assert (demo["coarse"], demo["middle"], demo["fine"]) == ([0, 1, 2, 3], [4, 5, 6], [7, 8, 9])
    assert parse_layers("2-4,7") == [2, 3, 4, 7]
    assert parse_layers("all", layer_names(10)) == list(range(10))


def test_layer_mask_moves_only_chosen_layers_and_full_wplus_decodes_like_w(tiny_G):
    ds = random_directions()
    session = EditSession(tiny_G, ds)
    w = torch.randn(3, 512)
    wp = session.apply(w, EditSpec.paired("long_hair", "short_hair", 10, 5, layers=parse_layers("1-2")))
    assert wp.shape == (3, tiny_G.n_latent, 512)
    moved = (wp - w[:, None]).abs().amax(dim=(0, 2))
    assert moved[[1, 2]].min() > 1 and moved[[0, 3, 4, 5, 6]].max() == 0
    content = tiny_G.encode(torch.rand(3, 3, 32, 32) * 2 - 1)[0]
    full = session.apply(w, EditSpec.paired("long_hair", "short_hair", 10, 5, layers="all"))
    with torch.inference_mode():
        a = tiny_G.decode(content, session.apply(w, EditSpec.paired("long_hair", "short_hair", 10, 5)), use_mapping=False)
        b = tiny_G.decode(content, full, use_mapping=False)
    assert (a - b).abs().max() < 1e-5
    sweep = session.sweep(content, w, EditSpec.paired("long_hair", "short_hair"), [-10, 0, 10])
    assert sweep.shape == (3, 3, 32, 32, 3) and sweep.dtype == np.uint8
    assert np.array_equal(sweep[1], session.decode(content, w))
    with torch.inference_mode():
        plain = tiny_G.decode(content, w, use_mapping=False)
    assert np.abs(sweep[1].astype(int) - ((plain.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy()).max() <= 0.5


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda ds: EditSession(tiny_generator(), ds).apply(np.zeros((1, 512)), EditSpec.paired(["lng_hair"], strength=1)),
     "unknown tag 'lng_hair'; did you mean long_hair, short_hair? (the linear directions have 4 tags)"),
    (lambda ds: EditSpec.paired([]), "nothing to edit: give at least one --add TAG"),
    (lambda ds: EditSpec.paired(["long_hair"], ["long_hair"]),
     "tag 'long_hair' is in both --add and --sub; an edit cannot add and remove the same tag"),
    (lambda ds: parse_strength("strong"), "--strength must be a number, got 'strong'"),
    (lambda ds: parse_strength("nan", "--sub-strength"), "--sub-strength must be a finite number, got 'nan'"),
    (lambda ds: EditSpec.paired(["long_hair"], strength="strong"), "strength must be a number, got 'strong'"),
    (lambda ds: parse_sweep("-20:20"), "--sweep must be START:STOP:N with N >= 2 (e.g. -20:20:5), got '-20:20'"),
    (lambda ds: parse_layers("3-12", layer_names(10)),
     "--layers 3-12: layer 10 is out of range; this generator has 10 W+ layers (0-9)"),
    (lambda ds: parse_layers("top"), "--layers must be all, coarse, middle, fine or I-J (e.g. 0-3), got 'top'"),
    (lambda ds: EditSpec.paired(["long_hair"], keep=["long_hair"]),
     "tag 'long_hair' is both edited and kept; an edit cannot move a tag and keep it"),
])
def test_error_messages(call, message):
    with pytest.raises((TagError, InputError)) as e:
        call(random_directions())
    assert str(e.value) == message


def test_filtered_tag_says_why(tiny_run):
    run, G, codes = tiny_run
    ds = random_directions(fp=fingerprint(G)).subset(["long_hair", "short_hair", "open_mouth"])
    ds.params.update(threshold=0.5, min_count=100, max_count=None)  # as if fitted with --min-count 100
    n_closed = int((truth_tags(codes)[:, 1] == 1).sum())
    reason = filtered_reason(ds, "closed_mouth", run)
    assert reason == f"in {n_closed} samples (<= min 100)"
    with pytest.raises(TagError) as e:
        check_tags(ds, ["open_mouth", "closed_mouth"], run)
    assert str(e.value) == (f"tag 'closed_mouth' has no direction in the linear directions: it was filtered out at "
                            f"fitting time ({reason}); pass --include closed_mouth to fit it anyway")


def truth_tags(codes):
    from latentedit.world import truth

    return truth.tag_matrix(codes["z"])[:, [truth.TAGS.index(t) for t in ("open_mouth", "closed_mouth")]]


# -- end to end on a run ---------------------------------------------------------------------------
def test_edit_writes_grid_images_codes_and_record(tiny_run, tmp_path):
    run, G, codes = tiny_run
    out = tmp_path / "edit"
    res = edit(run.path, add=["long_hair"], sub=["short_hair"], method="linear", samples=3, seed=4, generator=G,
               sweep=parse_sweep("-10:10:3"), layers="coarse", out=out)
    assert sorted(p.name for p in out.iterdir()) == ["after", "before", "codes.npz", "edit.json", "grid.png", "recipe.json"]
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape == (3 * 32 + 4 * 2, 4 * 32 + 5 * 2, 3)
    assert len(list((out / "before").iterdir())) == 3 and len(list((out / "after").iterdir())) == 9
    record = json.loads((out / "edit.json").read_text())
    ids = np.sort(np.random.default_rng(4).choice(12, 3, replace=False))
    assert record["samples"] == codes["id"][ids].tolist()
    assert (record["add"], record["sub"], record["method"], record["seed"]) == (["long_hair"], ["short_hair"], "linear", 4)
    assert record["layer_indices"] == [0, 1, 2, 3] and record["layers"] == "coarse"
    ratio = 5 / 15
    np.testing.assert_allclose(record["sweep"], [[-10.0, -10 * ratio], [0.0, 0.0], [10.0, 10 * ratio]], rtol=1e-6)
    assert record["directions"]["file"] == str(run.directions_path("linear", "w"))
    assert record["generator"]["fingerprint"] == fingerprint(G)
    saved = np.load(out / "codes.npz")
    assert saved["edited"].shape == (3, 3, G.n_latent, 512)
    np.testing.assert_allclose(saved["codes"], codes["w"][ids])
    # "before" re-creates the stored samples (same content, same w)
    stored = run.images(codes["id"][ids]).astype(int)
    assert np.abs(res.before.astype(int) - stored).max() <= 1


def test_edit_defaults_and_inputs_folder(tiny_run, tmp_path, selfie_dir):
    run, G, codes = tiny_run
    res = edit(run.path, add="open_mouth", sub="closed_mouth", method="linear", inputs=selfie_dir, seed=1, generator=G)
    a, b = DEFAULT_STRENGTHS["linear"]
    assert res.strengths == [pytest.approx((a * code_scale(codes["w"]), b * code_scale(codes["w"])), rel=1e-6)]
    assert res.record["code_scale"] == pytest.approx(code_scale(codes["w"]))
    assert res.labels == ["000-a", "001-b_rgba", "002-c_gray", "003-d"]
    assert sorted(s["name"] for s in res.record["skipped"]) == ["e_corrupt.png", "notes.txt"]
    assert res.after.shape == (1, 4, 32, 32, 3) and res.out is None


def test_edit_output_is_atomic(tiny_run, tmp_path, monkeypatch):
    run, G, _ = tiny_run
    import latentedit.pipeline.recipes

    calls = []

    def failing_png(a, recipe):  # edit PNGs are encoded with their recipe
        calls.append(1)
        if len(calls) > 3:
            raise OSError("disk full")
        return b"png"

    monkeypatch.setattr(latentedit.pipeline.recipes, "png_bytes", failing_png)
    with pytest.raises(OSError):
        edit(run.path, add="long_hair", method="linear", samples=2, generator=G, out=tmp_path / "edit")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="is not an earlier edit output"):
        edit(run.path, add="long_hair", method="linear", samples=2, generator=G, out=tmp_path / "other")


# -- the demo world --------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_fitted_directions_flip_their_target_for_most_samples():
    from latentedit.directions import LinearDirections, SVDDirections
    from latentedit.models.generator import load_generator
    from latentedit.world import truth
    from latentedit.scoring.demo import flip_rates

    G = load_generator("demo")  # shipped in assets/: a missing file is a failure, not a skip
    z = np.random.default_rng(0).standard_normal((2000, 8)).astype(np.float32)
    with torch.inference_mode():
        w = G.mapping(torch.from_numpy(z)).numpy()
    tags = ["long_hair", "short_hair", "closed_eyes"]
    labels = truth.tag_matrix(z)[:, [truth.TAGS.index(t) for t in tags]]
    sets = {m: with_spread(DirectionSet(m, "w", tags, est.fit(w, labels, tag_names=tags).directions_), w)
            for m, est in (("linear", LinearDirections()), ("svd", SVDDirections()))}
    rows = flip_rates(G, sets, [("long_hair", "short_hair"), ("closed_eyes", None)], n=40, seed=1,
                        with_opposite=(True,))
    flipped = {(r["method"], r["add"]): r["flipped"] for r in rows}
    assert all(r["candidates"] >= 10 for r in rows), rows
    assert flipped[("svd", "long_hair")] >= 0.85 and flipped[("linear", "closed_eyes")] >= 0.85, flipped
    assert flipped[("svd", "closed_eyes")] >= 0.85, flipped


# -- naming unnamed directions ---------------------------------------------------------------------
class BrightnessTagger:
    """A stand-in tagger: 'bright' = mean brightness, 'red' = mean red minus blue."""

    tags = ["bright", "red"]

    def score(self, images, batch_size=32):
        x = np.asarray(images, np.float64) / 255
        return np.stack([x.mean(axis=(1, 2, 3)), 0.5 + (x[..., 0] - x[..., 2]).mean(axis=(1, 2)) / 2], axis=1)


def test_label_directions_is_antisymmetric_and_names_the_closest(tiny_G):
    from latentedit.directions.label import closest_labelled, label_directions, named_directions

    ds = random_directions()
    flipped = DirectionSet("sefa", "w", TAGS, -ds.vectors)
    labels = label_directions(tiny_G, ds, BrightnessTagger(), n=6, strength=3.0, top=None)
    mirror = dict(label_directions(tiny_G, flipped, BrightnessTagger(), n=6, strength=3.0, top=None))
    for name, moves in labels:
        assert [t for t, _ in moves] in (["bright", "red"], ["red", "bright"])
        for tag, delta in moves:
            assert dict(mirror[name])[tag] == pytest.approx(-delta, abs=1e-6)
    best = max(((n, d) for n, moves in labels for t, d in moves if t == "red"), key=lambda x: abs(x[1]))
    name, sign, delta = closest_labelled(labels, "red")
    assert (name, sign, delta) == (best[0], np.sign(best[1]), pytest.approx(best[1]))
    named = named_directions(ds, labels, ["red"])
    np.testing.assert_allclose(named.vector("red"), sign * ds.vector(name))
    assert named.params["labelled_from"] == {"red": f"{'+' if sign > 0 else '-'}{name}"}
    with pytest.raises(TagError, match="^no labelled direction moves tag 'blonde'"):
        closest_labelled(labels, "blonde")
