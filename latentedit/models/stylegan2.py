"""StyleGAN2 generator in rosinality's stylegan2-pytorch layout, and its strict loader.

Attribute names are rosinality's state-dict names (`style.*`, `input.input`, `conv1`, `to_rgb1`,
`convs.N`, `to_rgbs.N`, `noises.noise_N`), so `g_ema` loads with `strict=True`. The layers are
those of GNR (models/ops.py: modulated conv with demodulation, upfirdn2d blur) plus noise
injection, with the same two code paths: "reference" (per-sample weights, one grouped conv) and
"fast" (modulate activations so the batch shares one conv; see `set_impl`). `conv_clamp` is
stylegan2-ada's activation clamp (None in rosinality's files). Files: a rosinality checkpoint
(`g_ema`, `latent_avg`), a bare state dict, a `.safetensors` written by `save_stylegan2`, or an
NVIDIA stylegan2-ada pickle (models/nvidia.py); nothing a file holds is ever run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.errors import CheckpointError, InputError
from latentedit.io import atomic_write_bytes
from latentedit.limits import count_non_finite
from latentedit.models.generator import ContentFree
from latentedit.models.layers import resolution_index, stop_level, stylegan2_layer_index, stylegan2_layer_names
from latentedit.models.ops import (DEFAULT_IMPL, SQRT2, EqualLinear, FusedLeakyReLU, ModulatedConv2d, per_layer,
                                   set_impl)
from latentedit.models.ops import ToRGB as _ToRGB
from latentedit.models.safeload import is_safetensors, is_state_dict, read_safetensors, read_torch, saved_config

SAFETENSORS_FORMAT = "latentedit.stylegan2"
CONFIG_KEYS = ("size", "style_dim", "n_mlp", "z_dim", "lr_mlp", "conv_clamp", "channels", "pixel_norm")


def rosinality_channels(channel_multiplier: int) -> dict[int, int]:
    """rosinality's channel table: 512 up to 32 px, then halving from 256 * channel_multiplier at 64 px."""
    m = channel_multiplier
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * m, 128: 128 * m, 256: 64 * m, 512: 32 * m, 1024: 16 * m}


def channel_multiplier_of(channels: dict) -> int | None:
    """The rosinality channel_multiplier giving this table, None if none does (or several do: <= 32 px)."""
    fits = [m for m in (1, 2, 4) if all(rosinality_channels(m).get(r) == c for r, c in channels.items())]
    return fits[0] if len(fits) == 1 else None


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + 1e-8)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))


class ConstantInput(nn.Module):
    def __init__(self, channels, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))


class StyledConv(nn.Module):
    """3x3 modulated conv (demodulated), + weight * noise, fused leaky ReLU, optional clamp."""

    def __init__(self, in_channel, out_channel, style_dim, upsample=False, clamp=None):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)
        self.clamp = clamp

    def forward(self, x, style, noise):
        if self.conv.impl == "reference":
            out = self.activate(self.conv(x, style) + self.noise.weight * noise)
        else:  # sqrt(2) folded into the conv: leaky_relu(g * t) = g * leaky_relu(t) for g > 0
            out = self.conv(x, style, gain=SQRT2, bias=self.activate.bias * SQRT2)
            noise = noise * (self.noise.weight * SQRT2)
            out = F.leaky_relu_(out + noise if torch.is_grad_enabled() else out.add_(noise), 0.2)
        return out if self.clamp is None else out.clamp(-self.clamp, self.clamp)


class ToRGB(_ToRGB):
    """1x1 modulated conv to RGB + bias (clamped with conv_clamp), plus the previous RGB upsampled."""

    def __init__(self, in_channel, style_dim, upsample=True, clamp=None):
        super().__init__(in_channel, style_dim, upsample=upsample)
        self.clamp = clamp

    def forward(self, x, style, skip=None):
        out = self.conv(x, style, bias=self.bias.view(3))
        if self.clamp is not None:
            out = out.clamp(-self.clamp, self.clamp)
        return out if skip is None else out + self.upsample(skip)


