"""What a generator offers every stage, and loading any of them from a name or a file.

Each backend is an nn.Module with the same surface, so nothing after loading asks which one it is:

    kind                     "gnr" (models/gnr.py), "stylegan2" (models/stylegan2.py), "dcgan" (models/dcgan.py)
    size                     output side in pixels
    latent_dim, style_dim    z and w dimensions (w is z where there is no mapping network)
    spaces                   the code spaces edits may use: ("z", "w", "w+") or ("z",)
    n_latent, layer_names    the W+ rows (modulated layers) and their names; groups in models.layers
    takes_content            whether decode draws a content code encoded from an input image; a
    content_shape            content-free generator's content is an empty vector per sample, shape
                             (0,), so runs store, index and batch it like any other
    encode(x)                input images -> (content, style or None)
    mapping(z)               z -> w
    decode(content, style, use_mapping=True)   images (B, 3, size, size), nominally in [-1, 1]
    decode(..., resolution=r)  the RGB skip output at r px (layers.rgb_resolutions): a cheap preview
    modulation_weights()     [(state-dict key, W+ index, level, (k, style_dim) weight)] SeFa factorises
    truncate(codes, psi)     codes moved toward the mean code (recipes and the studio use it): StyleGAN2 its
                             file's w_avg, GNR batched.mean_style, DCGAN the prior's 0
    config, set_impl(impl)   plain constructor arguments; "fast" or "reference" code path

`load_generator` reads any of them ("demo", "demo-stylegan2", "demo-dcgan", or a file: GNR
checkpoints, rosinality StyleGAN2 `.pt`, NVIDIA `.pkl`, `.safetensors`, DCGAN state dicts) and
`fingerprint` names one: config + weights, prefixed with the backend for all but GNR (whose
fingerprints predate the others), so a fingerprint mismatch names both backends.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

import torch

from latentedit.errors import CheckpointError, RunError, unknown_name_message
from latentedit.models import checkpoint
from latentedit.models.device import resolve_device
from latentedit.models.safeload import is_safetensors, read_safetensors, read_torch
from latentedit.world.assets import demo_dcgan_path, demo_generator_path, demo_stylegan2_path

DEMO_GENERATORS = {"demo": demo_generator_path, "demo-stylegan2": demo_stylegan2_path, "demo-dcgan": demo_dcgan_path}
BACKENDS = ("gnr", "stylegan2", "dcgan")


class ContentFree:
    """Mixin of generators that draw from codes alone: a sample's content is an empty vector."""

    takes_content = False
    content_shape = (0,)

    def encode(self, x):
        """Blank inputs (B, 0) -> (empty content (B, 0), no style)."""
        return x.new_zeros(len(x), 0), None


def load_generator(source="demo", device="cpu", config=None):
    """A generator in eval mode with gradients off, from a demo name or a model file of any backend."""
    device = resolve_device(device)
    if isinstance(source, str) and source in DEMO_GENERATORS:
        if source == "demo":
            return checkpoint.load_gnr("demo", device=device, config=config)
        G = _load_file(DEMO_GENERATORS[source](), device)
        G.source_info = {**G.source_info, "source": "demo", "name": source}
        return G
    if config is not None:
        return checkpoint.load_gnr(source, device=device, config=config)
    if isinstance(source, str) and source.startswith("demo") and not Path(source).exists():
        raise CheckpointError(unknown_name_message("demo generator", source, DEMO_GENERATORS))
    return _load_file(Path(source), device)


def _loader(backend: str):
    """The file loader of a backend: load(path or loaded dict, device=, where=)."""
    if backend == "gnr":
        return checkpoint.load_gnr
    module = importlib.import_module(f"latentedit.models.{backend}")
    return getattr(module, f"load_{backend}")


def _load_file(path: Path, device):
    checkpoint.check_file(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if is_safetensors(path):
        fmt = read_safetensors(path, tensors=False)[1].get("format")
        return _loader("dcgan" if fmt == "latentedit.dcgan" else "stylegan2")(path, device=device)
    if head.startswith(b"\x80") and not head.startswith(b"\x80\x02\x8a\x0a"):  # a pickle, not torch.save
        return _loader("stylegan2")(path, device=device)  # NVIDIA's: read without running it
    obj = read_torch(path)
    G = _loader(backend_of_file(obj, path))(obj, device=device, where=str(path))
    G.source_info = {**G.source_info, "source": "path", "path": str(path)}
    return G


def backend_of_file(obj, path) -> str:
    """Which backend a loaded torch file holds, judged by its keys; a one-line error when none."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict; pass a generator "
                              "checkpoint or state dict")
    keys = set(map(str, obj))
    if keys & {"G_A2B_ema", "G_A2B", "G_B2A_ema"} or any(k.startswith(("encoder.", "module.encoder.")) for k in keys):
        return "gnr"
    if keys & {"g_ema", "g", "style.1.weight", "input.input"} or {"state", "param_groups"} <= keys:
        return "stylegan2"
    if any(k.startswith(("main.", "module.main.")) for k in keys) or keys & {"netG", "generator"}:
        return "dcgan"
    if isinstance(obj.get("state_dict"), dict):
        return backend_of_file(obj["state_dict"], path)
    return "gnr"  # GNR's loader names what the file looks like (a discriminator, keys, ...)


def fingerprint(G) -> str:
    """16 hex chars of sha256 over the config and every tensor's name, shape and float32 bytes;
    "<backend>-" in front for every backend but GNR."""
    config = checkpoint.plain_config(G.config) if G.kind == "gnr" else G.config
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name, t in sorted(G.state_dict().items()):
        h.update(f"{name}:{tuple(t.shape)}".encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16] if G.kind == "gnr" else f"{G.kind}-{h.hexdigest()[:16]}"


def backend_of(fp: str) -> str:
    """The backend a fingerprint names."""
    head = fp.split("-", 1)[0]
    return head if head in BACKENDS and "-" in fp else "gnr"


def named(fp: str) -> str:
    """"the stylegan2 generator stylegan2-0123..." for messages that compare two generators."""
    return f"the {backend_of(fp)} generator {fp}"


def generator_for_run(run, generator=None, device="cpu"):
    """The generator `run` (a `latentedit.store.Run`) was sampled with, checked by its fingerprint.

    `generator` (a generator, a demo name or a file) overrides what the run records; a run sampled
    with an in-memory generator needs it.
    """
    source = run.generator_source if generator is None else generator
    if source is None:
        raise RunError(f"{run.path} was sampled with an in-memory generator; pass the generator")
    G = load_generator(source, device=device) if isinstance(source, (str, Path)) else source
    fp = fingerprint(G)
    if fp != run.fingerprint:
        hint = run.generator_source or "the in-memory generator it was sampled with"
        raise RunError(f"{named(fp)} is not the one {run.path} was sampled with ({named(run.fingerprint)}); "
                       f"pass --generator {hint}")
    return G
