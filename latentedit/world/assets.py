"""Where the shipped demo assets live, and a sha256 manifest that proves they are intact.

The folder is `assets/` next to the package in a source checkout (`LATENTEDIT_ASSETS` overrides
it). `assets/manifest.json` lists every shipped file with its sha256 and size; `verify(name)`
checks one file against it and raises `AssetError` with a one-line message when it is missing or
altered. `python -m tools.world.build` rewrites the files and the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from latentedit.errors import AssetError
from latentedit.io import atomic_write_json

MANIFEST = "manifest.json"
GENERATOR = "demo-generator.pt"
TAGGER = "demo-tagger"
WD14_TAGGER = "demo-wd14"
SCORER = "demo-scorer.pt"
STYLE_ENCODER = "demo-style-encoder.pt"
STYLEGAN2 = "demo-stylegan2.safetensors"
DCGAN = "demo-dcgan.pt"
REBUILD = "rebuild with python -m tools.world.build"


def assets_dir() -> Path:
    """The assets folder: $LATENTEDIT_ASSETS if set, else <repo>/assets."""
    env = os.environ.get("LATENTEDIT_ASSETS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "assets"


def demo_asset_path(name: str, verify_file: bool = True) -> Path:
    """Path of a shipped demo asset (a file, or the tagger's folder), checked against the manifest by default."""
    if verify_file:
        verify(name)
    return assets_dir() / name


def demo_generator_path(verify_file: bool = True) -> Path:
    """The demo GNR generator."""
    return demo_asset_path(GENERATOR, verify_file)


def demo_stylegan2_path(verify_file: bool = True) -> Path:
    """The demo StyleGAN2 (content-free, z -> canonical-geometry face; .safetensors)."""
    return demo_asset_path(STYLEGAN2, verify_file)


def demo_dcgan_path(verify_file: bool = True) -> Path:
    """The demo DCGAN (the tutorial's Generator as a plain state dict)."""
    return demo_asset_path(DCGAN, verify_file)


def demo_tagger_path(verify_file: bool = True) -> Path:
    """Folder of the demo DeepDanbooru-format tagger project (every file checked)."""
    return demo_asset_path(TAGGER, verify_file)


def demo_wd14_path(verify_file: bool = True) -> Path:
    """Folder of the demo WD14-format tagger (model.onnx, selected_tags.csv; every file checked)."""
    return demo_asset_path(WD14_TAGGER, verify_file)


def demo_style_encoder_path(verify_file: bool = True) -> Path:
    """The demo anime->style encoder (a G_B2A_ema encoder)."""
    return demo_asset_path(STYLE_ENCODER, verify_file)


def demo_scorer_path(verify_file: bool = True) -> Path:
    """The shipped demo re-scorer (float16 ResNet50)."""
    return demo_asset_path(SCORER, verify_file)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_manifest(root: Path | None = None) -> dict:
    """{"files": {relative path: {"sha256", "size"}}} of the assets folder."""
    root = assets_dir() if root is None else Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise AssetError(f"demo assets folder {root} not found: latentedit looks for assets/ next to its "
                         "source checkout (pip install -e . from a clone), or set LATENTEDIT_ASSETS to that folder")
    if not path.is_file():
        raise AssetError(f"asset manifest {path} missing; {REBUILD}")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise AssetError(f"asset manifest {path} unreadable ({e}); {REBUILD}") from e


def verify(name: str, root: Path | None = None) -> Path:
    """Check the asset file `name` (or every manifest file under the folder `name`); return its path."""
    root = assets_dir() if root is None else Path(root)
    files = load_manifest(root)["files"]
    wanted = [k for k in files if k == name or k.startswith(name.rstrip("/") + "/")]
    if not wanted:
        raise AssetError(f"demo asset {name} is not in {root / MANIFEST}; {REBUILD}")
    for rel in sorted(wanted):
        path = root / rel
        if not path.is_file():
            raise AssetError(f"demo asset {path} missing; {REBUILD}")
        entry = files[rel]
        if path.stat().st_size != entry["size"] or sha256_file(path) != entry["sha256"]:
            raise AssetError(f"demo asset {path} altered (sha256 mismatch with {MANIFEST}); {REBUILD}")
    return root / name


def update_manifest(root: Path | None = None) -> dict:
    """Hash every file under the assets folder (except the manifest and hidden files) into manifest.json."""
    root = assets_dir() if root is None else Path(root)
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel == MANIFEST or any(part.startswith(".") for part in rel.split("/")):
            continue
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    manifest = {"files": files}
    atomic_write_json(root / MANIFEST, manifest)
    return manifest
