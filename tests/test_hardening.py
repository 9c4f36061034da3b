"""Issue 13's probes, each as a test: a hostile but realistic user's bad inputs and faults.

Every probe asserts the exit status (or the exception) and the exact first line of the message;
each failed on the code of commit 83787ed (silent garbage, a traceback or a misleading line).
"""

import contextlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_generator


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "latentedit.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def first_line(text: str) -> str:
    """The first line of the message on stderr, skipping what is not latentedit's: tqdm's progress-bar
    redraws and TensorFlow's C++ start-up log lines (absl's "I0000 12:00:00.0 ..." format).

    A traceback anywhere fails the probe: the message must be the whole story.
    """
    assert "Traceback" not in text, text
    noise = re.compile(r"^(.*: +\d+%\|.*\| \d+/\d+ \[|[IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl)")
    lines = [line for line in re.split(r"[\r\n]", text) if line.strip() and not noise.match(line)]
    return lines[0] if lines else ""


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_big_png(path, width: int, height: int):
    """A real, valid all-black 8-bit grey PNG of width x height, compressed on the fly (~1.7 MB)."""
    co, row = zlib.compressobj(1), b"\0" * (width + 1)
    idat = b"".join(co.compress(row) for _ in range(height)) + co.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
                     + png_chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from latentedit.models.checkpoint import save_generator

    return save_generator(tiny_generator(), tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """Two ordinary 8-bit selfies."""
    d = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), np.uint8)).save(d / name)
    return d


@pytest.fixture(scope="module")
def tiny_run(tiny_ckpt, faces, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    r = cli("sample", "--generator", tiny_ckpt, "--inputs", faces, "--styles-per-input", 2, "--out", out)
    assert r.returncode == 0, r.stderr
    return out


# -- 1. non-finite values are caught where they enter --------------------------------------------
@pytest.mark.parametrize("tensor, value", [("convs.0.conv.weight", float("nan")), ("mapping.1.weight", float("inf"))])
def test_generator_with_non_finite_weights_is_refused(tensor, value, tmp_path, faces):
    """Before: sampled pure black images with exit 0, and NaN codes flowed into tag, fit and edit."""
    from latentedit.models.checkpoint import save_generator

    G = tiny_generator()
    with torch.no_grad():
        dict(G.named_parameters())[tensor].view(-1)[3] = value
    ckpt = save_generator(G, tmp_path / "bad.pt")
    n = dict(G.named_parameters())[tensor].numel()
    r = cli("sample", "--generator", ckpt, "--inputs", faces, "--out", tmp_path / "run")
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: {ckpt} [state_dict] has non-finite weights: {tensor} holds 1 NaN/inf "
                                    f"values of {n:,}; the file is damaged, download or save it again")
    assert not (tmp_path / "run").exists()


def test_decode_with_non_finite_output_stops(tmp_path, faces):
    """Before: finite weights whose codes overflow (mapping x 1e20) sampled black PNGs, exit 0."""
    from latentedit.models.checkpoint import save_generator

    G = tiny_generator()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.startswith("mapping.") and name.endswith("weight"):
                p.mul_(1e20)
    ckpt = save_generator(G, tmp_path / "overflowing.pt")
    r = cli("sample", "--generator", ckpt, "--inputs", faces, "--styles-per-input", 1, "--out", tmp_path / "run")
    n = 2 * 3 * 32 * 32
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: decoded images hold {n:,} NaN/inf values of {n:,}; the generator's "
                                    "weights or the style codes it was given are not finite; check the checkpoint "
                                    "and the edit strengths")
    assert not list((tmp_path / "run").glob("samples/shard-*"))
    # no stub run is left behind: the next generator samples into the same --out without --overwrite
    assert not (tmp_path / "run" / "manifest.json").exists()
    r = cli("sample", "--generator", save_generator(tiny_generator(), tmp_path / "good.pt"), "--inputs", faces,
            "--styles-per-input", 1, "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr


def test_strength_bound_says_the_range():
    """The bound edits call (H2's strengths): 100 code scales, 1e4 without a scale."""
    from latentedit.errors import InputError
    from latentedit.limits import check_strength_range

    assert check_strength_range(-69.0, 0.7) == -69.0
    for value, scale, line in [
        (1e30, 0.699, "--strength 1e+30 is more than style codes can carry: use a strength in [-69.9, 69.9] "
                      "(100 x the code scale 0.699)"),
        (1e300, None, "--strength 1e+300 is more than style codes can carry: use a strength in [-1e+04, 1e+04] "
                      "(these directions carry no code scale)"),
    ]:
        with pytest.raises(InputError) as e:
            check_strength_range(value, scale)
        assert str(e.value) == line
    # in 8-d z scaled as default strengths are (sqrt(8/512)), and half as far: z is the mapping's input
    assert check_strength_range(-6.25, 1.0, dim=8, space="z") == -6.25
    with pytest.raises(InputError) as e:
        check_strength_range(100, 1.0, dim=8, space="z")
    assert str(e.value) == ("--strength 100 is more than style codes can carry: use a strength in [-6.25, 6.25] "
                            "(50 x the code scale 1 x sqrt(8/512))")


def test_the_largest_z_strength_still_decodes_to_a_face():
    """At the z bound, every fitted z direction of the thesis's tags (and hair colour) leaves < 5% of the
    pixels blown out (every channel clipped) that were not before, on 48 demo faces; at the old bound
    (100 scaled code scales) up to 33% were."""
    import torch

    from latentedit.directions import METHODS, DirectionSet, code_scale
    from latentedit.editing import EditSession, EditSpec
    from latentedit.models import batched
    from latentedit.models.generator import load_generator
    from latentedit.scoring.demo import DemoBatch
    from latentedit.world import truth

    G = load_generator("demo")
    faces = DemoBatch.sample(G, 48, seed=3)
    z = np.random.default_rng(0).standard_normal((3000, 8))
    tags = ["long_hair", "short_hair", "open_mouth", "closed_mouth", "closed_eyes", "blonde_hair", "black_hair"]
    labels = truth.tag_matrix(z)[:, [truth.TAGS.index(t) for t in tags]]

    def blown(z):  # per pixel: every channel clipped by more than one uint8 level
        images = batched.decode(G, faces.content, torch.from_numpy(np.asarray(z, np.float32)), 16, use_mapping=True)
        return (images.abs() > 1 + 1 / 127.5).all(dim=1).numpy()

    before = blown(faces.z)
    worst = {}
    for method in ("linear", "lasso", "svd"):
        est = METHODS[method]().fit(z, labels, tag_names=tags)
        ds = DirectionSet(method, "z", tags, est.directions_, code_scale=code_scale(z))
        session = EditSession(G, ds)
        for t in tags:
            edit = session.resolve(EditSpec.paired(t, (), strength=session.strength_limit))
            after = blown(session.apply(faces.z, edit))
            worst[method, t] = float((after & ~before).mean())
    assert max(worst.values()) < 0.05, worst
    assert max(worst.values()) > 0.005  # the bound is not so tight that nothing could clip


# -- 2. images read right in every mode, or refused by name ---------------------------------------
def _grey8(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (40, 40), np.uint8)


def _exif_rotated(path, pixels):
    """`pixels` stored turned 90 degrees, with EXIF orientation 6 (display: rotate 90 clockwise)."""
    stored = np.rot90(pixels, k=1)  # counter-clockwise; orientation 6 turns it back clockwise
    img = Image.fromarray(np.ascontiguousarray(stored))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, exif=exif.tobytes())


