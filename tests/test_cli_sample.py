"""`latentedit sample` through the real console entry point, on a small saved checkpoint."""

import json
import subprocess
import sys

from latentedit.models.checkpoint import save_generator


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "latentedit.cli", *map(str, args)], capture_output=True, text=True)


def test_sample_summary_and_errors(tiny_G, selfie_dir, tmp_path):
    ckpt = save_generator(tiny_G, tmp_path / "tiny.pt")
    out = tmp_path / "run"
    r = run_cli("sample", "--generator", ckpt, "--inputs", selfie_dir, "--styles-per-input", 2, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "inputs     4 used, 2 skipped" in r.stdout
    assert "skipped notes.txt: not an image file" in r.stdout
    assert "samples    8 (2 styles per input, seed 0)" in r.stdout
    assert (out / "preview.png").exists()
    assert f"generator  {ckpt.resolve()} (fingerprint " in r.stdout
    generator = json.loads((out / "manifest.json").read_text())["generator"]
    assert generator["kind"] == "checkpoint" and generator["path"] == str(ckpt.resolve())

    again = run_cli("sample", "--generator", ckpt, "--inputs", selfie_dir, "--styles-per-input", 2, "--out", out)
    assert "shards     1 (1 already done, kept)" in again.stdout

    other = run_cli("sample", "--generator", ckpt, "--inputs", selfie_dir, "--seed", 7, "--out", out)
    assert other.returncode == 2
    assert other.stderr.strip() == (
        f"error: {out} holds another run (seed 0 there, 7 asked); choose another --out or pass --overwrite to replace it"
    )

    missing = run_cli("sample", "--generator", tmp_path / "nope.pt", "--out", tmp_path / "r2")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    assert len(missing.stderr.strip().splitlines()) == 1
