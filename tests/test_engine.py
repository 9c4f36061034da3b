"""`--engine ray`: runs made by Ray workers on a two-node cluster (one machine) equal local runs byte for
byte, and a run whose worker and driver were killed half way resumes with only the missing shards."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latentedit.pipeline.engine import INSTALL, Engine
from latentedit.pipeline.sample import sample
from latentedit.pipeline.tag import tag_run
from latentedit.store import shard_name
from latentedit.tagging import load_tagger

try:
    import psutil
    import ray
    from ray.cluster_utils import Cluster
except ImportError:  # the Ray tests need the extra; the message test below runs without it
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="ray is not installed: pip install -e '.[ray]' (the test extra has it)")

# 10 shards of 2 demo inputs x 2 styles (64 px): small, yet slow enough on Ray to be killed half way. On one
# torch thread, as the workers of one CPU (a batch of 4 is summed in another order on 2 threads)
RUN = dict(n_inputs=20, styles_per_input=2, inputs_per_shard=2, seed=3, threads=1)
SHARDS = 10


def sums(run) -> dict:
    """sha256 of every file of a run (the lock file, which names its last holder, aside)."""
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(run).rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of one CPU (and no GPU, whatever the machine has) each on this machine: a worker per node."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False})
    c.add_node(num_cpus=1, num_gpus=0)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    sample("demo", out, progress=False, **RUN)
    tag_run(out, load_tagger("demo-wd14"), progress=False)
    return out


@pytest.mark.parametrize("command", ["sample", "report"])
def test_engine_ray_without_ray_says_how_to_install(tmp_path, command):
    code = ("import sys; sys.modules['ray'] = None; from latentedit.cli.app import main; "
            f"sys.argv = ['latentedit', {command!r}, '--engine', 'ray', '--out', {str(tmp_path / 'r')!r}]; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == f"error: {INSTALL}\n"
    assert not (tmp_path / "r").exists()
    bad = subprocess.run([sys.executable, "-m", "latentedit.cli", command, "--engine", "spark", "--out", tmp_path / "r"],
                         capture_output=True, text=True)
    assert bad.stderr == "error: --engine must be one of local, ray, got 'spark'\n"


def _shards_done(run: Path) -> int:
    return sum((run / "samples" / shard_name(s)).is_dir() for s in range(SHARDS))


def _wait_for(run: Path, n: int, proc) -> int:
    deadline = time.time() + 240
    while _shards_done(run) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "the Ray run made no progress"
        time.sleep(0.02)
    return _shards_done(run)


def _shard_workers() -> list:
    """This test's Ray worker processes holding a latentedit shard worker (children of our cluster's raylets)."""
    return [p for p in psutil.Process().children(recursive=True)
            if any("_ShardWorker" in part for part in p.cmdline())]


@needs_ray
@pytest.mark.slow
def test_ray_run_killed_half_way_resumes_to_the_bytes_of_the_local_run(cluster, local_run, tmp_path):
    out = tmp_path / "run"
    args = [f"--{k.replace('_', '-')}={v}" for k, v in RUN.items()]
    driver = subprocess.Popen([sys.executable, "-m", "latentedit.cli", "sample", *args, "--out", out,
                               "--engine", "ray", "--ray-address", cluster.address], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out, 2, driver)
        workers = _shard_workers()
        assert len(workers) == 2  # one per node
        workers[0].send_signal(signal.SIGKILL)  # a worker dies: its shards go to a new one (the next test)
        before = _wait_for(out, 5, driver)  # the run went on after the worker's death
        driver.send_signal(signal.SIGKILL)  # then the driver dies
        driver.wait(30)
    finally:
        if driver.poll() is None:
            driver.kill()
    kept = _shards_done(out)
    assert before <= kept < SHARDS  # killed half way: whole shards only, some missing

    result = sample("demo", out, progress=False, engine=Engine("ray", address=cluster.address), **RUN)
    assert (result.shards, result.resumed_shards) == (SHARDS, kept)
    assert result.sampled == (SHARDS - kept) * 2 * 2  # only the missing shards were made
    assert len(result.workers.peak_mb) == 2 and all(100 < m < 4000 for m in result.workers.peak_mb)
    assert result.workers.start_s > 0 and result.workers.work_s > 0

    tagger = load_tagger("demo-wd14")
    tagged = tag_run(out, tagger, progress=False, engine=Engine("ray", address=cluster.address))
    assert (tagged.tagged, tagged.kept) == (40, 0)
    (out / "tags" / "shard-00003.npz").unlink()  # a lost tag shard: only it is scored again
    again = tag_run(out, tagger, progress=False, engine=Engine("ray", address=cluster.address, workers=1))
    assert (again.tagged, again.kept) == (4, 36)

    got, want = sums(out), sums(local_run)
    assert len(want) == 1 + SHARDS * 5 + 1 + SHARDS  # manifest, shards (codes.npz + 4 PNGs), vocab.json, tag shards
    assert got == want  # file for file, the same bytes as the local run


@needs_ray
def test_worker_errors_are_raised_as_themselves(cluster, tmp_path):
    from latentedit.errors import InputError, RunError
    from latentedit.pipeline.engine import run_shards

    def make_worker():
        def work(s):
            if s == 2:
                raise RunError("shard 2 is bad")
            return s * s
        return work

    got = {}
    stats = run_shards(Engine("ray", address=cluster.address), make_worker, range(2), got.__setitem__, progress=False)
    assert got == {0: 0, 1: 1} and len(stats.peak_mb) == 2
    with pytest.raises(RunError, match="^shard 2 is bad$"):
        run_shards(Engine("ray", address=cluster.address), make_worker, range(4), got.__setitem__, progress=False)
    with pytest.raises(InputError, match=r"needs 2 CPUs \(the torch threads it is made with\) but the largest node of "
                                         r"the cluster has 1; start a new run with --threads 1,"):
        sample("demo", tmp_path / "r", n_inputs=2, threads=2, progress=False, engine=Engine("ray", address=cluster.address))
    with pytest.raises(InputError, match="^a Ray worker on a GPU .* no node of the cluster has one; join GPU nodes or "):
        sample("demo", tmp_path / "g", n_inputs=2, threads=1, device="cuda", progress=False,
               engine=Engine("ray", address=cluster.address))


def test_the_run_records_its_threads_and_a_resume_uses_them(tmp_path):
    import shutil

    import torch

    small = dict(n_inputs=4, styles_per_input=3, inputs_per_shard=2)  # batches of 6: summed another way on 2 threads
    one = sample("demo", tmp_path / "one", progress=False, threads=1, **small).run
    two = sample("demo", tmp_path / "two", progress=False, threads=2, **small).run
    assert (one.manifest["threads"], two.manifest["threads"]) == (1, 2)
    assert sums(one.path) != sums(two.path)  # why the run records them
    want = sums(one.path)
    shutil.rmtree(one.samples_dir / "shard-00001")
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        again = sample("demo", one.path, progress=False, **small)  # threads not given: the run's 1, not this 2
        assert torch.get_num_threads() == 2  # and the caller's threads are back
    finally:
        torch.set_num_threads(old)
    assert (again.resumed_shards, again.sampled) == (1, 6)
    assert sums(one.path) == want


@needs_ray
def test_a_killed_worker_is_replaced_and_its_shards_done(cluster):
    from latentedit.pipeline.engine import run_shards

    def make_worker():
        def work(s):
            time.sleep(0.2)
            return os.getpid()
        return work

    got, killed = {}, []

    def on_result(s, pid):
        got[s] = pid
        if not killed:  # the worker of the first shard dies (with the next shard queued on it)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    stats = run_shards(Engine("ray", address=cluster.address), make_worker, range(8), on_result, progress=False)
    assert sorted(got) == list(range(8)) and len(stats.peak_mb) == 2
    assert len(set(got.values()) - set(killed)) == 2  # the other worker and the one that replaced the dead one


@needs_ray
def test_a_stylegan2_file_samples_on_ray_to_the_bytes_of_the_local_run(cluster, tmp_path):
    import torch

    from latentedit.models.stylegan2 import StyleGAN2, save_stylegan2

    torch.manual_seed(0)
    path = tmp_path / "g.safetensors"
    save_stylegan2(StyleGAN2(size=16, style_dim=32, n_mlp=2, z_dim=8, channels={4: 16, 8: 16, 16: 8}), path)
    small = dict(n_inputs=6, styles_per_input=2, inputs_per_shard=2, threads=1, progress=False)
    sample(str(path), tmp_path / "local", **small)
    ray_run = sample(str(path), tmp_path / "ray", engine=Engine("ray", address=cluster.address), **small)
    assert ray_run.sampled == 12 and len(ray_run.workers.peak_mb) == 2  # each worker loaded the file itself
    assert sums(tmp_path / "ray") == sums(tmp_path / "local")


@needs_ray
@pytest.mark.slow
def test_a_report_drawn_by_ray_workers_has_the_local_reports_numbers(cluster, local_run, tmp_path, monkeypatch):
    """Its images decoded and its untagged run tagged by Ray workers: the local report's numbers, the run's tags."""
    import json
    import shutil

    from latentedit.models.gnr import Generator
    from latentedit.pipeline import tag
    from latentedit.pipeline.report import report

    small = dict(methods=("linear",), pairs=(("long_hair", "short_hair"),), samples=8, sweep_samples=2, metric_inputs=1,
                 dfid_augmentations=2, lpips_styles=2, null_draws=1, threads=1, tagger="demo-wd14")
    local = report(local_run, out=tmp_path / "local", progress=False, **small)
    untagged = tmp_path / "untagged"
    shutil.copytree(local_run, untagged, ignore=shutil.ignore_patterns("tags", "report", ".lock"))

    def not_here(*args, **kwargs):
        raise AssertionError("the driver decoded an image")

    engines, tag_run = [], tag.tag_run
    monkeypatch.setattr(Generator, "decode", not_here)  # in this process only: the Ray workers decode every image
    monkeypatch.setattr(tag, "tag_run", lambda *a, **k: engines.append(k["engine"]) or tag_run(*a, **k))
    remote = report(untagged, out=tmp_path / "ray", progress=False, engine=Engine("ray", address=cluster.address),
                    **small)
    assert local.failed == remote.failed == {}
    assert [e.kind for e in engines] == ["ray"] and sums(untagged / "tags") == sums(local_run / "tags")

    def numbers(folder: Path, run: Path) -> dict:
        """report.json without its timings, own folder and run path, and every CSV."""
        rep = json.loads((folder / "report.json").read_text().replace(str(folder), "OUT").replace(str(run), "RUN"))
        rep.pop("seconds"), rep.pop("stages")
        return {"report.json": rep, **{p.name: p.read_bytes() for p in folder.glob("*.csv")}}

    got, want = numbers(tmp_path / "ray", untagged), numbers(tmp_path / "local", local_run)
    assert len(want) >= 4 and want["report.json"]["methods"]["linear"]["rescore"] is not None
    assert got == want
