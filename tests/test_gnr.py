"""GNR generator: checkpoint layout of the release config, shapes, fast == reference path, W+ semantics."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from latentedit.errors import InputError
from latentedit.models import ops
from latentedit.models.gnr import DEMO_CONFIG, Generator

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "gnr-state-dict.txt"
TINY = dict(size=32, num_down=2, channels={4: 16, 8: 16, 16: 8, 32: 8})


def read_spec():
    if not SPEC.exists():
        pytest.skip(f"spec file {SPEC} is absent (it lives outside the repo, in ../shared/spec)")
    rows = []
    for line in SPEC.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape, kind = line.split("\t")
            rows.append((name, tuple(int(n) for n in shape.strip("()").split(",") if n.strip()), kind))
    return rows


def randomized(config, seed=0):
    """A generator with random weights and non-trivial biases (init biases are 0 or 1)."""
    torch.manual_seed(seed)
    G = Generator(**config).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return G


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.fixture(scope="module")
def release():
    torch.manual_seed(0)
    return Generator()


def test_release_state_dict_matches_spec(release):
    spec = read_spec()
    sd = release.state_dict()
    buffers = {name for name, _ in release.named_buffers()}
    ours = [(name, tuple(t.shape), "buffer" if name in buffers else "param") for name, t in sd.items()]
    assert len(ours) == len(spec) == 130
    assert ours == spec
    assert sum(p.numel() for p in release.parameters()) == 39_581_207
    assert len(buffers) == 18


def test_release_loads_its_state_dict_strictly(release):
    fresh = Generator()
    fresh.load_state_dict(release.state_dict(), strict=True)
    assert torch.equal(fresh.conv1.conv.weight, release.conv1.conv.weight)


def test_blur_buffers_and_init_conventions(release):
    k = torch.tensor([1.0, 3, 3, 1])
    blur = torch.outer(k, k) / 64
    assert torch.allclose(release.encoder.stem[1].conv2[0].kernel, blur)
    assert torch.allclose(release.convs[0].conv.blur.kernel, 4 * blur)
    assert torch.allclose(release.to_rgbs[0].upsample.kernel, 4 * blur)
    assert torch.equal(release.conv1.conv.modulation.bias, torch.ones(512))
    assert release.convs[0].conv.blur.pad == (1, 1) and release.to_rgbs[0].upsample.pad == (2, 1)
    assert release.encoder.stem[1].conv2[0].pad == (2, 2) and release.encoder.stem[1].skip[0].pad == (1, 1)


def test_release_config_and_layers(release):
    assert release.config == dict(size=256, num_down=4, latent_dim=8, n_mlp=5, n_res=1, lr_mlp=0.01,
                                  style_dim=512, channels={4: 512, 8: 512, 16: 512, 32: 512, 64: 256,
                                                           128: 128, 256: 64})
    assert release.n_latent == 16
    assert release.layer_names[:5] == ["adain_bottleneck.0.conv1", "adain_bottleneck.0.conv2", "conv1",
                                       "to_rgb1", "convs.0"]
    assert release.layer_names[-3:] == ["convs.6", "convs.7", "to_rgbs.3"]


def test_demo_config_shapes():
    G = Generator(**DEMO_CONFIG)
    assert G.n_latent == 10
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        content, style = G.encode(x)
        assert content.shape == (2, 128, 16, 16) and style.shape == (2, 8)
        assert G.decode(content, torch.randn(2, 8)).shape == (2, 3, 64, 64)
        assert G(x).shape == (2, 3, 64, 64)


@pytest.mark.parametrize("config", [TINY, DEMO_CONFIG], ids=["tiny", "demo"])
def test_fast_path_equals_reference(config):
    G = randomized(config)
    torch.manual_seed(1)
    x = torch.rand(3, 3, config["size"], config["size"]) * 2 - 1
    z = torch.randn(3, 8)
    w = torch.randn(3, 512)
    wplus = torch.randn(3, G.n_latent, 512)
    outputs = {}
    with torch.no_grad():
        for impl in ("reference", "fast"):
            G.set_impl(impl)
            content, style = G.encode(x)
            outputs[impl] = [content, style, G.decode(content, z), G.decode(content, w, use_mapping=False),
                             G.decode(content, wplus, use_mapping=False)]
    for fast, ref in zip(outputs["fast"], outputs["reference"]):
        assert rel_err(fast, ref) < 1e-4


def test_fast_path_gradients_equal_reference():
    G = randomized(TINY).train()
    x, z = torch.randn(2, 3, 32, 32), torch.randn(2, 8)
    grads = {}
    for impl in ("reference", "fast"):
        G.set_impl(impl).zero_grad()
        content, style = G.encode(x)
        (G.decode(content, z).square().mean() + style.square().mean()).backward()
        grads[impl] = torch.cat([p.grad.flatten() for p in G.parameters()])
    assert rel_err(grads["fast"], grads["reference"]) < 1e-4


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 1)), (1, 2, (2, 2)), (1, 2, (1, 1)), (2, 1, (2, 1)), (2, 1, (1, 2))])
def test_fir_fast_equals_upfirdn2d(up, down, pad):
    torch.manual_seed(0)
    x = torch.randn(2, 5, 9, 9)
    kernel = ops.make_kernel([1, 3, 3, 1]) * up**2
    assert torch.allclose(ops.fir_fast(x, kernel, up, down, pad), ops.upfirdn2d(x, kernel, up, down, pad), atol=1e-6)


def test_upfirdn2d_impulse_response():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1
    kernel = ops.make_kernel([1, 2, 3, 4])
    out = ops.upfirdn2d(x, kernel, pad=(1, 2))
    assert out.shape == (1, 1, 5, 5)
    assert torch.allclose(out[0, 0, 0:4, 0:4], kernel)
    up = ops.upfirdn2d(x, kernel, up=2, pad=(2, 1))
    assert up.shape == (1, 1, 10, 10) and torch.allclose(up[0, 0, 3:7, 3:7], kernel)


def test_modulated_conv_reference_equals_per_sample_conv():
    torch.manual_seed(0)
    conv = ops.set_impl(ops.ModulatedConv2d(4, 6, 3, style_dim=7), "reference")
    x, style = torch.randn(2, 4, 5, 5), torch.randn(2, 7)
    out = conv(x, style)
    s = F.linear(style, conv.modulation.weight / 7**0.5, conv.modulation.bias)
    for b in range(2):
        weight = conv.weight[0] / 6.0 * s[b][None, :, None, None]
        weight = weight / weight.square().sum([1, 2, 3], keepdim=True).add(1e-8).sqrt()
        assert torch.allclose(out[b:b + 1], F.conv2d(x[b:b + 1], weight, padding=1), atol=1e-5)


def test_fast_path_leaves_inputs_untouched_and_returns_contiguous():
    G = randomized(TINY)
    x, z = torch.rand(2, 3, 32, 32), torch.randn(2, 8)
    x0, z0 = x.clone(), z.clone()
    with torch.inference_mode():
        content, _ = G.encode(x)
        c0 = content.clone()
        image = G.decode(content, z)
    assert torch.equal(x, x0) and torch.equal(z, z0) and torch.equal(content, c0)
    assert content.is_contiguous() and image.is_contiguous()


def test_wplus_with_equal_layers_equals_w():
    G = randomized(TINY)
    content = torch.randn(2, 16, 8, 8)
    w = G.mapping(torch.randn(2, 8))
    with torch.no_grad():
        single = G.decode(content, w, use_mapping=False)
        plus = G.decode(content, w[:, None].expand(-1, G.n_latent, -1), use_mapping=False)
        assert torch.equal(single, plus)


@pytest.mark.parametrize("layer", ["conv1", "convs.2", "to_rgbs.1"])
def test_wplus_layer_change_acts_only_from_that_layer(layer):
    G = randomized(TINY)
    modules = dict(G.named_modules())
    outputs = {}
    hooks = [modules[name].register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o))
             for name in G.layer_names]
    content = torch.randn(2, 16, 8, 8)
    wplus = torch.randn(2, G.n_latent, 512)
    changed = wplus.clone()
    k = G.layer_names.index(layer)
    changed[:, k] += torch.randn(2, 512)
    with torch.no_grad():
        base = G.decode(content, wplus, use_mapping=False)
        before = dict(outputs)
        edited = G.decode(content, changed, use_mapping=False)
    for h in hooks:
        h.remove()
    for name in G.layer_names[:k]:
        assert torch.equal(outputs[name], before[name]), name
    assert not torch.allclose(outputs[layer], before[layer])
    assert not torch.allclose(edited, base)


def test_decode_rejects_bad_style_shapes():
    G = Generator(**TINY)
    content = torch.randn(1, 16, 8, 8)
    with pytest.raises(InputError, match=r"^with use_mapping, style must be z of shape \(B, 8\)"):
        G.decode(content, torch.randn(1, 512))
    with pytest.raises(InputError, match=r"^style must be w \(B, 512\) or W\+ \(B, 10, 512\), got \(1, 9, 512\)"):
        G.decode(content, torch.randn(1, 9, 512), use_mapping=False)
    with pytest.raises(InputError, match=r"^expected images of shape \(B, 3, 32, 32\), got \(1, 3, 64, 64\)$"):
        G.encode(torch.randn(1, 3, 64, 64))
    with pytest.raises(InputError, match=r"^expected content codes of shape \(B, 16, 8, 8\), got \(1, 16, 4, 4\)$"):
        G.decode(torch.randn(1, 16, 4, 4), torch.randn(1, 8))
    with pytest.raises(ValueError, match="impl must be one of"):
        G.set_impl("cuda")


def rgb_outputs(G, run):
    """{resolution: RGB skip output} of every to_rgb while `run()` decodes, read by forward hooks."""
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o: seen.__setitem__(o.shape[-1], o.clone()))
             for m in [G.to_rgb1, *G.to_rgbs]]
    try:
        full = run()
    finally:
        for h in hooks:
            h.remove()
    return full, seen


def test_decode_stops_at_each_rgb_output():
    G = randomized(TINY)  # content 8 px, RGB outputs at 8, 16 and 32 px
    content = torch.randn(2, 16, 8, 8)
    wplus = torch.randn(2, G.n_latent, 512)
    with torch.no_grad():
        full, seen = rgb_outputs(G, lambda: G.decode(content, wplus, use_mapping=False))
        assert sorted(seen) == [8, 16, 32]
        for r in (8, 16, 32):
            stopped = G.decode(content, wplus, use_mapping=False, resolution=r)
            assert stopped.shape == (2, 3, r, r) and torch.equal(stopped, seen[r])
        assert torch.equal(full, seen[32])
        # a preview at 16 px does not read the layers above it
        changed = wplus.clone()
        changed[:, G.layer_names.index("convs.2"):] += 1.0
        assert torch.equal(G.decode(content, changed, use_mapping=False, resolution=16), seen[16])
    for bad in (4, 12, 64):
        with pytest.raises(InputError) as e:
            G.decode(content, wplus, use_mapping=False, resolution=bad)
        assert str(e.value) == f"resolution must be one of 8, 16, 32 px (this generator's RGB outputs), got {bad}"


def test_levels_resume_above_unedited_layers():
    """A W+ edit from the 16 px up conv on: resuming from the 8 px state of the unedited code draws the same image."""
    G = randomized(TINY)
    content = torch.randn(2, 16, 8, 8)
    wplus = torch.randn(2, G.n_latent, 512)
    edited = wplus.clone()
    edited[:, G.layer_names.index("convs.0"):] += torch.randn(2, 1, 512)
    with torch.no_grad():
        states = list(G.levels(content, wplus, use_mapping=False))
        assert [(k, s.shape[-1]) for k, _, s in states] == [(0, 8), (1, 16), (2, 32)]
        resumed = list(G.levels(content, edited, use_mapping=False, start=states[0]))
        assert [k for k, _, _ in resumed] == [1, 2]
        assert torch.equal(resumed[-1][2], G.decode(content, edited, use_mapping=False))
        assert not torch.equal(resumed[-1][2], states[-1][2])
