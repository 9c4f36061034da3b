"""Anime reference styles: G_B2A_ema loading, reference preprocessing, the demo style encoder, refinement."""

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.editing.reference import (
    RefineConfig,
    encode_style,
    load_style_encoder,
    preprocess_reference,
    refine_style,
)
from latentedit.errors import CheckpointError, InputError
from latentedit.images import preprocess_pil
from latentedit.models.checkpoint import save_generator, save_style_encoder
from latentedit.models.generator import load_generator
from latentedit.models.gnr import Generator
from latentedit.world import render, truth

TINY = dict(size=32, num_down=2, channels={4: 16, 8: 16, 16: 8, 32: 8})


def make(config=TINY, seed=0):
    torch.manual_seed(seed)
    return Generator(**config).eval().requires_grad_(False)


def release_layout(seed: int) -> dict:
    """A state dict with every name and shape of the released G_*_ema, each tensor one random value broadcast
    (stride 0, so the file stays a few kB)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in Generator().state_dict().items()}
    return {k: (torch.rand(1, generator=gen) * 0.02).expand(s) for k, s in shapes.items()}


def no_b2a_message(path) -> str:
    return (f"{path} has no G_B2A_ema (the anime->style encoder GNR_checkpoint.pt holds beside G_A2B_ema), so a "
            "reference image cannot be encoded; pass a checkpoint that has it, or start from a random style "
            "(--style-seed S) or a run's sample (--ids N)")


def load_error(path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_style_encoder(path)
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- loading G_B2A_ema

def test_release_layout_with_g_b2a_ema_loads_its_encoder(tmp_path):
    a2b, b2a = release_layout(0), release_layout(1)
    path = tmp_path / "GNR_checkpoint.pt"
    torch.save({"G_A2B_ema": a2b, "G_B2A_ema": b2a}, path)
    assert path.stat().st_size < 200_000
    enc = load_style_encoder(path)
    assert enc.source_info == {"source": "path", "path": str(path), "key": "G_B2A_ema"}
    assert enc.config == Generator().config and enc.size == 256 and enc.latent_dim == 8
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    sd = enc.state_dict()
    assert set(sd) == {k[len("encoder."):] for k in b2a if k.startswith("encoder.")}
    for k in ("stem.0.0.weight", "style.3.weight", "style.4.bias", "style.0.0.kernel"):
        assert torch.equal(sd[k], b2a["encoder." + k].float())
    # the generator of the same file is still G_A2B_ema
    assert torch.equal(load_generator(path).state_dict()["encoder.stem.0.0.weight"], a2b["encoder.stem.0.0.weight"])


def test_release_layout_without_g_b2a_ema_says_what_to_pass(tmp_path):
    path = tmp_path / "GNR_checkpoint.pt"
    torch.save({"G_A2B_ema": release_layout(0)}, path)
    assert load_error(path) == no_b2a_message(path)
    save_generator(make(), tmp_path / "g.pt")  # a generator file of latentedit's own has none either
    assert load_error(tmp_path / "g.pt") == no_b2a_message(tmp_path / "g.pt")


def test_style_path_equals_the_generator_class_style_encode(tmp_path):
    A, B = make(seed=0), make(seed=1)
    path = tmp_path / "ck.pt"
    torch.save({"G_A2B": A.state_dict(), "G_B2A": A.state_dict(), "G_A2B_ema": A.state_dict(),
                "G_B2A_ema": B.state_dict(), "iter": 3}, path)
    enc = load_style_encoder(path)
    assert enc.source_info["key"] == "G_B2A_ema"
    image = np.random.default_rng(0).integers(0, 256, (45, 29, 3), np.uint8)
    x = preprocess_reference(image, 32)
    with torch.no_grad():
        official = B.encoder(x)[1]  # the official style_encode: encoder(input)[1]
        assert torch.equal(B.style_encode(x), official)
    assert np.array_equal(encode_style(enc, image), official[0].numpy())
    assert encode_style(enc, [image, image]).shape == (2, 8)
    # a training checkpoint without the EMA copy falls back to G_B2A
    torch.save({"G_A2B": A.state_dict(), "G_B2A": B.state_dict()}, path)
    assert load_style_encoder(path).source_info["key"] == "G_B2A"


def test_encoder_only_file_round_trips_and_is_strict(tmp_path):
    B = make(seed=3)
    path = save_style_encoder(B.encoder, B.config, tmp_path / "enc.pt")
    enc = load_style_encoder(path)
    assert enc.config == B.config
    assert all(torch.equal(v, B.encoder.state_dict()[k]) for k, v in enc.state_dict().items())
    obj = torch.load(path, weights_only=True)
    del obj["G_B2A_ema"]["encoder.style.3.bias"]
    torch.save(obj, path)
    message = load_error(path)
    assert message.startswith(f"{path} [G_B2A_ema] does not fit the GNR encoder layout of size 32")
    assert "style.3.bias" in message


# --------------------------------------------------------------------------- preprocessing

def test_rgba_is_composited_on_white_and_grayscale_replicated(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent on the left half, opaque on the right
    rgba[:, 15:, 3] = 255
    x = preprocess_reference(rgba, 16)
    assert x.shape == (1, 3, 16, 16)
    assert torch.allclose(x[0, :, :, :6], torch.ones(3, 16, 6))      # transparent -> white
    assert torch.allclose(x[0, :, :, -6:], torch.tensor([1.0, -1.0, -1.0])[:, None, None].expand(3, 16, 6))
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert torch.equal(preprocess_reference(tmp_path / "a.png", 16), x)

    gray = np.random.default_rng(1).integers(0, 256, (33, 47), np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    g = preprocess_reference(tmp_path / "g.png", 16)
    assert torch.equal(g[0, 0], g[0, 1]) and torch.equal(g[0, 1], g[0, 2])
    assert torch.equal(g, preprocess_pil(Image.fromarray(np.repeat(gray[..., None], 3, 2)), 16))
    assert torch.equal(preprocess_reference(gray[..., None], 16), g)


def test_odd_sizes_and_palette_images(tmp_path):
    img = np.random.default_rng(2).integers(0, 256, (37, 53, 3), np.uint8)
    x = preprocess_reference(img, 32)
    assert x.shape == (1, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, preprocess_pil(Image.fromarray(img), 32))  # the selfies' resize and [-1, 1]
    p = Image.fromarray(img).convert("P")
    p.info["transparency"] = 0
    p.save(tmp_path / "p.png", transparency=0)
    out = preprocess_reference(tmp_path / "p.png", 32)
    assert out.shape == (1, 3, 32, 32)


@pytest.mark.parametrize("case", ["text", "empty", "folder", "missing", "corrupt"])
def test_non_images_are_refused_with_their_message(tmp_path, case):
    path = tmp_path / "ref.png"
    if case == "text":
        path = tmp_path / "notes.txt"
        path.write_text("not an image")
        expected = (f"reference {path} is not an image Pillow can read (UnidentifiedImageError); "
                    "pass an anime image file (PNG, JPEG, WebP, ...)")
    elif case == "empty":
        path.write_bytes(b"")
        expected = (f"reference {path} is empty (UnidentifiedImageError); pass an anime image file "
                    "(PNG, JPEG, WebP, ...)")
    elif case == "folder":
        path = tmp_path
        expected = f"reference {path} is a folder; pass one anime image file (PNG, JPEG, WebP, ...)"
    elif case == "missing":
        expected = f"reference image {path} not found"
    else:
        path.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
        expected = (f"reference {path} is not an image Pillow can read (UnidentifiedImageError); "
                    "pass an anime image file (PNG, JPEG, WebP, ...)")
    with pytest.raises(InputError) as info:
        preprocess_reference(path, 32)
    assert str(info.value) == expected


def test_arrays_of_other_types_are_refused():
    with pytest.raises(InputError, match=r"^a reference array must be uint8 \(H, W\[, 1\|3\|4\]\), got dtype float32$"):
        preprocess_reference(np.zeros((8, 8, 3), np.float32), 32)
    with pytest.raises(InputError, match=r"got shape \(8, 8, 2\)$"):
        preprocess_reference(np.zeros((8, 8, 2), np.uint8), 32)
    with pytest.raises(InputError, match="got int$"):
        preprocess_reference(3, 32)


# --------------------------------------------------------------------------- refinement

def test_refinement_is_seeded_records_its_loss_and_lowers_it():
    G, B = make(seed=0), make(seed=1)
    refs = np.random.default_rng(3).integers(0, 256, (2, 32, 32, 3), np.uint8)
    content = G.encode(torch.rand(2, 3, 32, 32) * 2 - 1)[0]
    cfg = RefineConfig(steps=6, lr=0.1, progress=False, seed=5)
    a = refine_style(G, B.encoder, refs, content, cfg)
    b = refine_style(G, B.encoder, refs, content, cfg)
    assert a.code.tobytes() == b.code.tobytes() and a.losses == b.losses
    assert a.code.shape == (2, 8) and a.use_mapping and len(a.losses) == 7
    assert np.array_equal(a.z, encode_style(B.encoder, refs))
    plain = refine_style(G, B.encoder, refs, content, RefineConfig(steps=15, lr=0.1, jitter=0, progress=False))
    assert plain.losses[-1] < plain.losses[0]
    wp = refine_style(G, B.encoder, refs, content, RefineConfig(steps=2, space="w+", progress=False))
    assert wp.code.shape == (2, G.n_latent, G.style_dim) and not wp.use_mapping
    with pytest.raises(InputError, match="unknown refinement space 'W'; choose one of z, w, w\\+"):
        RefineConfig(space="W")


# --------------------------------------------------------------------------- the shipped demo encoder

@pytest.fixture(scope="module")
def demo_encoder():
    return load_style_encoder("demo")


def test_demo_encoder_is_the_generator_class_style_path(demo_encoder):
    G = Generator(**demo_encoder.config).eval()
    G.encoder.load_state_dict(demo_encoder.state_dict(), strict=True)
    refs, _, _ = render.demo_anime(4, seed=11)
    x = torch.cat([preprocess_reference(r, G.size) for r in refs])
    with torch.no_grad():
        assert np.array_equal(encode_style(demo_encoder, refs), G.style_encode(x).numpy())
    assert demo_encoder.source_info["key"] == "G_B2A_ema" and demo_encoder.size == 64


def test_demo_encoder_codes_carry_the_references_true_attributes(demo_encoder):
    refs, z, _ = render.demo_anime(60, seed=4242)
    a, b = truth.attributes(z), truth.attributes(encode_style(demo_encoder, refs))
    # the shipped encoder: 0.933, 1, 1, 1, 0.80 and eye colour 1.0 (stop 20: eye-colour plane weighted up, hair
    # length 0.983 -> 0.933 here); a code-0 encoder: 0.32, 0.25, 0.65, 0.77
    for name, least in (("hair_length_class", 0.9), ("hair_color", 0.95), ("open_mouth", 0.95),
                        ("closed_eyes", 0.95), ("smile", 0.75)):
        assert np.mean(a[name] == b[name]) >= least, name
    open_eyes = a["closed_eyes"] == 0
    assert np.mean(a["eye_color"][open_eyes] == b["eye_color"][open_eyes]) >= 0.85
    # a bigger rendering of the same references, resized by the preprocessing, encodes alike
    big = np.stack([render.render_anime(render.take(render.sample_geometry(np.random.default_rng(0), 1), 0),
                                        render.take(a, i), 160) for i in range(8)])
    assert np.mean(truth.attributes(encode_style(demo_encoder, big))["hair_color"] == a["hair_color"][:8]) >= 0.85
