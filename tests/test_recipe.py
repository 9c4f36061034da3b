"""Edit recipes: the declared schema, canonical JSON (byte-identical to the recipes main wrote), PNG
metadata, validation messages, compatibility checks, the exported JSON Schema."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from latentedit.editing import recipe as R
from latentedit.editing.edit import Edit, EditSpec
from latentedit.pipeline.recipes import load, png_bytes, read_png, save, sha256_file

FP = "3f2a9c0d1e4b5a67"
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "recipes"


def _ident(**change):
    base = dict(method="svd", space="w", params={"center": False}, vectors_sha256="a" * 64, sha256="b" * 64,
                file="svd-w.npz")
    return R.DirectionIdentity(**{**base, **change})


def _edit(terms, layers=None, keep=(), opposite=()):
    return R.RecipeEdit(terms=terms, layers=layers, keep=keep, opposite=opposite)


def _recipe(**change):
    code = tuple(float(x) for x in np.random.default_rng(0).standard_normal(6).astype(np.float32))
    wplus = tuple(tuple(float(x) for x in row) for row in np.random.default_rng(1).standard_normal((2, 3)))
    faces = (
        R.Face(style=R.SampleStyle(sample_id=12), content=R.RunInputContent(input_id=4), label="000000012"),
        R.Face(style=R.CodeStyle(space="w", code=code, source={"reference_sha256": "c" * 64, "refine": None}),
               content=R.DemoSelfieContent(seed=0, index=3)),
        R.Face(style=R.CodeStyle(space="w", code=wplus), content=R.FileContent(sha256="d" * 64, name="me.png")),
        R.Face(style=R.SeedStyle(seed=7, index=2, truncation=0.7),
               content=R.DemoVideoContent(seed=0, frames=48, tracking={"first_box": None})),
    )
    base = dict(version=1, generator=FP, directions=_ident(), faces=faces, sweep=((0.0, -0.0), (13.95, -6.975)),
                edit=_edit((("long_hair", 27.9), ("short_hair", -0.1 - 0.2)), (0, 2, 3), ("smile",), ("short_hair",)))
    return R.Recipe(**{**base, **change})


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_recipes_main_wrote_read_back_to_the_same_bytes(name):
    """Fixtures written by the recipe code before the schema was declared (main at b367d9e): indented
    and compact, versions 1 and 2, every style and content kind; read and written again, byte for byte."""
    text = (FIXTURES / name).read_text()
    recipe = R.from_json(text)
    assert R.to_json(recipe, compact=".compact." in name) == text
    assert R.from_json(R.to_json(recipe)) == recipe
    assert recipe.version == (2 if name.startswith("v2") else 1)


def test_a_png_main_wrote_is_written_again_byte_for_byte():
    from PIL import Image

    path = FIXTURES / "v2-steps.png"
    recipe = read_png(path)
    with Image.open(path) as img:
        image = np.asarray(img.convert("RGB"))
    assert png_bytes(image, recipe) == path.read_bytes()
    assert recipe == R.from_json((FIXTURES / "v2-steps.json").read_text())


def test_json_round_trip_is_exact_and_byte_identical():
    r = _recipe()
    text = R.to_json(r)
    back = R.from_json(text)
    assert back == r and R.to_json(back) == text
    assert back.edit.terms[1][1] == -0.1 - 0.2  # shortest-repr floats read back to the same value
    assert np.array_equal(np.float32(back.faces[1].style.code), np.float32(r.faces[1].style.code))
    assert json.loads(R.to_json(r, compact=True)) == json.loads(text)
    assert text.isascii() and text.endswith("\n") and '"terms": [["long_hair", 27.9]' in text
    for layers in (None, "coarse"):
        changed = _recipe(edit=_edit((("long_hair", 1.0),), layers), sweep=None)
        assert R.from_json(R.to_json(changed)).edit.layers == layers


def test_faces_with_their_own_steps_round_trip_as_version_2():
    own = (_edit((("long_hair", 13.95), ("short_hair", -6.975)), (0, 2, 3), ("smile",), ("short_hair",)),
           _edit((("smile", -2.5), ("blush", 1.25)), None, ("long_hair", "short_hair")))
    plain = _recipe(sweep=None)
    assert plain.version == 1 and R.from_json(R.to_json(plain)).version == 1
    first = plain.faces[0]
    r = plain.with_faces([first.model_copy(update={"steps": own}), plain.faces[1]])
    assert r.version == 2
    text = R.to_json(r)
    back = R.from_json(text)
    assert back == r and R.to_json(back) == text and json.loads(text)["version"] == 2
    assert list(json.loads(text)["faces"][0]) == ["style", "content", "steps", "label"]
    chains = R.face_chains(back, back.faces[0])
    assert chains == [[EditSpec(st.terms, st.layers, st.keep, st.opposite) for st in own]]
    assert R.face_chains(back, back.faces[1]) == [[plain.edit.to_spec()]]  # no steps: the edit
    with pytest.raises(R.RecipeError, match=r"^recipe faces\[0\] has its own steps and the recipe a sweep; a sweep "
                                            r"edits every face alike$"):
        R.Recipe(**{**dict(r), "sweep": ((0.0, 0.0), (1.0, -0.5))})
    bad = json.loads(text)
    bad["faces"][0]["steps"][1]["layers"] = "corse"
    with pytest.raises(R.RecipeError, match=r"^recipe faces\[0\]\.steps\[1\]\.layers: unknown value 'corse'; "
                                            r"did you mean coarse\?$"):
        R.from_json(json.dumps(bad))


def test_png_carries_the_recipe_and_stays_deterministic(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    r = _recipe()
    data = png_bytes(image, r)
    assert data == png_bytes(image, r)
    (tmp_path / "a.png").write_bytes(data)
    assert load(tmp_path / "a.png") == r
    from PIL import Image

    with Image.open(tmp_path / "a.png") as img:
        assert np.array_equal(np.asarray(img), image) and img.text[R.PNG_KEY] == R.to_json(r, compact=True)
    (tmp_path / "r.json").write_text(R.to_json(r))
    assert load(tmp_path / "r.json") == r
    save(tmp_path / "s.json", r)
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
        "bad.json": f"{tmp_path}/bad.json: recipe is not valid JSON: key must be a string at line 1 column 2",
        "missing.json": f"recipe file {tmp_path}/missing.json does not exist",
    }
    for name, message in cases.items():
        with pytest.raises(R.RecipeError) as e:
            load(tmp_path / name)
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
    (("version",), 0, "recipe version: input should be greater than or equal to 1, got 0"),
    (("faces", 0, "steps"), [{"terms": [["long_hair", 1.0]], "layers": None, "keep": [], "opposite": []}],
     "recipe faces[0].steps needs format version 2; this recipe says version 1"),
    (("faces", 0, "steps"), [], "recipe faces[0].steps: must not be empty"),
    (("edit", "keep"), ["long_hair"], "recipe edit: both edits and keeps 'long_hair'"),
    (("format",), "x", "not a latentedit recipe (format is \"x\", expected 'latentedit-recipe')"),
    (("generatr",), "x", "recipe: unknown key 'generatr'; did you mean generator?"),
    (("generator",), "", "recipe generator: must not be empty"),
    (("edit", "terms"), [], "recipe edit.terms: must not be empty"),
    (("edit", "terms"), [["long_hair", None]], "recipe edit.terms[0][1]: input should be a valid number, got null"),
    (("edit", "terms"), [["long_hair", True]], "recipe edit.terms[0][1]: input should be a valid number, got true"),
    (("edit", "terms"), [["a", 1e400]], "recipe edit.terms[0][1]: input should be a finite number, got Infinity"),
    (("edit", "terms"), [["a", 1.0], ["a", 2.0]], "recipe edit: names tag 'a' twice"),
    (("edit", "terms"), [["", 1.0]], "recipe edit.terms[0][0]: must not be empty"),
    (("edit", "layers"), "corse", "recipe edit.layers: unknown value 'corse'; did you mean coarse?"),
    (("edit", "layers"), [3, 1], "recipe edit.layers: must be distinct layer indices >= 0 in increasing order"),
    (("edit", "layers"), [-1], "recipe edit.layers[0]: input should be greater than or equal to 0, got -1"),
    (("edit", "layers"), [1.5], "recipe edit.layers[0]: input should be a valid integer, got 1.5"),
    (("edit", "opposite"), ["blush"], "recipe edit: opposite names 'blush', which is not one of the edit's terms"),
    (("edit", "keep"), KeyError, "recipe edit.keep: field required"),
    (("sweep",), [[1.0]], "recipe sweep[0] has 1 strengths for 2 terms"),
    (("sweep",), [[1.0, "x"]], "recipe sweep[0][1]: input should be a valid number, got \"x\""),
    (("faces",), [], "recipe faces: must not be empty"),
    (("faces", 0), "x", "recipe faces[0]: input should be an object, got \"x\""),
    (("faces", 0, "style", "kind"), "sampel", "recipe faces[0].style: unknown kind 'sampel'; did you mean sample?"),
    (("faces", 0, "style", "kind"), KeyError, "recipe faces[0].style: has no 'kind'"),
    (("faces", 0, "style", "sample_id"), "12", "recipe faces[0].style.sample_id: input should be a valid integer, "
                                               "got \"12\""),
    (("faces", 0, "style", "sample_id"), -1, "recipe faces[0].style.sample_id: input should be greater than or "
                                             "equal to 0, got -1"),
    (("faces", 1, "style", "code"), [1.0, True], "recipe faces[1].style.code[1]: input should be a valid number, "
                                                 "got true"),
    (("faces", 2, "style", "code"), [[1.0], [1.0, 2.0]], "recipe faces[2].style.code: must be a list of numbers "
                                                         "(or, for W+, of equally long lists of numbers)"),
    (("faces", 1, "style", "space"), "x", "recipe faces[1].style.space: unknown value 'x'; known values: w, z"),
    (("faces", 3, "style", "truncation"), "1", "recipe faces[3].style.truncation: input should be a valid number, "
                                               "got \"1\""),
    (("faces", 2, "content", "sha256"), "xyz", "recipe faces[2].content.sha256: string should match pattern "
                                               "'^[0-9a-f]{64}$', got \"xyz\""),
    (("faces", 0, "content", "input_id"), KeyError, "recipe faces[0].content.input_id: field required"),
    (("faces", 0, "content", "kind"), "vidoe", "recipe faces[0].content: unknown kind 'vidoe'; did you mean video, "
                                               "demo_video?"),
    (("faces", 0, "label"), "../x", "recipe faces[0].label: must be a plain file name, got '../x'"),
    (("faces", 0, "content", "seed"), 3, "recipe faces[0].content: unknown key 'seed'; known keys: input_id, kind"),
    (("directions", "params"), [], "recipe directions.params: input should be an object, got []"),
])
def test_malformed_recipes_name_the_first_problem(path, value, message):
    with pytest.raises(R.RecipeError) as e:
        R.from_json(_mutate(path, value))
    assert str(e.value) == message


def test_deep_nesting_is_one_line():
    for text in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        with pytest.raises(R.RecipeError, match=r"^recipe is not valid JSON: nested too deeply \(recursion limit "
                                                r"exceeded at line 1 column \d+\)$"):
            R.from_json(text)


def test_check_compatible_names_the_difference():
    r = _recipe()
    R.check_compatible(r, FP, _ident())  # the same: no error
    R.check_compatible(r, FP, _ident(sha256=None, file=None))  # an unsaved set is pinned by its vectors
    cases = [
        (("0123456789abcdef", _ident()), "recipe was made with the gnr generator 3f2a9c0d1e4b5a67, this is the gnr "
                                         "generator 0123456789abcdef; use the generator the recipe names"),
        (("stylegan2-0123456789abcdef", _ident()), "recipe was made with the gnr generator 3f2a9c0d1e4b5a67, this is "
         "the stylegan2 generator stylegan2-0123456789abcdef; use the generator the recipe names"),
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
    ident = R.direction_identity(ds, sha256_file(path), path.name, params_keys={"center"})
    assert ident.params == {"center": False} and ident.file == "d.npz"
    assert ident.sha256 == hashlib.sha256(b"file bytes").hexdigest() == sha256_file(path)
    assert R.direction_identity(ds).params == {"array": [0.0, 0.0], "center": False, "code_scale": 0.5}
    other = DirectionSet("svd", "w", ["a", "b", "c"], v[[1, 0, 2]])
    assert R.direction_identity(other).vectors_sha256 != ident.vectors_sha256
    renamed = DirectionSet("svd", "w", ["a", "b", "d"], v)
    assert R.direction_identity(renamed).vectors_sha256 != ident.vectors_sha256


def test_edit_bridge_keeps_exact_strengths():
    edit = Edit((("long_hair", 27.9), ("short_hair", -13.95)), (0, 1, 2, 3), ("smile",), ("short_hair",))
    sweep = [edit.with_strengths((s, -s / 2)) for s in (0.0, 7.3, 14.6)]
    r = R.from_edit(edit, FP, _ident(), _recipe().faces[:1], sweep=sweep, layers_as="coarse")
    back = R.from_json(R.to_json(r))
    assert back.edit == R.RecipeEdit.of(edit, "coarse") and back.edit.layers == "coarse"
    assert back.edit.to_spec() == EditSpec((("long_hair", 27.9), ("short_hair", -13.95)), "coarse", ("smile",),
                                           ("short_hair",))
    assert R.sweep_edits(back) == [EditSpec(e.terms, "coarse", e.keep, e.opposite) for e in sweep]
    plain = R.from_edit(edit.with_strengths((1.0, -2.0)), FP, _ident(), r.faces)
    assert plain.edit.layers == (0, 1, 2, 3) and plain.version == 1
    assert R.sweep_edits(plain) == [EditSpec((("long_hair", 1.0), ("short_hair", -2.0)), (0, 1, 2, 3), ("smile",),
                                             ("short_hair",))]
    stepped = r.faces[0].model_copy(update={"steps": (R.RecipeEdit.of(edit),)})
    assert R.from_edit(edit, FP, _ident(), [stepped]).version == 2


def _table(doc: str, header: str) -> list[list[str]]:
    """The rows (lists of cells) of the markdown table whose header line is `header`."""
    lines = doc[doc.index(header):].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_json_schema_is_exported_and_matches_the_docs():
    """docs/recipe.schema.json is what the models generate (`python -m latentedit.editing.recipe --schema`),
    and docs/recipes.md's format tables name exactly the schema's fields: top level, directions, edit,
    faces and every style and content kind."""
    assert (ROOT / "docs" / "recipe.schema.json").read_text() == R.json_schema()
    schema = json.loads(R.json_schema())

    def fields(name):
        return set((schema["$defs"][name] if name != "Recipe" else schema)["properties"])

    doc = (ROOT / "docs" / "recipes.md").read_text()
    named = {"": set(), "directions": set(), "edit": set(), "faces": set()}
    for key, meaning in _table(doc, "| key | meaning |"):
        prefix = ""
        for word in re.findall(r"`([^`]+)`", key):
            head, _, rest = word.partition(".")
            if head and rest:
                prefix = head.removesuffix("[i]")
                named[""].add(prefix)
            (named[prefix] if rest else named[""]).add(rest or word)
        if key == "`faces`":
            named["faces"] |= set(re.findall(r"`([a-z_]+)`", meaning))
    assert named[""] == fields("Recipe")
    assert named["directions"] == fields("DirectionIdentity")
    assert named["edit"] == fields("RecipeEdit")
    assert named["faces"] == fields("Face")
    models = {"sample": "SampleStyle", "seed": "SeedStyle", "code": "CodeStyle", "run_input": "RunInputContent",
              "demo_selfie": "DemoSelfieContent", "file": "FileContent", "video": "VideoContent",
              "demo_video": "DemoVideoContent"}
    kinds = []
    for header in ("| kind | fields | the code |", "| kind | fields | the selfie |"):
        for kind, cells, _ in _table(doc, header):
            kinds.append(kind.strip("`"))
            assert set(re.findall(r"`([a-z_0-9]+)`", cells)) - {"w", "z"} == fields(models[kinds[-1]]) - {"kind"}, kind
    assert kinds == list(R.STYLE_KINDS + R.CONTENT_KINDS) == list(models)


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
    after = load(tmp_path / "e" / "after" / "000000007.png")
    assert after.faces == (R.Face(style=R.SampleStyle(sample_id=7),
                                  content=R.RunInputContent(input_id=int(codes["input_id"][rows[0]])),
                                  label="000000007"),)
    assert after.edit.terms == (("long_hair", 3.0), ("short_hair", -1.0)) and after.generator == fingerprint_of(G)
    assert load(tmp_path / "e" / "before" / "000000007.png").edit.terms == (("long_hair", 0.0), ("short_hair", 0.0))
    whole = load(tmp_path / "e" / "recipe.json")
    assert len(whole.faces) == 2 and load(tmp_path / "e" / "grid.png") == whole
    with pytest.raises(Exception, match=r"^sample id 99 is not in .* \(ids 0-11\)$"):
        edit(run.path, add="long_hair", method="linear", ids=[99], generator=G)
    with pytest.raises(Exception, match=r"^give either --ids \(those samples\) or --samples N"):
        edit(run.path, add="long_hair", method="linear", ids=[1], samples=2, generator=G)


def fingerprint_of(G):
    from latentedit.models.generator import fingerprint

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
    r = load(tmp_path / "a" / "recipe.json")
    assert [f.style for f in r.faces] == [R.SeedStyle(seed=0, index=i, truncation=1.0) for i in range(4)]
    assert [f.content.name for f in r.faces] == a.record["input_names"]
    edit(run.path, recipe=tmp_path / "a" / "recipe.json", inputs=selfie_dir, generator=G, out=tmp_path / "b")
    assert _files(tmp_path / "b") == _files(tmp_path / "a") | {"edit.json": _files(tmp_path / "b")["edit.json"]}
    with pytest.raises(InputError) as e:
        edit(run.path, recipe=tmp_path / "a" / "recipe.json", generator=G)
    assert str(e.value) == (f"this face is drawn on the selfie {r.faces[0].content.name} (sha256 "
                            f"{r.faces[0].content.sha256[:16]}...); give that image file")
    s = edit(run.path, add="long_hair", method="linear", strength=2.0, ids=[1, 5], style_seed=3, generator=G)
    assert np.array_equal(s.codes[0], s.codes[1])  # one style for both faces
    assert s.recipes["all"].faces[0].style == R.SeedStyle(seed=3, index=0, truncation=1.0)


def test_a_recipe_of_another_generator_or_direction_set_is_refused(tiny_run, tmp_path):
    from latentedit.directions import DirectionSet
    from latentedit.pipeline.edit import edit

    run, G, _ = tiny_run
    edit(run.path, add="long_hair", method="linear", strength=2.0, ids=[3], generator=G, out=tmp_path / "e")
    recipe = load(tmp_path / "e" / "after" / "000000003.png")
    other = recipe.model_copy(update={"generator": "0123456789abcdef"})
    with pytest.raises(R.RecipeError) as e:
        edit(run.path, recipe=other, generator=G)
    assert str(e.value) == (f"recipe was made with the gnr generator 0123456789abcdef, this is the gnr generator "
                            f"{recipe.generator}; use the generator the recipe names")
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
                                f"{sha256_file(path)[:16]}; the directions were refitted or come from another run")
    finally:
        path.write_bytes(saved)


def test_a_forged_recipe_is_blamed_on_the_recipe_not_on_options(tiny_run, tmp_path):
    """Before: a recipe strength past the bound was blamed on --strength, and a code of the wrong length
    on faces mixing w and W+ codes."""
    from latentedit.errors import InputError
    from latentedit.pipeline.edit import edit

    run, G, _ = tiny_run
    edit(run.path, add="long_hair", method="linear", strength=2.0, ids=[3], generator=G, out=tmp_path / "e")
    recipe = load(tmp_path / "e" / "recipe.json")
    forged = recipe.model_copy(update={"edit": recipe.edit.model_copy(update={"terms": (("long_hair", 1e6),)})})
    with pytest.raises(InputError) as e:
        edit(run.path, recipe=forged, generator=G)
    assert str(e.value).startswith("the recipe's strength of long_hair 1e+06 is more than style codes can carry: "
                                   "use a strength in [-")
    short = R.CodeStyle(space="w", code=(0.0,) * (G.style_dim - 1))
    wrong = recipe.model_copy(update={"faces": (recipe.faces[0].model_copy(update={"style": short}),)})
    with pytest.raises(InputError) as e:
        edit(run.path, recipe=wrong, generator=G)
    assert str(e.value) == (f"a w style code of this generator has shape {G.style_dim}, this recipe's has "
                            f"{G.style_dim - 1}")


def test_recipes_round_trip_through_video(tiny_run, tmp_path):
    from latentedit.pipeline.video import edit_video

    run, G, codes = tiny_run
    from latentedit.pipeline.edit import edit

    edit(run.path, add="long_hair", sub="short_hair", method="linear", strength=3.0, sub_strength=1.0, ids=[5],
         generator=G, out=tmp_path / "e")
    png = tmp_path / "e" / "after" / "000000005.png"
    v = edit_video(None, run.path, recipe=png, generator=G, progress=False, out=tmp_path / "v.mp4")
    made = load(v.recipe)
    assert made.faces[0].style == R.SampleStyle(sample_id=5) and made.edit == load(png).edit
    assert made.faces[0].content.kind == "demo_video" and made.faces[0].content.frames == v.frames == 48
    again = edit_video(None, run.path, recipe=v.recipe, generator=G, progress=False, out=tmp_path / "w.mp4")
    assert again.out.read_bytes() == v.out.read_bytes()
    assert again.side_by_side.read_bytes() == v.side_by_side.read_bytes()
    assert again.recipe.read_bytes() == v.recipe.read_bytes()
    two = load(tmp_path / "e" / "recipe.json").with_faces(load(tmp_path / "e" / "recipe.json").faces * 2)
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
    assert style.source == {"reference": "anime.png", "reference_sha256": sha256_file(reference)}
    assert res.recipes["all"].faces[1].style == style and np.array_equal(res.codes[0], res.codes[1])
    from latentedit.pipeline.video import edit_video

    v = edit_video(None, run.path, add="long_hair", method="linear", strength=2.0, reference=reference,
                   style_encoder=ckpt, generator=G, progress=False, side_by_side=False, out=tmp_path / "v.mp4")
    assert load(v.recipe).faces[0].style == style
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
    from latentedit.models.checkpoint import save_generator
    from latentedit.models.generator import fingerprint
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
    assert load(out.with_name("demo-video-0-edited.recipe.json")).faces[0].style == R.SampleStyle(sample_id=4)


def test_edit_outputs_keep_the_bytes_of_the_previous_main(tmp_path):
    """Architecture step 2 (one Edit value, the recipe schema, one auto orchestration) kept every file
    `edit` writes byte for byte: PNGs with their recipes, recipe.json, grids, codes.npz. The sha256s were
    recorded by tests/same_bytes_cases.py run with main at b23cefd, before the refactor."""
    from same_bytes_cases import sums

    want = json.loads((ROOT / "tests" / "fixtures" / "same_bytes_b23cefd.json").read_text())
    got = sums(tmp_path)
    assert sorted(got) == sorted(want)
    assert [k for k in want if got[k] != want[k]] == []
