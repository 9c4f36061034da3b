"""StyleGAN2 in rosinality's layout: equal to a transcription of rosinality's Generator, strict loading."""

import argparse

import numpy as np
import pytest
import torch

import sg2_rosinality as ros
from latentedit.directions.sefa import SeFa
from latentedit.errors import CheckpointError
from latentedit.models.layers import layer_groups, stylegan2_layer_index
from latentedit.models.stylegan2 import StyleGAN2, infer_config, load_stylegan2, save_stylegan2

ATOL = 2e-5  # float32: images are O(1); the two paths order sums differently


def randomized(module, seed=0):
    """Every parameter and buffer but the blur kernels random (noise weights and biases non-zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not name.endswith("kernel"):
                t.copy_(torch.randn(t.shape, generator=g) * (0.3 if "bias" in name or "noise.weight" in name else 1))
    return module.eval()


@pytest.fixture(scope="module")
def ref():
    return randomized(ros.Generator(32, 64, 2, channel_multiplier=1))


@pytest.fixture(scope="module")
def G(ref):
    return load_stylegan2(ref.state_dict())


def load_error(source):
    with pytest.raises(CheckpointError) as e:
        load_stylegan2(source)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_equals_rosinality_for_z_w_and_wplus(ref, G, impl):
    G.set_impl(impl)
    z = torch.randn(2, 64, generator=torch.Generator().manual_seed(1))
    wplus = torch.randn(2, ref.n_latent, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected_z = ref([z], randomize_noise=False)[0]
        expected_w = ref([ref.style(z)], input_is_latent=True, randomize_noise=False)[0]
        expected_wplus = ref([wplus], input_is_latent=True, randomize_noise=False)[0]
        assert expected_z.abs().mean() > 0.1
        torch.testing.assert_close(G.decode(None, z), expected_z, atol=ATOL, rtol=1e-4)
        torch.testing.assert_close(G.decode(None, G.mapping(z), use_mapping=False), expected_w, atol=ATOL, rtol=1e-4)
        torch.testing.assert_close(G.decode(None, wplus, use_mapping=False), expected_wplus, atol=ATOL, rtol=1e-4)
        noise = [torch.randn(2, 1, *n.shape[2:]) for n in G.noise_inputs()]
        torch.testing.assert_close(G.decode(None, wplus, use_mapping=False, noise=noise),
                                   ref([wplus], input_is_latent=True, noise=noise)[0], atol=ATOL, rtol=1e-4)
    G.set_impl("fast")


def test_truncation_and_mean_latent(ref, G):
    z = torch.randn(3, 64)
    with torch.no_grad():
        mean = G.mean_latent(512, seed=3)
        torch.testing.assert_close(mean, G.mean_latent(512, seed=3))
        G.latent_avg = mean
        expected = ref([z], truncation=0.6, truncation_latent=mean[None], randomize_noise=False)[0]
        torch.testing.assert_close(G.decode(None, G.truncate(G.mapping(z), 0.6), use_mapping=False), expected,
                                   atol=ATOL, rtol=1e-4)
    G.latent_avg = None


def test_layers_groups_and_sefa_as_rosinality(ref, G):
    assert G.n_latent == ref.n_latent == len(G.layer_names) == 8
    assert G.layer_names == ["conv1", "convs.0", "convs.1", "convs.2", "convs.3", "convs.4", "convs.5", "to_rgbs.2"]
    assert layer_groups(G.layer_names) == {"all": list(range(8)), "coarse": [0, 1, 2], "middle": [3, 4],
                                           "fine": [5, 6, 7]}
    assert [stylegan2_layer_index(m) for m in ("conv1", "to_rgb1", "convs.0", "to_rgbs.0", "convs.2")] == [0, 1, 1, 3, 3]
    # rosinality's closed_form_factorization.py: "modulation" in k and "to_rgbs" not in k and "weight" in k
    cff = {k: v for k, v in ref.state_dict().items() if "modulation" in k and "to_rgbs" not in k and "weight" in k}
    sefa = SeFa(k=None).fit(generator=G)
    assert sefa.layer_names_ == list(cff)
    A = torch.cat(list(cff.values())).double().numpy()
    _, _, vt = np.linalg.svd(A, full_matrices=False)  # rosinality: eigenvectors of A^T A
    np.testing.assert_allclose(np.abs(sefa.directions_ @ vt.T).diagonal(), 1.0, atol=1e-6)
    levels = {k: lvl for k, _, lvl, _ in G.modulation_weights()}
    assert [levels[k] for k in ("conv1.conv.modulation.weight", "to_rgb1.conv.modulation.weight",
                                "convs.2.conv.modulation.weight", "to_rgbs.2.conv.modulation.weight")] == [0, 0, 2, 3]
    assert (G.size, G.style_dim, G.latent_dim, G.takes_content) == (32, 64, 64, False)


@pytest.mark.parametrize("config", [
    dict(size=32, style_dim=64, n_mlp=2, channel_multiplier=1),
    dict(size=8, style_dim=16, n_mlp=3, channels={4: 8, 8: 4}, z_dim=12),
    dict(size=64, style_dim=32, n_mlp=1, channels={4: 16, 8: 16, 16: 8, 32: 8, 64: 4}),
    dict(size=4, style_dim=8, n_mlp=1, channels={4: 8}),
])
def test_config_inference_round_trips(config):
    with torch.device("meta"):
        built = StyleGAN2(**config)
    inferred = infer_config(built.state_dict())
    assert {k: inferred[k] for k in built.config} == built.config
    with torch.device("meta"):
        again = StyleGAN2(**inferred)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in built.state_dict().items()}


def test_rosinality_config_and_multiplier():
    with torch.device("meta"):
        sd = ros.Generator(128, 32, 2, channel_multiplier=2).state_dict()
    config = infer_config(sd)
    assert (config["size"], config["style_dim"], config["n_mlp"], config["channel_multiplier"]) == (128, 32, 2, 2)
    assert config["channels"] == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256}


def test_checkpoint_files_and_safetensors(ref, G, tmp_path):
    sd = ref.state_dict()
    avg = torch.randn(64)
    path = tmp_path / "550000.pt"  # as rosinality's train.py saves, with its argparse options
    torch.save({"g": sd, "d": {}, "g_ema": sd, "g_optim": {}, "d_optim": {}, "args": argparse.Namespace(size=32),
                "latent_avg": avg}, path)
    loaded = load_stylegan2(path)
    torch.testing.assert_close(loaded.latent_avg, avg)
    out = tmp_path / "g.safetensors"
    save_stylegan2(loaded, out)
    again = load_stylegan2(out)
    assert again.config == loaded.config and torch.equal(again.latent_avg, avg)
    z = torch.randn(2, 64)
    with torch.no_grad():
        torch.testing.assert_close(again.decode(None, z), G.decode(None, z), atol=0, rtol=0)
    assert not again.training and not any(p.requires_grad for p in again.parameters())


def test_strict_errors_are_one_line(ref, tmp_path):
    sd = ref.state_dict()
    inferred = "does not fit the StyleGAN2 layout inferred as size 32, style_dim 64, n_mlp 2, channels {4:512,8:512,16:512,32:512}"
    missing = {k: v for k, v in sd.items() if k != "convs.3.noise.weight"}
    assert load_error(missing) == f"state dict {inferred}: convs.3.noise.weight is missing"
    wrong = {**sd, "convs.1.conv.weight": torch.zeros(1, 512, 256, 3, 3)}
    assert load_error(wrong) == (f"state dict {inferred}: convs.1.conv.weight has shape (1, 512, 256, 3, 3) "
                                 "where (1, 512, 512, 3, 3) is expected")
    assert load_error({**sd, "extra.weight": torch.zeros(1)}) == f"state dict {inferred}: unexpected extra.weight"
    from conftest import tiny_generator

    assert load_error(tiny_generator().state_dict()) == ("state dict looks like a GANs N' Roses generator (encoder.*), "
                                                         "not a StyleGAN2; load it with load_generator")
    disc = {"convs.0.0.weight": torch.zeros(32, 3, 1, 1), "final_conv.0.weight": torch.zeros(512, 513, 3, 3),
            "final_linear.0.weight": torch.zeros(512, 8192)}
    assert load_error(disc) == "state dict looks like a StyleGAN2 discriminator (final_linear.*), not a generator; use g_ema"
    assert load_error({"g": sd, "d": disc, "g_optim": {"state": {}, "param_groups": []}}) == (
        "state dict is a training checkpoint (g, d, g_optim) without g_ema; use g_ema, the averaged generator")
    assert load_error({"state": {}, "param_groups": []}) == (
        "state dict holds optimizer state (state, param_groups), not a generator; use g_ema")
    path = tmp_path / "d.pt"
    torch.save({"g_ema": disc}, path)
    assert load_error(path) == (f"{path} [g_ema] looks like a StyleGAN2 discriminator (final_linear.*), "
                                "not a generator; use g_ema")
    gnr = tmp_path / "gnr.pt"
    torch.save({"G_A2B_ema": tiny_generator().state_dict()}, gnr)
    assert load_error(gnr) == f"{gnr} is a GANs N' Roses checkpoint, not a StyleGAN2; load it with load_generator"


def test_decode_stops_at_each_rgb_output_as_rosinality_draws_it(ref, G):
    """decode(resolution=r) is the RGB skip rosinality's Generator holds at r px (read by forward hooks)."""
    from latentedit.errors import InputError

    wplus = torch.randn(2, ref.n_latent, 64, generator=torch.Generator().manual_seed(4))
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o: seen.__setitem__(o.shape[-1], o.clone()))
             for m in [ref.to_rgb1, *ref.to_rgbs]]
    with torch.no_grad():
        ref([wplus], input_is_latent=True, randomize_noise=False)
        for h in hooks:
            h.remove()
        assert sorted(seen) == [4, 8, 16, 32]
        for r, expected in seen.items():
            stopped = G.decode(None, wplus, use_mapping=False, resolution=r)
            assert stopped.shape == (2, 3, r, r)
            torch.testing.assert_close(stopped, expected, atol=ATOL, rtol=1e-4)
    with pytest.raises(InputError, match=r"^resolution must be one of 4, 8, 16, 32 px \(this generator's RGB "
                                         r"outputs\), got 64$"):
        G.decode(None, wplus, use_mapping=False, resolution=64)


def test_pixel_norm_off_survives_safetensors(tmp_path):
    """The demo StyleGAN2 maps z without PixelNorm (its world's truth depends on z's length); only the
    .safetensors config can say so, a bare state dict loads with rosinality's PixelNorm."""
    G = randomized(StyleGAN2(size=8, style_dim=8, n_mlp=1, z_dim=4, channels={4: 4, 8: 4}, pixel_norm=False))
    H = load_stylegan2(save_stylegan2(G, tmp_path / "g.safetensors"))
    z = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    assert H.config["pixel_norm"] is False and torch.equal(H.mapping(z), G.mapping(z))
    assert not torch.allclose(H.mapping(2 * z), H.mapping(z))
    bare = load_stylegan2(G.state_dict())
    assert bare.config["pixel_norm"] is True and torch.allclose(bare.mapping(2 * z), bare.mapping(z))
