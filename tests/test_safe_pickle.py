"""NVIDIA stylegan2-ada pickles read without running them: equal to NVIDIA's and rosinality's generators,
crafted malicious pickles refused by name with nothing run, `latentedit convert`."""

import builtins
import os
import pickle
import subprocess
import sys

import pytest
import torch

import sg2_nvidia as nv
import sg2_rosinality as ros
from latentedit.errors import CheckpointError, UnsafeFileError
from latentedit.models.safe_pickle import Persistent, safe_load
from latentedit.models.stylegan2 import load_stylegan2

ATOL = 2e-5


def nvidia_generator(seed=0, z_dim=64, w_dim=64, size=32, mapping=None, synthesis=None):
    """A G_ema of the transcribed networks.py with random weights (noise strengths, biases, w_avg non-zero)."""
    torch.manual_seed(seed)
    G = nv.Generator(z_dim=z_dim, c_dim=0, w_dim=w_dim, img_resolution=size, img_channels=3,
                     mapping_kwargs=nv.EasyDict(mapping or dict(num_layers=2)),
                     synthesis_kwargs=nv.EasyDict(synthesis or dict(channel_base=32768, channel_max=512)))
    with torch.no_grad():
        for name, t in G.state_dict().items():
            if not name.endswith("resample_filter"):
                t.copy_(torch.randn(t.shape) * (0.3 if name.endswith(("bias", "noise_strength")) else 1))
    return G.eval().requires_grad_(False)


def write_snapshot(path, G_ema, **extra):
    """A network-snapshot pickle as training_loop.py writes it."""
    data = dict(training_set_kwargs=nv.EasyDict(path="faces.zip", resolution=G_ema.img_resolution), G=G_ema,
                D=None, G_ema=G_ema, augment_pipe=None, **extra)
    with nv.nvidia_names():
        path.write_bytes(pickle.dumps(data))
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    return path


def refusal(path, name):
    return (f"{path} refused: its pickle data would call {name}, which is not a tensor, a container or "
            "NVIDIA's persistent-object state; nothing was run")


@pytest.fixture(scope="module")
def nvidia_pkl(tmp_path_factory):
    G = nvidia_generator()
    return G, write_snapshot(tmp_path_factory.mktemp("nv") / "network-snapshot-000100.pkl", G)


def test_pickle_loads_equal_to_nvidia_and_rosinality(nvidia_pkl):
    G_nv, path = nvidia_pkl
    G = load_stylegan2(path)
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    assert G.config["channels"] == {4: 512, 8: 512, 16: 512, 32: 512} and G.n_latent == G_nv.num_ws == 8
    torch.testing.assert_close(G.latent_avg, G_nv.mapping.w_avg)
    ref = ros.Generator(32, 64, 2, channel_multiplier=1).eval()
    ref.load_state_dict(G.state_dict(), strict=True)
    z = torch.randn(2, 64, generator=torch.Generator().manual_seed(1))
    wplus = torch.randn(2, 8, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = G_nv(z)
        assert expected.abs().mean() > 0.1
        for impl in ("fast", "reference"):
            G.set_impl(impl)
            torch.testing.assert_close(G.decode(None, z), expected, atol=ATOL, rtol=1e-4)
            torch.testing.assert_close(G.decode(None, wplus, use_mapping=False), G_nv.synthesis(wplus), atol=ATOL, rtol=1e-4)
            torch.testing.assert_close(G.decode(None, G.truncate(G.mapping(z), 0.7), use_mapping=False),
                                       G_nv(z, truncation_psi=0.7), atol=ATOL, rtol=1e-4)
        torch.testing.assert_close(ref([z], randomize_noise=False)[0], expected, atol=ATOL, rtol=1e-4)


def test_other_channels_z_dim_lr_and_conv_clamp(tmp_path):
    G_nv = nvidia_generator(seed=1, z_dim=48, w_dim=32, mapping=dict(num_layers=3, lr_multiplier=0.05),
                            synthesis=dict(channel_base=256, channel_max=64, conv_clamp=0.5, num_fp16_res=4))
    G = load_stylegan2(write_snapshot(tmp_path / "g.pkl", G_nv))
    assert (G.config["z_dim"], G.config["lr_mlp"], G.config["conv_clamp"]) == (48, 0.05, 0.5)
    assert G.config["channels"] == {4: 64, 8: 32, 16: 16, 32: 8}
    z = torch.randn(3, 48)
    with torch.no_grad():
        torch.testing.assert_close(G.decode(None, z), G_nv(z), atol=ATOL, rtol=1e-4)


def test_convert_writes_safetensors_with_the_config(nvidia_pkl, tmp_path):
    from typer.testing import CliRunner

    from cli.app import app

    G_nv, path = nvidia_pkl
    out = tmp_path / "g.safetensors"
    r = CliRunner().invoke(app, ["convert", str(path), str(out)])
    assert r.exit_code == 0, r.output
    assert "generator  StyleGAN2, size 32, style_dim 64, n_mlp 2, channels {4:512,8:512,16:512,32:512}, " \
           "8 W+ layers, with its mean w" in r.output
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as f:
        assert f.metadata()["format"] == "latentedit.stylegan2" and '"lr_mlp": 0.01' in f.metadata()["config"]
    G, again = load_stylegan2(path), load_stylegan2(out)
    assert again.config == G.config and torch.equal(again.latent_avg, G.latent_avg)
    z = torch.randn(2, 64)
    with torch.no_grad():
        assert torch.equal(again.decode(None, z), G.decode(None, z))


def test_unsupported_generators_are_named(tmp_path):
    def small():  # (deepcopy would call the persistent reconstruct hook, as NVIDIA's does)
        return nvidia_generator(size=8, synthesis=dict(channel_base=64, channel_max=16))

    G, resnet = small(), small()
    resnet._init_kwargs["synthesis_kwargs"]["architecture"] = "resnet"
    path = write_snapshot(tmp_path / "resnet.pkl", resnet)
    with pytest.raises(CheckpointError, match=r"has architecture='resnet'; only architecture='skip' maps onto "):
        load_stylegan2(path)
    cond = small()
    cond._init_kwargs["c_dim"] = 10
    with pytest.raises(CheckpointError, match=r"G_ema has c_dim=10; only c_dim=0 maps"):
        load_stylegan2(write_snapshot(tmp_path / "cond.pkl", cond))
    sg3 = small()
    sg3.synthesis.input = nv.SynthesisInput(4)
    path = write_snapshot(tmp_path / "sg3.pkl", sg3)
    with pytest.raises(CheckpointError) as e:
        load_stylegan2(path)
    assert str(e.value) == (f"{path} is a StyleGAN3 generator (synthesis.input is a SynthesisInput), which latentedit "
                            "does not support; use a StyleGAN2 (stylegan2-ada-pytorch) pickle")
    # a TF1 pickle: dnnlib.tflib.network.Network objects with their state
    tf1 = tmp_path / "stylegan2-ffhq-config-f.pkl"
    tf1.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81}b.")
    with pytest.raises(CheckpointError) as e:
        load_stylegan2(tf1)
    assert str(e.value) == (f"{tf1} is a TF1 StyleGAN pickle (dnnlib.tflib.network.Network), which cannot be read "
                            "without TensorFlow 1; convert it with NVIDIA's legacy.py (stylegan2-ada-pytorch) first "
                            "and pass the converted .pkl")
    only_g = tmp_path / "g_only.pkl"
    with nv.nvidia_names():
        only_g.write_bytes(pickle.dumps({"G": G, "D": None}))
    with pytest.raises(CheckpointError, match=r"holds no G_ema \(keys: G, D\); use G_ema$"):
        load_stylegan2(only_g)


