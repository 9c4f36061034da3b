"""The studio: sliders and their edit, defensive uploads, ports, sweeps, the model on a demo run, and
the page driven in Debian's headless chromium (pick a face, move a slider, read the side-effect
meter, save a recipe and re-apply it with the CLI byte for byte, load it back, upload garbage)."""

import io
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentedit.errors import InputError
from latentedit.studio import sliders as sl
from latentedit.studio.uploads import MAX_BYTES, read_image

DEMO_TAGS = ["short_hair", "medium_hair", "long_hair", "black_hair", "brown_hair", "blonde_hair", "red_hair",
             "blue_hair", "blue_eyes", "red_eyes", "green_eyes", "brown_eyes", "closed_eyes", "open_mouth",
             "closed_mouth", "smile", "blush", "white_background"]
HAIR = "pair:long_hair:short_hair"


# -- sliders -------------------------------------------------------------------------------------
def test_tag_sliders_merge_opposites_and_group():
    specs = sl.tag_sliders(DEMO_TAGS)
    keys = [s.key for s in specs]
    assert keys[:2] == [HAIR, "tag:medium_hair"]
    assert {HAIR, "pair:open_mouth:closed_mouth", "pair:blonde_hair:black_hair"} <= set(keys)
    for t in ("long_hair", "short_hair", "open_mouth", "closed_mouth", "blonde_hair", "black_hair"):
        assert f"tag:{t}" not in keys
    tagged = sorted(t for s in specs for t in s.tags)
    assert tagged == sorted(DEMO_TAGS)  # every tag has exactly one slider
    groups = {s.key: s.group for s in specs}
    assert groups[HAIR] == "hair" and groups["tag:closed_eyes"] == "eyes"
    assert groups["pair:open_mouth:closed_mouth"] == "mouth" and groups["tag:smile"] == "mouth"
    assert groups["pair:blonde_hair:black_hair"] == groups["tag:blue_eyes"] == "colours"
    assert groups["tag:white_background"] == "other"
    order = [sl.GROUPS.index(s.group) for s in specs]
    assert order == sorted(order)
    # a pair needs both tags
    assert [s.key for s in sl.tag_sliders(["long_hair", "smile"])] == ["tag:long_hair", "tag:smile"]


def test_paired_slider_makes_the_paired_edit_both_ways():
    specs = sl.tag_sliders(DEMO_TAGS)
    a, b = 27.8, 13.9
    e = sl.edit_from_values(specs, {HAIR: 0.5, "tag:smile": -2.0}, a, b, layers="coarse", keep=("blush", "long_hair"))
    assert e.terms == (("long_hair", 0.5 * a), ("short_hair", -0.5 * b), ("smile", -2.0 * a))
    assert e.opposite == ("short_hair",) and e.layers == "coarse"
    assert e.keep == ("blush",)  # a tag the edit moves itself is not kept
    e = sl.edit_from_values(specs, {HAIR: -1.5}, a, b)
    assert e.terms == (("short_hair", 1.5 * a), ("long_hair", -1.5 * b)) and e.opposite == ("long_hair",)
    assert sl.edit_from_values(specs, {HAIR: 0.0}, a, b) is None


def test_slider_values_round_trip_through_terms():
    specs = sl.tag_sliders(DEMO_TAGS)
    a, b = 27.783536570254938, 13.891768285127469
    values = {HAIR: -0.35, "pair:open_mouth:closed_mouth": 1.15, "tag:blush": 0.05}
    e = sl.edit_from_values(specs, values, a, b)
    back, missing = sl.values_from_terms(specs, e.terms, a, b)
    assert back == values and missing == []
    # strengths a pair slider cannot show, and a tag without a slider
    back, missing = sl.values_from_terms(specs, (("long_hair", 10.0), ("short_hair", -1.0), ("cat_ears", 3.0)), a, b)
    assert back == {} and missing == ["long_hair", "short_hair", "cat_ears"]


def test_component_sliders_carry_their_labels():
    specs = sl.component_sliders(["sefa_0", "sefa_1"], {"sefa_0": [("closed_eyes", 0.6), ("smile", -0.2)]})
    assert [(s.key, s.label, s.group) for s in specs] == [
        ("component:sefa_0", "sefa_0: +closed_eyes, -smile", "components"),
        ("component:sefa_1", "sefa_1", "components")]


