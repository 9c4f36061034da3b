"""Edit recipes: canonical JSON, PNG metadata, validation messages, compatibility checks."""

import json

import numpy as np
import pytest

from latentedit.editing import recipe as R

FP = "3f2a9c0d1e4b5a67"


def _ident(**change):
    base = dict(method="svd", space="w", params={"center": False}, vectors_sha256="a" * 64, sha256="b" * 64,
                file="svd-w.npz")
    return R.DirectionIdentity(**{**base, **change})


def _recipe(**change):
    code = tuple(float(x) for x in np.random.default_rng(0).standard_normal(6).astype(np.float32))
    wplus = tuple(tuple(float(x) for x in row) for row in np.random.default_rng(1).standard_normal((2, 3)))
    faces = (
        R.Face(R.Style("sample", sample_id=12), R.Content("run_input", input_id=4), "000000012"),
        R.Face(R.Style("code", space="w", code=code, source={"reference_sha256": "c" * 64, "refine": None}),
               R.Content("demo_selfie", seed=0, index=3)),
        R.Face(R.Style("code", space="w", code=wplus), R.Content("file", sha256="d" * 64, name="me.png")),
        R.Face(R.Style("seed", seed=7, index=2, truncation=0.7),
               R.Content("demo_video", seed=0, frames=48, tracking={"first_box": None})),
    )
    base = dict(generator=FP, directions=_ident(), terms=(("long_hair", 27.9), ("short_hair", -0.1 - 0.2)),
                faces=faces, layers=(0, 2, 3), keep=("smile",), opposite=("short_hair",),
                sweep=((0.0, -0.0), (13.95, -6.975)))
    return R.Recipe(**{**base, **change})


def test_json_round_trip_is_exact_and_byte_identical():
    r = _recipe()
    text = R.to_json(r)
    back = R.from_json(text)
    assert back == r and R.to_json(back) == text
    assert back.terms[1][1] == -0.1 - 0.2  # shortest-repr floats read back to the same value
    assert np.array_equal(np.float32(back.faces[1].style.code), np.float32(r.faces[1].style.code))
    assert json.loads(R.to_json(r, compact=True)) == json.loads(text)
    assert text.isascii() and text.endswith("\n") and '"terms": [["long_hair", 27.9]' in text
    for layers in (None, "coarse"):
        assert R.from_json(R.to_json(_recipe(layers=layers))).layers == layers


def test_faces_with_their_own_steps_round_trip_as_version_2():
    own = (R.Step((("long_hair", 13.95), ("short_hair", -6.975)), (0, 2, 3), ("smile",), ("short_hair",)),
           R.Step((("smile", -2.5), ("blush", 1.25)), None, ("long_hair", "short_hair")))
    plain = _recipe(sweep=None)
    assert plain.version == 1 and R.from_json(R.to_json(plain)).version == 1
    first = plain.faces[0]
    r = plain.with_faces([R.Face(first.style, first.content, first.label, own), plain.faces[1]])
    assert r.version == 2
    text = R.to_json(r)
    back = R.from_json(text)
    assert back == r and R.to_json(back) == text and json.loads(text)["version"] == 2
    assert list(json.loads(text)["faces"][0]) == ["style", "content", "steps", "label"]
    chains = R.face_chains(back, back.faces[0])
    assert [[(e.terms, e.layers, e.keep, e.opposite) for e in chain] for chain in chains] == [
        [(st.terms, st.layers, st.keep, st.opposite) for st in own]]
    assert [[e.terms for e in c] for c in R.face_chains(back, back.faces[1])] == [[plain.terms]]  # no steps: the edit
    with pytest.raises(R.RecipeError, match=r"^recipe faces\[0\] has its own steps and the recipe a sweep; a sweep "
                                            r"edits every face alike$"):
        R.validate(R.Recipe(**{**r.__dict__, "sweep": ((0.0, 0.0), (1.0, -0.5))}))
    bad = json.loads(text)
    bad["faces"][0]["steps"][1]["layers"] = "corse"
    with pytest.raises(R.RecipeError, match=r"^unknown layer group 'corse' in recipe faces\[0\]\.steps\[1\]\.layers"):
        R.from_json(json.dumps(bad))