class StyleGAN2(ContentFree, nn.Module):
    """StyleGAN2 generator: `mapping` z -> w, `decode` w / W+ -> images (B, 3, size, size) in [-1, 1]."""

    kind, spaces = "stylegan2", ("z", "w", "w+")

    def __init__(self, size=256, style_dim=512, n_mlp=8, channel_multiplier=2, channels=None, z_dim=None,
                 lr_mlp=0.01, conv_clamp=None, pixel_norm=True):
        super().__init__()
        log_size = int(round(math.log2(size)))
        if size < 4 or 2**log_size != size:
            raise ValueError(f"size must be a power of two >= 4, got {size}")
        table = rosinality_channels(channel_multiplier) if channels is None else channels
        ch = {2**i: int(table[2**i]) for i in range(2, log_size + 1)}
        z_dim = style_dim if z_dim is None else z_dim
        self.config = dict(size=size, style_dim=style_dim, n_mlp=n_mlp, z_dim=z_dim, lr_mlp=float(lr_mlp),
                           conv_clamp=conv_clamp, channels=ch, channel_multiplier=channel_multiplier_of(ch),
                           pixel_norm=bool(pixel_norm))
        self.size, self.style_dim, self.latent_dim = size, style_dim, z_dim

        dims = [z_dim] + [style_dim] * n_mlp
        # pixel_norm=False (no parameters, so only a .safetensors' config says it): z's length reaches w, as
        # the demo StyleGAN2 needs, whose world decides attributes by thresholds on z (world/truth.py)
        self.style = nn.Sequential(PixelNorm() if pixel_norm else nn.Identity(),
                                   *[EqualLinear(i, o, lr_mul=lr_mlp, activation=True) for i, o in zip(dims, dims[1:])])
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], style_dim, clamp=conv_clamp)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False, clamp=conv_clamp)
        self.convs, self.upsamples, self.to_rgbs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        self.num_layers = 2 * log_size - 3
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        in_channel = ch[4]
        for i in range(3, log_size + 1):
            out_channel = ch[2**i]
            self.convs.append(StyledConv(in_channel, out_channel, style_dim, upsample=True, clamp=conv_clamp))
            self.convs.append(StyledConv(out_channel, out_channel, style_dim, clamp=conv_clamp))
            self.to_rgbs.append(ToRGB(out_channel, style_dim, clamp=conv_clamp))
            in_channel = out_channel
        self.n_latent = 2 * log_size - 2
        self.layer_names = stylegan2_layer_names(self.n_latent)
        self.register_buffer("latent_avg", None, persistent=False)  # the file's mean w, else mean_latent()
        self.impl = DEFAULT_IMPL

    def set_impl(self, impl: str) -> "StyleGAN2":
        """Choose the "fast" (default) or the "reference" code path; both compute the same function."""
        return set_impl(self, impl)

    def mapping(self, z):
        """z (B, z_dim) or per-layer (B, L, z_dim) -> w of the same leading shape."""
        if z.ndim not in (2, 3) or z.shape[-1] != self.latent_dim:
            raise InputError(f"z must be (B, {self.latent_dim}) or (B, L, {self.latent_dim}), got {tuple(z.shape)}")
        return self.style(z)

    def mean_latent(self, n=4096, seed=0):
        """Mean w (style_dim,) of `n` mapped z drawn with `seed` (rosinality's mean_latent, seeded)."""
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.latent_dim, generator=gen).to(self.input.input.device)
        return self.style(z).mean(0)

    def truncate(self, w, psi: float):
        """w (or W+) moved toward the mean w: mean + psi (w - mean); the file's w_avg when it had one."""
        if self.latent_avg is None:
            self.latent_avg = self.mean_latent()
        return torch.lerp(self.latent_avg, w, psi)

    def layer_styles(self, style, use_mapping=True):
        """One w per W+ layer: a list of n_latent tensors (B, style_dim)."""
        return per_layer(self.mapping(style) if use_mapping else style, self.n_latent, self.style_dim)

    def noise_inputs(self, noise=None, batch=1):
        """The per-conv noise maps: the stored ones (None, "const"), fresh ones ("random") or a list."""
        stored = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if noise is None or noise == "const":
            return stored
        if noise == "random":
            return [torch.randn(batch, 1, *n.shape[2:], device=n.device, dtype=n.dtype) for n in stored]
        if len(noise) != self.num_layers:
            raise InputError(f"noise must be 'const', 'random' or {self.num_layers} maps, got {len(noise)}")
        return list(noise)

    def decode(self, content, style, use_mapping=True, noise=None, resolution=None):
        """Images (B, 3, size, size), nominally in [-1, 1], of z (`use_mapping`), w or W+ codes;
        `content` (None or empty) is not used: a StyleGAN2 draws from its codes alone. With `resolution`,
        that resolution's RGB skip output (the layers above it are not run)."""
        levels = stop_level(resolution, self.layer_names, self.size)
        ws = self.layer_styles(style, use_mapping)
        noises = self.noise_inputs(noise, ws[0].shape[0])
        out = self.input.input.expand(ws[0].shape[0], -1, -1, -1)
        out = self.conv1(out, ws[0], noises[0])
        skip = self.to_rgb1(out, ws[1])
        for k, (up_conv, conv, to_rgb) in enumerate(zip(self.convs[::2][:levels], self.convs[1::2], self.to_rgbs)):
            out = up_conv(out, ws[2 * k + 1], noises[2 * k + 1])
            out = conv(out, ws[2 * k + 2], noises[2 * k + 2])
            skip = to_rgb(out, ws[2 * k + 3], skip)
        return skip.contiguous()

    def forward(self, z):
        return self.decode(None, z)

    def modulation_weights(self) -> list:
        """(state-dict key, W+ index, resolution level, weight (in_channels, style_dim)) of every
        modulated layer, in state-dict order; SeFa's default set drops the to_rgbs list as
        rosinality's closed_form_factorization.py does."""
        suffix = ".conv.modulation.weight"
        return [(key, stylegan2_layer_index(key[: -len(suffix)]), resolution_index([key[: -len(suffix)]])[0], w)
                for key, w in self.state_dict().items() if key.endswith(suffix)]


