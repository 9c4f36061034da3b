"""Building blocks of the GANs N' Roses generator (StyleGAN2 conventions, "equalized learning rate").

Weights are stored unscaled and multiplied at run time by 1/sqrt(fan_in), so the state dict has
the same numbers as the official checkpoint. Modules that filter or modulate have two code paths
computing the same function, chosen by their `impl` attribute (see `set_impl`):

- "reference": the formulation of the original code: per-sample weights through a grouped
  convolution, and FIR filtering by zero insertion, padding and a 2-D convolution;
- "fast" (default): modulates activations instead of weights so the whole batch shares one
  convolution, folds biases and gains into the convolutions, runs in channels_last and filters
  with one depthwise convolution. Both paths are differentiable; the fast one works in place on
  fresh tensors when gradients are off.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.errors import InputError

IMPLS = ("reference", "fast")
DEFAULT_IMPL = "fast"
BLUR_KERNEL = (1, 3, 3, 1)
SQRT2 = math.sqrt(2.0)


def set_impl(module: nn.Module, impl: str) -> nn.Module:
    """Switch every submodule of `module` that has two code paths to `impl`."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    for m in module.modules():
        if hasattr(m, "impl"):
            m.impl = impl
    return module


def make_kernel(k) -> torch.Tensor:
    """2-D FIR kernel (outer product of the 1-D taps), normalised to sum 1."""
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """Reference FIR resampling: zero-insert by `up`, pad, convolve with `kernel`, keep every `down`-th."""
    b, c, h, w = x.shape
    x = x.reshape(b * c, 1, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
    x = x.reshape(b * c, 1, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    x = F.conv2d(x, kernel.flip([0, 1])[None, None].to(x.dtype))
    x = x[:, :, ::down, ::down]
    return x.reshape(b, c, x.shape[2], x.shape[3])


def fir_fast(x, kernel, up=1, down=1, pad=(0, 0)):
    """`upfirdn2d` as one depthwise conv (transposed conv when upsampling, strided when downsampling).

    Measured on CPU: a single 4x4 depthwise conv in channels_last costs about one copy of the
    tensor, 2x less than two separable 1-D passes and 3x less than zero-insert + pad + conv.
    """
    c, n = x.shape[1], kernel.shape[0]
    weight = kernel.to(x.dtype)[None, None].expand(c, 1, n, n)
    if up > 1:
        x = F.conv_transpose2d(x, weight.contiguous(), stride=up, groups=c)
        # that is zero insertion + padding (n - 1) + conv: crop (or pad) to the requested padding
        p0, p1 = pad[0] - (n - 1), pad[1] - (n - 1) + (up - 1)
        return F.pad(x, [p0, p1, p0, p1])
    weight = weight.flip([2, 3]).contiguous()
    if pad[0] != pad[1]:
        x, pad = F.pad(x, [pad[0], pad[1], pad[0], pad[1]]), (0, 0)
    return F.conv2d(x, weight, stride=down, padding=pad[0], groups=c)


def fused_leaky_relu(x, bias, negative_slope=0.2, scale=SQRT2):
    """leaky_relu(x + bias) * sqrt(2), with bias broadcast over the channel dimension."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    """Activation owning the bias of the layer before it (key `...activate.bias`)."""

    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class Blur(nn.Module):
    """FIR low-pass filter with a persistent (k, k) kernel buffer; `gain` = up-factor**2 after upsampling."""

    def __init__(self, pad, gain=1.0, taps=BLUR_KERNEL):
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * gain)
        self.pad = tuple(pad)
        self.impl = DEFAULT_IMPL

    def forward(self, x):
        fir = upfirdn2d if self.impl == "reference" else fir_fast
        return fir(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling (zero insertion + blur with gain 4), used for the RGB skip."""

    def __init__(self, factor=2, taps=BLUR_KERNEL):
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * factor**2)
        self.factor = factor
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)
        self.impl = DEFAULT_IMPL

    def forward(self, x):
        fir = upfirdn2d if self.impl == "reference" else fir_fast
        return fir(x, self.kernel, up=self.factor, pad=self.pad)


class EqualLinear(nn.Module):
    """Linear layer with run-time weight scale lr_mul/sqrt(in); optional fused leaky ReLU using its bias."""

    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        bias = self.bias * self.lr_mul if self.bias is not None else None
        out = F.linear(x, self.weight * self.scale, bias)
        return F.leaky_relu(out, 0.2) * SQRT2 if self.activation else out

    def extra_repr(self):
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}, activation={self.activation}"


