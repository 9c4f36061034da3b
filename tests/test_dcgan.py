"""DCGAN in the PyTorch DCGAN tutorial's layout: equal to a transcription of the tutorial's Generator, strict loading."""

import numpy as np
import pytest
import torch
from torch import nn

from latentedit.errors import CheckpointError, InputError
from latentedit.models.dcgan import DCGAN, load_dcgan, save_dcgan


class TutorialGenerator(nn.Module):
    """The tutorial's Generator (pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html), nz/ngf/nc as arguments."""

    def __init__(self, nz=100, ngf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class TutorialDiscriminator(nn.Module):
    def __init__(self, ndf=8, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )


def randomized(module, seed=0):
    """Every weight random, batch-norm statistics too (running_var positive), so eval mode uses them all."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * (0.3 if "running_mean" in name or "bias" in name else 0.1))
    return module.eval()


@pytest.fixture(scope="module")
def ref():
    return randomized(TutorialGenerator(nz=100, ngf=8))


def load_error(source):
    with pytest.raises(CheckpointError) as e:
        load_dcgan(source)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_tutorial_state_dict_loads_strict_and_draws_the_same(ref):
    G = load_dcgan(ref.state_dict())
    assert (G.config, G.latent_dim, G.style_dim, G.size) == ({"nz": 100, "ngf": 8, "nc": 3, "size": 64}, 100, 100, 64)
    assert list(G.state_dict()) == list(ref.state_dict())
    z = torch.randn(3, 100, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref(z[:, :, None, None])
        assert expected.std() > 0.1
        torch.testing.assert_close(G.decode(torch.zeros(3, 0), z), expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(G(z[:, :, None, None]), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("nz,ngf,n_up,size", [(8, 4, 4, 64), (100, 8, 4, 64), (8, 4, 3, 32), (8, 4, 5, 128)])
def test_nz_ngf_and_size_are_read_off_the_shapes(nz, ngf, n_up, size):
    G = load_dcgan(randomized(DCGAN(nz=nz, ngf=ngf, size=size)).state_dict())
    assert G.config == {"nz": nz, "ngf": ngf, "nc": 3, "size": size}
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in G.main) == n_up + 1
    assert G.decode(torch.zeros(2, 0), torch.randn(2, nz)).shape == (2, 3, size, size)


def test_z_only_interface(ref):
    G = load_dcgan(ref.state_dict())
    assert (G.kind, G.spaces, G.n_latent, G.takes_content, G.content_shape) == ("dcgan", ("z", "w"), 1, False, (0,))
    z = torch.randn(2, 100)
    assert torch.equal(G.mapping(z), z) and torch.equal(G.truncate(z, 0.5), z * 0.5)
    assert torch.equal(G.decode(torch.zeros(2, 0), z, use_mapping=False), G.decode(None, z))  # w is z
    with pytest.raises(InputError, match=r"^a dcgan has one code z of shape \(B, 100\), no W\+ layers; "
                                         r"got \(2, 1, 100\)$"):
        G.decode(None, z[:, None])
    assert G.set_impl("reference") is G and G.set_impl("fast") is G


def test_sefa_factorises_the_first_layer_per_z_coordinate(ref):
    from latentedit.directions.sefa import SeFa

    G = load_dcgan(ref.state_dict())
    (name, index, level, w), = G.modulation_weights()
    assert (name, index, level) == ("main.0.weight", 0, 0) and w.shape == (64 * 16, 100)
    torch.testing.assert_close(w[:, 7], ref.main[0].weight[7].flatten(), atol=0, rtol=0)
    sefa = SeFa(k=3).fit(generator=G)  # the SeFa paper's first-layer factorisation: eigenvectors of A^T A
    A = w.double().numpy()
    eig = np.linalg.eigvalsh(A.T @ A)[::-1][:3]
    np.testing.assert_allclose(sefa.eigenvalues_, eig, rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(A @ sefa.directions_.T, axis=0) ** 2, eig, rtol=1e-9)


def test_files_round_trip_bit_identical(ref, tmp_path):
    z = torch.randn(2, 100)
    G = load_dcgan(ref.state_dict())
    for path in (save_dcgan(G, tmp_path / "g.safetensors"), tmp_path / "g.pt", tmp_path / "ckpt.pth"):
        if path.suffix == ".pt":
            torch.save(ref.state_dict(), path)
        elif path.suffix == ".pth":  # a training checkpoint: the generator entry is picked
            torch.save({"netG": ref.state_dict(), "netD": TutorialDiscriminator().state_dict(), "epoch": 3}, path)
        H = load_dcgan(path)
        assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), H.state_dict().values()))
        with torch.no_grad():
            assert torch.equal(H.decode(torch.zeros(2, 0), z), G.decode(torch.zeros(2, 0), z))


def test_one_line_errors(ref, tmp_path):
    sd = ref.state_dict()
    assert load_error(TutorialDiscriminator().state_dict()) == (
        "state dict looks like the DCGAN discriminator (Conv2d from 3 channels down to one Sigmoid output), "
        "not the generator; use netG")
    assert load_error({k: v for k, v in sd.items() if k != "main.4.running_var"}) == (
        "state dict does not fit the DCGAN layout inferred as nz 100, ngf 8, size 64: main.4.running_var is missing")
    assert load_error({**sd, "main.3.weight": torch.zeros(64, 16, 3, 3)}) == (
        "state dict does not fit the DCGAN layout inferred as nz 100, ngf 8, size 64: main.3.weight has shape "
        "(64, 16, 3, 3) where (64, 32, 4, 4) is expected")
    assert load_error(randomized(TutorialGenerator(nz=8, ngf=4, nc=1)).state_dict()) == (
        "state dict draws 1 channels (main.12.weight); latentedit needs RGB (nc=3)")
    opt = torch.optim.Adam(ref.parameters()).state_dict()
    torch.save(opt, tmp_path / "opt.pt")
    assert load_error(tmp_path / "opt.pt") == (
        f"{tmp_path / 'opt.pt'} holds optimizer state (state, param_groups), not a generator; "
        "pass the generator's state dict")
    assert load_error({"netG": sd, "generator": sd}) == (
        "state dict holds several generators (netG, generator); save the one to use alone "
        "(torch.save(ckpt['netG'], path))")
    assert load_error({"netD": TutorialDiscriminator().state_dict(), "epoch": 3}) == (
        "state dict holds no DCGAN generator (keys: netD, epoch); expected a state dict with main.* or a checkpoint "
        "with netG")
    assert load_error({"style.1.weight": torch.zeros(2, 2)}) == (
        "state dict looks like no DCGAN generator layout (no main.0.weight)")
    assert load_error(tmp_path / "none.pt") == f"generator file not found: {tmp_path / 'none.pt'}"
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04garbage")
    assert load_error(tmp_path / "cut.pt") == f"{tmp_path / 'cut.pt'} is truncated or not a PyTorch file; download or save it again"
    bad = {k: v.clone() for k, v in sd.items()}
    bad["main.6.weight"][0, 0, 0, 0] = float("nan")
    assert load_error(bad) == "state dict has non-finite weights in main.6.weight; the file is damaged, download it again"
