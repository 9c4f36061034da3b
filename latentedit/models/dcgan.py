"""DCGAN generator in the PyTorch DCGAN tutorial's layout, and its strict loader.

`main` is the tutorial's nn.Sequential layer for layer (ConvTranspose2d, BatchNorm2d, ReLU, ...,
ConvTranspose2d, Tanh), so the tutorial's `netG.state_dict()` loads with `strict=True`. nz, ngf,
nc and the number of 2x upsampling blocks (size 64 for the tutorial's five transposed
convolutions) are read off the shapes. A DCGAN has one code, z: its mapping is the identity, so
"w" names the same code (the commands' default space edits z) and there are no W+ layers.
Files: a state dict in .pt/.pth (read with weights_only=True), a training checkpoint dict holding
one (netG, generator, ...), or a `.safetensors` written by `save_dcgan`; nothing a file holds is run.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from latentedit.errors import CheckpointError, InputError
from latentedit.io import atomic_write_bytes
from latentedit.limits import count_non_finite
from latentedit.models.generator import ContentFree
from latentedit.models.safeload import is_safetensors, is_state_dict, read_safetensors, read_torch

SAFETENSORS_FORMAT = "latentedit.dcgan"
GENERATOR_KEYS = ("netG", "generator", "G", "g", "gen", "netG_state_dict", "generator_state_dict", "model_G")


class DCGAN(ContentFree, nn.Module):
    """The tutorial's Generator: z (B, nz) -> images (B, nc, size, size) in [-1, 1] (Tanh)."""

    kind = "dcgan"
    spaces = ("z", "w")  # w is z: no mapping network
    n_latent = 1
    layer_names = ["z"]

    def __init__(self, nz=100, ngf=64, nc=3, size=64):
        super().__init__()
        n_up = size.bit_length() - 3  # 4 px after the first layer, x2 per further layer
        if size < 8 or size != 4 * 2**n_up:
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        self.config = dict(nz=nz, ngf=ngf, nc=nc, size=size)
        self.size, self.latent_dim, self.style_dim = size, nz, nz
        chans = [ngf * 2 ** (n_up - 1 - k) for k in range(n_up)]  # tutorial: ngf*8, *4, *2, ngf
        layers = [nn.ConvTranspose2d(nz, chans[0], 4, 1, 0, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for cin, cout in zip(chans, chans[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        self.main = nn.Sequential(*layers, nn.ConvTranspose2d(chans[-1], nc, 4, 2, 1, bias=False), nn.Tanh())
        self.impl = "fast"

    def set_impl(self, impl: str) -> "DCGAN":
        """One code path: accepts "fast" and "reference" and changes nothing."""
        if impl not in ("fast", "reference"):
            raise ValueError(f"impl must be one of ('fast', 'reference'), got {impl!r}")
        return self

    def forward(self, z):
        return self.main(z.reshape(z.shape[0], self.latent_dim, 1, 1))

    def mapping(self, z):
        """The identity: a DCGAN's only code is z."""
        return z

    def decode(self, content, style, use_mapping=True):
        """Images (B, 3, size, size) of z codes (B, nz) (w is z: `use_mapping` changes nothing);
        `content` (None or (B, 0)) is not used."""
        if style.ndim != 2 or style.shape[-1] != self.latent_dim:
            raise InputError(f"a dcgan has one code z of shape (B, {self.latent_dim}), no W+ layers; "
                             f"got {tuple(style.shape)}")
        return self(style)

    def truncate(self, z, psi: float):
        """z moved toward 0, the mean of its prior: psi * z."""
        return z * psi

    def modulation_weights(self) -> list:
        """SeFa's one weight: the first transposed convolution (nz, C, 4, 4) as (C*16, nz), column j
        z_j's weights, as SeFa factorises PGGAN's first layer ((key, W+ index, level, weight))."""
        w = self.main[0].weight
        return [("main.0.weight", 0, 0, w.reshape(w.shape[0], -1).t())]


# ---- files ----

def load_dcgan(source, device="cpu", where=None) -> DCGAN:
    """A DCGAN in eval mode, gradients off, from a path (.pt/.pth, .safetensors) or a state dict
    (`where` names it in messages); strict."""
    if isinstance(source, dict):
        sd, where = pick_generator(source, where or "state dict")
    else:
        sd, where = read_dcgan_file(Path(source))
    sd = {k: v if k.endswith("num_batches_tracked") else v.to(torch.float32) for k, v in sd.items()}
    config = infer_config(sd, where)
    bad = next((k for k, v in sd.items() if v.is_floating_point() and count_non_finite(v)), None)
    if bad is not None:
        raise CheckpointError(f"{where} has non-finite weights in {bad}; the file is damaged, download it again")
    with torch.device("meta"):
        G = DCGAN(**config)
    G.load_state_dict(sd, strict=True, assign=True)
    G.eval().requires_grad_(False).to(device)
    G.source_info = {"source": "dict" if isinstance(source, dict) else "path", "path": where}
    return G


def save_dcgan(G: DCGAN, path) -> Path:
    """Write G as .safetensors (tutorial names, the config as JSON metadata)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in G.state_dict().items()}
    metadata = {"format": SAFETENSORS_FORMAT, "config": json.dumps(G.config)}
    return atomic_write_bytes(path, save(tensors, metadata=metadata))


def read_dcgan_file(path: Path):
    """(state dict, where) of a DCGAN file; runs none of it."""
    if not path.is_file():
        raise CheckpointError(f"generator file not found: {path}")
    if is_safetensors(path):
        return read_safetensors(path)[0], str(path)
    return pick_generator(read_torch(path), str(path))


def pick_generator(obj, where: str):
    """(state dict, where) of a bare state dict, or of the one generator entry of a training checkpoint."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where} holds a {type(obj).__name__}, not a state dict; pass the generator's "
                              "state dict (torch.save(netG.state_dict(), path))")
    if is_state_dict(obj):
        return {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}, where
    keys = ", ".join(map(str, list(obj)[:8])) + (", ..." if len(obj) > 8 else "")
    if {"state", "param_groups"} <= set(obj):
        raise CheckpointError(f"{where} holds optimizer state (state, param_groups), not a generator; "
                              "pass the generator's state dict")
    found = [k for k in GENERATOR_KEYS if is_state_dict(obj.get(k))]
    if len(found) == 1:
        return pick_generator(obj[found[0]], f"{where} [{found[0]}]")
    if found:
        raise CheckpointError(f"{where} holds several generators ({', '.join(found)}); save the one to use "
                              f"alone (torch.save(ckpt[{found[0]!r}], path))")
    raise CheckpointError(f"{where} holds no DCGAN generator (keys: {keys}); expected a state dict with main.* "
                          "or a checkpoint with netG")


def describe(sd: dict) -> str | None:
    """Why `sd` is not a tutorial DCGAN generator state dict, None if it may be one."""
    if "main.0.weight" not in sd:
        return "no DCGAN generator layout (no main.0.weight)"
    if "main.1.weight" not in sd and sd["main.0.weight"].ndim == 4 and sd["main.0.weight"].shape[1] in (1, 3):
        return ("the DCGAN discriminator (Conv2d from 3 channels down to one Sigmoid output), not the generator; "
                "use netG")
    return None


def infer_config(sd: dict, where="state dict") -> dict:
    """DCGAN arguments from the tensor shapes (nz, ngf, nc, size from the number of transposed
    convolutions); a one-line CheckpointError naming what does not fit."""
    reason = describe(sd)
    if reason:
        raise CheckpointError(f"{where} looks like {reason}")
    convs = sorted((int(k.split(".")[1]), v) for k, v in sd.items()
                   if k.startswith("main.") and k.endswith(".weight") and v.ndim == 4)
    nz, ngf, nc = int(convs[0][1].shape[0]), int(convs[-1][1].shape[0]), int(convs[-1][1].shape[1])
    config = dict(nz=nz, ngf=ngf, nc=nc, size=4 * 2 ** (len(convs) - 1))
    if nc != 3:
        raise CheckpointError(f"{where} draws {nc} channels (main.{convs[-1][0]}.weight); latentedit needs RGB (nc=3)")
    if len(convs) < 2:
        raise CheckpointError(f"{where} has {len(convs)} transposed convolution; a DCGAN generator has at least 2")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in DCGAN(**config).state_dict().items()}
    problems = [f"{k} is missing" for k in expected if k not in sd]
    problems += [f"unexpected {k}" for k in sd if k not in expected]
    problems += [f"{k} has shape {tuple(sd[k].shape)} where {expected[k]} is expected"
                 for k in expected if k in sd and tuple(sd[k].shape) != expected[k]]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointError(f"{where} does not fit the DCGAN layout inferred as nz {nz}, ngf {ngf}, size "
                              f"{config['size']}: {problems[0]}{more}")
    return config
