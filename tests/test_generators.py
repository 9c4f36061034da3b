"""One generator interface: every stage runs on a content-free StyleGAN2 file as on GNR, and nothing
outside latentedit/models/ asks which backend it has."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.errors import CheckpointError, InputError, RunError
from latentedit.models.generator import backend_of, fingerprint, generator_for_run, load_generator, named
from latentedit.models.stylegan2 import StyleGAN2, save_stylegan2
from latentedit.world import truth

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sg2_file(tmp_path_factory):
    torch.manual_seed(0)
    G = StyleGAN2(size=16, style_dim=32, n_mlp=2, z_dim=8, channels={4: 16, 8: 16, 16: 8})
    path = tmp_path_factory.mktemp("sg2") / "g.safetensors"
    save_stylegan2(G, path)
    return path


@pytest.fixture(scope="module")
def sg2_run(sg2_file, tmp_path_factory):
    """A StyleGAN2 run tagged with the demo world's truth of its codes."""
    from latentedit.pipeline.sample import sample

    run = sample(str(sg2_file), tmp_path_factory.mktemp("run") / "run", n_inputs=6, styles_per_input=4,
                 progress=False).run
    for s in run.shards():
        codes = run.shard_codes(s)
        run.write_tag_shard(s, codes["id"], truth.tag_matrix(codes["z"]))
    run.write_tag_vocab({"tags": truth.TAGS, "tagger": "ground-truth", "source": "truth"})
    return run


