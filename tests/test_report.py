"""The report: --pairs/--methods parsing, the self-contained HTML, partial reports when a stage
fails, and (slow) the whole command on a small demo run, opened in headless Chromium."""

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from latentedit.cli.report import format_pairs, parse_methods, parse_pairs
from latentedit.errors import InputError
from latentedit.pipeline.report import ReportRequest, check_pairs, report
from latentedit.reporting import html
from latentedit.reporting.schema import SCHEMA_VERSION, Report, load_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# -- parsing -------------------------------------------------------------------------------------
def test_parse_pairs():
    spec = "long_hair:short_hair, open_mouth:closed_mouth,closed_eyes"
    pairs = parse_pairs(spec)
    assert pairs == (("long_hair", "short_hair"), ("open_mouth", "closed_mouth"), ("closed_eyes", None))
    assert parse_pairs("closed_eyes:") == (("closed_eyes", None),)
    assert parse_pairs(format_pairs(pairs)) == pairs
    assert check_pairs([("a", "b"), ("c", "")]) == (("a", "b"), ("c", None))
    assert ReportRequest(pairs=[("a", "b")]).pairs == (("a", "b"),)


@pytest.mark.parametrize("spec, message", [
    ("long_hair:short_hair,", "got an empty pair"),
    ("long hair:short_hair", "got 'long hair:short_hair'"),
    ("a:a", "--pairs 'a:a': a pair cannot add and subtract the same tag"),
    ("a:b,a:b", "--pairs lists 'a:b' twice"),
])
def test_parse_pairs_errors(spec, message):
    with pytest.raises(InputError) as e:
        parse_pairs(spec)
    assert message in str(e.value)


def test_parse_methods():
    assert parse_methods("linear, svd,linear") == ("linear", "svd")
    with pytest.raises(InputError, match="unknown method 'lineer'; did you mean linear"):
        parse_methods("lineer,svd")
    with pytest.raises(InputError, match="comma-separated"):
        parse_methods("linear,,svd")
    with pytest.raises(InputError, match="unknown method 'lineer'; did you mean linear"):
        ReportRequest(methods=("lineer",))
    with pytest.raises(InputError, match="unknown ReportRequest field 'sample'; did you mean samples"):
        report("runs/none", sample=3)


# -- the HTML page -----------------------------------------------------------------------------
def _png() -> bytes:
    from latentedit.images import encode_png

    return encode_png(np.full((4, 4, 3), 200, np.uint8))


def _matrix(rows, mean):
    z = np.zeros((len(rows), 2)).tolist()
    return {"source": "scorer", "rows": rows, "columns": ["open_mouth", "short_hair"], "n": [5] * len(rows),
            "mean": mean, "std": z, "before": z, "after": z, "flip": z, "flip_on": z, "flip_off": z}


def test_html_is_self_contained_and_marks_failures():
    edit = {"add": ["open_mouth"], "sub": ["closed_mouth"], "strength": 2.0, "sub_strength": 1.0}
    report = Report.model_validate({
        "config": {"run": "runs/<demo>", "methods": ["linear", "sefa"], "samples": 5, "seed": 0},
        "stages": {"scorer": {"status": "ok", "seconds": 1.0, "cpu_seconds": 1.0},
                   "rescore:sefa": {"status": "failed", "seconds": 0.1, "cpu_seconds": 0.1, "error": "DirectionError: boom"}},
        "scorer": {"attributes": ["open_mouth", "short_hair"], "metrics": {}, "trained_on": {}, "init": "random",
                   "input_size": 64, "describe": "a scorer"},
        "methods": {"linear": {"edits": {"+open_mouth -closed_mouth": edit},
                               "rescore": _matrix(["+open_mouth -closed_mouth"], [[0.5, -0.125]])}, "sefa": {}},
        "metrics": {"rows": [{"method": "unedited", "edit": "-", "metric": "scorer-feature FD", "value": 12.5,
                              "computed": True, "standard": False, "note": "substitute"}],
                    "status": {"FID": "missing file pt_inception-2015-12-05-6726825d.pth: put it at /x"}},
    })
    page = html.render(report, {"heatmap-rescore-linear": _png(), "sweeps": _png()})
    assert "runs/&lt;demo&gt;" in page  # escaped
    assert "Partial report: 1 stage(s) failed (rescore:sefa)" in page
    assert '<td class="target">+0.500<br><small>± 0.000' in page and "<td>-0.125<br>" in page
    assert "missing file pt_inception-2015-12-05-6726825d.pth: put it at /x" in page
    assert "12.5000" in page and 'class="substitute">scorer-feature FD' in page
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == _png()
    assert "http://" not in page and "https://" not in page


# -- the pipeline on the demo world --------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A small demo-world run tagged with the world's ground-truth tags (no TensorFlow needed)."""
    from conftest import truth_tagged_run

    run = truth_tagged_run(tmp_path_factory.mktemp("runs") / "run", n_inputs=80)
    assert run.is_demo and run.input_source.kind == "demo"
    return run