def _make_mode_case(kind, d):
    """(file, the 8-bit RGB picture a viewer shows for it) for one hostile mode."""
    g = _grey8()
    rgb = np.random.default_rng(1).integers(0, 256, (40, 40, 3), np.uint8)
    if kind == "I;16 png":
        Image.fromarray(g.astype(np.uint16) * 257).save(d / "g16.png")
        return d / "g16.png", np.repeat(g[..., None], 3, -1)
    if kind == "I;16 tiff":
        Image.fromarray(g.astype(np.uint16) * 257).save(d / "g16.tif")
        return d / "g16.tif", np.repeat(g[..., None], 3, -1)
    if kind == "palette with transparency":
        p = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        idx = np.asarray(p).copy()
        idx[:20] = 15
        pal = p.getpalette()[:48]
        pal[45:48] = [0, 0, 0]  # the transparent index hides black
        q = Image.fromarray(idx, "P")
        q.putpalette(pal)
        q.info["transparency"] = 15
        q.save(d / "pal.png", transparency=15)
        seen = np.asarray(q.convert("RGB")).copy()
        seen[idx == 15] = 255
        return d / "pal.png", seen
    if kind == "LA":
        alpha = np.where(np.arange(40)[:, None] < 20, 0, 255).astype(np.uint8).repeat(40, 1)
        Image.fromarray(np.stack([g, alpha], -1), "LA").save(d / "la.png")
        seen = np.repeat(np.where(alpha == 0, 255, g)[..., None], 3, -1)
        return d / "la.png", seen
    if kind == "RGBA":
        alpha = np.where(np.arange(40)[None, :] < 10, 0, 255).astype(np.uint8).repeat(40, 0)
        Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(d / "rgba.png")
        seen = np.where(alpha[..., None] == 0, 255, rgb).astype(np.uint8)
        return d / "rgba.png", seen
    if kind == "EXIF-rotated":
        _exif_rotated(d / "turned.png", rgb)
        return d / "turned.png", rgb
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["I;16 png", "I;16 tiff", "palette with transparency", "LA", "RGBA", "EXIF-rotated"])
def test_image_modes_read_as_a_viewer_shows_them(kind, tmp_path):
    """Before: 16-bit grey read as almost white (mean 0.99 vs -0.005), transparent pixels showed the
    colour hidden under them, EXIF-turned photos were read lying on their side."""
    from latentedit.images import from_uint8, load_selfie, preprocess_pil

    path, seen = _make_mode_case(kind, tmp_path)
    expected = preprocess_pil(Image.fromarray(seen), 32)
    got = load_selfie(path, 32)
    assert got.shape == (1, 3, 32, 32)
    assert torch.equal(got, expected), (got - expected).abs().max()
    assert torch.equal(preprocess_pil(Image.fromarray(seen), 40), from_uint8(seen))