# -- uploads, ports, sweeps ------------------------------------------------------------------------
def _png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_uploads_are_decoded_defensively(tmp_path):
    good = tmp_path / "face.png"
    good.write_bytes(_png(np.full((40, 30, 3), 7, np.uint8)))
    up = read_image(good)
    assert up.image.size == (30, 40) and up.name == "face.png" and len(up.sha256) == 64
    cases = {
        "corrupt.png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
                        "corrupt.png is not an image the studio can read"),
        "truncated.png": (_png(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))[:300],
                          "truncated.png is not an image the studio can read: it is damaged or truncated"),
        "notes.png": (b"hello, I am text", "notes.png is not an image the studio can read (not a PNG, JPEG"),
        "empty.jpg": (b"", "empty.jpg is empty"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError) as e:
            read_image(tmp_path / name)
        assert str(e.value).startswith(message), str(e.value)
    with pytest.raises(InputError, match=r"^face.png is 0.0 MiB; uploads are limited to 0 MiB$"):
        read_image(good, max_bytes=10)
    huge = tmp_path / "huge.png"
    Image.new("L", (6000, 5000)).save(huge)  # small file, 30 megapixels
    with pytest.raises(InputError, match=r"^huge.png is 6000 x 5000 pixels; uploads are limited to 25 megapixels$"):
        read_image(huge)


def test_busy_port_names_a_free_one():
    from latentedit.studio.server import check_port

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        with pytest.raises(InputError) as e:
            check_port("127.0.0.1", busy)
        msg = str(e.value)
        assert msg.startswith(f"port {busy} on 127.0.0.1 is in use; try --port ")
        free = int(msg.rsplit(" ", 1)[1])
        assert free != busy
        with socket.socket() as t:
            t.bind(("127.0.0.1", free))  # really free
    assert check_port("127.0.0.1", free) == free


def test_sweep_animation_loops_and_is_deterministic(tmp_path):
    from latentedit.studio.export import write_animation

    frames = np.stack([np.full((64, 64, 3), 40 * k, np.uint8) for k in range(4)])
    a = write_animation(tmp_path / "a.gif", frames, "gif")
    b = write_animation(tmp_path / "b.gif", frames, "gif")
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a) as im:
        assert im.size == (256, 256) and im.n_frames == 6  # 0 1 2 3 2 1
        seen = []
        for k in range(im.n_frames):
            im.seek(k)
            seen.append(int(np.asarray(im.convert("RGB"))[0, 0, 0]))
    assert seen == [0, 40, 80, 120, 80, 40]
    mp4 = write_animation(tmp_path / "a.mp4", frames, "mp4")
    assert mp4.read_bytes()[4:8] == b"ftyp"
    with pytest.raises(InputError, match="a sweep is exported as gif or mp4, got 'avi'"):
        write_animation(tmp_path / "a.avi", frames, "avi")


def test_seed_styles_and_truncation_toward_the_mean():
    import torch

    from latentedit.editing import recipe as rc
    from latentedit.models.generator import load_generator
    from latentedit.models.batched import mean_style
    from latentedit.pipeline.faces import seed_z, style_code

    G = load_generator("demo")
    z = seed_z(3, 0, G.latent_dim)
    assert np.array_equal(z, np.random.default_rng(3).standard_normal((1, G.latent_dim)).astype(np.float32)[0])
    with torch.inference_mode():
        w = G.mapping(torch.from_numpy(z[None]))[0].numpy()
    assert np.array_equal(style_code(G, rc.SeedStyle(seed=3, index=0, truncation=1.0)), w)
    mean = mean_style(G)
    assert np.allclose(style_code(G, rc.SeedStyle(seed=3, index=0, truncation=0.0)), mean, atol=1e-6)
    half = style_code(G, rc.SeedStyle(seed=3, index=0, truncation=0.5))
    assert np.allclose(half, (mean + 0.5 * (w - mean)).astype(np.float32), atol=1e-6)
    with torch.inference_mode():
        direct = G.mapping(torch.from_numpy(np.random.default_rng(0).standard_normal((4096, G.latent_dim))
                                            .astype(np.float32))).double().mean(0).numpy()
    assert np.allclose(mean, direct, atol=1e-5)


