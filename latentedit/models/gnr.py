"""GANs N' Roses generator (Chong & Forsyth 2021): encoder, mapping network and styled decoder.

Module names, parameters and buffers match the official `G_A2B_ema` state dict, so the released
checkpoint loads with `load_state_dict(sd, strict=True)` (see /work/shared/spec/gnr-architecture.md).
The decoder accepts one w for every modulated layer (the reference behaviour) or a W+ code with one
w per layer, in the order of `Generator.layer_names`.
"""

import math

import torch
from torch import nn

from latentedit.errors import InputError
from latentedit.models.batched import mean_style
from latentedit.models.layers import layer_names, modulated_layers, stop_level
from latentedit.models.ops import (
    DEFAULT_IMPL,
    ConvLayer,
    EqualLinear,
    ResBlock,
    StyledConv,
    StyledResBlock,
    ToRGB,
    per_layer,
    set_impl,
)

RELEASE_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64}
DEFAULT_CHANNELS = {**RELEASE_CHANNELS, 512: 32, 1024: 16}
DEMO_CONFIG = dict(size=64, num_down=2, channels={4: 128, 8: 128, 16: 128, 32: 64, 64: 32})


def _log2(n: int) -> int:
    k = int(round(math.log2(n)))
    if n < 4 or 2**k != n:
        raise ValueError(f"size must be a power of two >= 4, got {n}")
    return k


class Encoder(nn.Module):
    """Image -> (content code C x S x S, style code latent_dim) with S = size / 2**num_down."""

    def __init__(self, size, num_down, n_res, latent_dim, channels):
        super().__init__()
        self.size, self.latent_dim = size, latent_dim
        log_size = _log2(size)
        in_channel = channels[size]
        stem = [ConvLayer(3, in_channel, 1)]
        for i in range(log_size, log_size - num_down, -1):
            out_channel = channels[2 ** (i - 1)]
            stem.append(ResBlock(in_channel, out_channel, downsample=True))
            in_channel = out_channel
        stem += [ResBlock(in_channel, in_channel, downsample=False) for _ in range(n_res)]
        self.stem = nn.Sequential(*stem)

        self.content = nn.Sequential(ConvLayer(in_channel, in_channel, 1), ConvLayer(in_channel, in_channel, 1))

        style = []
        for i in range(log_size - num_down, 2, -1):
            out_channel = channels[2 ** (i - 1)]
            style.append(ConvLayer(in_channel, out_channel, 3, downsample=True))
            in_channel = out_channel
        style += [
            nn.Flatten(),
            EqualLinear(channels[4] * 4 * 4, channels[4], activation=True),
            EqualLinear(channels[4], latent_dim),
        ]
        self.style = nn.Sequential(*style)

    def forward(self, x):
        act = self.stem(x)
        return self.content(act), self.style(act)

    def style_encode(self, x):
        """Images (B, 3, size, size) in [-1, 1] -> style codes (B, latent_dim); skips the content head."""
        if x.ndim != 4 or x.shape[1:] != (3, self.size, self.size):
            raise InputError(f"expected images of shape (B, 3, {self.size}, {self.size}), got {tuple(x.shape)}")
        return self.style(self.stem(x))