def test_sixteen_bit_grey_selfie_matches_the_eight_bit_one(tmp_path):
    """The issue's numbers: the same picture in 16 bits must give the content code's input of 8 bits."""
    from latentedit.images import load_selfie

    g = _grey8()
    Image.fromarray(g).save(tmp_path / "g8.png")
    Image.fromarray(g.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    a, b = load_selfie(tmp_path / "g8.png", 32), load_selfie(tmp_path / "g16.png", 32)
    assert torch.equal(a, b)
    assert abs(float(b.mean()) - float(a.mean())) == 0 and float(b.mean()) < 0.05


def test_modes_without_a_white_level_are_refused_by_name(tmp_path):
    """Before: a float (F) TIFF became an all-black selfie, silently."""
    from latentedit.errors import InputError
    from latentedit.images import load_selfie

    path = tmp_path / "f.tif"
    Image.fromarray(_grey8().astype(np.float32) / 255, "F").save(path)
    with pytest.raises(InputError) as e:
        load_selfie(path, 32)
    assert str(e.value) == (f"cannot read image {path}: mode F (32-bit floating point) has no known white level; "
                            "save it as an 8- or 16-bit image")


def test_modes_that_read_right_already_stay_right(tmp_path):
    """Guards (right before and after): 16-bit colour PNG and TIFF, CMYK, bilevel, 8-bit palette."""
    import tifffile

    from latentedit.images import load_selfie, preprocess_pil

    rgb = np.random.default_rng(2).integers(0, 256, (40, 40, 3), np.uint8)
    tifffile.imwrite(tmp_path / "c16.tif", rgb.astype(np.uint16) * 257)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.tif")
    Image.fromarray(rgb).convert("1").save(tmp_path / "bw.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    cases = {"c16.tif": rgb, "cmyk.tif": np.asarray(Image.fromarray(rgb).convert("CMYK").convert("RGB")),
             "bw.png": np.asarray(Image.fromarray(rgb).convert("1").convert("RGB")),
             "p.png": np.asarray(Image.fromarray(rgb).convert("P").convert("RGB"))}
    for name, seen in cases.items():
        assert torch.equal(load_selfie(tmp_path / name, 32), preprocess_pil(Image.fromarray(seen), 32)), name


@pytest.mark.parametrize("size, reason", [
    ((1, 1), "1x1 pixels is below the 16-pixel minimum side (it would be upscaled into a blur); use a larger picture"),
    ((12, 300), "12x300 pixels is below the 16-pixel minimum side (it would be upscaled into a blur); "
                "use a larger picture"),
    ((20000, 20000), "20000x20000 pixels (400 MP) is over the 89.5 MP limit that guards against decompression "
                     "bombs; downscale it first"),
    ((10000, 9000), "10000x9000 pixels (90 MP) is over the 89.5 MP limit that guards against decompression "
                    "bombs; downscale it first"),
])
def test_tiny_and_huge_selfies_are_skipped_with_the_reason(size, reason, tmp_path, tiny_ckpt, faces):
    """Before: a 1x1 selfie was upscaled silently into the run; a 20000x20000 PNG ended in PIL's
    DecompressionBombError traceback (a 90 MP one was decoded whole, with a warning)."""
    d = tmp_path / "in"
    shutil.copytree(faces, d)
    w, h = size
    if w * h > 10**6:
        write_big_png(d / "odd.png", w, h)
    else:
        Image.new("RGB", size, (200, 100, 50)).save(d / "odd.png")
    r = cli("sample", "--generator", tiny_ckpt, "--inputs", d, "--styles-per-input", 1, "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    assert "inputs     2 used, 1 skipped" in r.stdout
    assert f"           skipped odd.png: {reason}" in r.stdout.splitlines()


def test_reference_decompression_bomb_is_one_line(demo_run, tmp_path):
    """Before: `edit --reference` of a 20000x20000 PNG was an internal error (PIL's DecompressionBombError)."""
    bomb = write_big_png(tmp_path / "bomb.png", 20000, 20000)
    r = cli("edit", demo_run, "--add", "long_hair", "--reference", bomb, "--samples", 2, "--fit", "--out", tmp_path / "edit")
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: cannot read image {bomb}: 20000x20000 pixels (400 MP) is over the 89.5 MP "
                                    "limit that guards against decompression bombs; downscale it first")


def test_references_and_recipes_of_the_wrong_shape_say_what_they_are(tmp_path):
    """Before: a 1x1 reference was upscaled into a style; a folder as reference or recipe "did not exist"."""
    from PIL import Image

    from latentedit.editing.reference import reference_image
    from latentedit.errors import InputError, LatentEditError
    from latentedit.pipeline.recipes import load, reference_style

    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    for call, message in [
        (lambda: reference_image(tmp_path / "dot.png"), f"cannot read image {tmp_path / 'dot.png'}: 1x1 pixels is below "
         "the 16-pixel minimum side (it would be upscaled into a blur); use a larger picture"),
        (lambda: reference_image(np.zeros((8, 40, 3), np.uint8)), "cannot use the reference image: 40x8 pixels is "
         "below the 16-pixel minimum side (it would be upscaled into a blur); use a larger picture"),
        (lambda: reference_style(tmp_path, "demo"), f"reference {tmp_path} is a folder; pass one anime image file "
         "(PNG, JPEG, WebP, ...)"),
        (lambda: load(tmp_path), f"recipe {tmp_path} is a folder; pass a recipe .json or a PNG written by latentedit edit"),
    ]:
        with pytest.raises((InputError, LatentEditError)) as e:
            call()
        assert str(e.value) == message


def test_tagger_reads_a_decompression_bomb_as_one_line(tmp_path):
    from latentedit.errors import InputError
    from latentedit.images import read_rgb

    path = write_big_png(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(InputError) as e:
        read_rgb(path)
    assert str(e.value) == (f"cannot read image {path}: 20000x20000 pixels (400 MP) is over the 89.5 MP limit that "
                            "guards against decompression bombs; downscale it first")


# -- 6. refusal messages say what really happened --------------------------------------------------
class _Calls:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _pickle_case(kind, path, marker):
    import builtins

    if kind == "os.system in a torch zip file":
        torch.save({"G_A2B_ema": _Calls(os.system, f"touch {marker}")}, path)
        return "posix.system"
    if kind == "eval in a torch zip file":
        torch.save({"G_A2B_ema": _Calls(builtins.eval, f"open({str(marker)!r}, 'w')")}, path)
        return "eval"
    if kind == "os.system in a plain protocol-4 pickle":
        import pickle

        path.write_bytes(pickle.dumps({"G_A2B_ema": _Calls(os.system, f"touch {marker}")}, protocol=4))
        return "posix.system"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["os.system in a torch zip file", "eval in a torch zip file",
                                  "os.system in a plain protocol-4 pickle"])
def test_code_executing_pickle_is_refused_as_such(kind, tmp_path):
    """Before: 'is truncated or not a PyTorch file' (torch 2.14 words its refusal differently)."""
    path, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    name = _pickle_case(kind, path, marker)
    r = cli("sample", "--generator", path, "--out", tmp_path / "run")
    assert r.returncode == 2
    if kind.endswith("plain protocol-4 pickle"):  # a bare pickle is read as NVIDIA's, by the restricted unpickler
        assert first_line(r.stderr) == (f"error: {path} refused: its pickle data would call {name}, which is not a "
                                        "tensor, a container or NVIDIA's persistent-object state; nothing was run")
    else:
        assert first_line(r.stderr) == (f"error: {path} refused: the file holds code-executing pickle data (it would "
                                        f"call {name}); nothing was run. Use a file of plain tensors from a source "
                                        "you trust (torch.save(model.state_dict(), path))")
    assert not marker.exists()


@pytest.fixture(scope="module")
def lambda_project(tmp_path_factory):
    """A DeepDanbooru project whose Keras model has a Lambda layer (Python code in the file)."""
    from latentedit.tagging import import_deepdanbooru

    import_deepdanbooru()
    import keras

    inp = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    out = keras.layers.Dense(2, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(x))
    d = tmp_path_factory.mktemp("lambda") / "proj"
    d.mkdir()
    (d / "project.json").write_text(json.dumps({"model": "evil"}))
    (d / "tags.txt").write_text("long_hair\nshort_hair\n")
    keras.Model(inp, out).save(d / "model-evil.h5")
    return d


def test_keras_lambda_layer_is_named_as_blocked_by_safe_mode(lambda_project, tiny_run):
    """Before: 'cannot load ... (ValueError); the file is damaged or not a Keras model'."""
    r = cli("tag", tiny_run, "--tagger", lambda_project)
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: {lambda_project / 'model-evil.h5'} refused: its Lambda layer holds "
                                    "Python code, which Keras safe mode does not run; nothing was run. Use a model "
                                    "without code layers from a source you trust")