def test_png_carries_the_recipe_and_stays_deterministic(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    r = _recipe()
    data = R.png_bytes(image, r)
    assert data == R.png_bytes(image, r)
    (tmp_path / "a.png").write_bytes(data)
    assert R.load(tmp_path / "a.png") == r
    from PIL import Image

    with Image.open(tmp_path / "a.png") as img:
        assert np.array_equal(np.asarray(img), image) and img.text[R.PNG_KEY] == R.to_json(r, compact=True)
    (tmp_path / "r.json").write_text(R.to_json(r))
    assert R.load(tmp_path / "r.json") == r
    R.save(tmp_path / "s.json", r)
    assert (tmp_path / "s.json").read_text() == R.to_json(r)


def test_files_without_a_recipe_are_refused_clearly(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "plain.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "photo.jpg")
    (tmp_path / "photo.png").write_bytes((tmp_path / "photo.jpg").read_bytes())
    (tmp_path / "bad.json").write_text("{not json")
    cases = {
        "plain.png": f"{tmp_path}/plain.png carries no latentedit recipe (no 'latentedit-recipe' text chunk); "
                     "was it written by latentedit edit?",
        "photo.png": f"{tmp_path}/photo.png is a JPEG image; a recipe is a .json file or a PNG written by "
                     "latentedit edit",
        "bad.json": f"{tmp_path}/bad.json: recipe is not valid JSON: Expecting property name enclosed in double "
                    "quotes: line 1 column 2 (char 1)",
        "missing.json": f"recipe file {tmp_path}/missing.json does not exist",
    }
    for name, message in cases.items():
        with pytest.raises(R.RecipeError) as e:
            R.load(tmp_path / name)
        assert str(e.value) == message


def _mutate(path, value):
    d = json.loads(R.to_json(_recipe()))
    node = d
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(d)


@pytest.mark.parametrize("path, value, message", [
    (("version",), 3, "recipe format version 3 is newer than this latentedit reads (2); upgrade latentedit"),
    (("faces", 0, "steps"), [{"terms": [["long_hair", 1.0]], "layers": None, "keep": [], "opposite": []}],
     "recipe faces[0].steps needs format version 2; this recipe says version 1"),
    (("faces", 0, "steps"), [], "recipe faces[0].steps must be a non-empty list of edits, got []"),
    (("edit", "keep"), ["long_hair"], "recipe edit both edits and keeps 'long_hair'"),
    (("format",), "x", "not a latentedit recipe (format is \"x\", expected 'latentedit-recipe')"),
    (("generatr",), "x", "unknown key 'generatr' in recipe (top level); did you mean generator?"),
    (("edit", "terms"), [], "recipe edit has no terms: give at least one [tag, strength]"),
    (("edit", "terms"), [["long_hair", None]], "recipe edit.terms[0] must be [tag, strength], got [\"long_hair\", null]"),
    (("edit", "terms"), [["a", 1.0], ["a", 2.0]], "recipe edit names tag 'a' twice"),
    (("edit", "layers"), "corse", "unknown layer group 'corse' in recipe edit.layers; did you mean coarse?"),
    (("edit", "layers"), [3, 1], "recipe edit.layers must be distinct layer indices >= 0 in increasing order"),
    (("edit", "opposite"), ["blush"], "recipe edit.opposite names 'blush', which is not one of the edit's terms"),
    (("sweep",), [[1.0]], "recipe sweep[0] has 1 strengths for 2 terms"),
    (("faces",), [], "recipe has no faces to start from"),
    (("faces", 0, "style", "kind"), "sampel", "unknown style kind 'sampel' in recipe faces[0].style; "
                                              "did you mean sample?"),
    (("faces", 0, "style", "sample_id"), "12", "recipe faces[0].style.sample_id must be int, got \"12\""),
    (("faces", 1, "style", "code"), [1.0, True], "recipe faces[1].style.code must be a list of numbers (or, for "
                                                 "W+, of equally long lists of numbers)"),
    (("faces", 2, "content", "sha256"), "xyz", "recipe faces[2].content.sha256 must be 64 lowercase hex digits"),
    (("faces", 0, "content", "input_id"), KeyError, "recipe faces[0].content has no 'input_id'"),
    (("faces", 0, "label"), "../x", "recipe faces[0].label must be a plain file name, got '../x'"),
    (("faces", 0, "content", "seed"), 3, "unknown key 'seed' in recipe faces[0].content (kind run_input); "
                                         "known keys: input_id, kind"),
])
def test_malformed_recipes_name_the_first_problem(path, value, message):
    with pytest.raises(R.RecipeError) as e:
        R.from_json(_mutate(path, value))
    assert str(e.value) == message


def test_check_compatible_names_the_difference():
    r = _recipe()
    R.check_compatible(r, FP, _ident())  # the same: no error
    R.check_compatible(r, FP, _ident(sha256=None, file=None))  # an unsaved set is pinned by its vectors
    cases = [
        (("0123456789abcdef", _ident()), "recipe was made with generator 3f2a9c0d1e4b5a67, this generator is "
                                         "0123456789abcdef; use the generator the recipe names"),
        ((FP, _ident(method="lasso")), "recipe was made with svd directions, these are lasso directions; "
                                       "pass --method svd"),
        ((FP, _ident(space="z")), "recipe was made with directions in w, these are in z"),
        ((FP, _ident(params={"center": True})), "recipe was made with svd directions fitted with center=false, "
                                                "these have center=true"),
        ((FP, _ident(params={})), "recipe was made with svd directions fitted with center=false, "
                                  "these have center=\"<unset>\""),
        ((FP, _ident(sha256="e" * 64)), "recipe was made with direction file svd-w.npz of sha256 bbbbbbbbbbbbbbbb, "
                                        "this one (svd-w.npz) has sha256 eeeeeeeeeeeeeeee; the directions were "
                                        "refitted or come from another run"),
        ((FP, _ident(vectors_sha256="f" * 64, sha256=None)),
         "recipe was made with svd direction vectors of sha256 aaaaaaaaaaaaaaaa, these have ffffffffffffffff; "
         "the directions were refitted, named differently or come from another run"),
    ]
    for args, message in cases:
        with pytest.raises(R.RecipeError) as e:
            R.check_compatible(r, *args)
        assert str(e.value) == message


def test_direction_identity_hashes_what_the_edit_uses(tmp_path):
    from latentedit.directions import DirectionSet

    v = np.eye(3, dtype=np.float32)
    ds = DirectionSet("svd", "w", ["a", "b", "c"], v, params={"center": False, "code_scale": np.float64(0.5),
                                                             "array": np.zeros(2)})
    path = tmp_path / "d.npz"
    path.write_bytes(b"file bytes")
    ident = R.direction_identity(ds, path, params_keys={"center"})
    assert ident.params == {"center": False} and ident.file == "d.npz"
    assert ident.sha256 == R.sha256_bytes(b"file bytes") == R.sha256_file(path)
    assert R.direction_identity(ds).params == {"array": [0.0, 0.0], "center": False, "code_scale": 0.5}
    other = DirectionSet("svd", "w", ["a", "b", "c"], v[[1, 0, 2]])
    assert R.direction_identity(other).vectors_sha256 != ident.vectors_sha256
    renamed = DirectionSet("svd", "w", ["a", "b", "d"], v)
    assert R.direction_identity(renamed).vectors_sha256 != ident.vectors_sha256


def test_edit_bridge_keeps_exact_strengths():
    from latentedit.editing import EditSpec

    def spec(a, b):
        return EditSpec.paired("long_hair", "short_hair", a, -b, layers="coarse", keep=("smile",))

    edit = spec(27.9, -13.95)
    sweep = [spec(s, -s / 2) for s in (0.0, 7.3, 14.6)]
    r = R.from_edit(edit, (27.9, -13.95), FP, _ident(), _recipe().faces[:1], sweep=sweep)
    back = R.from_json(R.to_json(r))
    assert R.to_edit(back) == edit
    assert R.sweep_edits(back) == sweep
    assert R.sweep_edits(R.from_edit(edit, (1.0, -2.0), FP, _ident(), r.faces)) == [spec(1.0, -2.0)]


# -- through the commands: edit -> PNG -> edit --recipe -> the same bytes ------------------------------
from test_edit import tiny_run  # noqa: E402,F401  (the tiny run fixture: 12 samples, linear directions)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ids_pick_those_samples_and_every_png_carries_its_recipe(tiny_run, tmp_path):
    from latentedit.pipeline.edit import edit

    run, G, codes = tiny_run
    res = edit(run.path, add="long_hair", sub="short_hair", method="linear", strength=3.0, sub_strength=1.0,
               ids=[7, 2], generator=G, out=tmp_path / "e")
    assert res.labels == ["000000007", "000000002"]
    rows = [int(np.flatnonzero(codes["id"] == i)[0]) for i in (7, 2)]
    assert np.array_equal(res.codes, codes["w"][rows])  # the run's own codes, in the order asked
    after = R.load(tmp_path / "e" / "after" / "000000007.png")
    assert after.faces == (R.Face(R.Style("sample", sample_id=7),
                                  R.Content("run_input", input_id=int(codes["input_id"][rows[0]])), "000000007"),)
    assert after.terms == (("long_hair", 3.0), ("short_hair", -1.0)) and after.generator == fingerprint_of(G)
    assert R.load(tmp_path / "e" / "before" / "000000007.png").terms == (("long_hair", 0.0), ("short_hair", 0.0))
    whole = R.load(tmp_path / "e" / "recipe.json")
    assert len(whole.faces) == 2 and R.load(tmp_path / "e" / "grid.png") == whole
    with pytest.raises(Exception, match=r"^sample id 99 is not in .* \(ids 0-11\)$"):
        edit(run.path, add="long_hair", method="linear", ids=[99], generator=G)
    with pytest.raises(Exception, match=r"^give either --ids \(those samples\) or --samples N"):
        edit(run.path, add="long_hair", method="linear", ids=[1], samples=2, generator=G)


def fingerprint_of(G):
    from latentedit.models.checkpoint import fingerprint

    return fingerprint(G)


def test_recipes_round_trip_byte_identically_through_edit(tiny_run, tmp_path):
    from latentedit.pipeline.edit import edit

    run, G, _ = tiny_run
    first = tmp_path / "first"
    edit(run.path, add="long_hair", sub="short_hair", method="linear", samples=3, seed=4, sweep=(-6.0, 0.0, 6.0),
         layers="coarse", keep=("open_mouth",), generator=G, out=first)
    files = _files(first)
    # the whole edit again from recipe.json (or grid.png): every image byte-identical
    for source in ("recipe.json", "grid.png"):
        again = tmp_path / f"again-{source}"
        edit(run.path, recipe=first / source, generator=G, out=again)
        redo = _files(again)
        assert {k: v for k, v in redo.items() if k.endswith(".png")} == {k: v for k, v in files.items()
                                                                         if k.endswith(".png")}
        assert redo["recipe.json"] == files["recipe.json"] and redo["codes.npz"] == files["codes.npz"]
    # one image's recipe redraws that image alone, the same bytes although it was drawn among three
    label = sorted(k for k in files if k.startswith("after/"))[4]
    one = tmp_path / "one"
    edit(run.path, recipe=first / label, generator=G, out=one)
    redo = _files(one)
    name = label.split("/")[1].rsplit("-", 1)[0]
    assert redo[f"after/{name}.png"] == files[label]
    assert redo[f"before/{name}.png"] == files[f"before/{name}.png"]  # before: that face, every strength 0



def test_a_z_space_edit_moves_z_by_the_scaled_default_and_round_trips(tiny_run, tmp_path):
    from latentedit.directions import DirectionSet, code_scale
    from latentedit.pipeline.edit import edit

    run, G, codes = tiny_run
    first = tmp_path / "z"
    res = edit(run.path, add="long_hair", sub="short_hair", method="linear", space="z", ids=(1, 5), generator=G,
               fit=True, out=first)
    unit = code_scale(codes["z"]) * np.sqrt(8 / 512)  # a default step takes the share of a code it takes in w
    assert res.record["space"] == "z" and res.record["code_dim"] == 8
    assert res.strengths[0] == pytest.approx((15 * unit, 5 * unit))
    with np.load(first / "codes.npz") as f:
        z, edited = f["codes"], f["edited"]
    assert z.shape == (2, 8)
    np.testing.assert_array_equal(z, codes["z"][[1, 5]])
    ds = DirectionSet.load(run.directions_path("linear", "z"))  # fitted into the run by the edit
    want = 15 * unit * ds.vector("long_hair") - 5 * unit * ds.vector("short_hair")
    np.testing.assert_allclose(edited[0] - z, np.broadcast_to(want, z.shape), atol=1e-5)
    assert json.loads((first / "recipe.json").read_text())["directions"]["space"] == "z"
    again = tmp_path / "again"
    edit(run.path, recipe=first / "grid.png", generator=G, out=again)
    files, redo = _files(first), _files(again)
    assert {k: v for k, v in redo.items() if k != "edit.json"} == {k: v for k, v in files.items() if k != "edit.json"}

def test_recipe_of_inputs_needs_those_files_and_style_seed_styles_every_face(tiny_run, selfie_dir, tmp_path):
    from latentedit.errors import InputError
    from latentedit.pipeline.edit import edit

    run, G, _ = tiny_run
    a = edit(run.path, add="long_hair", method="linear", strength=2.0, inputs=selfie_dir, generator=G,
             out=tmp_path / "a")
    r = R.load(tmp_path / "a" / "recipe.json")
    assert [f.style for f in r.faces] == [R.Style("seed", seed=0, index=i) for i in range(4)]
    assert [f.content.name for f in r.faces] == a.record["input_names"]
    edit(run.path, recipe=tmp_path / "a" / "recipe.json", inputs=selfie_dir, generator=G, out=tmp_path / "b")
    assert _files(tmp_path / "b") == _files(tmp_path / "a") | {"edit.json": _files(tmp_path / "b")["edit.json"]}
    with pytest.raises(InputError) as e:
        edit(run.path, recipe=tmp_path / "a" / "recipe.json", generator=G)
    assert str(e.value) == (f"this face is drawn on the selfie {r.faces[0].content.name} (sha256 "
                            f"{r.faces[0].content.sha256[:16]}...); give that image file")
    s = edit(run.path, add="long_hair", method="linear", strength=2.0, ids=[1, 5], style_seed=3, generator=G)
    assert np.array_equal(s.codes[0], s.codes[1])  # one style for both faces
    assert s.recipes["all"].faces[0].style == R.Style("seed", seed=3)


def test_a_recipe_of_another_generator_or_direction_set_is_refused(tiny_run, tmp_path):
    import dataclasses

    from latentedit.directions import DirectionSet
    from latentedit.pipeline.edit import edit

    run, G, _ = tiny_run
    edit(run.path, add="long_hair", method="linear", strength=2.0, ids=[3], generator=G, out=tmp_path / "e")
    recipe = R.load(tmp_path / "e" / "after" / "000000003.png")
    other = dataclasses.replace(recipe, generator="0123456789abcdef")
    with pytest.raises(R.RecipeError) as e:
        edit(run.path, recipe=other, generator=G)
    assert str(e.value) == (f"recipe was made with generator 0123456789abcdef, this generator is {recipe.generator}; "
                            "use the generator the recipe names")
    path = run.directions_path("linear", "w")
    saved = path.read_bytes()
    try:
        ds = DirectionSet.load(path)
        DirectionSet(ds.method, ds.space, ds.names, ds.vectors[::-1].copy(), ds.stats, ds.generator_fingerprint,
                     ds.params, ds.code_scale).save(path)
        with pytest.raises(R.RecipeError) as e:
            edit(run.path, recipe=tmp_path / "e" / "recipe.json", generator=G)
        assert str(e.value) == (f"recipe was made with direction file linear-w.npz of sha256 "
                                f"{recipe.directions.sha256[:16]}, this one (linear-w.npz) has sha256 "
                                f"{R.sha256_file(path)[:16]}; the directions were refitted or come from another run")
    finally:
        path.write_bytes(saved)


def test_recipes_round_trip_through_video(tiny_run, tmp_path):
    from latentedit.pipeline.video import edit_video

    run, G, codes = tiny_run
    from latentedit.pipeline.edit import edit

    edit(run.path, add="long_hair", sub="short_hair", method="linear", strength=3.0, sub_strength=1.0, ids=[5],
         generator=G, out=tmp_path / "e")
    png = tmp_path / "e" / "after" / "000000005.png"
    v = edit_video(None, run.path, recipe=png, generator=G, progress=False, out=tmp_path / "v.mp4")
    made = R.load(v.recipe)
    assert made.faces[0].style == R.Style("sample", sample_id=5) and made.terms == R.load(png).terms
    assert made.faces[0].content.kind == "demo_video" and made.faces[0].content.frames == v.frames == 48
    again = edit_video(None, run.path, recipe=v.recipe, generator=G, progress=False, out=tmp_path / "w.mp4")
    assert again.out.read_bytes() == v.out.read_bytes()
    assert again.side_by_side.read_bytes() == v.side_by_side.read_bytes()
    assert again.recipe.read_bytes() == v.recipe.read_bytes()
    two = R.load(tmp_path / "e" / "recipe.json").with_faces(R.load(tmp_path / "e" / "recipe.json").faces * 2)
    with pytest.raises(Exception, match="^this recipe starts from 2 faces and a video takes one"):
        edit_video(None, run.path, recipe=two, generator=G, progress=False)


def test_reference_style_is_encoded_once_and_travels_in_the_recipe(tiny_run, tmp_path):
    import torch
    from conftest import tiny_generator
    from PIL import Image

    from latentedit.editing.reference import encode_style, load_style_encoder
    from latentedit.pipeline.edit import edit
    from latentedit.world.render import demo_anime

    run, G, _ = tiny_run
    ckpt = tmp_path / "GNR_checkpoint.pt"  # the release layout: G_A2B_ema beside G_B2A_ema
    torch.save({"G_A2B_ema": G.state_dict(), "G_B2A_ema": tiny_generator(1).state_dict()}, ckpt)
    reference = tmp_path / "anime.png"
    Image.fromarray(demo_anime(1, seed=3, size=48)[0][0]).save(reference)
    res = edit(run.path, add="long_hair", method="linear", strength=2.0, ids=[0, 6], reference=reference,
               style_encoder=ckpt, generator=G, out=tmp_path / "e")
    z = encode_style(load_style_encoder(ckpt), reference)
    style = res.recipes["all"].faces[0].style
    assert style.kind == "code" and style.space == "z" and np.array_equal(np.float32(style.code), z)
    assert style.source == {"reference": "anime.png", "reference_sha256": R.sha256_file(reference)}
    assert res.recipes["all"].faces[1].style == style and np.array_equal(res.codes[0], res.codes[1])
    from latentedit.pipeline.video import edit_video

    v = edit_video(None, run.path, add="long_hair", method="linear", strength=2.0, reference=reference,
                   style_encoder=ckpt, generator=G, progress=False, side_by_side=False, out=tmp_path / "v.mp4")
    assert R.load(v.recipe).faces[0].style == style
    # re-applied without the reference image or its encoder: the code travels in the PNG
    edit(run.path, recipe=tmp_path / "e" / "after" / "000000006.png", generator=G, out=tmp_path / "again")
    assert ((tmp_path / "again" / "after" / "000000006.png").read_bytes()
            == (tmp_path / "e" / "after" / "000000006.png").read_bytes())


@pytest.mark.slow
def test_cli_ids_recipe_png_and_video_without_an_input(tmp_path):
    """The console commands: edit --ids, edit --recipe IMAGE.png (same bytes), video --recipe with the demo video."""
    from conftest import tiny_generator
    from test_cli_sample import run_cli
    from test_edit import random_directions

    from latentedit.io import atomic_save_npz, atomic_write_json
    from latentedit.models.checkpoint import fingerprint, save_generator
    from latentedit.store import Run
    from latentedit.world import truth

    G = tiny_generator()
    ckpt = save_generator(G, tmp_path / "tiny.pt")
    r = run_cli("sample", "--generator", ckpt, "--n-inputs", 3, "--styles-per-input", 2, "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    run = Run.open(tmp_path / "run")
    atomic_write_json(run.tags_dir / "vocab.json", {"tags": truth.TAGS, "tagger": "truth", "source": "truth"})
    for s in run.shards():
        c = run.shard_codes(s)
        atomic_save_npz(run.tags_dir / f"{s}.npz", id=c["id"], scores=truth.tag_matrix(c["z"]).astype(np.float32))
    random_directions(fp=fingerprint(G)).save(run.directions_path("linear", "w"))

    e = run_cli("edit", run.path, "--method", "linear", "--add", "long_hair", "--sub", "short_hair", "--strength", 2,
                "--sub-strength", 1, "--ids", "4,1", "--out", tmp_path / "e")
    assert e.returncode == 0, e.stderr
    assert "images     2 rows x 2 columns" in e.stdout
    assert "edit       +long_hair -short_hair (linear directions)" in e.stdout
    neg = run_cli("edit", run.path, "--method", "linear", "--add", "long_hair", "--strength", -2, "--ids", "1",
                  "--out", tmp_path / "neg")
    assert neg.returncode == 0, neg.stderr
    assert "edit       -long_hair (linear directions)" in neg.stdout  # a negative strength subtracts the tag
    png = tmp_path / "e" / "after" / "000000004.png"
    again = run_cli("edit", run.path, "--recipe", png, "--out", tmp_path / "again")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "after" / "000000004.png").read_bytes() == png.read_bytes()

    v = run_cli("video", "--run", run.path, "--recipe", png)
    assert v.returncode == 0, v.stderr
    assert "face box   tracked (seeded by detector)" in v.stdout
    out = run.path / "videos" / "demo-video-0-edited.mp4"
    assert f"output     {out}" in v.stdout and out.is_file()
    assert R.load(out.with_name("demo-video-0-edited.recipe.json")).faces[0].style == R.Style("sample", sample_id=4)
