"""A run on disk: the one module that reads and writes a run directory.

Layout of a run directory (the stage that writes each part in brackets)::

    RUN/manifest.json                      what made the run (keys below)                  [sample]
    RUN/preview.png                        first inputs x their styles, one row per input   [sample]
    RUN/samples/shard-00000/codes.npz      id, input_id (int64, n), z (n, latent_dim), w (n, style_dim) float32
    RUN/samples/shard-00000/000000007.png  one PNG per sample, named by its id (9 digits)    [sample]
    RUN/tags/vocab.json                    {tags: column names, tagger: fingerprint, source} [tag]
    RUN/tags/shard-00000.npz               id (int64, n), scores (n, T) float32, one per sample shard [tag]
    RUN/directions/<method>-<space>.npz    a fitted DirectionSet (default parameters); fits with other
    RUN/directions/<method>-<space>-<key>.npz  parameters carry a short key of them (`directions.params_key`) [fit]
    RUN/edits/<edit name>/                 edit.json, recipe.json, grid.png, codes.npz, before/*.png,
                                           after/*.png (each PNG carries its recipe)      [edit]
    RUN/report/                            index.html, report.json, *.csv, figures/*.png    [report]

A sample shard holds the samples of a fixed group of inputs. It is written into a hidden temporary
folder (`.shard-00000.tmp-<pid>`) and renamed into place when complete, so a shard folder exists
whole or not at all: an interrupted run resumes by redoing only the missing shards and ends with
the same bytes as a run that was never interrupted. Every other file is written atomically
(temporary file, then rename); an edit or report folder is replaced whole (`write_folder`).

manifest.json (format latentedit-run/2):
    generator     {kind: "demo" | "checkpoint" | "in-memory", path: checkpoint file or null,
                   fingerprint, config}
    input_source  {kind: "demo", seed} (demo-world selfies rendered from the seed) or
                  {kind: "folder", path} (the selfie folder, absolute)
    inputs [{id, name}], skipped [{name, reason}], n_inputs, n_samples, seed, styles_per_input,
    inputs_per_shard, batch_size, threads (torch's, the bytes can depend on them; absent before they were
    recorded), complete, versions {python, torch, numpy, latentedit}
A latentedit-run/1 manifest (generator.source, inputs_dir) is read as /2.
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._version import __version__
from .errors import DamagedFileError, InputError, RunError
from .images import read_rgb
from .io import atomic_save_npz, atomic_write_bytes, atomic_write_json, load_npz
from .locking import LOCK_NAME, run_lock, stale_temp_owner_dead
from .stats import TAG_THRESHOLD, tag_labels

FORMAT = "latentedit-run/2"
PARTS = ("samples", "tags", "directions", "edits", "report")


def versions() -> dict:
    """Package versions recorded in manifests and reports."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "latentedit": __version__,
    }


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def sample_file(sample_id: int) -> str:
    return f"{int(sample_id):09d}.png"


def _ends_png(path: Path) -> bool:
    """The file is there and ends with PNG's IEND chunk, as a truncated one does not (12 bytes read)."""
    try:
        with open(path, "rb") as f:
            f.seek(-12, os.SEEK_END)
            return f.read() == b"\0\0\0\0IEND\xaeB`\x82"
    except OSError:
        return False


@dataclass(frozen=True)
class InputSource:
    """Where a run's input selfies come from: demo-world selfies (`seed`) or a folder (`path`)."""

    kind: str
    names: tuple[str, ...]
    seed: int | None = None
    path: Path | None = None