def test_tag_names_with_terminal_escapes_are_printed_escaped(tiny_run, tmp_path):
    """Before: `tag` printed the raw ESC sequences of a hostile tags.txt (retitle, clear screen)."""
    from latentedit.tagging import demo_tagger_path

    project = shutil.copytree(demo_tagger_path(), tmp_path / "hostile")
    tags = (project / "tags.txt").read_text().split("\n")
    (project / "tags.txt").write_text("\n".join(t + "\x1b]0;pwned\x07\x1b[2J" if t else t for t in tags))
    run = copy_run(tiny_run, tmp_path)  # a copy: the shared run keeps the demo tagger's tags
    r = cli("tag", run, "--tagger", project, "--overwrite", "--top", 3)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr
    listed = r.stdout.split("top tags   (score >= 0.5)\n")[1].splitlines()[:3]
    assert len(listed) == 3 and all("\\x1b]0;pwned\\x07\\x1b[2J" in line for line in listed), listed


def test_printable_escapes_controls_and_bidi_but_not_letters():
    from latentedit.terminal import printable

    assert printable("long_hair\x1b[31m\r\u202eevil\u00e9\u732b") == "long_hair\\x1b[31m\\x0d\\u202eevil\u00e9\u732b"
    assert printable("\x9b2J\x7f") == "\\x9b2J\\x7f"


# -- 7. SVM directions are byte-reproducible --------------------------------------------------------
def test_svm_directions_are_byte_reproducible():
    """Before: liblinear's dual solver shuffled with numpy's global RNG (unseeded), and its one
    process-wide mt19937 was drawn by parallel threads in any order: directions differed by ~1e-6."""
    from latentedit.directions.svm import SVMDirections

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 48)).astype(np.float32)
    Y = (X[:, :8] + 0.7 * rng.standard_normal((400, 8)) > 0.3).astype(np.int64)
    np.random.seed(1)
    serial = SVMDirections(n_jobs=1).fit(X, Y).directions_.tobytes()
    for global_seed in (2, 3, 4):
        np.random.seed(global_seed)
        assert SVMDirections(n_jobs=4).fit(X, Y).directions_.tobytes() == serial