def test_no_stage_branches_on_the_backend():
    """Capabilities (`takes_content`, `spaces`) may be asked anywhere; the backend's name only in models/."""
    kinds = re.compile(r"""(\.kind\s*[!=]=|==\s*\w*\.kind|\bkind\s+in\b).*["'](gnr|stylegan2|dcgan)["']|"""
                       r"""isinstance\([^)]*(StyleGAN2|DCGAN|Generator)\b""")
    offenders = []
    for path in sorted((ROOT / "latentedit").rglob("*.py")) + sorted((ROOT / "cli").rglob("*.py")):
        if "models" in path.relative_to(ROOT).parts:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if kinds.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_a_stylegan2_run_records_its_backend_and_draws_from_codes_alone(sg2_file, sg2_run):
    g = sg2_run.manifest["generator"]
    assert (g["backend"], g["kind"], g["path"]) == ("stylegan2", "checkpoint", str(sg2_file.resolve()))
    assert g["fingerprint"].startswith("stylegan2-") and backend_of(g["fingerprint"]) == "stylegan2"
    assert sg2_run.manifest["input_source"] == {"kind": "none", "seed": 0}
    codes = sg2_run.codes()
    assert codes["z"].shape == (24, 8) and codes["w"].shape == (24, 32)
    G = generator_for_run(sg2_run)  # reloaded from the file the run records, same fingerprint
    images = sg2_run.images([0, 5])
    with torch.inference_mode():
        again = G.decode(None, torch.from_numpy(codes["w"][[0, 5]]), use_mapping=False)
    expected = ((again.permute(0, 2, 3, 1).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1


def test_another_backend_is_named_in_the_refusal(sg2_run):
    with pytest.raises(RunError) as e:
        generator_for_run(sg2_run, "demo")
    fp = load_generator("demo")
    assert str(e.value) == (f"{named(fingerprint(fp))} is not the one {sg2_run.path} was sampled with "
                            f"({named(sg2_run.fingerprint)}); pass --generator {sg2_run.generator_source}")
    assert named(fingerprint(fp)).startswith("the gnr generator ")


def test_sample_refuses_input_images_for_a_content_free_generator(sg2_file, tmp_path):
    from latentedit.pipeline.sample import sample

    with pytest.raises(InputError) as e:
        sample(str(sg2_file), tmp_path / "r", inputs=tmp_path, progress=False)
    assert str(e.value) == "a stylegan2 generator draws from codes alone and takes no input images; drop --inputs"


def test_fit_and_edit_a_stylegan2_run_in_w_and_wplus(sg2_run, tmp_path):
    from latentedit.pipeline.edit import edit
    from latentedit.pipeline.fit import ensure_directions

    for method in ("svd", "sefa"):
        ensure_directions(sg2_run, method, progress=False)
    result = edit(sg2_run.path, out=tmp_path / "e", add="long_hair", sub="short_hair", layers="coarse", ids=(0, 3))
    record = json.loads((tmp_path / "e" / "edit.json").read_text())
    G = generator_for_run(sg2_run)
    assert G.layer_names == ["conv1", "convs.0", "convs.1", "convs.2", "convs.3", "to_rgbs.1"]  # 4, 8, 16 px
    assert record["generator"]["backend"] == "stylegan2" and record["layer_indices"] == [0]  # the 4 px third
    recipe = json.loads((tmp_path / "e" / "recipe.json").read_text())
    assert recipe["generator"] == sg2_run.fingerprint
    assert len(list((tmp_path / "e" / "after").glob("*.png"))) == 2 and result is not None
    sefa = edit(sg2_run.path, out=tmp_path / "s", add="sefa_0", method="sefa", ids=(1,))
    assert sefa is not None and (tmp_path / "s" / "after" / "000000001.png").exists()


def test_video_says_a_content_free_generator_cannot_translate_frames(sg2_run, tmp_path):
    from latentedit.pipeline.video import edit_video

    with pytest.raises(InputError) as e:
        edit_video(run=sg2_run.path, add="long_hair", sub="short_hair", out=tmp_path / "v.mp4")
    assert str(e.value) == ("a video is translated frame by frame through the generator's content input, and a "
                            "stylegan2 generator has none; use a GANs N' Roses generator")


def test_an_unknown_file_says_what_it_holds(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"optimizer": {}, "epoch": 3}, path)
    with pytest.raises(CheckpointError) as e:
        load_generator(path)
    assert str(e.value).startswith(f"{path} holds no generator (keys: optimizer, epoch)")


def test_an_unknown_demo_name_suggests_the_close_ones():
    with pytest.raises(CheckpointError) as e:
        load_generator("demo-stylegan")
    assert str(e.value) == "unknown demo generator 'demo-stylegan'; did you mean demo-stylegan2, demo-dcgan?"


def test_a_truncated_seed_style_moves_toward_each_backends_own_mean():
    """Recipes truncate with the backend's mean: StyleGAN2's file w_avg, the DCGAN prior's 0, GNR's mapped mean."""
    from latentedit.editing.recipe import SeedStyle
    from latentedit.models.batched import mean_style
    from latentedit.pipeline.faces import style_code

    sg2, dcgan, gnr = (load_generator(n) for n in ("demo-stylegan2", "demo-dcgan", "demo"))
    sg2.latent_avg = torch.full((sg2.style_dim,), 0.25)
    half = {G.kind: style_code(G, SeedStyle(seed=4, index=1, truncation=0.5)) for G in (sg2, dcgan, gnr)}
    full = {G.kind: style_code(G, SeedStyle(seed=4, index=1, truncation=1.0)) for G in (sg2, dcgan, gnr)}
    np.testing.assert_allclose(half["stylegan2"], 0.125 + 0.5 * full["stylegan2"], atol=1e-6)
    np.testing.assert_array_equal(half["dcgan"], 0.5 * full["dcgan"])
    np.testing.assert_allclose(half["gnr"], 0.5 * (mean_style(gnr) + full["gnr"]), atol=1e-6)


def test_the_studio_edits_a_stylegan2_face_and_round_trips_its_recipe(sg2_run, tmp_path):
    from latentedit.editing import recipe as rc
    from latentedit.pipeline.fit import ensure_directions
    from latentedit.studio.core import EditState, Studio
    from latentedit.studio.uploads import Upload

    ensure_directions(sg2_run, "svd", progress=False)
    st = Studio(sg2_run)
    face = st.sample_face(5)
    plain = st.render(face, EditState("svd", {}), meter=False)
    assert np.array_equal(plain.image, sg2_run.images([5])[0])  # the run's own sample, content-free
    state = EditState("svd", {"pair:long_hair:short_hair": 1.0}, layers="coarse")
    frame = st.render(face, state, meter=False)
    assert frame.edit.layers == (0,) and np.abs(frame.image.astype(int) - frame.before).mean() > 0.5
    r = st.recipe(face, state)
    assert r.generator == sg2_run.fingerprint and np.array_equal(st.image_of(rc.from_json(rc.to_json(r))), frame.image)
    # a preview: the RGB output at 8 px of the edited W+ code (a coarse edit starts at 4 px)
    import torch

    from latentedit.images import to_uint8

    wplus = torch.as_tensor(st.session("svd").apply(st.face_tensors(face)[1], frame.edit))
    with torch.inference_mode():
        expected = to_uint8(st.G.decode(None, wplus, use_mapping=False, resolution=8))[0]
    assert np.array_equal(st.render(face, state, meter=False, preview=8).image, expected) and expected.shape == (8, 8, 3)
    with pytest.raises(InputError) as e:
        st.selfie_face(face, Upload(Image.new("RGB", (64, 64)), "x.png", "0" * 64, b""))
    assert str(e.value) == "a stylegan2 generator draws from codes alone and takes no selfie"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["demo-stylegan2", "demo-dcgan"])