# -- the model and the page on a small demo run --------------------------------------------------------
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from latentedit.pipeline.fit import ensure_directions
    from latentedit.pipeline.sample import sample
    from latentedit.pipeline.tag import ensure_tags

    run = tmp_path_factory.mktemp("studio") / "run"
    sample("demo", run, n_inputs=8, styles_per_input=3, seed=0, progress=False)
    ensure_tags(run, "demo", progress=False)
    ensure_directions(run, "svd", progress=False)
    return run


@pytest.fixture(scope="module")
def studio_model(demo_run):
    from latentedit.studio.core import Studio

    return Studio(demo_run)


@pytest.mark.slow
def test_studio_model_edits_measures_and_round_trips(studio_model):
    from latentedit.editing import recipe as rc
    from latentedit.studio.core import EditState

    st = studio_model
    face = st.sample_face(4)
    assert face.content == rc.RunInputContent(input_id=1)
    plain = st.render(face, EditState("svd", {}))
    assert plain.edit is None and np.array_equal(plain.image, plain.before)
    state = EditState("svd", {HAIR: 1.0, "tag:smile": 0.4}, layers="range", layer_range=(3, 0), keep=("blush",))
    frame = st.render(face, state)
    assert frame.edit.layers == (0, 1, 2, 3) and frame.edit.keep == ("blush",)
    assert np.abs(frame.image.astype(int) - frame.before).mean() > 1.0
    tags = [r.tag for r in frame.meter]
    assert {"long_hair", "short_hair", "smile"}.isdisjoint(tags) and "blush" in tags
    scores = st.tagger.score(np.stack([frame.before, frame.image]))
    for r in frame.meter:
        j = st.tagger.tags.index(r.tag)
        assert r.before == pytest.approx(scores[0, j], abs=1e-5) and r.after == pytest.approx(scores[1, j], abs=1e-5)
    assert [abs(r.change) for r in frame.meter] == sorted((abs(r.change) for r in frame.meter), reverse=True)
    # recipe -> controls -> the same image
    r = st.recipe(face, state)
    assert np.array_equal(st.image_of(r), frame.image)
    back, notes = st.state_of(rc.from_json(rc.to_json(r)), EditState())
    assert notes == [] and back.values == {HAIR: 1.0, "tag:smile": 0.4}
    assert (back.layers, back.layer_range, back.keep) == ("range", (0, 3), ("blush",))
    assert np.array_equal(st.render(face, back, meter=False).image, frame.image)
    # a random style pulled all the way to the mean is the mean face
    seeded = st.seed_face(face, 5, 0.0)
    assert seeded.content == face.content and seeded.style == rc.SeedStyle(seed=5, index=0, truncation=0.0)
    with pytest.raises(InputError, match="creativity \\(truncation\\) must be between 0 and 1, got 1.5"):
        st.seed_face(face, 5, 1.5)
    # PCA components: one slider each, labelled with the tags they move most (+: up with the slider)
    specs = st.specs("pca")
    names = st.session("pca").directions.names
    assert [s.key for s in specs] == [f"component:{n}" for n in names]
    for s in specs:
        name, moved = s.label.split(": ")
        assert name == s.plus and len(moved.split(", ")) == 2
        assert all(m[0] in "+-" and m[1:] in st.tagger.tags for m in moved.split(", "))
    comp = st.render(face, EditState("pca", {specs[0].key: 1.0}), meter=False)
    assert comp.edit.terms == ((names[0], st.strengths("pca")[0]),)
    sweep = st.sweep(face, state, HAIR, -1.0, 1.0, 5)
    assert sweep.shape == (5,) + frame.image.shape
    assert np.array_equal(sweep[4], st.render(face, EditState("svd", {**state.values, HAIR: 1.0}, "range", (0, 3),
                                                               ("blush",)), meter=False).image)