# -- shared runs for the pipeline probes ----------------------------------------------------------
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A small tagged demo-world run (8 inputs x 3 styles): directions can be fitted on it."""
    out = tmp_path_factory.mktemp("demo") / "run"
    for args in (("sample", "--n-inputs", 8, "--styles-per-input", 3, "--out", out), ("tag", out)):
        r = cli(*args)
        assert r.returncode == 0, r.stderr
    return out


def copy_run(run, tmp_path, name="run"):
    return shutil.copytree(run, tmp_path / name, ignore=shutil.ignore_patterns(".lock"))


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@contextlib.contextmanager
def tmpfs(path, size="200k", read_only=False):
    """A real small (or read-only) file system at `path` (needs root, as CI has for chromium)."""
    path.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


# -- 3. one line for every expected failure --------------------------------------------------------
@pytest.mark.parametrize("case", ["symlink loop", "parent is a file", "read-only disk", "full disk"])
def test_os_errors_are_one_line_with_the_path_and_what_to_do(case, tmp_path, tiny_ckpt, faces):
    """Before: every OSError printed a ~40-line traceback."""
    with contextlib.ExitStack() as stack:
        if case == "symlink loop":
            out = tmp_path / "loop"
            out.symlink_to("loop")
            line = f"error: too many levels of symbolic links (a symlink loop): {out}; fix the link or choose another path"
        elif case == "parent is a file":
            (tmp_path / "afile").write_text("x")
            out = tmp_path / "afile" / "run"
            line = f"error: a part of the path is a file, not a folder: {out}; choose another --out"
        elif case == "read-only disk":
            out = stack.enter_context(tmpfs(tmp_path / "ro", read_only=True)) / "run"
            line = f"error: read-only file system: {out}; choose an --out on a writable disk"
        else:
            out = stack.enter_context(tmpfs(tmp_path / "small", size="8k")) / "run"  # manifest + codes.npz
            line = None
        r = cli("sample", "--generator", tiny_ckpt, "--inputs", faces, "--styles-per-input", 2, "--out", out)
        assert r.returncode == 2
        if line is not None:
            assert first_line(r.stderr) == line
        else:
            assert re.fullmatch(rf"error: no space left on the device: {re.escape(str(out))}/samples/"
                                r"\.shard-00000\.tmp-\d+/codes\.npz; free some space or choose an --out on another "
                                r"disk; run the command again to resume", first_line(r.stderr)), r.stderr
            assert not list((out / "samples").iterdir())  # no half-written shard left behind


@pytest.mark.parametrize("kind", ["json", "png"])
def test_edit_recipe_nested_100000_deep_is_one_line(kind, tmp_path):
    """Before: a recipe .json or PNG chunk nested 100,000 levels deep ended in RecursionError ("internal error")."""
    from PIL import PngImagePlugin

    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / f"deep.{kind}"
    if kind == "json":
        path.write_text(deep)
    else:
        info = PngImagePlugin.PngInfo()
        info.add_text("latentedit-recipe", deep)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path, pnginfo=info)
    r = cli("edit", tmp_path, "--recipe", path, "--out", tmp_path / "out")
    assert r.returncode == 2
    where = f"{path}: " if kind == "json" else ""
    assert first_line(r.stderr) == (f"error: {where}recipe is not valid JSON: nested too deeply (recursion limit "
                                    "exceeded at line 1 column 202)")
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(tmp_path):
    r = cli("sample", "--device", "tpu", "--out", tmp_path / "run", "--debug")
    assert r.returncode == 1
    assert r.stderr.startswith("Traceback (most recent call last):")
    assert r.stderr.strip().splitlines()[-1] == ("latentedit.errors.InputError: --device tpu is not a device torch "
                                                 "knows; use cpu or cuda (cuda:N)")


@pytest.mark.parametrize("args, line", [
    (("sample", "--device", "tpu"), "error: --device tpu is not a device torch knows; use cpu or cuda (cuda:N)"),
    (("sample", "--n-inputs", 0), "error: --n-inputs must be between 1 and 333,333, got 0"),
    (("sample", "--n-inputs", -1), "error: --n-inputs must be between 1 and 333,333, got -1"),
    (("sample", "--seed", -1), "error: --seed must be at least 0, got -1"),
    (("sample", "--n-inputs", 2, "--styles-per-input", 10**8),
     "error: --styles-per-input must be between 1 and 1,000,000, got 100000000"),
    (("train-scorer", "--input-size", 0), "error: --input-size must be between 16 and 1,024, got 0"),
])
def test_bad_options_are_one_line(args, line, tmp_path):
    """Before: --device tpu and --input-size 0 ended in tracebacks; --n-inputs 0 or -1 left a run
    marked complete with 0 samples (exit 0)."""
    extra = ("--out", tmp_path / "run") if args[0] == "sample" else ("--out", tmp_path / "scorer.pt")
    r = cli(*args, *extra)
    assert r.returncode == 2
    assert first_line(r.stderr) == line
    assert not (tmp_path / "run").exists() and not (tmp_path / "scorer.pt").exists()


def test_damaged_tag_shard_and_vocab_are_redone_on_resume(tiny_run, tmp_path):
    """Before: a truncated tag shard crashed `tag` with BadZipFile, though resume promises to redo it."""
    run = copy_run(tiny_run, tmp_path)
    r = cli("tag", run)
    assert r.returncode == 0, r.stderr
    good = (run / "tags" / "shard-00000.npz").read_bytes()
    truncate(run / "tags" / "shard-00000.npz")
    r = cli("tag", run)
    assert r.returncode == 0, r.stderr
    assert "samples    4 (4 tagged now, 0 already tagged, kept)" in r.stdout.splitlines()
    assert (run / "tags" / "shard-00000.npz").read_bytes() == good
    (run / "tags" / "vocab.json").write_text('{"tags": ')
    r = cli("tag", run)
    assert r.returncode == 0, r.stderr
    assert "samples    4 (4 tagged now, 0 already tagged, kept)" in r.stdout.splitlines()


def test_damaged_codes_are_named_then_redone_by_sample(tiny_run, tiny_ckpt, faces, tmp_path):
    """Before: a truncated codes.npz crashed `sample` and `fit-directions` (BadZipFile tracebacks)."""
    run = copy_run(tiny_run, tmp_path)
    codes = run / "samples" / "shard-00000" / "codes.npz"
    good = codes.read_bytes()
    truncate(codes)
    r = cli("fit-directions", run, "--method", "pca")
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: {codes} is damaged or truncated (BadZipFile: File is not a zip file); "
                                    f"run latentedit sample --out {run} again with the same options: it redoes "
                                    "damaged shards")
    r = cli("sample", "--generator", tiny_ckpt, "--inputs", faces, "--styles-per-input", 2, "--out", run)
    assert r.returncode == 0, r.stderr
    assert "shards     1 (0 already done, kept)" in r.stdout.splitlines()
    assert codes.read_bytes() == good


def test_truncated_sample_png_is_named_then_redone_by_sample(tiny_run, tiny_ckpt, faces, tmp_path):
    """Before: a truncated PNG was named by the commands reading it, but `sample` kept its shard as done."""
    from latentedit.errors import DamagedFileError
    from latentedit.store import Run

    run = copy_run(tiny_run, tmp_path)
    png = run / "samples" / "shard-00000" / "000000001.png"
    good = png.read_bytes()
    truncate(png)
    with pytest.raises(DamagedFileError) as e:
        Run(run).images([1])
    assert str(e.value) == (f"cannot read image {png}: image file is truncated; run latentedit sample --out {run} "
                            "again with the same options: it redoes damaged shards")
    r = cli("sample", "--generator", tiny_ckpt, "--inputs", faces, "--styles-per-input", 2, "--out", run)
    assert r.returncode == 0, r.stderr
    assert "shards     1 (0 already done, kept)" in r.stdout.splitlines()
    assert png.read_bytes() == good


def test_fitting_codes_that_hold_nan_is_refused(tiny_run, tmp_path):
    """Before: fit-directions ended in scikit-learn's ValueError, reported as an internal error."""
    run = copy_run(tiny_run, tmp_path)
    codes = run / "samples" / "shard-00000" / "codes.npz"
    data = dict(np.load(codes))
    data["w"][1, 3] = np.nan
    np.savez(codes, **data)
    r = cli("fit-directions", run, "--method", "pca")
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: the w codes of run {run} hold 1 NaN/inf values of {data['w'].size:,}; "
                                    f"the run is damaged: sample it again with latentedit sample --out {run} "
                                    "--overwrite")