# ---- files ----

def load_stylegan2(source, device="cpu", where=None) -> StyleGAN2:
    """A StyleGAN2 in eval mode, gradients off, from a path (.pt/.pth, .safetensors, NVIDIA .pkl),
    a rosinality checkpoint dict (`g_ema`) or a bare state dict (`where` names it in messages);
    strict names and shapes."""
    if isinstance(source, dict):
        sd, latent_avg, saved, where = pick_generator(source, where or "state dict")
    else:
        sd, latent_avg, saved, where = read_generator_file(Path(source))
    sd = {k: v.to(torch.float32) for k, v in sd.items()}
    config = infer_config(sd, where)
    for key in ("lr_mlp", "conv_clamp", "pixel_norm"):  # not visible in the shapes
        config[key] = (saved or {}).get(key, config[key])
    bad = next((k for k, v in sd.items() if count_non_finite(v)), None)
    if bad is not None:
        raise CheckpointError(f"{where} has non-finite weights in {bad}; the file is damaged, download it again")
    with torch.device("meta"):
        G = StyleGAN2(**config)
    G.load_state_dict(sd, strict=True, assign=True)
    if latent_avg is not None:
        G.latent_avg = latent_avg.to(torch.float32).reshape(G.style_dim)
    G.eval().requires_grad_(False).to(device)
    G.source_info = {"source": "dict" if isinstance(source, dict) else "path", "path": where}
    return G


def save_stylegan2(G: StyleGAN2, path) -> Path:
    """Write G as .safetensors (rosinality names, `latent_avg`, the config as JSON metadata)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in G.state_dict().items()}
    if G.latent_avg is not None:
        tensors["latent_avg"] = G.latent_avg.detach().cpu().contiguous().clone()
    config = {k: G.config[k] for k in CONFIG_KEYS}
    metadata = {"format": SAFETENSORS_FORMAT, "config": json.dumps(config)}
    return atomic_write_bytes(path, save(tensors, metadata=metadata))


def read_generator_file(path: Path):
    """(state dict, latent_avg or None, saved config or None, where) of a StyleGAN2 file; runs none of it."""
    if not path.is_file():
        raise CheckpointError(f"generator file not found: {path}")
    if is_safetensors(path):
        sd, metadata = read_safetensors(path)
        return sd, sd.pop("latent_avg", None), saved_config(metadata, SAFETENSORS_FORMAT), str(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x80") and not head.startswith(b"\x80\x02\x8a\x0a"):  # a pickle, not torch.save
        from latentedit.models.nvidia import read_nvidia_pickle

        return read_nvidia_pickle(path)
    return pick_generator(read_torch(path), str(path))


def pick_generator(obj, where: str):
    """(state dict, latent_avg, None, where) of `g_ema` in a rosinality checkpoint dict or a bare state dict."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where} holds a {type(obj).__name__}, not a checkpoint dict; pass a StyleGAN2 "
                              "checkpoint (g_ema) or generator state dict")
    if is_state_dict(obj):
        sd = {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}
        return sd, sd.pop("latent_avg", None), None, where
    if isinstance(obj.get("g_ema"), dict):
        sd, _, _, where = pick_generator(obj["g_ema"], f"{where} [g_ema]")
        return sd, obj.get("latent_avg"), None, where
    keys = ", ".join(map(str, list(obj)[:8])) + (", ..." if len(obj) > 8 else "")
    if {"state", "param_groups"} <= set(obj):
        raise CheckpointError(f"{where} holds optimizer state (state, param_groups), not a generator; use g_ema")
    if {"g", "d"} & set(obj):
        raise CheckpointError(f"{where} is a training checkpoint ({keys}) without g_ema; use g_ema, the "
                              "averaged generator")
    if "G_A2B_ema" in obj:
        raise CheckpointError(f"{where} is a GANs N' Roses checkpoint, not a StyleGAN2; load it with load_generator")
    raise CheckpointError(f"{where} holds no StyleGAN2 generator (keys: {keys}); expected g_ema or a state dict")