@pytest.mark.slow
def test_studio_preview_is_the_generators_rgb_output_and_rises_to_the_edited_layers(studio_model):
    import torch

    from latentedit.images import to_uint8
    from latentedit.studio.core import EditState

    st, G = studio_model, studio_model.G  # demo generator: 16 px content, RGB outputs at 16, 32 and 64 px
    face = st.sample_face(4)
    content, w = st.face_tensors(face)
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o: seen.__setitem__(o.shape[-1], to_uint8(o)[0]))
             for m in [G.to_rgb1, *G.to_rgbs]]
    session = st.session("svd")

    def straight(state):  # the full decode of the edited code, its RGB skips read by the hooks
        seen.clear()
        edit = st.edit(state)
        with torch.inference_mode():
            full = G.decode(content, torch.as_tensor(w if edit is None else session.apply(w, edit)), use_mapping=False)
        return to_uint8(full)[0], dict(seen)

    try:
        plain = EditState("svd", {HAIR: 1.2})
        full, skips = straight(plain)
        preview = st.render(face, plain, meter=False, preview=32)
        assert preview.image.shape == (32, 32, 3) and np.array_equal(preview.image, skips[32])
        assert np.array_equal(st.render(face, plain, meter=False, preview=16).image, skips[16])
        assert np.array_equal(st.render(face, plain, meter=False).image, full)
        # its agreement with the full render downsampled to 32 px, against the unedited face's: the demo generator
        # was trained on its last RGB output only, and its 32 px one does not look like its images
        small = full.reshape(32, 2, 32, 2, 3).mean((1, 3))
        error, stale = st.preview_error(face, plain, 32)
        assert error == pytest.approx(np.abs(skips[32] - small).mean())
        assert stale == pytest.approx(np.abs(st.unedited(face).reshape(32, 2, 32, 2, 3).mean((1, 3)) - small).mean())
        assert error > stale > 5
        unedited = straight(EditState("svd", {}))[1][32]
        # a layer-limited edit: a preview starts at its first edited layer's resolution (lower shows no edit)
        middle = EditState("svd", {HAIR: 1.2}, layers="middle")  # layers 4-6, 32 px
        _, skips = straight(middle)
        raised = st.render(face, middle, meter=False, preview=16)
        assert raised.image.shape == (32, 32, 3) and np.array_equal(raised.image, skips[32])
        assert not np.array_equal(raised.image, unedited)
        fine = EditState("svd", {HAIR: 1.2}, layers="fine")  # layers 7-9, 64 px: the full render
        assert np.array_equal(st.render(face, fine, meter=False, preview=32).image, straight(fine)[0])
        # while its slider moves, a layer-limited edit resumes from the layers below it, drawing the same image
        assert st._prefix[0][:2] == (repr(face), 2) and st._prefix[1][2].shape[-1] == 32
        kept = st._prefix[1]
        for v in (-0.7, 0.3):
            moved = replace(fine, values={HAIR: v})
            assert np.array_equal(st.render(face, moved, meter=False).image, straight(moved)[0])
            assert st._prefix[1] is kept
        in_z = replace(fine, space="z")
        assert np.array_equal(st.render(face, in_z, meter=False).image,
                              st.session("svd", "z").decode(content, st.session("svd", "z").apply(
                                  st.face_tensors(face, "z")[1], st.edit(in_z)))[0])
    finally:
        for h in hooks:
            h.remove()
    # --preview: auto keeps full renders on the demo (fast, and its previews do not show edits); sizes are checked
    from latentedit.studio.server import StudioConfig, preview_of

    assert [preview_of(StudioConfig(preview=p), st, face) for p in ("auto", "off", "32", 16)] == [None, None, 32, 16]
    with pytest.raises(InputError) as e:
        preview_of(StudioConfig(preview="48"), st, face)
    assert str(e.value) == "--preview 48: this generator's previews are 16, 32 px; give one of them, auto or off"
    with pytest.raises(InputError) as e:
        StudioConfig(preview="fast")
    assert str(e.value) == "--preview must be auto, off or a resolution in px (e.g. 64), got 'fast'"


