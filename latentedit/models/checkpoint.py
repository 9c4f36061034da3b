"""Load and save GNR generators; recognise what a model file holds.

`load_gnr` (through `models.generator.load_generator`) accepts the released `GNR_checkpoint.pt`
(a dict holding `G_A2B_ema`), a full training checkpoint (`G_A2B`, `G_B2A`, `D_A`, ..., `iter`),
a bare generator state dict, or a file written by `save_generator` (`{"config": ...,
"state_dict": ...}`), as a path or a loaded dict. The configuration is inferred from the tensor
shapes, so any size and channel table loads. Files are read with
`torch.load(weights_only=True)`, never with pickle. Every failure is one `CheckpointError` line.

`load_style_encoder` reads the anime->style encoder of the other generator, `G_B2A_ema`, which
the release saves beside `G_A2B_ema` (GNR trains G_A2B.decode on G_B2A.style_encode(anime)).
"""

import io
import logging
import zipfile
from pathlib import Path

import torch

from latentedit.errors import CheckpointError
from latentedit.io import atomic_write_bytes
from latentedit.limits import count_non_finite
from latentedit.models.gnr import Encoder, Generator
from latentedit.world.assets import demo_generator_path, demo_style_encoder_path
from latentedit.models.device import resolve_device
from latentedit.models.safeload import is_state_dict, read_torch

log = logging.getLogger(__name__)

GENERATOR_KEYS = ("G_A2B_ema", "G_A2B", "state_dict")
STYLE_ENCODER_KEYS = ("G_B2A_ema", "G_B2A")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def load_gnr(source="demo", device="cpu", config=None, where=None) -> Generator:
    """A GNR generator in eval mode with gradients off, from "demo", a checkpoint path or a loaded
    checkpoint dict (`where` names it in messages).

    `config` (optional dict of Generator arguments) is checked against the file. The result has
    `G.source_info = {"path": ..., "key": ...}` saying which entry of the file was used.
    """
    device = resolve_device(device)  # a bad --device fails before the file is read
    if isinstance(source, dict):
        path, origin = Path(where or "state dict"), "path"
        state_dict, key, saved_config = pick_generator_state_dict(source, path)
    else:
        path, origin = (Path(demo_generator_path()), "demo") if source == "demo" else (Path(source), "path")
        state_dict, key, saved_config = pick_generator_state_dict(_torch_load(path), path)
    where = f"{path}" + (f" [{key}]" if key else "")
    inferred = infer_config(state_dict, where)
    check_finite_weights(state_dict, where)
    if saved_config is not None:
        inferred["lr_mlp"] = saved_config.get("lr_mlp", inferred["lr_mlp"])
    if config is not None:
        _check_requested(config, inferred, where)
    with torch.device("meta"):
        G = Generator(**inferred)
    G.load_state_dict({k: v.to(torch.float32) for k, v in state_dict.items()}, strict=True, assign=True)
    G.eval().requires_grad_(False).to(device)
    G.source_info = {"source": origin, "path": str(path), "key": key}
    log.info("loaded GNR generator from %s (entry %s, size %d)", path, key or "<state dict>", inferred["size"])
    return G


def save_generator(G: Generator, path) -> Path:
    """Write `{"config", "state_dict"}` atomically, loadable by `load_gnr` with weights_only."""
    state_dict = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"config": plain_config(G.config), "state_dict": state_dict}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_style_encoder(source="demo", device="cpu") -> Encoder:
    """GNR's anime->style encoder (the encoder of G_B2A_ema, else G_B2A) from "demo" or a checkpoint path.

    A full G_B2A state dict is loaded strictly into a `Generator` and its encoder kept; a file of
    `save_style_encoder` holds only the `encoder.*` entries of one (official names) and its config,
    loaded strictly into the encoder of a Generator of that config. The result is in eval mode with
    gradients off and has `.config` (of its G_B2A) and `.source_info`.
    """
    if isinstance(source, str) and source == "demo":
        path, origin = Path(demo_style_encoder_path()), "demo"
    else:
        path, origin = Path(source), "path"
    obj = _torch_load(path)
    key = next((k for k in STYLE_ENCODER_KEYS if isinstance(obj, dict) and isinstance(obj.get(k), dict)), None)
    if key is None:
        raise CheckpointError(f"{path} has no G_B2A_ema (the anime->style encoder GNR_checkpoint.pt holds beside "
                              "G_A2B_ema), so a reference image cannot be encoded; pass a checkpoint that has it, "
                              "or start from a random style (--style-seed S) or a run's sample (--ids N)")
    state_dict, where = _strip_prefix(obj[key]), f"{path} [{key}]"
    encoder_only = bool(state_dict) and all(k.startswith("encoder.") for k in state_dict)
    if encoder_only:
        config = obj.get("config")
        if not isinstance(config, dict):
            raise CheckpointError(f"{where} holds only encoder weights and no config; save it with save_style_encoder")
        config = {**config, "channels": {int(r): int(c) for r, c in config["channels"].items()}}
        state_dict = {k[len("encoder."):]: v for k, v in state_dict.items()}
    else:
        config = infer_config(state_dict, where)
    check_finite_weights(state_dict, where)
    with torch.device("meta"):
        G = Generator(**config)
    try:
        (G.encoder if encoder_only else G).load_state_dict({k: v.to(torch.float32) for k, v in state_dict.items()}, strict=True, assign=True)
    except RuntimeError as e:
        first = str(e).split("\n\t", 1)[-1].split("\n")[0]
        raise CheckpointError(f"{where} does not fit the GNR encoder layout of {_summary(config)} ({first})") from None
    encoder = G.encoder.eval().requires_grad_(False).to(device)
    encoder.config = G.config
    encoder.source_info = {"source": origin, "path": str(path), "key": key}
    log.info("loaded GNR style encoder from %s (entry %s, size %d)", path, key, config["size"])
    return encoder