def test_pca_in_z_fits_as_many_components_as_z_has(tiny_run, tmp_path):
    """Before: the default 10 components in 8-d z ended in a ValueError, reported as an internal error."""
    run = copy_run(tiny_run, tmp_path)
    r = cli("fit-directions", run, "--method", "pca", "--space", "z")
    assert r.returncode == 0, r.stderr
    assert f"8 pca directions in z space -> {run}/directions/pca-z.npz" in r.stdout.splitlines()


def test_direction_file_with_object_arrays_is_not_unpickled(tmp_path):
    """Before: np.load's ValueError about pickled object arrays surfaced as an internal error."""
    from latentedit.directions import DirectionSet
    from latentedit.errors import DirectionError

    path = tmp_path / "forged.npz"
    ds = DirectionSet("linear", "w", ["long_hair"], np.eye(1, 4, dtype=np.float32), code_scale=0.7)
    ds.save(path)
    np.savez(path, **{**np.load(path), "names": np.array(["long_hair", 1], dtype=object)})
    with pytest.raises(DirectionError) as e:
        DirectionSet.load(path)
    assert str(e.value) == (f"{path} is not a latentedit direction file (it holds pickled object arrays, which are "
                            "not loaded)")


def test_a_symlink_loop_as_the_run_says_so(tmp_path):
    """Before: 'loop is not a latentedit run (no manifest.json)'."""
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    r = cli("fit-directions", loop, "--method", "pca")
    assert r.returncode == 2
    assert first_line(r.stderr) == f"error: too many levels of symbolic links (a symlink loop): {loop}; fix the link " \
                                   "or choose another path"


def test_a_read_only_run_is_told_to_be_copied(tiny_run, tmp_path):
    """Before: every command failed on the run's lock file, told to 'choose an --out on a writable disk' (tag has
    none, fit-directions writes into the run whatever its --out)."""
    with tmpfs(tmp_path / "ro", size="2m") as ro:
        run = copy_run(tiny_run, ro)
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        r = cli("fit-directions", run, "--method", "pca", "--out", tmp_path / "pca.npz")
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: read-only file system: {run}/directions; copy the run to a writable disk "
                                    "and run the command on the copy")


def test_ids_beyond_what_a_run_holds_are_refused_before_they_are_listed():
    """Before: --ids 0-20000000 built a 20-million-entry list (2.7 GB) before 'sample id 24 is not in run'."""
    import tracemalloc

    from cli.options import parse_ids
    from latentedit.errors import InputError

    tracemalloc.start()
    with pytest.raises(InputError) as e:
        parse_ids("0-20000000")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(e.value) == "--ids 0-20000000 names more than 1,000,000 samples, more than a run holds"
    assert peak < 1e6
    assert parse_ids("3-5,9") == [3, 4, 5, 9]


def test_invalid_manifest_is_named(tiny_run, tiny_ckpt, faces, tmp_path):
    """Before: an invalid manifest.json crashed `sample` with JSONDecodeError."""
    run = copy_run(tiny_run, tmp_path)
    (run / "manifest.json").write_text('{"format": ')
    r = cli("sample", "--generator", tiny_ckpt, "--inputs", faces, "--styles-per-input", 2, "--out", run)
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: {run / 'manifest.json'} is not valid JSON (Expecting value: line 1 "
                                    "column 12 (char 11)); delete the run or sample again with --overwrite")


def test_video_on_a_folder_says_so(tmp_path, tiny_run):
    """Before: 'video DIR does not exist' for a folder that exists."""
    folder = tmp_path / "clips"
    folder.mkdir()
    r = cli("video", folder, "--add", "long_hair", "--run", tiny_run)
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: video {folder} is a folder, not a video file; pass the video itself "
                                    f"(e.g. {folder}/clip.mp4)")