@pytest.mark.slow
def test_studio_hold_corrects_this_face_and_travels_in_its_recipe(studio_model, demo_run):
    from latentedit.editing import recipe as rc
    from latentedit.pipeline.edit import edit
    from latentedit.studio.core import EditState

    st = studio_model
    state = EditState("svd", {HAIR: 1.2})
    for sample_id in st.sample_ids():  # a face on which the plain svd hair edit moves another tag
        face = st.sample_face(int(sample_id))
        held, notes = st.hold(face, state)
        if held.hold:
            break
    else:
        pytest.fail("the svd hair edit moved no other tag the hold could correct on any face")
    assert held.hold[:2] == (face, st.edit(state))
    assert notes[0].startswith("hold: ") and "stepped back along" in notes[0]
    plain, frame = st.render(face, state), st.render(face, held)
    assert frame.held and not plain.held and not np.array_equal(frame.image, plain.image)
    assert {t for t, _ in held.hold[2]}.isdisjoint({"long_hair", "short_hair"})
    # a slider moved after the hold, or another face: the correction was measured for another edit or
    # face and is not applied
    moved = replace(held, values={HAIR: 1.0})
    assert np.array_equal(st.render(face, moved).image, st.render(face, EditState("svd", {HAIR: 1.0})).image)
    other = st.sample_face(next(int(i) for i in st.sample_ids() if st.sample_face(int(i)) != face))
    assert not st.render(other, held).held
    assert np.array_equal(st.render(other, held).image, st.render(other, state).image)
    # the recipe carries the hold as the face's second step; the CLI's edit re-applies it to the same pixels
    r = rc.from_json(rc.to_json(st.recipe(face, held)))
    (steps,) = [f.steps for f in r.faces]
    assert r.version == 2 and len(steps) == 2 and steps[1].keep == ("long_hair", "short_hair")
    assert dict(steps[1].terms) == dict(held.hold[2])
    assert np.array_equal(st.image_of(r), frame.image)
    assert np.array_equal(edit(demo_run, recipe=r).after[0, 0], frame.image)
    back, notes = st.state_of(r, EditState())
    assert back.hold is not None and notes[-1].startswith("held: ") and st.face_of(r) == face
    assert np.array_equal(st.render(st.face_of(r), back, meter=False).image, frame.image)
    with pytest.raises(InputError, match="^move a slider first: hold corrects what the edit moves$"):
        st.hold(face, EditState("svd", {}))


@pytest.mark.slow
def test_studio_automatic_keep_and_layers_set_the_controls(studio_model):
    pytest.importorskip("latentedit.editing.auto")
    from latentedit.studio.core import LAYER_CHOICES, EditState

    st = studio_model
    state = EditState("svd", {HAIR: 1.0})
    with pytest.raises(InputError, match="^move a slider first"):
        st.auto_edit(EditState("svd", {}), True, True)
    new, reasons = st.auto_edit(state, keep=True, layers=True, n=8)
    assert reasons[0].startswith("layers ") and reasons[1].startswith(("kept ", "no condition kept"))
    assert new.layers in LAYER_CHOICES and set(new.keep) <= set(st.keep_choices("svd")) - {"long_hair", "short_hair"}
    kept = reasons[1].split(":")[0].removeprefix("kept ").split(", ") if reasons[1].startswith("kept ") else []
    assert list(new.keep) == kept
    edit = st.edit(new)
    a, b = st.strengths("svd")
    v = new.values[HAIR]
    assert 0.25 <= v <= 4.0 and edit.terms == (("long_hair", v * a), ("short_hair", -v * b))


