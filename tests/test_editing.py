"""The editing core: edit algebra against hand-computed numbers, strengths and sweeps, Edit, EditSession."""

import numpy as np
import pytest
import torch
from test_edit import random_directions, tiny_run  # noqa: F401 (tiny_run is a fixture)

from cli.options import parse_crop, parse_layers
from latentedit.directions import code_scale, fit_directions
from latentedit.editing import Edit, EditSession, EditSpec, sweep_strengths
from latentedit.pipeline.edit import session_for_run
from latentedit.editing.algebra import apply_delta, layer_delta, layer_mask, project_out, span_basis, weighted_sum
from latentedit.errors import DirectionError, InputError, TagError
from PIL import Image


# -- algebra -----------------------------------------------------------------------------------------
def test_weighted_sum_layer_steps_and_apply():
    V = np.array([[1.0, 0, 0], [0, 2.0, 0], [0, 0, 1.0]])
    np.testing.assert_array_equal(weighted_sum(V, [3, -1, 0.5]), np.float32([3, -2, 0.5]))
    assert weighted_sum(V, [1, 1, 1]).dtype == np.float32
    np.testing.assert_array_equal(layer_mask([1, 3], 4)[:, 0], [0, 1, 0, 1])
    step = layer_delta(np.float32([1, 2, 3]), [0, 2], 3)
    np.testing.assert_array_equal(step, [[1, 2, 3], [0, 0, 0], [1, 2, 3]])
    w = np.float32([[10, 20, 30], [1, 1, 1]])
    np.testing.assert_array_equal(apply_delta(w, [1, 2, 3]), [[11, 22, 33], [2, 3, 4]])
    wp = apply_delta(w, step)
    assert wp.shape == (2, 3, 3)
    np.testing.assert_array_equal(wp[0], [[11, 22, 33], [10, 20, 30], [11, 22, 33]])
    np.testing.assert_array_equal(apply_delta(wp, step)[1, 0], [3, 5, 7])
    with pytest.raises(ValueError, match="^codes have 3 W\\+ layers but the step has 2$"):
        apply_delta(wp, step[:2])
    with pytest.raises(ValueError, match="^3 weights for 2 directions$"):
        weighted_sum(V[:2], [1, 2, 3])
    with pytest.raises(ValueError, match="^layer indices must be in 0..3, got \\[4\\]$"):
        layer_mask([4], 4)


def test_project_out_one_two_and_five_conditions():
    d = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(project_out(d, [1.0, 0, 0]), [0, 2, 3], atol=1e-7)
    # span{(1,1,0), (0,0,1)}: d's part in it is (1.5, 1.5, 0) + (0, 0, 3)
    np.testing.assert_allclose(project_out(d, [[1.0, 1, 0], [0, 0, 1]]), [-0.5, 0.5, 0], atol=1e-6)
    # five conditions spanning the first five axes of 8, given mixed (not orthonormal) and scaled
    M = np.random.default_rng(0).standard_normal((5, 5)) + 3 * np.eye(5)
    C = M @ np.eye(8)[:5]
    d8 = np.arange(1.0, 9.0)
    np.testing.assert_allclose(project_out(d8, C), [0, 0, 0, 0, 0, 6, 7, 8], atol=1e-5)
    # dependent conditions (a repeat, a multiple, a sum, a zero row) span the same plane
    dep = [[1.0, 1, 0], [2, 2, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]]
    np.testing.assert_allclose(project_out(d, dep), [-0.5, 0.5, 0], atol=1e-6)
    assert len(span_basis(dep)) == 2


def test_project_out_leaves_orthogonal_deltas_and_handles_wplus():
    d = np.float32([0, 0, 5])
    np.testing.assert_array_equal(project_out(d, [[1.0, 0, 0], [0, 1, 0]]), d)
    np.testing.assert_array_equal(project_out(d, np.zeros((0, 3))), d)
    step = np.array([[1.0, 2, 3], [1, 2, 3]])
    np.testing.assert_allclose(project_out(step, [[[1.0, 0, 0]], [[0, 1, 0]]]), [[0, 2, 3], [1, 0, 3]], atol=1e-7)
    np.testing.assert_allclose(project_out(step, [[0, 0, 1.0]]), [[1, 2, 0], [1, 2, 0]], atol=1e-7)
    with pytest.raises(ValueError, match="^condition directions have 2 dimensions, the step has 3$"):
        project_out(d, [[1.0, 0]])