def save_style_encoder(encoder: Encoder, config: dict, path, **extra) -> Path:
    """Write the encoder as `{"config", "G_B2A_ema": encoder.* entries, **extra}` for `load_style_encoder`."""
    state_dict = {f"encoder.{k}": v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"config": plain_config(config), "G_B2A_ema": state_dict, **extra}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def hub_checkpoint_dir() -> Path:
    """torch hub's checkpoint folder ($TORCH_HOME/hub/checkpoints by default), where torchvision and
    the metrics look for pretrained weights (ImageNet ResNet50, FID Inception, AlexNet)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def plain_config(config: dict) -> dict:
    """Config as plain ints/floats/str (channels keyed by int), accepted by weights_only loading."""
    out = {k: v for k, v in config.items() if k != "channels"}
    if "lr_mlp" in out:
        out["lr_mlp"] = float(out["lr_mlp"])
    if "channels" in config:
        out["channels"] = {int(r): int(c) for r, c in sorted(config["channels"].items())}
    return out


def pick_generator_state_dict(obj, path: Path):
    """(state_dict, key used or None, saved config or None) of a loaded GNR file, or a CheckpointError."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict; "
                              "pass GNR_checkpoint.pt or a generator state dict")
    if is_state_dict(obj):
        return _strip_prefix(obj), None, None
    for key in GENERATOR_KEYS:
        if isinstance(obj.get(key), dict) and is_state_dict(obj[key]):
            config = obj.get("config") if isinstance(obj.get("config"), dict) else None
            return _strip_prefix(obj[key]), key, config
    keys = ", ".join(map(str, list(obj)[:12])) + (", ..." if len(obj) > 12 else "")
    raise CheckpointError(f"{path} holds no generator (keys: {keys}); expected G_A2B_ema as in "
                          "GNR_checkpoint.pt, a training checkpoint or a bare generator state dict")


def check_file(path: Path) -> None:
    """A one-line CheckpointError when `path` is missing, a folder, or a file of another kind."""
    if not path.exists():
        raise CheckpointError(f"checkpoint file not found: {path}; pass a generator file (GNR_checkpoint.pt, a "
                              "StyleGAN2 .pt, .pkl or .safetensors, a DCGAN .pt) or demo, demo-stylegan2, demo-dcgan")
    if path.is_dir():
        hint = "a DeepDanbooru project folder" if (path / "project.json").exists() else "a folder"
        raise CheckpointError(f"{path} is {hint}, not a generator checkpoint; pass the path of GNR_checkpoint.pt")
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(HDF5_MAGIC):
        raise CheckpointError(f"{path} looks like a DeepDanbooru/Keras file (HDF5), not a GNR generator "
                              "checkpoint; pass GNR_checkpoint.pt")
    if head.startswith(b"PK") and _is_npz(path):
        raise CheckpointError(f"{path} is a NumPy .npz archive, not a PyTorch checkpoint; "
                              "pass GNR_checkpoint.pt or a file written by save_generator")
    if _looks_like_text(head):
        raise CheckpointError(f"{path} is a text file, not a PyTorch checkpoint; pass a generator checkpoint")


def _torch_load(path: Path):
    check_file(path)
    return read_torch(path)


def check_finite_weights(state_dict: dict, where: str) -> None:
    """A CheckpointError naming the first tensor that holds NaN or inf (one would make every image black)."""
    bad = [(k, count_non_finite(v), v.numel()) for k, v in state_dict.items() if count_non_finite(v)]
    if bad:
        name, n, total = bad[0]
        more = f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else ""
        raise CheckpointError(f"{where} has non-finite weights: {name} holds {n:,} NaN/inf values of {total:,}{more}; "
                              "the file is damaged, download or save it again")