@pytest.fixture(scope="module")
def small_scorer(tmp_path_factory):
    """A quickly trained scorer (not the accurate demo one): the report only needs a working scorer."""
    from latentedit.scoring.training import demo_training_data, train_scorer, DEMO_CONFIG

    x, y = demo_training_data({**DEMO_CONFIG, "n_images": 120})
    path = tmp_path_factory.mktemp("scorer") / "scorer.pt"
    train_scorer(x, y, DEMO_CONFIG["attributes"], epochs=1, input_size=32, progress=False, out=path)
    return path


def test_failed_stages_are_recorded_and_the_rest_is_kept(demo_run, small_scorer, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = report(demo_run.path, methods=["linear"], pairs=[("open_mouth", "closed_mouth")], samples=12,
                    scorer=tmp_path / "missing.pt", out=tmp_path / "rep", sweep_samples=4, metric_inputs=2,
                    dfid_augmentations=4, lpips_styles=3, progress=False)
    index, rep = result.index, result.report
    assert (index.parent / "report.json").read_text() == rep.to_json()  # written before the "files" stage ends
    assert set(result.failed) == {"scorer", "metrics:fid", "metrics:lpips"}
    status = {k: v.status for k, v in rep.stages.items()}
    assert status["scorer"] == "failed" and "does not exist" in rep.stages["scorer"].error
    assert status["rescore:linear"] == "skipped" and status["ground_truth:linear"] == "ok"
    assert status["metrics:fid"] == "failed" and "missing file pt_inception" in rep.stages["metrics:fid"].error
    assert rep.methods["linear"].ground_truth.rows == ["+open_mouth -closed_mouth"] and rep.scorer is None
    page = index.read_text()
    assert "Partial report" in page and "scorer" in page
    assert (index.parent / "ground-truth-linear.csv").read_text().startswith("source,edit,attribute,n,")
    _check_round_trip(index.parent / "report.json", tmp_path)


def _check_round_trip(path: Path, tmp_path: Path):
    """report.json -> the same Report -> the same bytes; another schema_version is refused in one line."""
    text = path.read_text()
    loaded = load_report(path.parent)
    assert loaded.to_json() == text and loaded == Report.model_validate_json(text)
    assert list(loaded.methods) == json.loads(text)["config"]["methods"]  # in the order asked, as on the page
    doc = json.loads(text)
    for version, hint in ((SCHEMA_VERSION + 1, "upgrade latentedit"), (None, "rebuild it")):
        (tmp_path / "other.json").write_text(json.dumps({**doc, "schema_version": version} if version else
                                                        {k: v for k, v in doc.items() if k != "schema_version"}))
        with pytest.raises(InputError) as e:
            load_report(tmp_path / "other.json")
        assert f"schema_version {version or 1}; this latentedit reads {SCHEMA_VERSION} only ({hint}" in str(e.value)
        assert "\n" not in str(e.value)
    (tmp_path / "bad.json").write_text(json.dumps({**doc, "methods": {"linear": {"edits": 3}}}))
    with pytest.raises(InputError, match=r"bad.json: not a valid report.json: methods.linear.edits: "):
        load_report(tmp_path / "bad.json")


def test_the_exported_json_schema_is_the_models():
    exported = Path(__file__).parents[1] / "docs" / "report.schema.json"
    assert json.loads(exported.read_text()) == Report.model_json_schema(), \
        "regenerate: python -m latentedit.reporting.schema > docs/report.schema.json"


@pytest.mark.slow
def test_report_end_to_end_in_headless_chromium(demo_run, small_scorer, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = report(demo_run.path, ReportRequest(samples=16, scorer=small_scorer, out=tmp_path / "rep", sweep_samples=6,
                                                 metric_inputs=2, dfid_augmentations=12, lpips_styles=4), progress=False)
    index, rep = result.index, load_report(result.out)
    assert rep == result.report
    failed = {k: v for k, v in rep.stages.items() if v.status != "ok"}
    assert not failed, failed
    pairs = ["+long_hair -short_hair", "+open_mouth -closed_mouth", "+closed_eyes"]
    assert list(rep.methods) == ["linear", "lasso", "svd", "sefa"]
    for method, r in rep.methods.items():
        assert r.rescore.rows == pairs and r.ground_truth.rows == pairs
        assert r.edits["+long_hair -short_hair"].sub == ["short_hair"]
        assert len({tuple(np.round(row, 6)) for row in r.rescore.mean}) == len(pairs)  # each row its own numbers
    metrics = {(r.method, r.edit, r.metric) for r in rep.metrics.rows if r.computed}
    assert ("unedited", "-", "scorer-feature FD") in metrics and ("svd", "+closed_eyes", "scorer-feature DFD") in metrics
    assert not any(r.standard for r in rep.metrics.rows)  # no weights here: substitutes only
    _check_round_trip(result.out / "report.json", tmp_path)
    for name in ("rescore-svd.csv", "ground-truth-sefa.csv", "metrics.csv", "sweeps.csv"):
        assert (index.parent / name).stat().st_size > 100

    profile = tmp_path / "chromium-profile"
    base = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*base, "--dump-dom", index.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<table") >= 10 and "+long_hair -short_hair" in dom and "Strength sweeps" in dom
    srcs = re.findall(r'<img[^>]*src="([^"]*)"', dom)
    assert len(srcs) == 4 * 3 + 1 + 3  # per method: 2 heatmaps and an edit grid; one sweep plot; a verdict strip per edit
    assert all(s.startswith("data:image/png;base64,") and len(s) > 1000 for s in srcs)
    shot = tmp_path / "shot.png"
    subprocess.run([*base, "--window-size=1400,2400", f"--screenshot={shot}", index.as_uri()], capture_output=True,
                   timeout=120, check=True)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1400)
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # text, tables, heatmaps


# -- the controls every rate is read against (issue 31) ------------------------------------------
def test_any_other_change_counts_faces_and_travels_with_floor_and_drift_to_csv_card_and_tables():
    from latentedit.reporting.verdict import side_effects_html, verdict_csv, verdict_html, verdicts
    from latentedit.scoring.sideeffects import EffectRow, Rate, SideEffectTable, edit_effects, rate

    z = np.zeros(4, int)
    before = {"open_mouth": z, "smile": z, "blush": z}
    after = {"open_mouth": np.array([1, 1, 0, 0]), "smile": np.array([0, 1, 1, 0]), "blush": np.array([0, 0, 1, 1])}
    row = edit_effects("+open_mouth", before, after, ("open_mouth", 1))
    # faces 1, 2, 3 changed something other than the target: not the worst one (2), not the sum (4), not 4 with it
    assert row.any_change == Rate(0.75, 3, 4) and row.worst == ("smile", 0.5)
    row.floor = {"smile": rate(np.arange(300) < 240), "blush": rate(np.arange(300) < 3)}
    row.floor_any = rate(np.arange(300) < 30)
    row.drift = {"hair": {"median": 2.5, "p90": 7.25, "n": 4}, "eyes": {"median": float("nan"), "p90": float("nan"),
                                                                       "n": 0}}
    assert EffectRow.from_dict(row.to_dict()).to_dict() == row.to_dict()
    table = {"source": "ground truth", "attributes": list(before), "rows": [row.to_dict()]}
    lines = set(SideEffectTable.from_dict(table).to_csv().splitlines())
    assert "ground truth,+open_mouth,any other,any_change,0.750000,0.433013,0.300636,0.954414,3,4" in lines
    assert "ground truth,+open_mouth,smile,floor,0.800000,0.400000,0.751070,0.841344,240,300" in lines
    assert "ground truth,+open_mouth,any other,floor,0.100000,0.300000,0.070947,0.139167,30,300" in lines

    edit = {"add": ["open_mouth"], "sub": [], "strength": 2.0, "sub_strength": 0.0}
    rep = Report.model_validate({
        "config": {"run": "runs/demo", "methods": ["linear"], "samples": 4, "seed": 0, "null_draws": 3,
                   "faces": "/r/faces", "faces_seed": 2**32},
        "methods": {"linear": {"edits": {"+open_mouth": edit}, "side_effects": {"ground truth": table}}},
        "reliability": {"smile": rate(np.arange(100) < 89).to_dict(), "open_mouth": rate(np.arange(100) < 95).to_dict()},
        "goal": {"success": 0.95, "side_effect": 0.03}})
    rep.verdict = verdicts(rep)
    v = rep.verdict["+open_mouth"]
    assert v.effects.any_change.rate == 0.75 and v.candidates[0].any_change.count == 3
    assert v.best.command == "latentedit edit runs/demo --add open_mouth --method linear --inputs /r/faces " \
                             "--inputs-seed 4294967296"
    # smile 2/4 is not above its floor 80% (intervals overlap); blush 2/4 and any other 3/4 are above theirs
    assert v.effects.above_floor("smile") is False and v.effects.above_floor("blush") is True
    assert v.effects.above_floor("any") is True and v.effects.above_floor("eye_color") is None
    card = verdict_html(rep, {})
    assert "anything else changed <b>75.0%</b> <small>[30–95%]</small>" in card
    assert "floor 80.0% ≈ noise" in card and "floor 10.0%</span>" in card  # worst (smile) and any other
    assert "smile <b>89.0%</b>" in card and "open mouth <b>95.0%</b>" in card and "3 random directions" in card
    assert "hair 2.5/7.2 · eyes –/–" in card
    tables = side_effects_html(rep)
    assert "floor 1.0%</span>" in tables and "<th>any other changed</th>" in tables
    assert verdict_csv(rep)["verdict.csv"].splitlines()[1].endswith(",0.750000")
