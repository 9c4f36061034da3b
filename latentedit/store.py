"""A run on disk: the one place every pipeline stage reads from and writes to.

Layout of a run directory::

    RUN/manifest.json                    what made the run (see below)
    RUN/samples/shard-00000/codes.npz    id, input_id (int64), z (n, latent_dim), w (n, style_dim) float32
    RUN/samples/shard-00000/000000007.png  one PNG per sample, named by its id
    RUN/tags/shard-00000.npz             id, scores (n, T) float32   (latentedit tag)
    RUN/tags/vocab.json                  tag names (column order) and tagger fingerprint
    RUN/directions/<method>-<space>.npz  fitted DirectionSets           (latentedit fit-directions)

A shard holds the samples of a fixed group of inputs. It is written into a hidden temporary
folder and renamed into place when complete, so a shard folder either exists whole or not at
all: an interrupted run resumes by redoing only the shards that are missing, and ends with the
same bytes as a run that was never interrupted.

manifest.json keys: format, generator {fingerprint, config, source}, seed, styles_per_input,
inputs_per_shard, inputs [{id, name}], skipped [{name, reason}], n_inputs, n_samples, complete,
versions {python, torch, numpy, latentedit}.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import RunError
from .io import atomic_write_json, load_npz

FORMAT = "latentedit-run/1"


def versions() -> dict:
    """Package versions recorded in manifests and reports."""
    import torch

    from . import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "latentedit": __version__,
    }


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


class Run:
    """Read access to a run directory, plus the small writes every stage shares."""

    def __init__(self, path):
        self.path = Path(path)
        manifest = self.path / "manifest.json"
        if not manifest.exists():
            raise RunError(f"{self.path} is not a latentedit run (no manifest.json); create one with latentedit sample")
        try:
            self.manifest = json.loads(manifest.read_text())
        except json.JSONDecodeError as e:
            raise RunError(f"{manifest} is not valid JSON ({e}); delete the run or sample again with --overwrite") from e
        if self.manifest.get("format") != FORMAT:
            raise RunError(f"{manifest} has format {self.manifest.get('format')!r}, expected {FORMAT!r}")

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def create(cls, path, manifest: dict, overwrite: bool = False) -> "Run":
        """Start a run at `path`, or reopen it when its manifest describes the same run.

        The identity of a run is everything in `manifest` except counts and completion; an
        existing run with another identity is refused unless `overwrite`.
        """
        path = Path(path)
        manifest = {"format": FORMAT, **manifest}
        existing = path / "manifest.json"
        if existing.exists() and not overwrite:
            old = json.loads(existing.read_text())
            diff = _identity_diff(old, manifest)
            if diff:
                raise RunError(
                    f"{path} holds another run ({diff}); choose another --out or pass --overwrite to replace it"
                )
            return cls(path)
        if path.exists() and overwrite:
            for sub in ("samples", "tags", "directions", "edits", "report"):
                shutil.rmtree(path / sub, ignore_errors=True)
        elif path.exists() and any(path.iterdir()) and not existing.exists():
            raise RunError(f"{path} exists and is not a latentedit run; choose an empty or new --out")
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(existing, manifest)
        return cls(path)

    def update_manifest(self, **fields) -> None:
        self.manifest.update(fields)
        atomic_write_json(self.path / "manifest.json", self.manifest)

    # -- samples --------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return self.manifest["generator"]["fingerprint"]

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    def shards(self) -> list[str]:
        """Names of the complete sample shards, in order."""
        if not self.samples_dir.exists():
            return []
        return sorted(p.name for p in self.samples_dir.iterdir() if p.is_dir() and p.name.startswith("shard-"))

    def shard_codes(self, shard: str) -> dict:
        return load_npz(self.samples_dir / shard / "codes.npz")

    def shard_images(self, shard: str) -> np.ndarray:
        ids = self.shard_codes(shard)["id"]
        return np.stack([self._read_png(self.samples_dir / shard / f"{i:09d}.png") for i in ids])

    def codes(self) -> dict:
        """All samples' codes, concatenated over shards in id order."""
        shards = self.shards()
        if not shards:
            raise RunError(f"{self.path} has no samples yet; run latentedit sample --out {self.path}")
        parts = [self.shard_codes(s) for s in shards]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def image(self, sample_id: int) -> np.ndarray:
        return self.images([sample_id])[0]

    def images(self, ids) -> np.ndarray:
        """uint8 (n, H, W, 3) images of the given sample ids."""
        where = self._shard_of_ids()
        out = []
        for i in ids:
            i = int(i)
            if i not in where:
                raise RunError(f"sample id {i} is not in {self.path}")
            out.append(self._read_png(self.samples_dir / where[i] / f"{i:09d}.png"))
        return np.stack(out)

    def _shard_of_ids(self) -> dict:
        if not hasattr(self, "_where"):
            self._where = {int(i): s for s in self.shards() for i in self.shard_codes(s)["id"]}
        return self._where

    @staticmethod
    def _read_png(path: Path) -> np.ndarray:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))

    # -- tags -----------------------------------------------------------------------------
    @property
    def tags_dir(self) -> Path:
        return self.path / "tags"

    def tag_vocab(self) -> dict | None:
        f = self.tags_dir / "vocab.json"
        return json.loads(f.read_text()) if f.exists() else None

    def has_tags(self) -> bool:
        """True when every sample shard has been tagged."""
        return self.tag_vocab() is not None and all((self.tags_dir / f"{s}.npz").exists() for s in self.shards())

    def tag_scores(self) -> tuple[np.ndarray, list[str]]:
        """Tag scores (N, T) aligned with `codes()` order, and the tag names of the columns."""
        vocab = self.tag_vocab()
        if vocab is None or not self.has_tags():
            raise RunError(f"{self.path} is not fully tagged yet; run latentedit tag {self.path}")
        parts = [load_npz(self.tags_dir / f"{s}.npz") for s in self.shards()]
        ids = np.concatenate([p["id"] for p in parts])
        if not np.array_equal(ids, self.codes()["id"]):
            raise RunError(f"tags in {self.tags_dir} do not match the samples; re-tag with latentedit tag --overwrite")
        return np.concatenate([p["scores"] for p in parts]), list(vocab["tags"])

    # -- directions -----------------------------------------------------------------------
    def directions_path(self, method: str, space: str = "w", params=None) -> Path:
        """RUN/directions/<method>-<space>[-<key>].npz: the file of a fit with `params` on this run.

        `params` (estimator parameters and filter options, as given to fit_directions) that differ
        from the defaults make the key; see latentedit.directions.keys.
        """
        # The one key function lives with the fitters, which sit above the store; imported here only.
        from .directions.keys import direction_file_name

        return self.path / "directions" / direction_file_name(method, space, params, self)


