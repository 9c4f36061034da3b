"""Tagging a run: every sample scored by a tagger into RUN/tags (resumable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..errors import DamagedFileError, RunError, TagError
from ..store import Run
from ..tagging import Tagger, load_tagger, vocab_record
from .engine import Engine, WorkerStats, run_shards


@dataclass
class TagResult:
    """Counts of a tagging pass: samples in the run, tagged now, kept from before, shards."""

    run: Run
    samples: int
    tagged: int
    kept: int
    shards: int
    workers: WorkerStats = field(default_factory=WorkerStats)  # memory and time of the workers (`engine.run_shards`)


def tag_run(run, tagger: Tagger, batch_size: int = 32, progress: bool = True, overwrite: bool = False,
            engine: Engine | None = None) -> TagResult:
    """Score every sample of a run into RUN/tags/<shard>.npz (id, scores) and RUN/tags/vocab.json.

    vocab.json records the tagger's columns, fingerprint, categories and thresholds (`vocab_record`).

    Resumable: shards already scored by the same tagger are kept. A run tagged by another tagger
    is refused unless `overwrite`. `engine` (`pipeline.engine`) scores the shards here or on Ray workers,
    each loading the tagger from `tagger.source` and reading the shard's images from the run's path
    (which every node must see); the scores come back and are written here, the same bytes either way.
    """
    run = Run.open(run)
    with run.lock():  # one writer per run: a second tag on it is refused (or waits)
        return _tag_locked(run, tagger, batch_size, progress, overwrite, engine)


def _tag_locked(run: Run, tagger: Tagger, batch_size: int, progress: bool, overwrite: bool, engine) -> TagResult:
    shards = run.shards()
    if not shards:
        raise RunError(f"{run.path} has no samples yet; run latentedit sample --out {run.path} first")
    vocab = vocab_record(tagger)
    try:
        old = run.tag_vocab()
    except DamagedFileError:  # a damaged vocab.json: every shard is tagged again
        old = None
    same_tagger = old is not None and old.get("tagger") == vocab["tagger"] and old.get("tags") == vocab["tags"]
    if old is not None and not same_tagger:
        if not overwrite:
            raise RunError(
                f"{run.tags_dir} holds scores of another tagger ({old.get('source')}, fingerprint {old.get('tagger')}); "
                f"pass --overwrite to re-tag with {tagger.source}"
            )
        run.clear_tags()
    if old != vocab:  # another tagger, or the same one with other thresholds (the scores stay)
        run.write_tag_vocab(vocab)

    ids = {s: run.shard_codes(s)["id"].astype(np.int64) for s in shards}
    todo = [s for s in shards if not (same_tagger and _shard_done(run.tag_shard(s), ids[s], len(tagger.tags)))]
    total = sum(len(v) for v in ids.values())
    source = tagger.source if engine is not None and engine.remote else tagger
    make_worker = partial(_shard_scorer, run.path.resolve(), source, vocab["tagger"], batch_size)
    stats = run_shards(engine, make_worker, todo, lambda s, scores: run.write_tag_shard(s, ids[s], scores),
               done=len(shards) - len(todo), progress=progress, desc="tag")
    tagged = sum(len(ids[s]) for s in todo)
    return TagResult(run, total, tagged, total - tagged, len(shards), stats)


def _shard_scorer(run_path, tagger, expected: str, batch_size: int):
    """A worker's `work(shard) -> scores`: the tagger (a loaded one, or loaded once from its source with the
    worker's threads) checked to be the driver's, scoring the shard's images read from the run."""
    tagger = load_tagger(tagger, threads=torch.get_num_threads()) if isinstance(tagger, (str, Path)) else tagger
    if tagger.fingerprint != expected:
        raise TagError(f"the tagger {tagger.source} is another one on this Ray node (fingerprint {tagger.fingerprint}, "
                       f"the driver's {expected}); give every node the same tagger folder")
    run = Run(run_path)
    return lambda s: tagger.score(run.shard_images(s), batch_size=batch_size)


def _shard_done(saved: dict | None, ids: np.ndarray, n_tags: int) -> bool:
    """True when a saved tag shard matches the sample shard's ids and the tag count."""
    return saved is not None and np.array_equal(saved["id"], ids) and saved["scores"].shape == (len(ids), n_tags)


def ensure_tags(run, tagger="demo", batch_size: int = 32, progress: bool = True, engine: Engine | None = None) -> Run:
    """Tag every untagged shard of the run (no-op when the run is fully tagged), here or with `engine`."""
    run = Run.open(run)
    if not run.has_tags():
        tag_run(run, load_tagger(tagger) if isinstance(tagger, (str, Path)) else tagger, batch_size, progress,
                engine=engine)
    return run