@pytest.mark.slow
def test_studio_edits_in_z_as_the_cli_does(studio_model, demo_run):
    from latentedit.editing import recipe as rc
    from latentedit.pipeline.edit import edit
    from latentedit.studio.core import EditState

    st = studio_model
    face = st.sample_face(5)
    state = EditState("svd", {HAIR: 1.0}, space="z")
    session = st.session("svd", "z")
    assert session.directions.space == "z" and session.directions.vectors.shape[1] == st.G.latent_dim
    frame = st.render(face, state)
    a, b = st.strengths("svd", "z")
    assert frame.edit.terms == (("long_hair", a), ("short_hair", -b))
    assert (a, b) != st.strengths("svd", "w")
    content, z = st.face_tensors(face, "z")  # the sample's own z code
    assert np.array_equal(z[0], demo_run_codes(demo_run, "z", 5))
    assert np.array_equal(frame.image, session.decode(content, session.apply(z, frame.edit))[0])
    assert np.abs(frame.image.astype(int) - frame.before).mean() > 1.0
    assert not np.array_equal(frame.image, st.render(face, EditState("svd", {HAIR: 1.0})).image)
    # the recipe names z-space directions; the CLI re-applies it to the same pixels; it loads back into z
    r = rc.from_json(rc.to_json(st.recipe(face, state)))
    assert (r.directions.method, r.directions.space) == ("svd", "z")
    assert np.array_equal(st.image_of(r), frame.image)
    assert np.array_equal(edit(demo_run, recipe=r).after[0, 0], frame.image)
    back, notes = st.state_of(r, EditState())
    assert notes == [] and back.space == "z" and back.values == {HAIR: 1.0}
    # SeFa/PCA components are labelled in w: asking for them in z is a one-line error
    with pytest.raises(InputError, match="^pca components are w-space directions here; for z pick a tag method "
                                         "\\(linear, lasso, svd, svm\\)$"):
        st.session("pca", "z")
    with pytest.raises(InputError, match="unknown space 'x'"):
        st.session("svd", "x")


def demo_run_codes(run, space: str, sample_id: int) -> np.ndarray:
    from latentedit.store import Run

    codes = Run.open(run).codes()
    return codes[space][np.flatnonzero(codes["id"] == sample_id)[0]]


@pytest.fixture(scope="module")
def studio_server(demo_run, tmp_path_factory):
    from latentedit.studio.server import StudioConfig, launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path_factory.mktemp("studio-out")
    server = launch(StudioConfig(run=demo_run, port=port, out=out, meter="live", preview="32"), block=False)
    yield server
    server.close()