# -- 1 (edits). strengths and sweeps within what codes can carry ------------------------------------
def _limit_text(run):
    from latentedit.directions import code_scale
    from latentedit.store import Run

    scale = code_scale(Run(run).codes()["w"])
    return f"use a strength in [-{100 * scale:.4g}, {100 * scale:.4g}] (100 x the code scale {scale:.3g})"


@pytest.mark.parametrize("option, value", [("--strength", "1e30"), ("--sub-strength", "1e300")])
def test_edit_strengths_beyond_what_codes_carry_are_refused(option, value, demo_run, tmp_path):
    """Before: --strength 1e30 made every image white, --sub-strength 1e300 overflowed float32
    (codes inf, images black), both with exit 0."""
    r = cli("edit", demo_run, "--add", "long_hair", "--sub", "short_hair", option, value, "--samples", 2, "--fit",
            "--out", tmp_path / "edit")
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: {option} {float(value):g} is more than style codes can carry: "
                                    f"{_limit_text(demo_run)}")
    assert not (tmp_path / "edit").exists()


@pytest.mark.parametrize("extra, named", [(("--add", "smile"), "--add"), (("--strength", "5"), "--strength"),
                                          (("--ids", "7", "--keep", "smile"), "--keep, --ids")])
def test_a_recipe_refuses_the_options_it_would_ignore(extra, named, tmp_path):
    """Before: `edit --recipe R --add smile` (or --strength, --ids) dropped the option and exited 0."""
    r = cli("edit", tmp_path, "--recipe", tmp_path / "r.json", *extra)
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: a recipe re-applies its own edit and faces; {named} would be ignored: "
                                    "give the recipe alone, or the edit without it")


def test_reference_and_style_seed_are_exclusive(tmp_path):
    r = cli("edit", tmp_path, "--add", "smile", "--style-seed", 3, "--reference", tmp_path / "x.png")
    assert r.returncode == 2
    assert first_line(r.stderr) == "error: --reference and --style-seed both set every face's style: give one of them"


def test_edit_does_not_fit_in_secret_it_names_the_command(demo_run, tmp_path):
    """Opening an edit session opens a session: directions not fitted yet are a one-line error naming
    fit-directions (or --fit), not a hidden fitting run."""
    run = copy_run(demo_run, tmp_path)
    r = cli("edit", run, "--add", "long_hair", "--method", "lasso", "--samples", 2)
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: {run} has no lasso directions in w-space; fit them with latentedit "
                                    f"fit-directions {run} --method lasso --space w (or edit with --fit)")
    assert not list((run / "directions").glob("lasso*")) and not (run / "edits").exists()


def test_a_z_edit_says_its_default_strengths_and_their_unit(demo_run, tmp_path):
    from latentedit.directions import code_scale
    from latentedit.store import Run

    run = copy_run(demo_run, tmp_path)
    r = cli("edit", run, "--add", "open_mouth", "--sub", "closed_mouth", "--method", "linear", "--space", "z",
            "--samples", 2, "--fit", "--out", tmp_path / "edit")
    assert r.returncode == 0, r.stderr
    scale = code_scale(Run(run).codes()["z"])
    unit = scale * (8 / 512) ** 0.5
    assert f"strengths  A={15 * unit:.4g} B={5 * unit:.4g} (A and B: linear default 15, 5 x code scale {scale:.3g} " \
           f"x sqrt(8/512))" in r.stdout.splitlines()
    assert json.loads((tmp_path / "edit" / "edit.json").read_text())["space"] == "z"

def test_edit_sweep_count_is_bounded(demo_run, tmp_path):
    """Before: --sweep 0:1:100000 was accepted and grew past 2 GB."""
    r = cli("edit", demo_run, "--add", "long_hair", "--sweep", "0:1:100000", "--out", tmp_path / "edit")
    assert r.returncode == 2
    assert first_line(r.stderr) == ("error: --sweep asks for 100,000 strengths; at most 101 columns fit a grid "
                                    "(sweep in several runs, or use fewer steps)")


# -- 4. one writer per run ----------------------------------------------------------------------------
def _hold_lock(run, command, seconds=120):
    """A process that holds RUN's lock as `command` would (its argv), until killed or `seconds` pass."""
    code = (f"import sys, time; sys.argv = {command!r}; from latentedit.locking import run_lock\n"
            f"with run_lock({str(run)!r}):\n    print('held', flush=True); time.sleep({seconds})")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


@pytest.mark.parametrize("command", ["sample", "tag", "fit-directions"])
def test_second_writer_is_refused_naming_the_first(command, tiny_run, tiny_ckpt, faces, tmp_path):
    """Before: two `sample`s on one --out both did all the work and the loser crashed with
    'Directory not empty'; two `tag`s both wrote."""
    import socket
    import time

    run = copy_run(tiny_run, tmp_path)
    args = {"sample": ("sample", "--generator", tiny_ckpt, "--inputs", faces, "--styles-per-input", 2, "--out", run,
                       "--overwrite"),
            "tag": ("tag", run, "--overwrite"), "fit-directions": ("fit-directions", run, "--method", "pca")}[command]
    holder = _hold_lock(run, ["latentedit", *map(str, args)])
    try:
        info = json.loads((run / ".lock").read_text())
        r = cli(*args)
    finally:
        holder.kill()
        holder.wait()
    since = time.strftime("%H:%M:%S", time.localtime(info["since"]))
    assert r.returncode == 2
    assert first_line(r.stderr) == (f"error: {run} is being written by another latentedit process (pid {holder.pid} "
                                    f"on {socket.gethostname()}, `latentedit {' '.join(map(str, args))}`, since "
                                    f"{since}); wait for it to finish, or pass --wait to queue behind it")
    r = cli(*args)  # the holder was killed: its lock is stale and taken over
    assert r.returncode == 0, r.stderr


