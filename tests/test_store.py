"""The run store and sampling: layout, determinism, resume after kill -9, bad input."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import torch
import pytest

from latentedit.errors import InputError, RunError
from latentedit.pipeline.sample import SampleRequest, sample, style_codes
from latentedit.store import Run


def tree_digest(root):
    """sha256 of every file under root except the manifest's volatile parts."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def test_layout_and_codes(tiny_G, selfie_dir, tmp_path):
    request = SampleRequest(inputs=selfie_dir, styles_per_input=3, seed=1, batch_size=2, inputs_per_shard=2)
    result = sample(tiny_G, tmp_path / "run", request, progress=False)
    run = result.run
    assert (result.shards, result.resumed_shards, result.sampled) == (2, 0, 12)
    m = run.manifest
    assert m["n_inputs"] == 4 and m["n_samples"] == 12 and m["complete"]
    assert [i["name"] for i in m["inputs"]] == ["a.png", "b_rgba.png", "c_gray.jpg", "d.jpg"]
    skipped = {s["name"]: s["reason"] for s in m["skipped"]}
    assert skipped["notes.txt"] == "not an image file"
    assert "e_corrupt.png" in skipped
    assert m["generator"]["kind"] == "in-memory" and run.generator_source is None and not run.is_demo
    assert run.input_source.kind == "folder" and run.input_source.path == selfie_dir.resolve()
    assert run.shards() == ["shard-00000", "shard-00001"]
    codes = run.codes()
    assert codes["id"].tolist() == list(range(12))
    assert codes["input_id"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert codes["z"].shape == (12, 8) and codes["w"].shape == (12, 512)
    np.testing.assert_array_equal(codes["z"][3:6], style_codes(1, 1, 3, 8))
    np.testing.assert_allclose(codes["w"], tiny_G.mapping(torch.from_numpy(codes["z"])).numpy(), rtol=1e-5, atol=1e-5)
    assert run.images([0, 11]).shape == (2, 32, 32, 3)


def test_same_seed_same_bytes(tiny_G, tmp_path):
    a = sample(tiny_G, tmp_path / "a", n_inputs=5, seed=3, batch_size=4, inputs_per_shard=2, progress=False).run
    b = sample(tiny_G, tmp_path / "b", n_inputs=5, seed=3, batch_size=4, inputs_per_shard=2, progress=False).run
    c = sample(tiny_G, tmp_path / "c", n_inputs=5, seed=4, batch_size=4, inputs_per_shard=2, progress=False).run
    da, db = tree_digest(a.path / "samples"), tree_digest(b.path / "samples")
    assert da == db and len(da) == 3 + 15
    assert tree_digest(c.path / "samples") != da


def test_other_run_refused_then_overwrite(tiny_G, tmp_path):
    sample(tiny_G, tmp_path / "r", n_inputs=2, seed=0, progress=False)
    with pytest.raises(RunError) as e:
        sample(tiny_G, tmp_path / "r", n_inputs=2, seed=1, progress=False)
    assert str(e.value) == f"{tmp_path / 'r'} holds another run (seed 0 there, 1 asked); choose another --out or pass --overwrite to replace it"
    run = sample(tiny_G, tmp_path / "r", n_inputs=2, seed=1, overwrite=True, progress=False).run
    assert run.manifest["seed"] == 1 and len(run.codes()["id"]) == 6


def test_bad_inputs(tiny_G, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        sample(tiny_G, tmp_path / "r", inputs=tmp_path / "nope", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as e:
        sample(tiny_G, tmp_path / "r", inputs=tmp_path / "empty", progress=False)
    assert str(e.value) == f"no readable images in {tmp_path / 'empty'} (0 files skipped)"
    with pytest.raises(RunError, match="not a latentedit run"):
        Run(tmp_path)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from conftest import tiny_generator
    import latentedit
    from latentedit.store import Run
    real = Run.write_shard
    def write_then_die(run, index, codes, pngs):
        if index == 2:
            tmp = run.samples_dir / ".shard-00002.tmp-dying"
            tmp.mkdir(parents=True)
            (tmp / "codes.npz").write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGKILL)
        return real(run, index, codes, pngs)
    Run.write_shard = write_then_die
    latentedit.sample(tiny_generator(), {out!r}, n_inputs=7, seed=5, batch_size=3, inputs_per_shard=2, threads=1,
                      progress=False)
    """
)


def test_resume_after_kill_gives_identical_bytes(tmp_path):
    import pathlib

    from conftest import tiny_generator

    tests = str(pathlib.Path(__file__).parent)
    out = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", KILLER.format(tests=tests, out=str(out))], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert sorted(p.name for p in (out / "samples").iterdir()) == [".shard-00002.tmp-dying", "shard-00000", "shard-00001"]
    assert json.loads((out / "manifest.json").read_text())["complete"] is False

    resumed = sample(tiny_generator(), out, n_inputs=7, seed=5, batch_size=3, inputs_per_shard=2, threads=1,
                     progress=False)
    assert (resumed.shards, resumed.resumed_shards, resumed.sampled) == (4, 2, 9)
    fresh = sample(tiny_generator(), tmp_path / "fresh", n_inputs=7, seed=5, batch_size=3, inputs_per_shard=2,
                   threads=1, progress=False)  # (the runs' threads are recorded: a worker process may have another default)
    assert tree_digest(out / "samples") == tree_digest(fresh.run.path / "samples")
    assert resumed.run.manifest == fresh.run.manifest


def test_manifest_records_generator_and_inputs_once_and_old_manifests_upgrade(tiny_G, selfie_dir, tmp_path):
    from latentedit.pipeline.sample import demo_inputs, folder_inputs, run_inputs

    run = sample(tiny_G, tmp_path / "run", inputs=selfie_dir, styles_per_input=1, progress=False).run
    m = json.loads((run.path / "manifest.json").read_text())
    assert m["format"] == "latentedit-run/2" and "inputs_dir" not in m and "source" not in m["generator"]
    assert m["generator"]["kind"] == "in-memory" and m["input_source"] == {"kind": "folder", "path": str(selfie_dir.resolve())}
    again, fresh = run_inputs(run, 32), folder_inputs(selfie_dir, 32)
    assert again.names == fresh.names and all(torch.equal(again.load(i), fresh.load(i)) for i in range(4))
    demo = sample(tiny_G, tmp_path / "demo", n_inputs=2, seed=7, styles_per_input=1, progress=False).run
    assert demo.input_source.kind == "demo" and demo.input_source.seed == 7
    assert torch.equal(run_inputs(demo, 32).load(1), demo_inputs(2, 7, 32).load(1))

    old = {k: v for k, v in m.items() if k != "input_source"}
    old.update(format="latentedit-run/1", inputs_dir=str(selfie_dir),
               generator={**{k: v for k, v in m["generator"].items() if k not in ("kind", "path")}, "source": "/x/G.pt"})
    (run.path / "manifest.json").write_text(json.dumps(old))
    upgraded = Run(run.path)
    assert upgraded.generator_kind == "checkpoint" and upgraded.generator_source == "/x/G.pt" and not upgraded.is_demo
    assert upgraded.input_source.kind == "folder" and upgraded.input_source.path == selfie_dir
    old.update(generator={**old["generator"], "source": "demo"}, inputs_dir=None)
    (run.path / "manifest.json").write_text(json.dumps(old))
    assert Run(run.path).is_demo and Run(run.path).input_source.kind == "demo"


def test_write_folder_replaces_whole_and_keeps_foreign_folders(tmp_path):
    from latentedit.store import write_folder

    out = write_folder(tmp_path / "rep", {"report.json": "{}", "figures/a.png": b"\x89PNG"}, "report")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["figures/a.png", "report.json"]
    write_folder(out, {"report.json": "{}\n"}, "report")  # an earlier report is replaced whole
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["report.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no temporary folders left
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(InputError) as e:
        write_folder(tmp_path / "mine", {"report.json": "{}"}, "report")
    assert str(e.value) == f"--out {tmp_path / 'mine'} exists and is not an earlier report output; choose a new or empty folder"
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_requests_refuse_unknown_fields_and_bad_values(tiny_G, tmp_path):
    with pytest.raises(InputError) as e:
        sample(tiny_G, tmp_path / "r", n_input=3, progress=False)
    assert str(e.value) == "unknown SampleRequest field 'n_input'; did you mean n_inputs, inputs, styles_per_input?"
    with pytest.raises(InputError, match="^--styles-per-input must be at least 1$"):
        SampleRequest(styles_per_input=0)
    with pytest.raises(InputError, match="^--batch-size must be at least 1$"):
        sample(tiny_G, tmp_path / "r", SampleRequest(), batch_size=0, progress=False)
    assert not (tmp_path / "r").exists()