def test_sweep_strengths():
    assert sweep_strengths((15.0, 5.0), values=[-30, 0, 30]) == [(-30.0, -10.0), (0.0, 0.0), (30.0, 10.0)]
    assert sweep_strengths((0.0, 2.0), values=[4], default_ratios=(1.0, 0.5)) == [(4.0, 2.0)]
    assert sweep_strengths((3.0, -1.0), factors=[0, 2]) == [(0.0, -0.0), (6.0, -2.0)]
    with pytest.raises(ValueError, match="^give exactly one of values and factors$"):
        sweep_strengths((1.0,), values=[1], factors=[1])


# -- Edit -------------------------------------------------------------------------------------------
def test_edit_paired_terms_round_trip_and_errors():
    e = EditSpec.paired(["long_hair", "open_mouth"], "short_hair", strength=10, layers=[3, 1, 1], keep="blue_hair")
    assert e.terms == (("long_hair", 10.0), ("open_mouth", 10.0), ("short_hair", None))
    assert (e.add, e.sub, e.keep, e.layers) == (["long_hair", "open_mouth"], ["short_hair"], ("blue_hair",), (3, 1, 1))
    assert EditSpec.paired("a", "b", 4, 2).terms == (("a", 4.0), ("b", -2.0))
    assert EditSpec.from_dict(e.to_dict()) == e and hash(EditSpec.from_dict(e.to_dict())) == hash(e)
    assert not e.resolved and EditSpec.paired("a", "b", 4, 2).resolved
    # the resolved value: absolute strengths, sorted unique layer indices, scaled as a whole
    r = Edit((("long_hair", 10.0), ("open_mouth", 10.0), ("short_hair", -4.0)), [3, 1, 1], ("blue_hair",), ("short_hair",))
    assert r.layers == (1, 3) and r.strengths == (10.0, 10.0, -4.0) and r.sub == ["short_hair"]
    assert Edit.from_dict(r.to_dict()) == r and r != EditSpec(r.terms, r.layers, r.keep, r.opposite)
    assert r.with_strengths([1, 2, -3]).terms == (("long_hair", 1), ("open_mouth", 2), ("short_hair", -3))
    assert r.scaled(0.5).terms == (("long_hair", 5.0), ("open_mouth", 5.0), ("short_hair", -2.0))
    with pytest.raises(TagError, match="^opposite tag 'x' is not one of the edit's terms$"):
        Edit((("a", 1.0),), opposite=("x",))
    with pytest.raises(InputError, match="^2 strengths for an edit of 3 terms$"):
        r.with_strengths([1, 2])
    with pytest.raises(InputError, match="^an Edit needs every strength; resolve an EditSpec with EditSession.resolve$"):
        Edit(e.terms)
    with pytest.raises(InputError, match="^an Edit's layers are W\\+ indices, got 'coarse'; resolve an EditSpec$"):
        Edit(r.terms, "coarse")


# -- EditSession ------------------------------------------------------------------------------------
def test_freshly_fitted_directions_edit_at_default_strength(tiny_run):
    run, G, codes = tiny_run
    ds = fit_directions(run, "linear", generator=G, include=["long_hair", "short_hair", "open_mouth"])
    assert ds.code_scale == pytest.approx(code_scale(codes["w"]))
    session = EditSession(G, ds)
    edit = EditSpec.paired("long_hair", "short_hair")
    a, b = 15 * ds.code_scale, 5 * ds.code_scale
    assert session.resolve(edit).strengths == pytest.approx((a, -b)) and session.defaults == pytest.approx((a, b))
    assert session.resolve(session.resolve(edit)) is session.resolve(edit)  # an Edit resolves to itself
    want = a * ds.vector("long_hair").astype(np.float64) - b * ds.vector("short_hair")
    np.testing.assert_allclose(session.delta(edit), want, atol=1e-5)
    images = session.render(session.content(run.images(codes["id"][:2])), codes["w"][:2], edit)
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    # keep: the step has no component along the kept direction, and is the projection of the plain step
    kept = session.delta(EditSpec.paired("long_hair", "short_hair", keep=["open_mouth"]))
    assert abs(float(kept @ ds.vector("open_mouth"))) < 1e-4
    np.testing.assert_allclose(kept, project_out(session.delta(edit), ds.vector("open_mouth")), atol=1e-6)
    # layers: (L, D), zero off the chosen layers, the w step on them
    coarse = session.delta(EditSpec.paired("long_hair", "short_hair", layers="coarse"))
    assert coarse.shape == (G.n_latent, 512)
    idx = list(session.resolve(EditSpec.paired("long_hair", layers="coarse")).layers)
    assert session.layers_spec(tuple(idx)) == "coarse" and session.layers_spec((0, 2)) == (0, 2)
    assert np.array_equal(coarse[idx], np.broadcast_to(session.delta(edit), (len(idx), 512)))
    assert not coarse[[i for i in range(G.n_latent) if i not in idx]].any()
    assert session.delta(edit) is session.delta(EditSpec.paired("long_hair", "short_hair"))  # cached
    with pytest.raises(TagError, match="^unknown tag 'lng_hair'; did you mean long_hair"):
        session.delta(EditSpec.paired("lng_hair"))