class EqualConv2d(nn.Module):
    """Conv layer with run-time weight scale 1/sqrt(in*k*k)."""

    def __init__(self, in_channel, out_channel, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.stride = stride
        self.padding = padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, {k}, stride={self.stride}, padding={self.padding}"


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> [FusedLeakyReLU]; Sequential slots match the checkpoint keys.

    With `downsample`, the blur pads so that the stride-2 conv (no padding) halves the size.
    `forward(x, gain)` returns gain * layer(x) (gain > 0). The fast path runs conv + activation as
    one conv with the bias and the gains folded in (leaky ReLU is positively homogeneous).
    """

    def __init__(self, in_channel, out_channel, kernel_size, downsample=False, bias=True, activate=True):
        if activate and not bias:
            raise ValueError("GNR conv layers with an activation carry its bias")
        layers = []
        if downsample:
            p = (len(BLUR_KERNEL) - 2) + (kernel_size - 1)
            layers.append(Blur(pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, stride, padding, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel))
        super().__init__(*layers)
        self.activate = activate
        self.impl = DEFAULT_IMPL

    def forward(self, x, gain=1.0):
        if self.impl == "reference":
            out = super().forward(x)
            return out * gain if gain != 1.0 else out
        x = x.contiguous(memory_format=torch.channels_last)
        *blurs, conv = list(self)[:-1] if self.activate else list(self)
        for blur in blurs:
            x = blur(x)
        if self.activate:
            gain = gain * SQRT2
            bias = self[-1].bias
        else:
            bias = conv.bias
        out = F.conv2d(x, conv.weight * (conv.scale * gain), None if bias is None else bias * gain,
                       conv.stride, conv.padding)
        return F.leaky_relu_(out, 0.2) if self.activate else out


class ResBlock(nn.Module):
    """conv3x3 (in->in), conv3x3 (in->out, maybe downsampling), skip 1x1; output (out + skip)/sqrt(2)."""

    def __init__(self, in_channel, out_channel, downsample=True):
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=downsample)
        if downsample or in_channel != out_channel:
            self.skip = ConvLayer(in_channel, out_channel, 1, downsample=downsample, bias=False, activate=False)
        else:
            self.skip = None

    def forward(self, x):
        if self.conv1.impl == "reference":
            out = self.conv2(self.conv1(x))
            skip = x if self.skip is None else self.skip(x)
            return (out + skip) / SQRT2
        out = self.conv2(self.conv1(x), gain=1 / SQRT2)
        if self.skip is None:
            return torch.add(out, x, alpha=1 / SQRT2)
        return out + self.skip(x, gain=1 / SQRT2)


class ModulatedConv2d(nn.Module):
    """Conv whose input channels are scaled per sample by an affine map of w (then demodulated).

    Upsampling variant: stride-2 transposed conv followed by a blur (gain 4, padding (1, 1)).
    The reference path builds per-sample weights and runs one grouped conv. The fast path computes
    conv(x * s, W) * demod, the same function with one weight shared by the batch, in channels_last;
    1x1 convs (to-RGB) become a batched matmul with per-sample weights instead.
    """

    def __init__(self, in_channel, out_channel, kernel_size, style_dim, demodulate=True, upsample=False):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.upsample = upsample
        self.demodulate = demodulate
        self.eps = 1e-8
        if upsample:
            p = (len(BLUR_KERNEL) - 2) - (kernel_size - 1)
            self.blur = Blur(pad=((p + 1) // 2 + 1, p // 2 + 1), gain=4)
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self.impl = DEFAULT_IMPL

    def extra_repr(self):
        return (f"{self.in_channel}, {self.out_channel}, {self.kernel_size}, "
                f"upsample={self.upsample}, demodulate={self.demodulate}")

    def forward(self, x, style, gain=1.0, bias=None):
        """gain * modconv(x, w) + bias, for x (B, in, H, W), w `style` (B, style_dim), bias (out,)."""
        if self.impl == "reference":
            out = self._forward_reference(x, style)
            if gain != 1.0:
                out = out * gain
            return out if bias is None else out + bias[:, None, None]
        return self._forward_fast(x, style, gain, bias)

    def _forward_reference(self, x, style):
        batch, in_channel, height, width = x.shape
        k = self.kernel_size
        s = self.modulation(style).view(batch, 1, in_channel, 1, 1)
        weight = self.scale * self.weight * s
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
            weight = weight * demod.view(batch, self.out_channel, 1, 1, 1)
        x = x.reshape(1, batch * in_channel, height, width)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(batch * in_channel, self.out_channel, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=batch)
            out = self.blur(out.view(batch, self.out_channel, out.shape[2], out.shape[3]))
        else:
            weight = weight.reshape(batch * self.out_channel, in_channel, k, k)
            out = F.conv2d(x, weight, padding=self.padding, groups=batch)
            out = out.view(batch, self.out_channel, out.shape[2], out.shape[3])
        return out

    def _forward_fast(self, x, style, gain, bias):
        s = self.modulation(style)
        weight = self.weight[0]
        if self.demodulate:
            demod = torch.rsqrt(s.square() @ weight.square().sum([2, 3]).t() * self.scale**2 + self.eps)
            demod = demod * (gain * self.scale)
        else:
            demod = torch.full((x.shape[0], self.out_channel), gain * self.scale, dtype=x.dtype, device=x.device)
        x = x.contiguous(memory_format=torch.channels_last)
        if self.kernel_size == 1 and not self.upsample:
            out = _pointwise_per_sample(x, weight[None, :, :, 0, 0] * s[:, None, :] * demod[:, :, None])
            return out if bias is None else out + bias[:, None, None]
        x = x * s[:, :, None, None]
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        demod = demod[:, :, None, None]
        inplace = {} if torch.is_grad_enabled() else {"out": out}
        if bias is None:
            return torch.mul(out, demod, **inplace)
        return torch.addcmul(bias[:, None, None], out, demod, **inplace)


def _pointwise_per_sample(x, weight):
    """1x1 conv of x (B, C, H, W) (channels_last) with per-sample weights (B, O, C), as one bmm."""
    b, c, h, w = x.shape
    out = torch.bmm(x.permute(0, 2, 3, 1).reshape(b, h * w, c), weight.transpose(1, 2))
    return out.view(b, h, w, -1).permute(0, 3, 1, 2)


class StyledConv(nn.Module):
    """Modulated conv + fused leaky ReLU (no noise injection in GNR); `forward(x, w, gain)` = gain * layer."""

    def __init__(self, in_channel, out_channel, kernel_size, style_dim, upsample=False, demodulate=True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim,
                                    demodulate=demodulate, upsample=upsample)
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x, style, gain=1.0):
        if self.conv.impl == "reference":
            out = self.activate(self.conv(x, style))
            return out * gain if gain != 1.0 else out
        gain = gain * SQRT2
        return F.leaky_relu_(self.conv(x, style, gain=gain, bias=self.activate.bias * gain), 0.2)


class StyledResBlock(nn.Module):
    """Two 3x3 styled convs with an identity skip, (out + x)/sqrt(2)."""

    def __init__(self, in_channel, style_dim):
        super().__init__()
        self.conv1 = StyledConv(in_channel, in_channel, 3, style_dim)
        self.conv2 = StyledConv(in_channel, in_channel, 3, style_dim)

    def forward(self, x, style1, style2=None):
        style2 = style1 if style2 is None else style2
        if self.conv1.conv.impl == "reference":
            return (self.conv2(self.conv1(x, style1), style2) + x) / SQRT2
        return torch.add(self.conv2(self.conv1(x, style1), style2, gain=1 / SQRT2), x, alpha=1 / SQRT2)


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation) + bias, plus the previous RGB upsampled."""

    def __init__(self, in_channel, style_dim, upsample=True):
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style, bias=self.bias.view(3))
        if skip is not None:
            out = out + self.upsample(skip)
        return out


def per_layer(style: torch.Tensor, n_latent: int, style_dim: int) -> list[torch.Tensor]:
    """One w per modulated layer (a list of n_latent (B, style_dim) tensors) from w (B, D) or W+ (B, L, D)."""
    if style.ndim == 2 and style.shape[1] == style_dim:
        return [style] * n_latent
    if style.ndim == 3 and style.shape[1:] == (n_latent, style_dim):
        return list(style.unbind(1))
    raise InputError(f"style must be w (B, {style_dim}) or W+ (B, {n_latent}, {style_dim}), "
                     f"got {tuple(style.shape)}; pass use_mapping=True for z")