def describe(sd: dict) -> str | None:
    """Why `sd` is not a StyleGAN2 generator state dict in rosinality's layout, None if it may be one."""
    if any(k.startswith(("encoder.", "adain_bottleneck.")) for k in sd):
        return "a GANs N' Roses generator (encoder.*), not a StyleGAN2; load it with load_generator"
    if any(k.startswith(("final_linear.", "final_conv.", "epilogue.")) or ".fromrgb." in k for k in sd):
        return "a StyleGAN2 discriminator (final_linear.*), not a generator; use g_ema"
    if any(k.startswith(("mapping.fc", "synthesis.b4.")) for k in sd):
        return "NVIDIA's naming (mapping.fc0, synthesis.b4.*) without its pickle; pass the .pkl itself"
    if "style.1.weight" not in sd or "input.input" not in sd:
        return "no StyleGAN2 generator layout (no style.1.weight, input.input)"
    return None


def _count(sd, fmt, start=0):
    n = start
    while fmt.format(n) in sd:
        n += 1
    return n - start


def summary(config: dict) -> str:
    m = config.get("channel_multiplier") or channel_multiplier_of(config["channels"])
    ch = (f"channel_multiplier {m}" if m else
          "channels {" + ",".join(f"{r}:{c}" for r, c in sorted(config["channels"].items())) + "}")
    z = f", z_dim {config['z_dim']}" if config["z_dim"] != config["style_dim"] else ""
    return f"size {config['size']}, style_dim {config['style_dim']}{z}, n_mlp {config['n_mlp']}, {ch}"


def infer_config(sd: dict, where="state dict") -> dict:
    """StyleGAN2 arguments from the tensor shapes (size from the number of to_rgbs, style_dim, n_mlp,
    channels); a one-line CheckpointError naming what does not fit."""
    reason = describe(sd)
    if reason:
        raise CheckpointError(f"{where} looks like {reason}")
    style_dim, z_dim = sd["style.1.weight"].shape
    n_up = _count(sd, "to_rgbs.{}.bias")
    channels = {4: sd["input.input"].shape[1]}
    for k in range(n_up):
        rgb = sd.get(f"to_rgbs.{k}.conv.weight")
        channels[8 * 2**k] = rgb.shape[2] if rgb is not None and rgb.ndim == 5 else channels[4 * 2**k]
    config = dict(size=4 * 2**n_up, style_dim=int(style_dim), n_mlp=_count(sd, "style.{}.weight", start=1),
                  z_dim=int(z_dim), lr_mlp=0.01, conv_clamp=None, pixel_norm=True,
                  channels={r: int(c) for r, c in channels.items()})
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in StyleGAN2(**config).state_dict().items()}
    config["channel_multiplier"] = channel_multiplier_of(config["channels"])
    problems = [f"{k} is missing" for k in expected if k not in sd]
    problems += [f"unexpected {k}" for k in sd if k not in expected]
    problems += [f"{k} has shape {tuple(sd[k].shape)} where {expected[k]} is expected"
                 for k in expected if k in sd and tuple(sd[k].shape) != expected[k]]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointError(f"{where} does not fit the StyleGAN2 layout inferred as {summary(config)}: "
                              f"{problems[0]}{more}")
    return config