def test_default_strengths_in_z_take_the_share_of_a_code_they_take_in_w(tiny_run):
    # a default step is the same share of a typical code's length (scale x sqrt(D)) in 8-d z as in 512-d w
    run, G, codes = tiny_run
    tags = ["long_hair", "short_hair"]
    steps = {}
    for space in ("w", "z"):
        ds = fit_directions(run, "linear", space=space, generator=G, include=tags)
        a, b = EditSession(G, ds).defaults
        length = code_scale(codes[space]) * np.sqrt(codes[space].shape[1])
        steps[space] = (a / length, b / length)
    assert codes["z"].shape[1] == G.latent_dim == 8
    assert steps["w"] == pytest.approx((15 / np.sqrt(512), 5 / np.sqrt(512)))
    assert steps["z"] == pytest.approx(steps["w"])


def test_session_images_equal_the_pipeline_files(tiny_run, tmp_path):
    from latentedit.pipeline.edit import edit
    from latentedit.pipeline.sample import run_inputs

    run, G, codes = tiny_run
    out = tmp_path / "edit"
    edit(run.path, add="long_hair", sub="short_hair", method="linear", samples=3, seed=4, generator=G,
         layers="coarse", out=out)
    # the pipeline draws each face on its own (so a recipe of one face redraws the same bytes): batch 1 here too
    session = session_for_run(run, "linear", generator=G, batch_size=1)
    pick = np.sort(np.random.default_rng(4).choice(len(codes["id"]), 3, replace=False))
    src = run_inputs(run, G.size)
    content = session.content(torch.cat([src.load(int(i)) for i in codes["input_id"][pick]]))
    images = session.render(content, codes["w"][pick], EditSpec.paired("long_hair", "short_hair", layers="coarse"))
    for i, sample_id in enumerate(codes["id"][pick]):  # the files also carry their recipe: compare pixels
        with Image.open(out / "after" / f"{int(sample_id):09d}.png") as png:
            assert np.array_equal(np.asarray(png), images[i])
    sweep = session.sweep(content, codes["w"][pick], EditSpec.paired("long_hair", "short_hair"), [0.0])
    assert np.array_equal(sweep[0], session.decode(content, codes["w"][pick]))


def test_session_z_space_and_errors(tiny_G, tiny_run):
    from latentedit.directions import DirectionSet

    V = np.eye(8, dtype=np.float32)[:2]
    session = EditSession(tiny_G, DirectionSet("linear", "z", ["a", "b"], V))
    z = torch.randn(2, 8)
    content = session.content(torch.rand(2, 3, 32, 32) * 2 - 1)
    with torch.inference_mode():
        want = tiny_G.decode(content, z + torch.tensor([2.0, -1, 0, 0, 0, 0, 0, 0]), use_mapping=True)
    got = session.render(content, z, EditSpec.paired("a", "b", 2, 1))
    assert np.abs(got.astype(int) - ((want.clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()).max() <= 1
    with pytest.raises(DirectionError, match="^the linear directions are 2-dimensional but this generator's"):
        EditSession(tiny_G, DirectionSet("linear", "w", ["a"], [[1.0, 0]]))
    run, G, _ = tiny_run
    with pytest.raises(DirectionError, match="has no svd directions in w-space; fit them with latentedit fit-directions"):
        session_for_run(run, "svd", generator=G)


def test_cli_option_strings():
    assert parse_layers(" 0-2, 5") == [0, 1, 2, 5] and parse_layers("Coarse") == "coarse" and parse_layers(None) is None
    with pytest.raises(InputError, match="^--layers 3-1: the range 3-1 is empty; write the lower index first$"):
        parse_layers("3-1")
    assert parse_crop("1, 2,3") == (1, 2, 3)
    with pytest.raises(InputError, match="^--crop must be X,Y,SIZE in pixels"):
        parse_crop("a,b,c")