def _is_npz(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _strip_prefix(sd: dict) -> dict:
    """Drop the `module.` prefix of (Distributed)DataParallel state dicts."""
    if all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _count(sd: dict, fmt: str) -> int:
    n = 0
    while fmt.format(n) in sd:
        n += 1
    return n


def describe_state_dict(sd: dict) -> str:
    """What a state dict looks like, for error messages ("a GNR generator at size 128 with ...")."""
    keys = set(sd)
    if any(k.startswith(("l_branch.", "g_branch.", "g_adv.", "g_std.")) for k in keys):
        return "a GANs N' Roses discriminator (D_A/D_B), not a generator"
    if any(k.startswith("fc.") for k in keys) and not any(k.startswith("mapping.") for k in keys):
        return "a GANs N' Roses latent discriminator (D_L), not a generator"
    if "input.input" in keys or "style.1.weight" in keys:
        return "a StyleGAN2 generator (no encoder), not a GNR generator"
    head = sd.get("encoder.content.0.0.weight")
    if head is not None and head.ndim == 4 and head.shape[-1] == 3:
        return ("GNR_checkpoint_new.pt (3x3 content-head convs), which this layout does not support; "
                "use GNR_checkpoint.pt")
    try:
        cfg = _infer(sd)
    except (KeyError, IndexError, ValueError):
        return "no GNR generator layout"
    return f"a GNR generator at {_summary(cfg)}"


def _summary(cfg: dict) -> str:
    channels = ",".join(f"{r}:{c}" for r, c in sorted(cfg["channels"].items()))
    return (f"size {cfg['size']} with num_down {cfg['num_down']}, latent_dim {cfg['latent_dim']}, "
            f"n_mlp {cfg['n_mlp']}, n_res {cfg['n_res']}, style_dim {cfg['style_dim']}, channels {{{channels}}}")


def _infer(sd: dict) -> dict:
    """Generator arguments from tensor shapes (lr_mlp is not visible in weights: default 0.01)."""
    style_dim, latent_dim = sd["mapping.0.weight"].shape
    num_down = _count(sd, "to_rgbs.{}.bias")
    n_style_convs = _count(sd, "encoder.style.{}.1.weight")
    content_size = 4 * 2**n_style_convs
    size = content_size * 2**num_down
    channels = {size: sd["encoder.stem.0.0.weight"].shape[0], content_size: sd["conv1.conv.weight"].shape[1]}
    for i in range(num_down):
        channels[content_size * 2 ** (i + 1)] = sd[f"convs.{2 * i}.conv.weight"].shape[1]
    for j in range(n_style_convs):
        channels[content_size // 2 ** (j + 1)] = sd[f"encoder.style.{j}.1.weight"].shape[0]
    if num_down < 1:
        raise ValueError("no decoder")
    return dict(size=size, num_down=num_down, latent_dim=int(latent_dim), n_mlp=_count(sd, "mapping.{}.weight"),
                n_res=_count(sd, "adain_bottleneck.{}.conv1.conv.weight"), lr_mlp=0.01, style_dim=int(style_dim),
                channels={r: int(c) for r, c in sorted(channels.items())})


def _meta_generator(config: dict) -> Generator:
    """A Generator without storage: shapes and config only, built instantly."""
    with torch.device("meta"):
        return Generator(**config)


def infer_config(sd: dict, where="state dict") -> dict:
    """Generator arguments that rebuild exactly the shapes of `sd`, or a CheckpointError saying what it is."""
    description = describe_state_dict(sd)
    if not description.startswith("a GNR generator"):
        raise CheckpointError(f"{where} looks like {description}")
    cfg = _infer(sd)
    expected = {k: tuple(v.shape) for k, v in _meta_generator(cfg).state_dict().items()}
    actual = {k: tuple(v.shape) for k, v in sd.items()}
    if expected != actual:
        diff = sorted(set(expected) ^ set(actual)) or [k for k in expected if expected[k] != actual[k]]
        raise CheckpointError(f"{where} has GNR-like keys but does not fit the GNR layout inferred as "
                              f"{_summary(cfg)} (first difference: {diff[0]}); it cannot be loaded")
    return cfg


def _check_requested(config: dict, inferred: dict, where: str):
    requested = _meta_generator(config).config
    mismatched = [k for k in ("size", "num_down", "latent_dim", "n_mlp", "n_res", "style_dim", "channels")
                  if requested[k] != inferred[k]]
    if mismatched:
        asked = ", ".join(f"{k} {requested[k]}" for k in mismatched if k != "channels")
        asked = asked or "other channels"
        raise CheckpointError(f"{where} looks like a GNR generator at {_summary(inferred)}, but {asked} was requested")