class Run:
    """A run directory: its manifest, samples, tags, directions, edits and report."""

    def __init__(self, path):
        self.path = Path(path)
        manifest = self.path / "manifest.json"
        if not manifest.exists():
            if self.path.is_symlink():
                os.stat(self.path)  # a symlink loop or a dangling link: OSError (ELOOP, ENOENT) naming it
            raise RunError(f"{self.path} is not a latentedit run (no manifest.json); create one with latentedit sample")
        try:
            self.manifest = _upgrade(json.loads(manifest.read_text()))
        except json.JSONDecodeError as e:
            raise RunError(f"{manifest} is not valid JSON ({e}); delete the run or sample again with --overwrite") from e
        if self.manifest.get("format") != FORMAT:
            raise RunError(f"{manifest} has format {self.manifest.get('format')!r}, expected {FORMAT!r}")
        self._where = None

    def __repr__(self):
        return f"Run({str(self.path)!r})"

    @classmethod
    def open(cls, run) -> "Run":
        """`run` itself when it is a Run, else the run at that path."""
        return run if isinstance(run, Run) else cls(run)

    # -- the manifest -----------------------------------------------------------------------
    @classmethod
    def create(cls, path, manifest: dict, overwrite: bool = False) -> "Run":
        """Start a run at `path`, or reopen it when its manifest describes the same run.

        The identity of a run is its generator, seed, styles per input, inputs and shard size; an
        existing run with another identity is refused unless `overwrite`, which deletes its parts.
        """
        path = Path(path)
        manifest = {"format": FORMAT, **manifest}
        existing = path / "manifest.json"
        if existing.exists() and not overwrite:
            diff = _identity_diff(cls(path).manifest, manifest)
            if diff:
                raise RunError(
                    f"{path} holds another run ({diff}); choose another --out or pass --overwrite to replace it"
                )
            return cls(path)
        if path.exists() and overwrite:
            for sub in PARTS:
                shutil.rmtree(path / sub, ignore_errors=True)
        elif path.exists() and any(p.name != LOCK_NAME for p in path.iterdir()) and not existing.exists():
            raise RunError(f"{path} exists and is not a latentedit run; choose an empty or new --out")
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(existing, manifest)
        return cls(path)

    def lock(self, wait: bool | None = None):
        """Context manager: hold RUN/.lock while writing (another writer is refused, or waited for)."""
        return run_lock(self.path, wait)

    def update_manifest(self, **fields) -> None:
        self.manifest.update(fields)
        atomic_write_json(self.path / "manifest.json", self.manifest)

    # -- what made the run (recorded once, by sample) -----------------------------------------
    @property
    def fingerprint(self) -> str:
        return self.manifest["generator"]["fingerprint"]

    @property
    def generator_kind(self) -> str:
        """"demo", "checkpoint" or "in-memory": how the run's generator was given."""
        return self.manifest["generator"]["kind"]

    @property
    def generator_source(self) -> str | None:
        """What `load_generator` reloads the run's generator from: a demo name, a file, or None (in memory)."""
        g = self.manifest["generator"]
        return {"demo": g.get("name", "demo"), "checkpoint": g.get("path")}.get(g["kind"])

    @property
    def is_demo(self) -> bool:
        """True when the run was sampled with the demo generator: the demo world's ground truth applies."""
        return self.generator_kind == "demo"

    @property
    def input_source(self) -> InputSource:
        src = self.manifest["input_source"]
        names = tuple(i["name"] for i in self.manifest.get("inputs", []))
        path = src.get("path")
        return InputSource(src["kind"], names, src.get("seed"), Path(path) if path else None)

    # -- samples ----------------------------------------------------------------------------
    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    def shards(self) -> list[str]:
        """Names of the complete sample shards, in order."""
        if not self.samples_dir.exists():
            return []
        return sorted(p.name for p in self.samples_dir.iterdir() if p.is_dir() and p.name.startswith("shard-"))

    def shard_codes(self, shard: str) -> dict:
        return load_npz(self.samples_dir / shard / "codes.npz", hint=f"run latentedit sample --out {self.path} again "
                        "with the same options: it redoes damaged shards")

    def shard_whole(self, shard: str, ids) -> bool:
        """True when a sample shard's codes.npz reads back with exactly these ids and every PNG is there, whole."""
        try:
            saved = self.shard_codes(shard)
        except (DamagedFileError, OSError):
            return False
        folder = self.samples_dir / shard
        return (np.array_equal(saved.get("id"), np.asarray(ids)) and {"input_id", "z", "w"} <= set(saved)
                and all(_ends_png(folder / sample_file(i)) for i in ids))

    def remove_shard(self, shard: str) -> None:
        """Delete a (damaged) sample shard, so that it is made again."""
        doomed = self.samples_dir / f".{shard}.tmp-damaged-{os.getpid()}"
        os.replace(self.samples_dir / shard, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        self._where = None

    def shard_images(self, shard: str) -> np.ndarray:
        ids = self.shard_codes(shard)["id"]
        return np.stack([read_rgb(self.samples_dir / shard / sample_file(i)) for i in ids])

    def codes(self) -> dict:
        """All samples' codes, concatenated over shards in id order."""
        shards = self.shards()
        if not shards:
            raise RunError(f"{self.path} has no samples yet; run latentedit sample --out {self.path}")
        parts = [self.shard_codes(s) for s in shards]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def images(self, ids) -> np.ndarray:
        """uint8 (n, H, W, 3) images of the given sample ids."""
        if self._where is None:
            self._where = {int(i): s for s in self.shards() for i in self.shard_codes(s)["id"]}
        out = []
        for i in map(int, ids):
            if i not in self._where:
                raise RunError(f"sample id {i} is not in {self.path}")
            try:
                out.append(read_rgb(self.samples_dir / self._where[i] / sample_file(i)))
            except InputError as e:
                raise DamagedFileError(f"{e}; run latentedit sample --out {self.path} again with the same options: "
                                       "it redoes damaged shards") from None
        return np.stack(out)

    def write_shard(self, index: int, codes: dict, pngs: list[bytes]) -> Path:
        """Write one complete sample shard atomically (temporary folder, then rename)."""
        final = self.samples_dir / shard_name(index)
        tmp = self.samples_dir / f".{shard_name(index)}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        buf = io.BytesIO()
        np.savez(buf, **codes)
        files = [(tmp / "codes.npz", buf.getvalue())] + [(tmp / sample_file(i), d) for i, d in zip(codes["id"], pngs)]
        target = tmp
        try:
            for target, data in files:
                target.write_bytes(data)
            for target, _ in files:
                with open(target, "rb") as fh:
                    os.fsync(fh.fileno())
            target = final
            os.replace(tmp, final)
        except OSError as e:  # a full disk fails in write(), without a file name: name it, leave no half shard
            shutil.rmtree(tmp, ignore_errors=True)
            if e.filename is None:
                raise OSError(e.errno, e.strerror, str(target)) from e
            raise
        self._where = None
        return final

    def clean_partial(self) -> int:
        """Remove temporary shard folders left by an interrupted run; return how many."""
        if not self.samples_dir.exists():
            return 0
        stale = [p for p in self.samples_dir.iterdir() if p.name.startswith(".shard-")]
        for p in stale:
            shutil.rmtree(p, ignore_errors=True)
        return len(stale)

    def write_preview(self, png: bytes) -> Path:
        return atomic_write_bytes(self.path / "preview.png", png)

    # -- tags -------------------------------------------------------------------------------
    @property
    def tags_dir(self) -> Path:
        return self.path / "tags"

    def tag_vocab(self) -> dict | None:
        f = self.tags_dir / "vocab.json"
        if not f.exists():
            return None
        try:
            vocab = json.loads(f.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DamagedFileError(f"{f} is not valid JSON ({e}); run latentedit tag {self.path} again: "
                                   "it re-tags a run whose vocab.json is damaged") from None
        if not isinstance(vocab, dict) or not isinstance(vocab.get("tags"), list):
            raise DamagedFileError(f"{f} has no tag list; run latentedit tag {self.path} again: it re-tags the run")
        return vocab

    def write_tag_vocab(self, vocab: dict) -> Path:
        """Write RUN/tags/vocab.json: {tags: column names, tagger: fingerprint, source, categories, thresholds, mcut}."""
        return atomic_write_json(self.tags_dir / "vocab.json", vocab)

    def tag_threshold(self) -> float | None:
        """The one score threshold of every tag of the run's tagger (0.5 when vocab.json has none), or None
        when its tags have thresholds of their own or MCut (then use `tag_labels`)."""
        vocab = self.tag_vocab() or {}
        thresholds = set(vocab.get("thresholds") or [TAG_THRESHOLD])
        return None if vocab.get("mcut") or len(thresholds) > 1 else float(thresholds.pop())

    def tag_labels(self, scores) -> np.ndarray:
        """0/1 labels (N, T) of tag scores as the run's tagger decides them (vocab.json's thresholds or MCut)."""
        vocab = self.tag_vocab() or {}
        return tag_labels(scores, vocab.get("thresholds") or TAG_THRESHOLD, vocab.get("categories"), vocab.get("mcut", False))

    def tag_categories(self) -> list | None:
        """Each tag's category ("general", "character", "rating", ...), or None for runs tagged before they were recorded."""
        return (self.tag_vocab() or {}).get("categories")

    def tag_shard(self, shard: str) -> dict | None:
        """The saved tags {id, scores} of one sample shard, or None when absent or unreadable."""
        path = self.tags_dir / f"{shard}.npz"
        if not path.exists():
            return None
        try:
            saved = load_npz(path)
        except (DamagedFileError, OSError):  # damaged: tagged again on resume
            return None
        return saved if {"id", "scores"} <= set(saved) else None

    def write_tag_shard(self, shard: str, ids: np.ndarray, scores: np.ndarray) -> Path:
        return atomic_save_npz(self.tags_dir / f"{shard}.npz", id=ids, scores=scores.astype(np.float32))

    def clear_tags(self) -> None:
        """Delete every tag shard (before re-tagging with another tagger)."""
        for f in self.tags_dir.glob("*.npz"):
            f.unlink()

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

    # -- directions -------------------------------------------------------------------------
    @property
    def directions_dir(self) -> Path:
        return self.path / "directions"

    def directions_path(self, method: str, space: str = "w", key: str = "") -> Path:
        """RUN/directions/<method>-<space>[-<key>].npz.

        `key` names a fit's non-default parameters (`latentedit.directions.params_key`, computed by
        the fit stage), so fits with other parameters sit side by side; "" is the default fit.
        """
        return self.directions_dir / (f"{method}-{space}-{key}.npz" if key else f"{method}-{space}.npz")

    def save_directions(self, directions, key: str = "") -> Path:
        """Write a fitted DirectionSet to its file (`directions_path` of its method, space and `key`)."""
        path = self.directions_path(directions.method, directions.space, key)
        directions.save(path)
        return path

    # -- edits and the report ---------------------------------------------------------------
    @property
    def edits_dir(self) -> Path:
        return self.path / "edits"

    @property
    def report_dir(self) -> Path:
        return self.path / "report"


def check_output_folder(folder, kind: str) -> Path:
    """Refuse `folder` for an output of `kind` ("edit", "report") unless it is new, empty or such an output."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not (folder / f"{kind}.json").exists())):
        raise InputError(f"--out {folder} exists and is not an earlier {kind} output; choose a new or empty folder")
    return folder


def write_folder(folder, files: dict, kind: str) -> Path:
    """Replace `folder` by exactly `files` ({relative path: bytes or str}) at once; return the folder.

    The files are written into a hidden temporary folder beside it, which is then renamed into
    place: the folder holds the old output or the new one, never a mix. An existing folder is
    replaced only when it is empty or an earlier output of the same `kind` (it holds <kind>.json).
    """
    folder = check_output_folder(folder, kind)
    clean_stale_temp(folder.parent)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for rel, data in files.items():
            atomic_write_bytes(tmp / rel, data.encode("utf-8") if isinstance(data, str) else data)
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def clean_stale_temp(parent) -> int:
    """Remove hidden `.<name>.tmp-<pid>` / `.<name>.old-<pid>` folders of processes that died
    (a killed edit or report leaves them); return how many."""
    parent = Path(parent)
    if not parent.is_dir():
        return 0
    stale = [p for p in parent.iterdir() if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name)
             and p.is_dir() and stale_temp_owner_dead(p.name)]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)


def _upgrade(m: dict) -> dict:
    """Read a latentedit-run/1 manifest as /2: the generator's and the inputs' kinds recorded once."""
    if m.get("format") != "latentedit-run/1":
        return m
    m = dict(m, format=FORMAT)
    g = dict(m.get("generator", {}))
    source = g.pop("source", None)
    kind = source if source in ("demo", "in-memory") else "checkpoint" if source else None
    m["generator"] = {**g, "kind": kind, "path": source if kind == "checkpoint" else None}
    folder = m.pop("inputs_dir", None)
    m["input_source"] = {"kind": "folder", "path": folder} if folder else {"kind": "demo", "seed": m.get("seed")}
    return m


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