def test_the_whole_pipeline_runs_on_each_demo_backend(name, tmp_path, monkeypatch):
    """sample, tag (DeepDanbooru), fit every method, edit with the automatic modes, re-apply the recipe,
    report (ground truth on the canonical face) on the demo StyleGAN2 and DCGAN."""
    from latentedit.pipeline.autoedit import AutoOptions
    from latentedit.pipeline.edit import edit
    from latentedit.pipeline.fit import ensure_directions
    from latentedit.pipeline.report import ReportRequest, report
    from latentedit.pipeline.sample import sample
    from latentedit.pipeline.tag import tag_run
    from latentedit.tagging import load_tagger

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    run = sample(name, tmp_path / "run", n_inputs=16, styles_per_input=3, progress=False).run
    assert run.is_demo and run.generator_source == name and run.manifest["generator"]["name"] == name
    tag_run(run, load_tagger("demo"), progress=False)
    for method in ("linear", "lasso", "svd", "sefa", "svm", "pca"):
        ds, _ = ensure_directions(run, method, progress=False)
        assert ds.vectors.shape[1] == (8 if name == "demo-dcgan" else 128)  # w: a DCGAN's w is its z
    wplus = name == "demo-stylegan2"
    if not wplus:
        with pytest.raises(InputError) as e:
            edit(run.path, out=tmp_path / "x", add="long_hair", sub="short_hair", layers="coarse", ids=(0,))
        assert str(e.value) == "a dcgan generator has one code per face, no W+ layers; drop --layers"
    out = tmp_path / "long"
    edit(run.path, out=out, add="long_hair", sub="short_hair", samples=4,
         auto=AutoOptions(keep=True, layers=wplus, per_sample=True))
    record = json.loads((out / "edit.json").read_text())
    assert record["generator"]["backend"] == name.split("-")[1] and "auto" in record and "per_face" in record
    again = edit(run.path, out=tmp_path / "again", recipe=out / "recipe.json")
    for png in sorted((out / "after").glob("*.png")):
        assert (tmp_path / "again" / "after" / png.name).read_bytes() == png.read_bytes()
    rep = report(run.path, ReportRequest(methods=("svd",), samples=16, sweep_samples=4, metric_inputs=2,
                                         dfid_augmentations=4, lpips_styles=3, modes=False, null_draws=1,
                                         out=tmp_path / "rep"), progress=False).report
    assert rep.stages["metrics:dfid"].status == "skipped"  # no input to hold fixed
    assert "ground truth" in rep.methods["svd"].side_effects and rep.verdict and again is not None
