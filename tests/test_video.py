"""Video translation: errors and atomic output on a tiny generator; tracking and a fixed edit on the demo world."""

import numpy as np
import pytest
import torch
from conftest import tiny_generator

from latentedit.errors import InputError
from cli.options import parse_crop
from latentedit.pipeline.video import translate_video
from latentedit.world.render import demo_video, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "in.mp4"
    frames, geometry = demo_video(6, seed=0, size=48)
    write_video(path, frames)
    return path


def _read(path):
    import imageio.v2 as imageio

    with imageio.get_reader(str(path), format="ffmpeg") as r:
        return np.stack([f for f in r])


def test_side_by_side_and_bytes_are_reproducible(clip, tmp_path):
    G = tiny_generator()
    w = G.mapping(torch.randn(2, 8)).detach()
    outs = []
    for k in range(2):
        info = translate_video(clip, tmp_path / f"out{k}.mp4", G, w[0], w[1], crop=parse_crop("4,2,40"),
                               side_by_side_path=tmp_path / f"sbs{k}.mp4", progress=False)
        outs.append(((tmp_path / f"out{k}.mp4").read_bytes(), (tmp_path / f"sbs{k}.mp4").read_bytes()))
    assert info["frames"] == 6 and info["crop"] == (4, 2, 40) and info["frame_size"] == (48, 48)
    assert outs[0] == outs[1]
    assert _read(tmp_path / "out0.mp4").shape == (6, 32, 32, 3)
    assert _read(tmp_path / "sbs0.mp4").shape == (6, 32, 96, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out0.mp4", "out1.mp4", "sbs0.mp4", "sbs1.mp4"]


@pytest.mark.parametrize("args, message", [
    (dict(crop="10,10,40"), "--crop 10,10,40 lies outside the 48x48 frames of {clip}; pick a box with X+SIZE <= 48 "
                            "and Y+SIZE <= 48"),
    (dict(crop="1,2"), "--crop must be X,Y,SIZE in pixels (e.g. 100,40,256), got '1,2'"),
    (dict(crop="-1,0,8"), "--crop -1,0,8: X and Y must be >= 0 and SIZE >= 1"),
    (dict(in_path="missing.mp4"), "video {tmp}/missing.mp4 does not exist"),
])
def test_errors_leave_no_output(clip, tmp_path, args, message):
    G = tiny_generator()
    w = G.mapping(torch.randn(1, 8)).detach()
    in_path = tmp_path / args.pop("in_path") if "in_path" in args else clip
    with pytest.raises(InputError) as e:
        if "crop" in args:
            args["crop"] = parse_crop(args["crop"])
        translate_video(in_path, tmp_path / "out.mp4", G, w, w, side_by_side_path=tmp_path / "sbs.mp4",
                        progress=False, **args)
    assert str(e.value) == message.format(clip=clip, tmp=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_video_leaves_no_output(clip, tmp_path, monkeypatch):
    G = tiny_generator()
    w = G.mapping(torch.randn(1, 8)).detach()
    decode, calls = G.decode, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return decode(*args, **kwargs)

    monkeypatch.setattr(G, "decode", failing)
    with pytest.raises(RuntimeError):
        translate_video(clip, tmp_path / "out.mp4", G, w, batch_size=2, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video")
    G = tiny_generator()
    with pytest.raises(InputError, match=f"^cannot read video {bad}: "):
        translate_video(bad, tmp_path / "out.mp4", G, G.mapping(torch.randn(1, 8)).detach(), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]
    assert parse_crop(" 3, 4 ,5") == (3, 4, 5)


@pytest.mark.slow
def test_demo_video_tracks_geometry_and_keeps_the_edit_fixed(tmp_path):
    from latentedit.models.generator import load_generator
    from latentedit.world import render, truth
    from latentedit.world.batch_readout import BatchReader

    G = load_generator("demo")  # shipped in assets/: a missing file is a failure, not a skip
    frames, geometry = demo_video(12, seed=3, size=G.size)
    write_video(tmp_path / "in.mp4", frames)
    # the "edit": the same style with longer hair (z moved along the world's hair-length axis)
    z = np.zeros((1, 8), np.float32) + 0.3 * np.random.default_rng(5).standard_normal((1, 8)).astype(np.float32)
    z -= (z @ truth.VECTORS["hair_length"] + 1.5)[:, None] * truth.VECTORS["hair_length"].astype(np.float32)
    z_long = z + 3.0 * truth.VECTORS["hair_length"].astype(np.float32)
    with torch.inference_mode():
        w_plain, w_long = G.mapping(torch.from_numpy(np.concatenate([z, z_long])))
    translate_video(tmp_path / "in.mp4", tmp_path / "out.mp4", G, w_long, w_plain,
                    side_by_side_path=tmp_path / "sbs.mp4", progress=False)
    out, sbs = _read(tmp_path / "out.mp4"), _read(tmp_path / "sbs.mp4")
    s = G.size
    plain = sbs[:, :, s : 2 * s]

    # every frame shows the edit (long hair; short without it) and the same other attributes
    def read(images, code):
        reads = BatchReader(geometry, np.repeat(code, len(images), axis=0), s).read(images)
        return [{k: v[t] for k, v in reads.items() if k != "background"} for t in range(len(images))]

    edited, unedited = read(out, z_long), read(plain, z)
    assert sum(r["hair_length_class"] == 2 for r in edited) >= 10
    assert sum(r["hair_length_class"] == 0 for r in unedited) >= 10
    others = [{k: v for k, v in r.items() if k != "hair_length_class"} for r in edited]
    assert all(o == others[0] for o in others)
    # geometry follows the input: the anime face's centre tracks the selfie's, frame by frame
    skin = np.abs(out.astype(int) - np.array(render.ANIME_SKIN)).sum(-1) < 40
    cx = np.array([np.nonzero(m)[1].mean() for m in skin]) / s
    assert np.corrcoef(cx, geometry["cx"])[0, 1] > 0.95
    assert np.abs(cx - geometry["cx"]).mean() < 0.03