def test_wait_queues_behind_the_other_writer(tiny_run, tiny_ckpt, faces, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    args = ["sample", "--generator", tiny_ckpt, "--inputs", faces, "--styles-per-input", 2, "--out", run, "--wait"]
    holder = _hold_lock(run, ["latentedit", "tag", str(run)])
    waiter = subprocess.Popen([sys.executable, "-m", "latentedit.cli", *map(str, args)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    line = waiter.stderr.readline()  # blocks until the waiter reaches the lock
    holder.kill()
    holder.wait()
    out, err = waiter.communicate(timeout=300)
    assert waiter.returncode == 0, err
    assert line.startswith(f"waiting for {run}: written by pid {holder.pid} on "), line
    assert line.rstrip().endswith(f"`latentedit tag {run}`, since " + line.rstrip()[-8:])
    assert "shards     1 (1 already done, kept)" in out.splitlines()


def test_temp_folders_of_killed_edits_are_cleaned(demo_run, tmp_path):
    """Before: a killed `edit` left hidden .<name>.tmp-<pid> folders in RUN/edits forever."""
    run = copy_run(demo_run, tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    left = [run / "edits" / f".+long_hair-svd.tmp-{dead}", run / "edits" / f".+open_mouth-svd.old-{dead}"]
    for d in left:
        (d / "after").mkdir(parents=True)
        (d / "after" / "x.png").write_bytes(b"half")
    r = cli("edit", run, "--add", "closed_eyes", "--samples", 2, "--fit")
    assert r.returncode == 0, r.stderr
    assert not any(d.exists() for d in left)
    assert [p.name for p in (run / "edits").iterdir() if p.name.startswith(".")] == []


# -- 5. what was asked failed -> exit non-zero; partial results kept and marked -----------------------
def test_fit_directions_tags_fits_only_those(demo_run, tmp_path):
    """Before: `fit-directions --tags X` printed X but fitted and saved every tag."""
    from latentedit.directions import DirectionSet

    run = copy_run(demo_run, tmp_path)
    r = cli("fit-directions", run, "--method", "linear", "--tags", "long_hair")
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip().splitlines()[-1].split(" -> ")[1])
    assert r.stdout.strip().splitlines()[-1] == f"1 linear directions in w space -> {path}"
    assert DirectionSet.load(path).names == ["long_hair"]
    assert not (run / "directions" / "linear-w.npz").exists()


def test_report_samples_zero_is_refused_at_once(tiny_run):
    """Before: `report --samples 0` ran 417 s, then exited 0 with a 'partial' report."""
    r = cli("report", tiny_run, "--samples", 0)
    assert r.returncode == 2
    assert first_line(r.stderr) == "error: --samples must be between 1 and 1,000,000, got 0"


def test_report_negative_threads_is_refused_at_once(tiny_run):
    r = cli("report", tiny_run, "--threads", -1)
    assert r.returncode == 2
    assert first_line(r.stderr) == "error: --threads must be between 0 and 1,000,000, got -1"


def test_report_unknown_pair_tag_is_refused_at_once(demo_run):
    """Before: an unknown tag in --pairs exited 0 (and wiped every edit of its method)."""
    r = cli("report", demo_run, "--pairs", "long_hiar:short_hair")
    assert r.returncode == 2
    assert first_line(r.stderr) == ("error: --pairs: unknown tag 'long_hiar'; did you mean long_hair, blonde_hair, "
                                    "brown_hair? (the run's tagger has 19 tags)")


def test_report_with_a_garbage_scorer_is_partial_and_exits_3(demo_run, tmp_path):
    """Before: a garbage --scorer file gave a 'partial' report with exit 0."""
    scorer = tmp_path / "scorer.pt"
    scorer.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    out = tmp_path / "report"
    r = cli("report", demo_run, "--samples", 4, "--methods", "linear", "--pairs", "long_hair:short_hair",
            "--scorer", scorer, "--out", out, "--threads", 1)
    assert r.returncode == 3
    doc = json.loads((out / "report.json").read_text())
    assert doc["config"]["threads"] == 1  # --threads reaches torch (the default takes every core)
    failed = [k for k, v in doc["stages"].items() if v["status"] == "failed"]
    assert "scorer" in failed and doc["stages"]["edits:linear"]["status"] == "ok"  # kept, and marked
    assert first_line(r.stderr) == (
        f"error: the report is partial: {len(failed)} of {len(doc['stages'])} stages failed, first scorer: "
        f"CheckpointError: cannot read scorer file {scorer}: it is truncated or not a PyTorch file "
        f"(UnpicklingError); train one with latentedit train-scorer; the rest is in {out / 'index.html'}, the "
        "failed sections marked")


def test_one_bad_pair_keeps_the_methods_other_edits():
    """Before: one pair whose tag the directions lack failed the whole edits stage of its method."""
    from latentedit.directions import DirectionSet
    from latentedit.pipeline.pair_edits import pair_edits

    G = tiny_generator()
    vectors = np.eye(2, G.config["style_dim"], dtype=np.float32)
    ds = DirectionSet("linear", "w", ["long_hair", "short_hair"], vectors, code_scale=0.7)
    failed = {}
    edits = pair_edits(G, ds, [("long_hair", "short_hair"), ("open_mouth", None)], failed=failed)
    assert list(edits) == ["+long_hair -short_hair"]
    assert list(failed) == ["+open_mouth"] and failed["+open_mouth"].startswith("TagError: unknown tag 'open_mouth'")