def _identity_diff(old: dict, new: dict) -> str:
    """Describe how two manifests differ in what defines a run ('' when they are the same run)."""
    checks = [
        ("generator", lambda m: m.get("generator", {}).get("fingerprint")),
        ("seed", lambda m: m.get("seed")),
        ("styles per input", lambda m: m.get("styles_per_input")),
        ("inputs", lambda m: [i["name"] for i in m.get("inputs", [])]),
        ("inputs per shard", lambda m: m.get("inputs_per_shard")),
    ]
    for label, get in checks:
        a, b = get(old), get(new)
        if a != b:
            if label == "inputs":
                return f"other inputs: {len(a)} there, {len(b)} asked"
            return f"{label} {a} there, {b} asked"
    return ""


def write_shard(run: Run, index: int, codes: dict, pngs: list[bytes]) -> Path:
    """Write one complete sample shard atomically (temporary folder, then rename)."""
    final = run.samples_dir / shard_name(index)
    tmp = run.samples_dir / f".{shard_name(index)}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    import io

    buf = io.BytesIO()
    np.savez(buf, **codes)
    (tmp / "codes.npz").write_bytes(buf.getvalue())
    for i, data in zip(codes["id"], pngs):
        (tmp / f"{int(i):09d}.png").write_bytes(data)
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, final)
    return final


def clean_partial(run: Run) -> int:
    """Remove temporary shard folders left by an interrupted run; return how many."""
    if not run.samples_dir.exists():
        return 0
    stale = [p for p in run.samples_dir.iterdir() if p.name.startswith(".shard-")]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)
