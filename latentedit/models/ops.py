"""Building blocks of the GANs N' Roses generator (StyleGAN2 conventions, "equalized learning rate").

Weights are stored unscaled and multiplied at run time by 1/sqrt(fan_in), so the state dict has
the same numbers as the official checkpoint. Modules that filter or modulate have two code paths
computing the same function, chosen by their `impl` attribute (see `set_impl`):

- "reference": the formulation of the original code: per-sample weights through a grouped
  convolution, and FIR filtering by zero insertion, padding and a 2-D convolution;
- "fast" (default): modulates activations instead of weights so the whole batch shares one
  convolution, folds the activation gain into the weights, and filters with the separable 1-D
  factors of the FIR kernel.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

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


def separable_taps(kernel: torch.Tensor) -> torch.Tensor:
    """The 1-D factor k1 of a separable kernel k1 (x) k1 (assumes a positive sum, true for blur kernels)."""
    return kernel.sum(1) / kernel.sum().sqrt()


def fir_fast(x, kernel, up=1, down=1, pad=(0, 0)):
    """`upfirdn2d` with the separable 1-D factors: two depthwise passes, upsampling by transposed conv."""
    c = x.shape[1]
    k1 = separable_taps(kernel).flip(0).to(x.dtype)
    kh = k1.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    kw = k1.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    if up > 1:
        n = k1.numel()
        x = F.conv_transpose2d(x, kh.flip(2), stride=(up, 1), groups=c)
        x = F.conv_transpose2d(x, kw.flip(3), stride=(1, up), groups=c)
        # transposed conv == zero-insert + pad (n-1) + conv; fix up the padding to the requested one
        p0, p1 = pad[0] - (n - 1), pad[1] - (n - 1) + (up - 1)
        return F.pad(x, [p0, p1, p0, p1])
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    x = F.conv2d(x, kh, stride=(down, 1), groups=c)
    return F.conv2d(x, kw, stride=(1, down), groups=c)


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


class ScaledLeakyReLU(nn.Module):
    """leaky_relu(x) * sqrt(2) for layers without bias (unused by the release, kept for completeness)."""

    def forward(self, x):
        return F.leaky_relu(x, 0.2) * SQRT2


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
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

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
    The fast path runs conv + activation as one conv with the bias and the sqrt(2) gain folded into
    the conv (leaky ReLU is positively homogeneous).
    """

    def __init__(self, in_channel, out_channel, kernel_size, downsample=False, bias=True, activate=True):
        layers = []
        if downsample:
            p = (len(BLUR_KERNEL) - 2) + (kernel_size - 1)
            layers.append(Blur(pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, stride, padding, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel) if bias else ScaledLeakyReLU())
        super().__init__(*layers)
        self.impl = DEFAULT_IMPL

    def forward(self, x):
        act = self[-1] if isinstance(self[-1], FusedLeakyReLU) else None
        if self.impl == "reference" or act is None:
            return super().forward(x)
        conv = self[-2]
        for blur in list(self)[:-2]:
            x = blur(x)
        y = F.conv2d(x, conv.weight * (conv.scale * SQRT2), act.bias * SQRT2, conv.stride, conv.padding)
        return F.leaky_relu(y, 0.2, inplace=True)


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
        out = self.conv2(self.conv1(x))
        skip = x if self.skip is None else self.skip(x)
        return (out + skip) / SQRT2


class ModulatedConv2d(nn.Module):
    """Conv whose input channels are scaled per sample by an affine map of w (then demodulated).

    Upsampling variant: stride-2 transposed conv followed by a blur (gain 4, padding (1, 1)).
    The reference path builds per-sample weights and runs one grouped conv; the fast path
    computes conv(x * s, W) * demod, which is the same function with a batch-shared weight.
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
        weight = self.weight[0] * self.scale
        x = x * s[:, :, None, None]
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            demod = torch.rsqrt(s.square() @ weight.square().sum([2, 3]).t() + self.eps) * gain
        else:
            demod = torch.full_like(s[:, :1], gain)
        demod = demod[:, :, None, None]
        if bias is None:
            return out * demod
        return torch.addcmul(bias[:, None, None], out, demod)


class StyledConv(nn.Module):
    """Modulated conv + fused leaky ReLU (no noise injection in GNR)."""

    def __init__(self, in_channel, out_channel, kernel_size, style_dim, upsample=False, demodulate=True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim,
                                    demodulate=demodulate, upsample=upsample)
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x, style):
        if self.conv.impl == "reference":
            return self.activate(self.conv(x, style))
        out = self.conv(x, style, gain=SQRT2, bias=self.activate.bias * SQRT2)
        return F.leaky_relu(out, 0.2, inplace=True)


class StyledResBlock(nn.Module):
    """Two 3x3 styled convs with an identity skip, (out + x)/sqrt(2)."""

    def __init__(self, in_channel, style_dim):
        super().__init__()
        self.conv1 = StyledConv(in_channel, in_channel, 3, style_dim)
        self.conv2 = StyledConv(in_channel, in_channel, 3, style_dim)

    def forward(self, x, style1, style2=None):
        out = self.conv1(x, style1)
        out = self.conv2(out, style1 if style2 is None else style2)
        return (out + x) / SQRT2


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation) + bias, plus the previous RGB upsampled."""

    def __init__(self, in_channel, style_dim, upsample=True):
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out