class Generator(nn.Module):
    """GNR generator. `encode` a selfie, `decode` its content with any style (z, w or W+)."""

    kind, spaces, takes_content = "gnr", ("z", "w", "w+"), True

    def __init__(self, size=256, num_down=4, latent_dim=8, n_mlp=5, n_res=1, lr_mlp=0.01, style_dim=512,
                 channels=None):
        super().__init__()
        log_size = _log2(size)
        content_size = size // 2**num_down
        if num_down < 1 or content_size < 4:
            raise ValueError(f"num_down={num_down} must leave a content resolution >= 4 at size {size}")
        table = DEFAULT_CHANNELS if channels is None else {int(k): int(v) for k, v in channels.items()}
        missing = [2**i for i in range(2, log_size + 1) if 2**i not in table]
        if missing:
            raise ValueError(f"channels has no entry for resolutions {missing}")
        channels = {2**i: table[2**i] for i in range(2, log_size + 1)}
        self.config = dict(size=size, num_down=num_down, latent_dim=latent_dim, n_mlp=n_mlp, n_res=n_res,
                           lr_mlp=lr_mlp, style_dim=style_dim, channels=channels)
        self.size, self.latent_dim, self.style_dim = size, latent_dim, style_dim
        self.content_shape = (channels[content_size], content_size, content_size)

        mapping = [EqualLinear(latent_dim, style_dim, lr_mul=lr_mlp, activation=True)]
        mapping += [EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp - 1)]
        self.mapping = nn.Sequential(*mapping)

        self.encoder = Encoder(size, num_down, n_res, latent_dim, channels)

        in_channel = channels[content_size]
        self.adain_bottleneck = nn.ModuleList([StyledResBlock(in_channel, style_dim) for _ in range(n_res)])
        self.conv1 = StyledConv(in_channel, in_channel, 3, style_dim)
        self.to_rgb1 = ToRGB(in_channel, style_dim, upsample=False)

        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for i in range(log_size - num_down + 1, log_size + 1):
            out_channel = channels[2**i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True))
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim))
            self.to_rgbs.append(ToRGB(out_channel, style_dim))
            in_channel = out_channel

        self.layer_names = layer_names(2 * n_res + 2 + 3 * num_down, n_res)
        self.n_latent = len(self.layer_names)
        self.impl = DEFAULT_IMPL

    def set_impl(self, impl: str) -> "Generator":
        """Choose the "fast" (default) or the "reference" code path; both compute the same function."""
        return set_impl(self, impl)

    def modulation_weights(self) -> list:
        """(state-dict key, W+ index, resolution level, weight (in_channels, style_dim)) of every
        modulated layer in W+ order: what SeFa factorises."""
        sd = self.state_dict()
        return [(key, i, level, sd[key]) for i, (key, level) in enumerate(modulated_layers(sd))]

    def encode(self, x):
        """Images (B, 3, size, size) in [-1, 1] -> (content (B, C, S, S), style (B, latent_dim))."""
        if x.ndim != 4 or x.shape[1:] != (3, self.size, self.size):
            raise InputError(f"expected images of shape (B, 3, {self.size}, {self.size}), got {tuple(x.shape)}")
        content, style = self.encoder(x)
        return content.contiguous(), style

    def truncate(self, w, psi: float):
        """w (or W+) moved toward the mean w: mean + psi (w - mean), in float64 (`batched.mean_style`)."""
        mean = torch.from_numpy(mean_style(self)).to(w.device)
        return (mean + float(psi) * (w.double() - mean)).float()

    def style_encode(self, x):
        """Style codes (B, latent_dim) of images, as the official `Generator.style_encode` (encoder(x)[1]).

        GNR's G_B2A.style_encode(anime) gives the style that G_A2B.decode(content, style) draws.
        """
        return self.encode(x)[1]

    def layer_styles(self, style, use_mapping=True):
        """One w per modulated layer: a list of n_latent tensors (B, style_dim)."""
        if use_mapping:
            if style.shape[-1] != self.latent_dim or style.ndim not in (2, 3):
                raise InputError(f"with use_mapping, style must be z of shape (B, {self.latent_dim}) "
                                 f"(or (B, {self.n_latent}, {self.latent_dim})), got {tuple(style.shape)}")
            style = self.mapping(style)
        return per_layer(style, self.n_latent, self.style_dim)

    def decode(self, content, style, use_mapping=True, resolution=None):
        """Content code + style -> image (B, 3, size, size), nominally in [-1, 1] (no tanh, no clamp).

        style is z (B, latent_dim) when `use_mapping`, else w (B, style_dim) or W+ (B, n_latent, style_dim).
        `resolution`: stop there and return that resolution's RGB skip output (a cheap preview; see
        `layers.rgb_resolutions`); the layers above it are not run.
        """
        stop = stop_level(resolution, self.layer_names, self.size)
        for level, _, skip in self.levels(content, style, use_mapping):
            if level == stop:
                return skip.contiguous()

    def levels(self, content, style, use_mapping=True, start=None):
        """Yield (level, features, RGB skip) after each resolution level (0: the content resolution, then one
        per upsampling). `start`, a triple yielded before, resumes above its level without running the layers
        up to it again (their styles are not read): a W+ edit from a later layer reuses them."""
        ws = self.layer_styles(style, use_mapping)
        if start is None:
            if content.ndim != 4 or tuple(content.shape[1:]) != self.content_shape:
                raise InputError(f"expected content codes of shape (B, {', '.join(map(str, self.content_shape))}), "
                                 f"got {tuple(content.shape)}")
            out = content
            for k, block in enumerate(self.adain_bottleneck):
                out = block(out, ws[2 * k], ws[2 * k + 1])
            n = 2 * len(self.adain_bottleneck)
            out = self.conv1(out, ws[n])
            skip = self.to_rgb1(out, ws[n + 1])
            start = (0, out, skip)
            yield start
        level, out, skip = start
        for k in range(level, len(self.to_rgbs)):
            i = 2 * len(self.adain_bottleneck) + 2 + 3 * k
            out = self.convs[2 * k](out, ws[i])
            out = self.convs[2 * k + 1](out, ws[i + 1])
            skip = self.to_rgbs[k](out, ws[i + 2], skip)
            yield k + 1, out, skip

    def forward(self, x, z=None):
        """Translate images with style codes z (B, latent_dim); z=None reuses the encoded style."""
        content, style = self.encode(x)
        return self.decode(content, style if z is None else z)
