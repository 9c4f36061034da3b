"""Generator loading: checkpoint layouts, config inference, one-line errors, save round trip, fingerprint."""

import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from latentedit.errors import CheckpointError
from latentedit.models.checkpoint import infer_config, save_generator
from latentedit.models.generator import fingerprint, load_generator
from latentedit.models.gnr import DEMO_CONFIG, Generator

TINY = dict(size=32, num_down=2, channels={4: 16, 8: 16, 16: 8, 32: 8})


def make(config=TINY, seed=0):
    torch.manual_seed(seed)
    return Generator(**config)


def load_error(path, **kwargs):
    with pytest.raises(CheckpointError) as info:
        load_generator(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_release_layout_uses_ema_and_matches(tmp_path):
    G, other = make(seed=0), make(seed=1)
    path = tmp_path / "GNR_checkpoint.pt"
    torch.save({"G_A2B_ema": G.state_dict(), "G_B2A_ema": other.state_dict()}, path)
    H = load_generator(path)
    assert H.source_info == {"source": "path", "path": str(path), "key": "G_A2B_ema"}
    assert H.config == G.config and not H.training
    assert not any(p.requires_grad for p in H.parameters())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z = torch.randn(2, 8)
    with torch.no_grad():
        assert torch.equal(H(x, z), G.eval()(x, z))


def test_training_checkpoint_prefers_ema(tmp_path):
    G, ema = make(seed=0), make(seed=2)
    sd = {"G_A2B": G.state_dict(), "G_B2A": G.state_dict(), "G_A2B_ema": ema.state_dict(),
          "D_A": {"l_branch.0.0.weight": torch.zeros(1)}, "iter": 1999}
    torch.save(sd, tmp_path / "ck.pt")
    H = load_generator(tmp_path / "ck.pt")
    assert H.source_info["key"] == "G_A2B_ema"
    assert fingerprint(H) == fingerprint(ema)
    del sd["G_A2B_ema"]
    torch.save(sd, tmp_path / "ck2.pt")
    assert load_generator(tmp_path / "ck2.pt").source_info["key"] == "G_A2B"


def test_bare_state_dicts_of_any_config_infer_it(tmp_path):
    for config in (TINY, DEMO_CONFIG, dict(size=64, num_down=3, n_res=2, n_mlp=3, latent_dim=4,
                                           channels={4: 8, 8: 8, 16: 16, 32: 8, 64: 4})):
        G = make(config)
        torch.save({"module." + k: v for k, v in G.state_dict().items()}, tmp_path / "g.pt")
        H = load_generator(tmp_path / "g.pt")
        assert H.source_info["key"] is None
        assert H.config == G.config and fingerprint(H) == fingerprint(G)


def test_release_config_inferred_from_shapes():
    with torch.device("meta"):
        sd = Generator().state_dict()
    assert infer_config(sd) == dict(
        size=256, num_down=4, latent_dim=8, n_mlp=5, n_res=1, lr_mlp=0.01, style_dim=512,
        channels={4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64})


def test_save_round_trip_keeps_config(tmp_path):
    G = make(dict(TINY, lr_mlp=0.02))
    path = save_generator(G, tmp_path / "sub" / "g.pt")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == {"config", "state_dict"} and raw["config"]["lr_mlp"] == 0.02
    H = load_generator(path)
    assert H.config == G.config and H.source_info["key"] == "state_dict"
    assert fingerprint(H) == fingerprint(G)
    assert [p.name for p in path.parent.iterdir()] == ["g.pt"]


def test_demo_source_resolves_through_assets(tmp_path, monkeypatch):
    from latentedit.world import assets

    G = make(DEMO_CONFIG)
    save_generator(G, tmp_path / assets.GENERATOR)
    assets.update_manifest(tmp_path)
    monkeypatch.setenv("LATENTEDIT_ASSETS", str(tmp_path))
    H = load_generator("demo")
    assert H.source_info["source"] == "demo" and fingerprint(H) == fingerprint(G)


def test_fingerprint_is_deterministic_across_processes_and_sensitive():
    G = make()
    code = ("import torch; from latentedit.models.gnr import Generator; "
            "from latentedit.models.generator import fingerprint; torch.manual_seed(0); "
            f"print(fingerprint(Generator(**{TINY!r})))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == fingerprint(G) and len(other) == 16
    with torch.no_grad():
        G.to_rgb1.bias[0, 0, 0, 0] += 1e-3
    assert fingerprint(G) != other


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pt"
    assert load_error(path) == (f"checkpoint file not found: {path}; pass a generator file (GNR_checkpoint.pt, a "
                                "StyleGAN2 .pt, .pkl or .safetensors, a DCGAN .pt) or demo, demo-stylegan2, demo-dcgan")


def test_truncated_and_corrupt_files(tmp_path):
    save_generator(make(), tmp_path / "g.pt")
    data = (tmp_path / "g.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.pt").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    for name in ("cut.pt", "noise.pt"):
        path = tmp_path / name
        assert load_error(path) == f"{path} is truncated or not a PyTorch file; download or save it again"


def test_non_checkpoint_files(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    assert load_error(text) == f"{text} is a text file, not a PyTorch checkpoint; pass a generator checkpoint"
    npz = tmp_path / "codes.npz"
    np.savez(npz, z=np.zeros((2, 8), np.float32))
    assert load_error(npz) == (f"{npz} is a NumPy .npz archive, not a PyTorch checkpoint; "
                               "pass GNR_checkpoint.pt or a file written by save_generator")
    h5 = tmp_path / "model-resnet_custom_v3.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert load_error(h5) == (f"{h5} looks like a DeepDanbooru/Keras file (HDF5), not a GNR generator "
                              "checkpoint; pass GNR_checkpoint.pt")
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    assert load_error(tensor) == f"{tensor} holds a Tensor, not a checkpoint dict; pass a generator checkpoint or state dict"


def test_python_objects_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "args.pt"
    torch.save({"G_A2B_ema": make().state_dict(), "args": types.SimpleNamespace(size=32)}, path)
    assert load_error(path) == (f"{path} refused: the file holds code-executing pickle data (it would call "
                                "types.SimpleNamespace); nothing was run. Use a file of plain tensors from a source "
                                "you trust (torch.save(model.state_dict(), path))")


def test_dict_without_generator_lists_keys(tmp_path):
    path = tmp_path / "d.pt"
    torch.save({"D_A": {"l_branch.0.0.weight": torch.zeros(1)}, "D_optim": {}, "iter": 5}, path)
    assert load_error(path) == (f"{path} holds no generator (keys: D_A, D_optim, iter); expected G_A2B_ema "
                                "as in GNR_checkpoint.pt, a training checkpoint or a bare generator state dict")


def test_new_checkpoint_layout_is_recognised(tmp_path):
    sd = make().state_dict()
    for i in (0, 1):
        sd[f"encoder.content.{i}.0.weight"] = torch.zeros(8, 8, 3, 3)
    path = tmp_path / "GNR_checkpoint_new.pt"
    torch.save({"G_A2B_ema": sd}, path)
    assert load_error(path) == (f"{path} [G_A2B_ema] looks like GNR_checkpoint_new.pt (3x3 content-head convs), "
                                "which this layout does not support; use GNR_checkpoint.pt")


def test_other_models_are_named(tmp_path):
    path = tmp_path / "d.pt"
    torch.save({"l_branch.0.0.weight": torch.zeros(64, 3, 1, 1), "g_adv.0.weight": torch.zeros(1, 512, 1, 1)}, path)
    assert load_error(path) == f"{path} looks like a GANs N' Roses discriminator (D_A/D_B), not a generator"
    torch.save({"input.input": torch.zeros(1, 512, 4, 4), "style.1.weight": torch.zeros(512, 512)}, path)
    assert load_error(path) == (f"{path} does not fit the StyleGAN2 layout inferred as size 4, style_dim 512, n_mlp 1, "
                                "channels {4:512}: style.1.bias is missing (and 10 more)")  # read as what it looks like


def test_requested_config_mismatch_says_what_file_holds(tmp_path):
    path = tmp_path / "g.pt"
    torch.save(make().state_dict(), path)
    assert load_error(path, config=dict(size=64, num_down=2, channels=DEMO_CONFIG["channels"])) == (
        f"{path} looks like a GNR generator at size 32 with num_down 2, latent_dim 8, n_mlp 5, n_res 1, "
        "style_dim 512, channels {4:16,8:16,16:8,32:8}, but size 64 was requested")
    assert load_generator(path, config=TINY).config["size"] == 32


def test_inconsistent_shapes_are_reported(tmp_path):
    sd = make().state_dict()
    sd["convs.1.conv.weight"] = torch.zeros(1, 8, 7, 3, 3)
    path = tmp_path / "g.pt"
    torch.save(sd, path)
    assert load_error(path) == (
        f"{path} has GNR-like keys but does not fit the GNR layout inferred as size 32 with num_down 2, "
        "latent_dim 8, n_mlp 5, n_res 1, style_dim 512, channels {4:16,8:16,16:8,32:8} "
        "(first difference: convs.1.conv.weight); it cannot be loaded")
