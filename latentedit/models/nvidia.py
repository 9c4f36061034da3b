"""NVIDIA stylegan2-ada-pytorch generators (`G_ema` of a .pkl) mapped onto rosinality's layout.

The pickle is read by models/safe_pickle.py (nothing in it runs); G_ema's init kwargs are checked
and its tensors renamed and reshaped. The two architectures compute the same function for
`architecture='skip'` (NVIDIA's default), tested against a transcription of NVIDIA's networks.py:
mapping = 2nd-moment normalisation + `fc{i}` (lrelu * sqrt 2, lr_multiplier) = `style.{i+1}`;
`b4.const` = `input.input`; each SynthesisLayer = a StyledConv (`affine` = `conv.modulation`,
`noise_strength` = `noise.weight`, `noise_const` = `noises.noise_{i}`, `bias` = `activate.bias`,
the transposed conv + [1,3,3,1] filter with gain 4 = `conv.blur`); `torgb` = ToRGB (NVIDIA scales
the styles by 1/sqrt(in), rosinality the weight: the same product); `conv_clamp` is kept.
One difference: NVIDIA demodulates the unscaled weight, so its epsilon (1e-8) weighs in*k*k times
less (about 1e-8 relative). Refused: 'orig' and 'resnet' architectures, conditional generators
(c_dim > 0), other than 3 colour channels, activations or filters, no noise, unknown kwargs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from latentedit.errors import CheckpointError
from latentedit.models.ops import BLUR_KERNEL, make_kernel
from latentedit.models.safe_pickle import Persistent, safe_load

# init kwargs that do not change the function in float32 (None: any value), else the one value accepted
_GENERATOR = {"z_dim": None, "w_dim": None, "img_resolution": None, "c_dim": 0, "img_channels": 3,
              "mapping_kwargs": None, "synthesis_kwargs": None}
_MAPPING = {"num_layers": None, "lr_multiplier": None, "w_avg_beta": None, "embed_features": None,
            "layer_features": None, "activation": "lrelu"}
_SYNTHESIS = {"channel_base": None, "channel_max": None, "num_fp16_res": None, "fp16_channels_last": None,
              "conv_clamp": None, "architecture": "skip", "resample_filter": [1, 3, 3, 1], "use_noise": True,
              "activation": "lrelu", "kernel_size": 3}


def _check_kwargs(kwargs: dict, allowed: dict, where: str, what: str):
    for key, value in kwargs.items():
        if key not in allowed:
            raise CheckpointError(f"{where}: G_ema has {what} {key}={value!r}, which this reader does not know; "
                                  "only StyleGAN2 (stylegan2-ada-pytorch) generators are supported")
        same = value == allowed[key] or (isinstance(value, (list, tuple)) and list(value) == allowed[key])
        if allowed[key] is not None and not same:
            raise CheckpointError(f"{where}: G_ema has {key}={value!r}; only {key}={allowed[key]!r} maps onto "
                                  "rosinality's StyleGAN2 (the same function), so it is not supported")


def _generator(obj, where: str) -> Persistent:
    if isinstance(obj, Persistent) and obj.class_name == "Generator":
        return obj
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where} holds a {type(obj).__name__}, not a stylegan2-ada-pytorch snapshot")
    if isinstance(obj.get("G_ema"), Persistent):
        return obj["G_ema"]
    keys = ", ".join(map(str, list(obj)[:8]))
    hint = "; use G_ema" if {"G", "D"} & set(obj) else ""
    raise CheckpointError(f"{where} holds no G_ema (keys: {keys}){hint}")


def nvidia_to_rosinality(G: Persistent, where: str):
    """(rosinality state dict, w_avg, {lr_mlp, conv_clamp}) of NVIDIA's G_ema, checked strictly."""
    if any(m.class_name == "SynthesisInput" for m in G.walk()):
        raise CheckpointError(f"{where} is a StyleGAN3 generator (synthesis.input is a SynthesisInput), "
                              "which latentedit does not support; use a StyleGAN2 (stylegan2-ada-pytorch) pickle")
    kwargs = G.init_kwargs
    mapping, synthesis = dict(kwargs.get("mapping_kwargs") or {}), dict(kwargs.get("synthesis_kwargs") or {})
    _check_kwargs(kwargs, _GENERATOR, where, "the argument")
    _check_kwargs(mapping, _MAPPING, where, "the mapping argument")
    _check_kwargs(synthesis, _SYNTHESIS, where, "the synthesis argument")
    if mapping.get("layer_features") not in (None, kwargs.get("w_dim")):
        raise CheckpointError(f"{where}: G_ema's mapping has layer_features={mapping['layer_features']} "
                              f"!= w_dim={kwargs.get('w_dim')}, which rosinality's layout cannot hold")
    nv, used, out = G.tensors(), set(), {}

    def take(key):
        if key not in nv:
            raise CheckpointError(f"{where}: G_ema has no {key}; it does not fit stylegan2-ada-pytorch's layout")
        used.add(key)
        return nv[key]

    blur = make_kernel(BLUR_KERNEL)

    def kernel(key):
        f = take(key)
        if f.shape != blur.shape or not torch.allclose(f.float(), blur, atol=1e-6):
            raise CheckpointError(f"{where}: {key} is not the [1,3,3,1] filter rosinality's layout uses")
        return f.float() * 4

    def layer(dst, src, noise_index, up=False):
        out[f"{dst}.conv.weight"] = take(f"{src}.weight")[None]
        out[f"{dst}.conv.modulation.weight"] = take(f"{src}.affine.weight")
        out[f"{dst}.conv.modulation.bias"] = take(f"{src}.affine.bias")
        out[f"{dst}.noise.weight"] = take(f"{src}.noise_strength").reshape(1)
        out[f"{dst}.activate.bias"] = take(f"{src}.bias")
        out[f"noises.noise_{noise_index}"] = take(f"{src}.noise_const")[None, None]
        filt = kernel(f"{src}.resample_filter")
        if up:
            out[f"{dst}.conv.blur.kernel"] = filt

    def to_rgb(dst, src, block=None):
        out[f"{dst}.conv.weight"] = take(f"{src}.weight")[None]
        out[f"{dst}.conv.modulation.weight"] = take(f"{src}.affine.weight")
        out[f"{dst}.conv.modulation.bias"] = take(f"{src}.affine.bias")
        out[f"{dst}.bias"] = take(f"{src}.bias").reshape(1, -1, 1, 1)
        filt = kernel(f"{block}.resample_filter")
        if dst != "to_rgb1":
            out[f"{dst}.upsample.kernel"] = filt

    n_mlp = sum(1 for k in nv if k.startswith("mapping.fc") and k.endswith(".weight"))
    for i in range(n_mlp):
        out[f"style.{i + 1}.weight"] = take(f"mapping.fc{i}.weight")
        out[f"style.{i + 1}.bias"] = take(f"mapping.fc{i}.bias")
    out["input.input"] = take("synthesis.b4.const")[None]
    layer("conv1", "synthesis.b4.conv1", 0)
    to_rgb("to_rgb1", "synthesis.b4.torgb", "synthesis.b4")
    k = 1
    while f"synthesis.b{4 * 2**k}.conv0.weight" in nv:
        b = f"synthesis.b{4 * 2**k}"
        layer(f"convs.{2 * k - 2}", f"{b}.conv0", 2 * k - 1, up=True)
        layer(f"convs.{2 * k - 1}", f"{b}.conv1", 2 * k)
        to_rgb(f"to_rgbs.{k - 1}", f"{b}.torgb", b)
        k += 1
    w_avg = take("mapping.w_avg")
    extra = sorted(set(nv) - used)
    if extra:
        raise CheckpointError(f"{where}: G_ema has {extra[0]}, which stylegan2-ada-pytorch's StyleGAN2 layout "
                              f"does not ({len(extra)} unexpected tensors)")
    saved = {"lr_mlp": float(mapping.get("lr_multiplier", 0.01)), "conv_clamp": synthesis.get("conv_clamp")}
    return out, w_avg, saved


def read_nvidia_pickle(path: Path):
    """(rosinality state dict, w_avg, saved config, where) of the G_ema of a stylegan2-ada-pytorch .pkl."""
    return *nvidia_to_rosinality(_generator(safe_load(path), str(path)), str(path)), f"{path} [G_ema]"