class Unknown:
    pass


def _payloads(marker):
    class System:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    class Popen:
        def __reduce__(self):
            return subprocess.check_call, (["touch", str(marker)],)

    class Eval:
        def __reduce__(self):
            return eval, (f"open({str(marker)!r}, 'w')",)

    class Exec:
        def __reduce__(self):
            return builtins.exec, (f"open({str(marker)!r}, 'w')",)

    class Storage:  # a tensor storage whose own pickle calls os.system
        def __reduce__(self):
            return torch.storage._load_from_bytes, (pickle.dumps(System(), protocol=2),)

    return [(System(), f"{os.system.__module__}.system"), (Popen(), "subprocess.check_call"),
            (Eval(), "builtins.eval"), (Exec(), "builtins.exec"), (Unknown(), "test_safe_pickle.Unknown"),
            (Storage(), f"{os.system.__module__}.system")]


@pytest.mark.parametrize("case", range(6))
def test_malicious_pickles_are_refused_by_name_and_nothing_runs(case, nvidia_pkl, tmp_path):
    marker = tmp_path / "pwned"
    payload, name = _payloads(marker)[case]
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(UnsafeFileError) as e:
        load_stylegan2(path)
    assert str(e.value) == refusal(path, name)
    # hidden inside an otherwise genuine snapshot
    hidden = write_snapshot(tmp_path / "hidden.pkl", nvidia_pkl[0], payload=payload)
    with pytest.raises(UnsafeFileError) as e:
        load_stylegan2(hidden)
    assert str(e.value) == refusal(hidden, name)
    assert not marker.exists()


def test_module_source_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"open({str(marker)!r}, 'w').write('ran')\n"
    G = nvidia_generator(size=8, synthesis=dict(channel_base=64, channel_max=16))
    for m in G.modules():
        type(m)._orig_module_src = payload + type(m)._orig_module_src
    try:
        path = write_snapshot(tmp_path / "src.pkl", G)
    finally:
        for m in G.modules():
            type(m)._orig_module_src = type(m)._orig_module_src[len(payload):]
    assert payload.encode() in path.read_bytes()
    loaded = safe_load(path)["G_ema"]
    assert isinstance(loaded, Persistent) and loaded.class_name == "Generator"
    z = torch.randn(2, 64)
    with torch.no_grad():
        torch.testing.assert_close(load_stylegan2(path).decode(None, z), G(z), atol=ATOL, rtol=1e-4)
    assert not marker.exists()
    exec(payload)  # the payload is real: run here on purpose, it creates the file
    assert marker.exists()