@pytest.mark.slow
def test_studio_in_a_real_browser(studio_server, demo_run, tmp_path):
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    from latentedit.editing import recipe as rc
    from latentedit.pipeline.recipes import load, read_png
    from latentedit.studio.sliders import slider_id
    from latentedit.studio.browser import launch_chromium, meter_rows, move_slider, open_page, shown_image, wait_status

    url, out = studio_server.url, studio_server.page.out
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page, requests = open_page(browser, url)
            # pick a face from the gallery
            first = shown_image(page, "before")
            src = page.get_attribute("#face-before", "src")
            page.click('#gallery button.thumbnail-item[aria-label="Thumbnail 8 of 24"]')
            wait_status(page, "sample 7")
            page.wait_for_function("src => document.querySelector('#face-before').src !== src", arg=src,
                                   timeout=30_000)
            before = shown_image(page, "before")
            st = studio_server.studio
            assert np.array_equal(before, st.unedited(st.sample_face(7))) and not np.array_equal(before, first)
            # move a slider: a 32 px preview while it moves (the generator's RGB output there), then on release
            # the full edited face and the meter of the other tags
            moving = move_slider(page, slider_id(HAIR), 1.2, release=False)
            assert moving.kind == "preview" and moving.shown_ms > 0 and moving.full_ms is None
            from latentedit.studio.core import EditState

            assert np.array_equal(shown_image(page, "after"),
                                  st.render(st.sample_face(7), EditState("svd", {HAIR: 1.2}), False, preview=32).image)
            assert page.get_attribute("#face-after", "class") == "preview" and "preview 32 px" in page.text_content(
                "#after-box")
            move = move_slider(page, slider_id(HAIR), 1.2, meter=True)
            assert move.kind == "preview" and move.full_ms > 0 and move.meter_ms is not None
            assert page.get_attribute("#face-after", "data-kind") == "full"
            after = shown_image(page, "after")
            assert after.shape == before.shape and np.abs(after.astype(int) - before).mean() > 1.0
            rows = meter_rows(page)
            assert rows and {"long_hair", "short_hair"}.isdisjoint(t for t, _, _ in rows)
            scores = st.tagger.score(np.stack([before, after]))
            for tag, b, a in rows:
                j = st.tagger.tags.index(tag)
                assert b == pytest.approx(scores[0, j], abs=1e-4) and a == pytest.approx(scores[1, j], abs=1e-4)
            # save the recipe and the PNG; the CLI re-applies the recipe to the same bytes
            page.click("#save-recipe")
            saved_json = Path(wait_status(page, "saved ").split("saved ", 1)[1].strip())
            page.click("#save-png")
            page.wait_for_function("() => document.querySelector('#status').textContent.includes('.png')")
            saved_png = Path(page.text_content("#status").split("saved ", 1)[1].strip())
            assert saved_json.parent == saved_png.parent == out
            assert np.array_equal(np.asarray(Image.open(saved_png).convert("RGB")), after)
            recipe = load(saved_json)
            assert read_png(saved_png) == recipe and recipe.faces[0].style.sample_id == 7
            cli = Path(sys.executable).with_name("latentedit")
            for src in (saved_json, saved_png):
                dest = tmp_path / f"cli-{src.suffix[1:]}"
                done = subprocess.run([str(cli), "edit", str(demo_run), "--recipe", str(src), "--out", str(dest)],
                                      capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
                (made,) = sorted((dest / "after").glob("*.png"))
                assert made.read_bytes() == saved_png.read_bytes()
            # reset, then load the recipe back into the sliders
            page.click("#reset-all")
            page.wait_for_function(f"() => document.querySelector('#{slider_id(HAIR)} input[type=range]').value == '0'")
            page.set_input_files("#load input[type=file]", str(saved_json))
            wait_status(page, f"loaded {saved_json.name}")
            assert float(page.input_value(f"#{slider_id(HAIR)} input[type=range]")) == pytest.approx(1.2)
            page.wait_for_function("() => document.querySelector('#face-after').src !== document.querySelector("
                                   "'#face-before').src")
            assert np.array_equal(shown_image(page, "after"), after)
            # a recipe of another direction set is refused, naming the difference
            other = tmp_path / "other.json"
            other.write_text(rc.to_json(recipe).replace(recipe.directions.sha256, "0" * 64))
            page.set_input_files("#load input[type=file]", str(other))
            text = wait_status(page, "recipe was made with direction file")
            assert (f"recipe was made with direction file svd-w.npz of sha256 {'0' * 16}, this one (svd-w.npz) has "
                    f"sha256 {recipe.directions.sha256[:16]}; the directions were refitted") in text
            # a corrupt upload gets a message; the studio goes on working
            bad = tmp_path / "selfie.png"
            bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
            page.click("button[role=tab]:has-text('Upload')")
            page.set_input_files("#selfie input[type=file]", str(bad))
            text = wait_status(page, "selfie.png is not an image")
            assert "selfie.png is not an image the studio can read" in text
            # a file over the size limit is refused by the server before it is read, with a message
            big = tmp_path / "big.png"
            big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(MAX_BYTES))
            page.set_input_files("#selfie input[type=file]", str(big))
            page.wait_for_function("() => [...document.querySelectorAll('[data-testid=toast-body]')].some(e => "
                                   "e.textContent.includes('exceed the maximum allowed size'))", timeout=30_000)
            move_slider(page, slider_id(HAIR), -0.8)
            assert not np.array_equal(shown_image(page, "after"), after)
            # hold: the tagger reads what else the edit moved on this face, and the face steps back along it
            plain = shown_image(page, "after")
            held, notes = st.hold(st.sample_face(7), EditState("svd", {HAIR: -0.8}))
            page.click("#hold")
            assert notes[0] in wait_status(page, "hold: ")
            if held.hold:
                page.wait_for_function("() => document.querySelector('#after-box').textContent.includes('held')",
                                       timeout=30_000)
                assert np.array_equal(shown_image(page, "after"), st.render(st.sample_face(7), held).image)
            else:
                assert np.array_equal(shown_image(page, "after"), plain)
            # the same slider in z: directions fitted on the run's z codes, the caption says so
            page.check("#space input[value='z']")
            page.wait_for_function("() => document.querySelector('#after-box').textContent.includes('in z')",
                                   timeout=120_000)
            face7 = st.sample_face(7)
            assert np.array_equal(shown_image(page, "after"),
                                  st.render(face7, EditState("svd", {HAIR: -0.8}, space="z"), meter=False).image)
            # everything the page asked for came from the studio itself
            outside = [u for u in requests if not u.startswith(url.rstrip("/")) and not u.startswith("data:")]
            assert outside == []
        finally:
            browser.close()
