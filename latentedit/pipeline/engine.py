"""Where a stage's shards are processed: in this process ("local") or on Ray actors ("ray").

`run_shards(engine, make_worker, shards, on_result)` calls `make_worker()` once per worker (it
loads the generator or tagger and returns `work(shard) -> result`), runs `work` on every shard and
hands each result to `on_result(shard, result)` in the driver, which writes it through the run
store exactly as a local run does: a run made on Ray has the bytes of the local run. On Ray each
actor holds `cpus_per_worker` CPUs (torch's threads) and loads the model once; an actor whose
process dies is replaced and its shards are given again (`RESTARTS` times per shard); a killed
driver leaves whole shards only, so running the command again does the missing ones. `Workers` is
that pool of actors, kept for as long as a `with` lasts: `RemoteGenerator` uses one to decode all of
a report's images on Ray. Ray is the optional extra `ray` (docs/scale.md).

    stats = run_shards(Engine("ray", address="10.0.0.1:6379"), make_worker, range(64), write)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import resource
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

import torch
from tqdm.auto import tqdm

from ..errors import InputError, RunError
from ..images import to_uint8
from ..models.generator import fingerprint, load_generator

ENGINES = ("local", "ray")
RESTARTS = 3  # a shard whose worker process died is given to a new worker this often, then the run stops
INSTALL = "--engine ray needs Ray, an optional extra: pip install 'latentedit[ray]' (or pip install 'ray==2.60.0')"


@dataclass(frozen=True)
class Engine:
    """kind: "local" or "ray"; address: a Ray cluster to join (`ray start --head` prints it; None:
    RAY_ADDRESS, else a Ray started on this machine); workers: Ray actors (None: the cluster's CPUs
    / cpus_per_worker, at most one per shard); cpus_per_worker: CPUs each actor reserves and torch
    threads it runs (None: the stage's, `sized`; sampling: the run's threads); gpus_per_worker: GPUs each."""

    kind: str = "local"
    address: str | None = None
    workers: int | None = None
    cpus_per_worker: int | None = None
    gpus_per_worker: float = 0.0

    def __post_init__(self):
        if self.kind not in ENGINES:
            raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {self.kind!r}")
        if self.kind == "local" and self.address:
            raise InputError("--ray-address joins a Ray cluster; pass it with --engine ray")
        if self.workers is not None and self.workers < 1:
            raise InputError("--workers must be at least 1")
        if self.cpus_per_worker is not None and self.cpus_per_worker < 1:
            raise InputError("cpus_per_worker must be at least 1")
        if self.kind == "ray" and importlib.util.find_spec("ray") is None:
            raise InputError(INSTALL)

    def sized(self, threads: int, device: str = "cpu") -> "Engine":
        """This engine with workers of `threads` CPUs (unless set) and one GPU when the work runs on one (`--device cuda`)."""
        gpu = self.remote and not self.gpus_per_worker and not str(device).startswith("cpu")
        return dataclasses.replace(self, cpus_per_worker=self.cpus_per_worker or threads,
                                   gpus_per_worker=1.0 if gpu else self.gpus_per_worker)

    @property
    def remote(self) -> bool:
        """True when the shards are processed by other processes (which load the model themselves)."""
        return self.kind == "ray"


@dataclass
class WorkerStats:
    """How a stage's shards went: each worker's peak resident memory (MB; local: this process's), the
    seconds until every worker had loaded its model (start) and from then to the last shard written (work)."""

    peak_mb: list[float] = dataclasses.field(default_factory=list)
    start_s: float = 0.0
    work_s: float = 0.0


def run_shards(engine: Engine | None, make_worker: Callable[[], Callable], shards: Iterable, on_result: Callable,
               *, done: int = 0, progress: bool = True, desc: str = "shards") -> WorkerStats:
    """Process `shards` with `make_worker()`'s function; `on_result(shard, result)` in this process, as each
    finishes. A progress bar over the shards (`done` of them finished before)."""
    shards, t0 = list(shards), time.perf_counter()
    engine = (engine or Engine()).sized(1)
    with tqdm(total=done + len(shards), initial=done, disable=not progress, desc=desc, unit="shard") as bar:
        if not shards:
            return WorkerStats()
        if engine.remote:
            with Workers(engine, make_worker, len(shards)) as workers:
                t1 = time.perf_counter()
                for k, result in workers.imap_unordered(shards):
                    on_result(shards[k], result)
                    bar.update(1)
                return WorkerStats(workers.peak_mb(), workers.start_s, time.perf_counter() - t1)
        work = make_worker()
        t1 = time.perf_counter()
        for s in shards:
            on_result(s, work(s))
            bar.update(1)
        return WorkerStats([peak_mb()], t1 - t0, time.perf_counter() - t1)


def worker_generator(source, expected: str, device: str = "cpu"):
    """A worker's generator: loaded from `source` (a demo name or a file; a loaded one is used as is) and
    checked to be the run's (fingerprint `expected`)."""
    G = load_generator(source, device=device) if isinstance(source, (str, Path)) else source
    if fingerprint(G) != expected:
        raise RunError(f"the generator {source} is another one on this Ray node (fingerprint {fingerprint(G)}, "
                       f"the run's {expected}); give every node the same checkpoint file")
    return G


class RemoteGenerator:
    """A generator whose batched decodes (`models.batched.decode`) run on Ray workers that each load it from
    `source` once; everything else is the local generator's. What a report's images are drawn with on Ray:

        with RemoteGenerator(G, run.generator_source, run.fingerprint, Engine("ray"), threads=1) as G: ...
    """

    def __init__(self, G, source, expected: str, engine: Engine, threads: int):
        self._G = G
        self._workers = Workers(engine.sized(threads), partial(_decoder, source or G, expected))

    def __getattr__(self, name):
        return getattr(self._G, name)

    def to(self, *args, **kwargs) -> "RemoteGenerator":  # nn.Module's chaining calls return this, not the local one
        self._G.to(*args, **kwargs)
        return self

    def eval(self) -> "RemoteGenerator":
        self._G.eval()
        return self

    def __enter__(self) -> "RemoteGenerator":
        self._workers.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._workers.__exit__(*exc)

    def decode_many(self, chunks: list, convert=None, **kwargs) -> list:
        """`convert(decode(content, styles, **kwargs))` of every (content, styles) chunk, in order. The workers
        make uint8 images (a quarter of the bytes to send); any other `convert` (a tagger's scores, ...) runs
        here, with the objects it holds."""
        there = convert if convert is to_uint8 else None
        done = dict(self._workers.imap_unordered([(content, styles, there, kwargs) for content, styles in chunks]))
        return [done[k] if there is convert else convert(done[k]) for k in range(len(chunks))]


def _decoder(source, expected: str):
    G = worker_generator(source, expected)

    @torch.inference_mode()
    def work(item):
        content, styles, convert, kwargs = item
        images = G.decode(content, styles, **kwargs)
        return images if convert is None else convert(images)

    return work


def peak_mb() -> float:
    """Peak resident memory of this process, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _ShardWorker:
    """A Ray actor: the model loaded once, then one shard per call."""

    def __init__(self, make_worker, threads: int):
        torch.set_num_threads(threads)
        self.work, self.error = None, None
        try:
            self.work = make_worker()
        except Exception as e:  # noqa: BLE001 - raised by run(), so the driver shows it as itself, in one line
            self.error = e

    def run(self, shard):
        if self.error is not None:
            raise self.error
        return self.work(shard)

    def peak_mb(self) -> float:
        return peak_mb()

    def ready(self) -> bool:
        return True


def import_ray():
    """The ray module, or a one-line InputError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(INSTALL) from None
    return ray


class Workers:
    """Ray actors that each called `make_worker()` once (the model loaded once), for the life of a `with`.

    `imap_unordered(items)` yields (index, work(items[index])) as each finishes; an actor whose process dies is
    replaced and its item given again (`RESTARTS` times per item).
    """

    def __init__(self, engine: Engine, make_worker, most: int | None = None):
        self.engine, self.make_worker, self.most = engine, make_worker, most
        self.actors, self.started, self.start_s = [], False, 0.0

    def __enter__(self) -> "Workers":
        ray, t0 = import_ray(), time.perf_counter()
        self.ray, self.started = ray, not ray.is_initialized()
        if self.started:
            address = self.engine.address or os.environ.get("RAY_ADDRESS") or "local"  # not the last `ray start`
            ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                     configure_logging=True)
        try:
            engine = self.engine
            _check_fits(ray.nodes(), engine)
            n = engine.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // engine.cpus_per_worker))
            Worker = ray.remote(_ShardWorker).options(num_cpus=engine.cpus_per_worker, num_gpus=engine.gpus_per_worker)
            factory = ray.put(self.make_worker)  # one copy in the object store, whatever the number of actors
            self.new_actor = lambda: Worker.remote(factory, engine.cpus_per_worker)
            self.actors = [self.new_actor() for _ in range(min(n, self.most or n))]
            ray.get([a.ready.remote() for a in self.actors])  # every model loaded (a worker's own error comes later)
        except BaseException:
            self.__exit__()
            raise
        self.start_s = time.perf_counter() - t0
        return self

    def __exit__(self, *exc) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self.started:
            self.ray.shutdown()

    def imap_unordered(self, items):
        ray, actors, items = self.ray, self.actors, list(items)
        todo, running, tries = list(reversed(range(len(items)))), {}, {}

        def submit(i, k):
            running[actors[i].run.remote(items[k])] = (i, actors[i], k)

        for i in [*range(len(actors))] * 2:  # two items queued per actor: it starts the next while the driver writes
            if todo:
                submit(i, todo.pop())
        while running:
            [ref], _ = ray.wait(list(running), num_returns=1)
            i, actor, k = running.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError:  # its process died (killed, out of memory, node lost): a new one
                tries[k] = tries.get(k, 0) + 1
                if tries[k] > RESTARTS:
                    shard = items[k] if isinstance(items[k], int) else k
                    raise RunError(f"Ray workers died {tries[k]} times on shard {shard}; the finished shards are kept: "
                                   "run the command again to resume") from None
                if actors[i] is actor:
                    actors[i] = self.new_actor()
                submit(i, k)
                continue
            except ray.exceptions.RayTaskError as e:  # the worker's own error, raised as itself (one line)
                raise (e.cause if isinstance(e.cause, Exception) else e) from None
            yield k, result
            if todo:
                submit(i, todo.pop())

    def peak_mb(self) -> list[float]:
        return self.ray.get([a.peak_mb.remote() for a in self.actors])


def _check_fits(nodes: list, engine: Engine) -> None:
    """A one-line InputError when no node of the cluster could hold a worker (Ray would wait for ever)."""
    alive = [node["Resources"] for node in nodes if node["Alive"]]
    cpus, gpus = (max((r.get(k, 0) for r in alive), default=0) for k in ("CPU", "GPU"))
    if cpus < engine.cpus_per_worker:
        raise InputError(f"a Ray worker of this run needs {engine.cpus_per_worker} CPUs (the torch threads it is "
                         f"made with) but the largest node of the cluster has {cpus:g}; start a new run with "
                         f"--threads {max(1, int(cpus))}, or use nodes that large, or --engine local")
    if gpus < engine.gpus_per_worker:
        raise InputError(f"a Ray worker on a GPU (--device) needs {engine.gpus_per_worker:g} GPU but no node of the "
                         "cluster has one; join GPU nodes or use --device cpu")
