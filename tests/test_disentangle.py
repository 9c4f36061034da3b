"""Edits that change only what they say (issue 11): conditional edits, automatic conditions and
layers, per-sample strengths, the joint pixel readout, side-effect tables, and the report's first
screen in headless Chromium."""

import json
from types import SimpleNamespace
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from latentedit.directions import DirectionSet, fit_directions
from latentedit.editing import Edit, EditSession, EditSpec
from latentedit.editing.auto import PER_SAMPLE_FACTORS, Trial, choose_layers, hold, per_sample, utility
from latentedit.errors import InputError, TagError
from latentedit.pipeline.autoedit import AutoOptions
from latentedit.scoring.sideeffects import edit_effects, side_effect_table, sure_changes, tag_reads
from latentedit.world import render, truth
from latentedit.world.batch_readout import ATTRIBUTES, BatchReader, changes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def truth_run(tmp_path_factory):
    """A demo-world run (40 selfies x 3 styles) tagged with the world's ground-truth tags."""
    from conftest import truth_tagged_run

    return truth_tagged_run(tmp_path_factory.mktemp("runs") / "run", n_inputs=40)


@pytest.fixture(scope="module")
def G():
    from latentedit.models.generator import load_generator

    return load_generator("demo")


@pytest.fixture(scope="module")
def linear(truth_run, G):
    return fit_directions(truth_run, "linear", generator=G, include=["closed_mouth"])


@pytest.fixture(scope="module")
def tagger():
    from latentedit.tagging import load_tagger

    return load_tagger("demo")


def _orthonormal(V):
    u, s, vt = np.linalg.svd(np.asarray(V, np.float64), full_matrices=False)
    return vt[s > 1e-10 * s[0]]


# -- conditional edits ---------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [("smile",), ("smile", "blush", "black_hair"),
                                  ("smile", "blush", "black_hair", "blue_eyes", "closed_eyes", "white_background")])
@pytest.mark.parametrize("layers", [None, "coarse"])
def test_conditional_edit_removes_exactly_the_kept_directions(linear, G, keep, layers):
    session = EditSession(G, linear)
    plain = session.delta(EditSpec.paired("long_hair", "short_hair", layers=layers)).astype(np.float64)
    kept = session.delta(EditSpec.paired("long_hair", "short_hair", layers=layers, keep=keep)).astype(np.float64)
    V = np.stack([linear.vector(t) for t in keep]).astype(np.float64)
    Q = _orthonormal(V)
    rows_plain, rows_kept = np.atleast_2d(plain), np.atleast_2d(kept)
    scale = np.linalg.norm(plain)
    assert np.abs(rows_kept @ V.T).max() <= 1e-5 * scale  # no component left along any kept direction
    expected = rows_plain - (rows_plain @ Q.T) @ Q        # and nothing else removed
    np.testing.assert_allclose(rows_kept, expected, atol=1e-5 * scale)
    if layers is not None:  # W+: the other layers do not move at all
        moved = set(session.resolve(EditSpec.paired("long_hair", layers=layers)).layers)
        for i in range(len(rows_kept)):
            if i not in moved:
                assert not rows_kept[i].any()
    assert np.linalg.norm(rows_kept - rows_plain) > 1e-3 * scale  # the conditions did change the step


def test_keep_option_takes_comma_lists_and_auto():
    from cli.options import parse_layers, parse_tags

    assert parse_tags(["smile,blush", "black_hair", "smile"]) == ("smile", "blush", "black_hair")
    assert parse_tags(["auto"]) == ("auto",) and parse_layers("auto") == "auto" and parse_tags(None) == ()
    with pytest.raises(InputError, match=r"--keep takes TAG\[,TAG...\]; got an empty tag in 'smile,'"):
        parse_tags(["smile,"])


# -- automatic conditions and layers -------------------------------------------------------------
def test_keep_auto_and_layers_auto_choose_and_record(truth_run, tagger, tmp_path):
    from latentedit.pipeline.edit import EditRequest, edit

    req = EditRequest(add=("closed_eyes",), method="linear", auto=AutoOptions(keep=True, layers=True), samples=4,
                      fit=True, seed=3, tagger=tagger, out=tmp_path / "e")
    result = edit(truth_run.path, req)
    record = json.loads((tmp_path / "e" / "edit.json").read_text())
    auto = record["auto"]
    assert auto["asked"] == {"keep": ["auto"], "layers": "auto"}
    with pytest.raises(TagError, match="^unknown tag 'auto'"):  # no sentinel among the tags: AutoOptions says it
        edit(truth_run.path, replace(req, auto=AutoOptions(), keep=("auto",), out=None))
    assert [c["kind"] for c in auto["choices"]] == ["layers", "keep"]
    assert auto["measured_on"]["samples"] == 48 and auto["measured_on"]["seed"] == 3
    layers, keep = auto["choices"]
    # the layer range chosen is the best of those measured, by the module's one utility
    trials = [Trial(Edit.from_dict(t["edit"]), t["success"], tuple(t["worst"]), t["total_side_effect"], t["changes"])
              for t in layers["trials"]]
    best = max(range(len(trials)), key=lambda i: (utility(trials[i]), -i))
    assert [t["accepted"] for t in layers["trials"]] == [i == best for i in range(len(trials))]
    assert len(layers["trials"]) >= 4 and layers["reason"].startswith(f"layers {layers['trials'][best]['note']}:")
    # every condition kept raised the utility; what was chosen is what was applied and written
    assert keep["trials"][0]["note"] == "the edit as asked" and keep["reason"]
    chosen = Edit.from_dict(auto["chosen"])
    assert record["keep"] if chosen.keep else "keep" not in record
    assert tuple(record.get("keep", ())) == chosen.keep
    session = EditSession(truth_run_generator(truth_run), DirectionSet.load(truth_run.directions_path("linear", "w")))
    assert record["layer_indices"] == (None if chosen.layers is None else list(chosen.layers))
    np.testing.assert_allclose(result.edited[0], session.apply(result.codes, chosen), atol=1e-6)


def truth_run_generator(run):
    from latentedit.models.generator import generator_for_run

    return generator_for_run(run)


def test_auto_needs_a_run(tmp_path, selfie_dir):
    from latentedit.pipeline.edit import edit

    with pytest.raises(InputError, match="measure the edit on a run's own samples: give a RUN"):
        edit(selfie_dir, add="closed_eyes", auto=AutoOptions(keep=True), directions=_demo_set(tmp_path))


def _demo_set(tmp_path, names=("closed_eyes", "smile")):
    from latentedit.directions import DirectionSet
    from latentedit.models.generator import fingerprint, load_generator

    G = load_generator("demo")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((2, G.style_dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    path = tmp_path / f"{'-'.join(names)}.npz"
    DirectionSet("linear", "w", list(names), vectors, {}, fingerprint(G), {}, code_scale=0.7).save(path)
    return path


def test_faces_whose_steps_mix_w_and_w_plus_are_refused(linear, G):
    from latentedit.editing import recipe as R
    from latentedit.pipeline.edit import _edited

    session = EditSession(G, linear)
    codes = np.zeros((2, G.style_dim), np.float32)
    terms = (("long_hair", 1.0),)
    faces = [R.Face(style=R.SampleStyle(sample_id=i), content=R.RunInputContent(input_id=i),
                    steps=(R.RecipeEdit(terms=terms, layers=layers, keep=(), opposite=()),))
             for i, layers in enumerate(("coarse", None))]
    with pytest.raises(InputError, match=r"^these faces' steps mix w and W\+ edits; edit them separately$"):
        _edited(session, codes, faces, Edit(terms))
    same = _edited(session, codes, [faces[1], faces[1]], Edit(terms))  # one kind: each face its own chain
    np.testing.assert_allclose(same, session.apply(codes, Edit(terms)), atol=1e-6)


def test_per_sample_and_hold_on_new_selfies_and_their_limits(tmp_path, selfie_dir, tagger):
    from latentedit.pipeline.edit import edit
    from latentedit.pipeline.recipes import load

    result = edit(selfie_dir, add="closed_eyes", auto=AutoOptions(per_sample=True, hold=True), directions=_demo_set(tmp_path),
                  tagger=tagger, out=tmp_path / "e")
    per_face = result.record["per_face"]
    assert per_face["hold"]["not_corrected"] == ["closed_eyes"]  # no run: only the edit's own tag is left alone
    assert len(per_face["per_sample"]["factors"]) == len(result.labels)
    label = result.labels[0]
    edit(recipe=tmp_path / "e" / "after" / f"{label}.png", inputs=selfie_dir, out=tmp_path / "again",
         directions=_demo_set(tmp_path))
    first, again = (load(tmp_path / d / "recipe.json").faces[0] for d in ("e", "again"))
    assert again.steps == first.steps
    png = f"after/{label}.png"
    assert (tmp_path / "again" / png).read_bytes() == (tmp_path / "e" / png).read_bytes()
    with pytest.raises(InputError, match=r"^--per-sample and --hold read the added tag 'cat_ears' with the tagger, "
                                         r"which does not have it$"):
        edit(selfie_dir, add="cat_ears", auto=AutoOptions(per_sample=True), directions=_demo_set(tmp_path, ("cat_ears", "smile")),
             tagger=tagger)


def test_choose_layers_prefers_the_goal_then_success_minus_side_effect(linear, G):
    """The decision rule on a callback whose numbers are known (rates of real arrays)."""
    session = EditSession(G, linear)
    outcomes = {None: (0.99, 0.30), "coarse": (0.96, 0.02), "middle": (0.20, 0.0), "fine": (0.0, 0.0)}

    def measure(edit):
        key = session.layers_spec(edit.layers)
        key = key if isinstance(key, (str, type(None))) else "union"
        success, side = outcomes.get(key, (0.5, 0.5))
        n = 100
        before = {"t": np.zeros(n), "o": np.zeros(n)}
        after = {"t": (np.arange(n) < success * n).astype(float), "o": (np.arange(n) < side * n).astype(float)}
        return edit_effects("e", before, after, ("t", 1))

    choice = choose_layers(session, session.resolve(EditSpec.paired("long_hair", "short_hair")), measure)
    assert session.layers_spec(choice.edit.layers) == "coarse" and choice.reason.startswith("layers coarse: success 96%")
    outcomes["coarse"] = (0.96, 0.05)  # no range meets the goal: success - worst decides (0.91 vs 0.69)
    choice = choose_layers(session, session.resolve(EditSpec.paired("long_hair", "short_hair")), measure)
    assert session.layers_spec(choice.edit.layers) == "coarse"


# -- per-sample strengths --------------------------------------------------------------------------
def test_per_sample_takes_the_smallest_multiple_that_reaches_the_target(linear, G):
    from latentedit.scoring.demo import DemoBatch

    batch = DemoBatch.sample(G, 8, seed=5)
    reader = BatchReader(batch.geometry, batch.z)
    session = EditSession(G, linear, batch_size=1)  # a face's pixels do not depend on the batch
    edit = EditSpec.paired("closed_eyes", layers="middle")
    factors = (0.0, 0.25, 0.5, 1.0, 2.0)  # 0: a face whose eyes are closed already stays as it is

    def reached(images, index):  # the pixel readout as the callback: closed eyes shown
        return np.array([reader.read_image(int(i), img)["closed_eyes"] == 1 for img, i in zip(images, index)])

    edit = session.resolve(edit)
    result = per_sample(session, batch.content, batch.w, edit, reached, factors)
    w = batch.w.numpy()
    shown = np.stack([reached(session.render(batch.content, w, edit.scaled(f)), range(8))
                      for f in factors], axis=1)  # (sample, factor)
    for i in range(8):
        k = factors.index(result.factors[i])
        if result.reached[i]:
            assert shown[i, k] and not shown[i, :k].any()  # the smallest multiple that shows it
        else:
            assert k == len(factors) - 1 and not shown[i].any()
        expected = session.apply(w[i: i + 1], edit.scaled(result.factors[i]))
        np.testing.assert_allclose(result.codes[i], expected[0], atol=1e-6)
    assert result.reached.mean() >= 0.5
    shown_before = shown[:, 0]
    assert shown_before.any() and (result.factors[shown_before] == 0).all()
    kept = result.codes[shown_before]  # W+ (a layer range was edited), every layer the unedited w
    np.testing.assert_array_equal(kept, np.broadcast_to(w[shown_before][:, None], kept.shape))
    given = per_sample(session, batch.content, batch.w, edit, reached, factors, before=session.decode(batch.content, w))
    np.testing.assert_array_equal(given.images, result.images)  # the unedited decodes given: the same faces
    np.testing.assert_array_equal(given.factors, result.factors)


def test_hold_steps_back_along_what_moved_and_keeps_the_target(linear, G):
    from latentedit.scoring.demo import DemoBatch

    batch = DemoBatch.sample(G, 24, seed=5)
    reader = BatchReader(batch.geometry, batch.z)
    session = EditSession(G, linear, batch_size=1)
    edit = session.resolve(EditSpec.paired("long_hair", "short_hair"))
    own = ("long_hair", "short_hair")
    w = batch.w.numpy()
    edited = session.apply(w, edit)
    images = session.decode(batch.content, edited)
    before = reader.read(session.decode(batch.content, w))["hair_color"]
    colours = [f"{c}_hair" for c in truth.HAIR_COLORS]

    def moved(imgs, index):  # the pixel readout as the callback: a hair colour that left its unedited one
        out = []
        for img, i in zip(imgs, index):
            now, old = int(reader.read_image(int(i), img)["hair_color"]), int(before[i])
            out.append({} if now == old else {colours[old]: 1, colours[now]: -1})
        return out

    def reached(imgs, index):
        return np.array([reader.read_image(int(i), img)["hair_length"] > truth.LONG_ABOVE for img, i in zip(imgs, index)])

    held = hold(session, batch.content, edited, images, edit, moved, reached)
    moved_before = sum(bool(m) for m in held.moved_before)
    assert moved_before >= 2  # the plain linear hair edit drags the hair colour of some of these faces
    assert sum(bool(m) for m in held.moved_after) < moved_before
    vectors = np.stack([linear.vector(t) for t in own])
    for i, c in enumerate(held.corrections):
        assert len(held.moved_after[i]) <= len(held.moved_before[i])
        if not c:  # nothing moved, or no step helped: the sample is left exactly as edited
            np.testing.assert_array_equal(held.codes[i], edited[i])
            np.testing.assert_array_equal(held.images[i], images[i])
            continue
        assert set(c) <= set(colours) and set(held.moved_before[i]) <= set(c)  # stepped along what moved
        step = held.codes[i] - edited[i]
        np.testing.assert_allclose(step @ vectors.T, 0, atol=1e-4)  # off the edit's own directions
        expected = session.apply(edited[i: i + 1], Edit(tuple(c.items()), keep=own))[0]
        np.testing.assert_allclose(held.codes[i], expected, atol=1e-5)
        assert reached(held.images[i: i + 1], [i])[0]  # the target still shows


def test_edit_per_sample_and_hold_give_each_face_its_steps_and_its_recipe_remakes_it(truth_run, tagger, tmp_path):
    from cli.edit import _per_face_lines
    from latentedit.editing import recipe as R
    from latentedit.pipeline.edit import EditRequest, edit
    from latentedit.pipeline.recipes import load

    req = EditRequest(add=("long_hair",), sub=("short_hair",), method="linear",
                      auto=AutoOptions(per_sample=True, hold=True), samples=6, fit=True, seed=1, tagger=tagger, out=tmp_path / "e")
    result = edit(truth_run.path, req)
    record = json.loads((tmp_path / "e" / "edit.json").read_text())
    each, held = record["per_face"]["per_sample"], record["per_face"]["hold"]
    a, b = record["strength"], record["sub_strength"]
    recipe = load(tmp_path / "e" / "recipe.json")
    assert recipe.version == 2 and recipe.edit.terms == (("long_hair", a), ("short_hair", -b))  # the edit as asked
    session = EditSession(truth_run_generator(truth_run), DirectionSet.load(truth_run.directions_path("linear", "w")))
    for i, face in enumerate(recipe.faces):
        f = each["factors"][i]
        assert f in PER_SAMPLE_FACTORS
        assert face.steps[0].terms == (("long_hair", a * f), ("short_hair", -b * f))  # its own strength
        correction = held["corrections"][i]
        assert len(face.steps) == 1 + bool(correction)
        if correction:  # the hold step: along what moved, off the edit's own directions
            assert face.steps[1].keep == ("long_hair", "short_hair")
            assert {t: round(s, 4) for t, s in face.steps[1].terms} == correction
        np.testing.assert_array_equal(result.edited[0][i], session.apply_all(result.codes[i: i + 1],
                                                                             [session.resolve(e) for e in R.step_edits(face)])[0])
    scores = tagger.score(result.after[0])[np.array(each["reached"])]
    column = list(tagger.tags).index
    assert (scores[:, column("long_hair")] >= 0.97).all()  # the target shows where it was reached...
    assert (scores[:, [column("short_hair"), column("medium_hair")]] <= 0.05).all()  # ...and no other hair length
    assert sum(map(len, held["moved_after"])) <= sum(map(len, held["moved_before"]))
    lines = _per_face_lines(record["per_face"])
    counts = {f: each["factors"].count(f) for f in sorted(set(each["factors"]))}
    shown = {0.0: " showing it already"}
    left = [i for i, f in enumerate(each["factors"]) if f == 0]
    assert left, "the seeded run has faces with long hair already; they must be left at x0"
    for i in left:  # left as they are: no correction, the unedited code
        assert not held["corrections"][i]
        np.testing.assert_array_equal(result.edited[0][i], np.asarray(result.codes[i], np.float32))
    assert lines[0] == ("per sample strength multiples (faces): " + ", ".join(f"x{f:g} ({n}{shown.get(f, '')})"
                                                                              for f, n in counts.items())
                        + f"; the tagger sees the target on {sum(each['reached'])} of 6 (long_hair score >= 0.97 with short_hair, medium_hair <= 0.05)")
    assert lines[1].startswith(f"hold       {sum(bool(c) for c in held['corrections'])} of 6 faces corrected")
    # a face's PNG re-applies its own steps, the before PNG the unedited face; the same bytes
    assert any(held["corrections"])  # some face was corrected, so its PNG carries two steps
    label = result.labels[int(np.argmax([len(c) for c in held["corrections"]]))]
    assert load(tmp_path / "e" / "before" / f"{label}.png").faces[0].steps is None
    again = edit(truth_run.path, recipe=tmp_path / "e" / "after" / f"{label}.png", out=tmp_path / "again")
    assert again.record.get("per_face") is None and load(tmp_path / "again" / "recipe.json").faces[0].steps
    png = f"after/{label}.png"
    assert (tmp_path / "again" / png).read_bytes() == (tmp_path / "e" / png).read_bytes()
    with pytest.raises(InputError, match=r"^--per-sample and --hold would fit the edit to each face; a --sweep "
                                         r"sets the strengths of every face alike: give one or the other$"):
        EditRequest(add=("long_hair",), auto=AutoOptions(per_sample=True, hold=True), sweep=(1.0, 2.0))
    with pytest.raises(InputError, match=r"^a recipe re-applies its own edit, face by face; --hold would choose a "
                                         r"new one: give one or the other$"):
        EditRequest(recipe=tmp_path / "e" / "recipe.json", auto=AutoOptions(hold=True))


# -- the joint readout and the side-effect table --------------------------------------------------
@pytest.fixture(scope="module")
def renders():
    images, z, geometry = render.demo_anime(40, seed=7)
    return images, z, geometry, truth.attributes(z)


def _rendered(geometry, attrs, change):
    return np.stack([render.render_anime(render.take(geometry, i), {**render.take(attrs, i), **change(render.take(attrs, i))})
                     for i in range(len(attrs["hair_length"]))])


def test_joint_readout_reads_what_changed_and_only_that(renders):
    images, z, geometry, attrs = renders
    reader = BatchReader(geometry, z)
    before = reader.read(images)
    assert all((before[a] == attrs[a]).all() for a in ("hair_length_class", "hair_color", "closed_eyes", "open_mouth",
                                                       "smile", "blush"))
    assert np.abs(before["background"] - attrs["background"]).max() < 0.01
    opened = _rendered(geometry, attrs, lambda a: {"open_mouth": 1 - a["open_mouth"]})
    after = reader.read(opened)
    changed = changes(before, after)
    assert changed["open_mouth"].all() and not any(changed[a].any() for a in ATTRIBUTES if a != "open_mouth")


def test_success_rate_counts_only_the_samples_that_could_change(renders):
    images, z, geometry, attrs = renders
    reader = BatchReader(geometry, z)
    before = reader.read(images)
    long_hair = _rendered(geometry, attrs, lambda a: {"hair_length": 1.2, "hair_length_class": 2})
    table = side_effect_table("ground truth", before, {"+long_hair": reader.read(long_hair)},
                              {"+long_hair": ("hair_length_class", 2)}, changes, ATTRIBUTES)
    row = table.row("+long_hair")
    could = int((attrs["hair_length_class"] != 2).sum())
    assert 0 < could < 40
    assert (row.success.rate, row.success.count, row.success.n) == (1.0, could, could)
    assert row.target_changed.rate == pytest.approx(could / 40) and row.target_changed.rate < 1.0  # over all: less
    assert row.worst[1] == 0.0 and all(r.rate == 0.0 and r.n == 40 for r in row.changes.values())
    assert row.success.ci95[0] > 0.85 and row.success.std == 0.0
    csv = table.to_csv().splitlines()
    assert csv[0] == "source,edit,attribute,kind,rate,std,ci95_low,ci95_high,count,n"
    assert csv[1].startswith(f"ground truth,+long_hair,hair_length_class,success,1.000000,0.000000,")
    assert csv[1].endswith(f",{could},{could}")


def test_tag_reads_with_a_margin_ignore_drift_around_the_threshold():
    before = tag_reads(np.array([[0.45, 0.1], [0.2, 0.9]]), ["a", "b"], margin=0.1)
    after = tag_reads(np.array([[0.55, 0.1], [0.8, 0.3]]), ["a", "b"], margin=0.1)
    assert before["a"].tolist() == [0.5, 0.0] and after["a"].tolist() == [0.5, 1.0]
    assert {t: v.tolist() for t, v in sure_changes(before, after).items()} == {"a": [False, True], "b": [False, True]}


# -- scoring each image set once ------------------------------------------------------------------
def test_score_cache_answers_predict_and_features_from_one_pass():
    from latentedit.scoring.cache import ScoreCache
    from latentedit.scoring.scorer import load_scorer

    scorer = load_scorer("demo")
    cached = ScoreCache(scorer)
    images = render.demo_anime(12, seed=3)[0]
    np.testing.assert_allclose(cached.predict(images), scorer.predict(images), atol=1e-5)
    np.testing.assert_allclose(cached.features(images.copy()), scorer.features(images), atol=1e-5)
    assert (cached.misses, cached.hits) == (1, 1) and cached.attributes == scorer.attributes


def test_score_cache_warm_scores_many_sets_in_one_pass_with_the_same_numbers():
    from latentedit.scoring.cache import ScoreCache
    from latentedit.scoring.scorer import load_scorer

    scorer = load_scorer("demo")
    cached = ScoreCache(scorer)
    images = render.demo_anime(32, seed=4)[0]
    sets = [images[:10], images[10:22], images[22:], images[:10].copy()]  # the last one listed twice
    cached.warm(sets)
    assert cached.misses == 3 and len(cached._cache) == 3
    for s in sets:
        np.testing.assert_array_equal(cached.features(s), scorer.features(s))
        np.testing.assert_array_equal(cached.predict(s), ScoreCache(scorer).predict(s))
    assert (cached.misses, cached.hits) == (3, 8)


def test_z_modes_refit_tag_methods_and_fall_back_to_linear_for_components():
    from latentedit.pipeline.modes import Z_METHOD, z_method

    assert [z_method(m) for m in ("linear", "lasso", "svd", "svm")] == ["linear", "lasso", "svd", "svm"]
    assert z_method("sefa") == z_method("pca") == Z_METHOD == "linear"  # SeFa fits w only; PCA names no tags


# -- the report's first screen --------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install -y chromium)")
def test_report_leads_with_the_verdict_in_headless_chromium(truth_run, tmp_path):
    import html

    from PIL import Image

    from latentedit.pipeline.report import report
    from latentedit.reporting.verdict import MODES, THESIS

    result = report(truth_run.path, methods=("linear", "svd"), samples=24, sweep_samples=6, metric_inputs=2,
                    dfid_augmentations=4, lpips_styles=3, out=tmp_path / "rep", progress=False)
    assert not result.failed, result.failed
    rep = result.report
    names = ["+long_hair -short_hair", "+open_mouth -closed_mouth", "+closed_eyes"]
    assert list(rep.verdict) == names
    flags = ("--space z", "--layers auto", "--keep auto", "--per-sample", "--hold")
    for name, v in rep.verdict.items():
        assert 0 < v.success.n <= 24 and v.source == "ground truth" and v.best.method in ("linear", "svd")
        assert v.goal_met == (v.success.rate >= 0.95 and v.worst.rate <= 0.03)
        command = v.best.command  # the line that makes the best edit on this run
        assert command.startswith(f"latentedit edit {truth_run.path} --add ") and f"--method {v.best.method}" in command
        wanted = " ".join(MODES.get(v.best.mode, THESIS).flags)
        assert {f for f in flags if f in command} == {f for f in flags if f in wanted}
    rows = rep.modes[names[0]].rows
    assert list(rows) == list(MODES)
    held, each = rows["layers+keep auto, per sample, hold"], rows["layers+keep auto, per sample"]
    assert held.per_sample == each.per_sample and len(held.hold["corrections"]) == 24
    assert held.command.endswith("--per-sample --hold")
    in_z = rows["keep auto, per sample, in z"]  # the thesis's best method, refitted in z (linear for SeFa/PCA)
    assert in_z.space == "z" and in_z.method == rep.modes[names[0]].method
    assert f"--method {in_z.method} --space z --keep auto --per-sample" in in_z.command
    assert len(in_z.per_sample["factors"]) == 24 and in_z.edit["layers"] is None
    table = rep.methods["linear"].side_effects["ground truth"]
    assert table.attributes == list(ATTRIBUTES)  # every attribute the world defines
    assert set(rep.methods["linear"].side_effects) == {"ground truth", "tagger tags", "re-scorer"}
    for f in ("side-effects.csv", "verdict.csv", "figures/strip-long_hair_short_hair.png", "figures/grid-svd.png"):
        assert (result.out / f).stat().st_size > 100
    strip = np.asarray(Image.open(result.out / "figures" / "strip-closed_eyes.png"))
    assert strip.shape[0] == 2 * 128 + 4  # two rows of 128 px faces
    face = strip[:128, :128]
    assert (face[::2, ::2] == face[1::2, 1::2]).all()  # 2x2 blocks: nearest-neighbour, not blurred

    page = result.index.read_text()
    for v in rep.verdict.values():
        assert f"<code>{html.escape(v.best.command)}</code>" in page
    assert page.index('id="verdict"') < page.index('id="side-effects"') < page.index('id="rescore"') \
        < page.index('id="stages"')  # verdict first, timings at the end
    shot = tmp_path / "first-screen.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000",
                    f"--screenshot={shot}", result.index.as_uri()], capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (1000, 1400)
    top = pixels[150:700]  # the cards and their strips of faces fill the first screen
    assert top.std() > 30 and len(np.unique(top.reshape(-1, 3), axis=0)) > 500
    docs = os.environ.get("LATENTEDIT_SCREENSHOT_DIR")
    if docs:
        shutil.copy(shot, Path(docs) / "report-first-screen.png")


def test_exclusive_tags_are_other_values_of_the_same_attribute():
    """Tags that never meet the edit's tag count as its attribute's other values only when they share
    Danbooru's last word: blonde_hair and blue_eyes never meeting in a run is chance, not definition."""
    from latentedit.pipeline.probes import exclusive_tags

    vocab = ["blonde_hair", "black_hair", "blue_eyes", "long_hair", "smile"]
    rng = np.random.default_rng(0)
    blonde = np.arange(100) < 40
    scores = np.stack([blonde, ~blonde & (np.arange(100) < 70), ~blonde & (np.arange(100) >= 70), rng.random(100) < 0.5,
                       rng.random(100) < 0.5], axis=1).astype(float)
    assert exclusive_tags(scores, vocab, ["blonde_hair"]) == {"black_hair"}
    assert exclusive_tags(scores, vocab, ["blue_eyes"]) == set()
    scores[:3, 1] = 1.0  # black hair on 3 blonde faces: together in 3 of the rarer tag's 33 samples (> 2%)
    assert exclusive_tags(scores, vocab, ["blonde_hair"]) == set()


def test_a_paired_edits_other_values_are_its_subtracted_and_exclusive_tags(truth_run, tagger):
    """--per-sample stops a face where the tagger reads the added tag and none of the attribute's
    other values: the subtracted tag always, and on a tagged run the tags exclusive with both."""
    from latentedit.pipeline.probes import other_values

    hair = EditSpec.paired("long_hair", "short_hair")
    assert other_values(hair, tagger) == ("short_hair",)
    assert other_values(hair, tagger, truth_run) == ("short_hair", "medium_hair")  # in the tagger's order
    assert other_values(EditSpec.paired("closed_eyes"), tagger, truth_run) == ()  # no pair, no attribute named


def test_per_sample_asks_a_paired_edit_for_097_and_an_unpaired_one_for_09(renders, truth_run, tagger):
    """A paired edit's added tag must read >= 0.97 with its other values <= 0.05; an unpaired
    edit, with no other values to check, stops at 0.9 (further, closed eyes drags open mouth)."""
    from latentedit.pipeline.probes import reached_score, tagger_reached

    images = renders[0]
    scores, col = tagger.score(images), list(tagger.tags).index
    eyes, hair = EditSpec.paired("closed_eyes"), EditSpec.paired("long_hair", "short_hair")
    assert (reached_score(eyes), reached_score(hair)) == (0.9, 0.97)
    assert (tagger_reached(tagger, eyes, truth_run)(images) == (scores[:, col("closed_eyes")] >= 0.9)).all()
    quiet = (scores[:, [col("short_hair"), col("medium_hair")]] <= 0.05).all(axis=1)
    assert (tagger_reached(tagger, hair, truth_run)(images) == ((scores[:, col("long_hair")] >= 0.97) & quiet)).all()
    assert (tagger_reached(tagger, eyes, truth_run, threshold=0.5)(images) == (scores[:, col("closed_eyes")] >= 0.5)).all()


def test_null_control_gives_each_face_a_step_of_its_length_orthogonal_to_the_edit():
    """The null edit: each face's own step (per W+ layer; per-face modes step faces differently) becomes
    one of the same length along one of 3 seeded random directions orthogonal to the edit's directions."""
    from latentedit.pipeline.modes import null_control

    rng = np.random.default_rng(5)
    n, layers, dim = 7, 4, 16
    codes = rng.standard_normal((n, dim)).astype(np.float32)
    directions = rng.standard_normal((2, dim))
    step = np.zeros((n, layers, dim), np.float32)
    step[:, 1:3] = (np.arange(n) * 0.7)[:, None, None] * directions[0]  # face 0 unedited (a per-sample x0)
    base = np.repeat(codes[:, None], layers, 1)
    zeros = {a: np.zeros(n) for a in ATTRIBUTES}
    seen = []

    def decode(x):
        seen.append(x)
        return x

    def read(x):  # "smile" reads as changed wherever the code moved
        return {**zeros, "smile": (np.abs(x - base).max((1, 2)) > 0).astype(int)}

    ctx = SimpleNamespace(req=SimpleNamespace(null_draws=3, seed=0), read_before=zeros, reader=SimpleNamespace(read=read))
    out = null_control(ctx, "open_mouth", codes, base + step, directions, decode)
    (x,) = seen  # one decode
    moved = x - base
    assert np.allclose(np.linalg.norm(moved, axis=-1), np.linalg.norm(step, axis=-1), atol=1e-5)
    assert np.abs(moved.reshape(-1, dim) @ directions.T).max() < 1e-4
    unit = moved[1:, 1] / np.linalg.norm(moved[1:, 1], axis=-1, keepdims=True)  # faces 1..6: draws 1, 2, 0, 1, 2, 0
    assert np.allclose(unit[:3], unit[3:], atol=1e-5) and np.abs(unit[:3] @ unit[:3].T - np.eye(3)).max() > 0.05
    again = []
    null_control(ctx, "open_mouth", codes, base + step, directions, lambda x: again.append(x) or x)
    assert np.array_equal(again[0], x)  # seeded
    assert (out["floor"]["smile"]["count"], out["floor"]["smile"]["n"]) == (6, 7)
    assert (out["floor_any"]["count"], out["floor_any"]["n"]) == (6, 7) and out["floor"]["blush"]["count"] == 0


def test_the_report_faces_and_styles_seed_remake_its_batch(G, tmp_path):
    """`latentedit edit --inputs REPORT/faces --inputs-seed S` draws the report's batch: its selfies and styles."""
    from latentedit.images import read_rgb
    from latentedit.pipeline.batches import face_files, styles_seed
    from latentedit.pipeline.edit import EditRequest
    from latentedit.pipeline.faces import style_code
    from latentedit.pipeline.recipes import request_faces
    from latentedit.scoring.demo import DemoBatch
    from latentedit.world.render import demo_selfies

    batch = DemoBatch.sample(G, 5, seed=3)
    demo = SimpleNamespace(is_demo=True)
    for name, png in face_files(demo, G, 5, 3).items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(png)
    assert (np.stack([read_rgb(tmp_path / "faces" / f"{i:03d}.png") for i in range(5)])
            == demo_selfies(5, seed=3, size=G.size)[0]).all()
    req = EditRequest(add=("smile",), inputs=tmp_path / "faces", seed=0, inputs_seed=styles_seed(3))
    faces, labels, source = request_faces(None, G, req, tmp_path / "faces", "demo")
    assert labels == [f"{i:03d}-{i:03d}" for i in range(5)] and source["inputs_seed"] == 2**32 + 3
    assert np.array_equal(np.stack([style_code(G, f.style, space="z") for f in faces]), batch.z)
    with pytest.raises(InputError, match="--inputs-seed sets the styles of the --inputs selfies"):
        EditRequest(add=("smile",), inputs_seed=1)


@pytest.mark.slow
def test_the_verdicts_command_as_printed_remakes_the_cards_numbers(truth_run, G, tmp_path):
    """The card's "make it:" line, run through the CLI on the report's own faces (--inputs and
    --inputs-seed as printed), read by the same reader, gives the card's success and worst side effect;
    and the report's reliability, floors and drift are those of its batch."""
    import shlex
    import sys

    from PIL import Image

    from latentedit.pipeline.report import report
    from latentedit.scoring.controls import reliability
    from latentedit.scoring.demo import DemoBatch

    n = 24
    result = report(truth_run.path, methods=("linear",), pairs=[("open_mouth", "closed_mouth")], samples=n,
                    sweep_samples=4, metric_inputs=2, dfid_augmentations=2, lpips_styles=2, out=tmp_path / "rep",
                    progress=False)
    assert not result.failed, result.failed
    rep = result.report
    batch = DemoBatch.sample(G, n, seed=0)
    reader = BatchReader(batch.geometry, batch.z, G.size)
    expected = reliability(reader.read(batch.decode(G, batch.w)), batch.z)
    assert {a: (r.count, r.n) for a, r in rep.reliability.items()} == {a: (r.count, r.n) for a, r in expected.items()}
    (name, v), = rep.verdict.items()
    assert v.effects.floor and v.effects.floor_any.n == n and set(v.effects.drift) == {"hair", "eyes", "background"}
    command = shlex.split(v.best.command)
    assert command[0] == "latentedit" and command[-4:] == ["--inputs", str(result.out / "faces"), "--inputs-seed",
                                                           str(2**32)]
    done = subprocess.run([sys.executable, "-m", "latentedit.cli", *command[1:], "--out", str(tmp_path / "made")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    made = [np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted((tmp_path / "made" / part).glob("*.png"))])
            for part in ("before", "after")]
    assert len(made[1]) == n
    before, after = reader.read(made[0]), reader.read(made[1])
    row = edit_effects(name, before, after, ("open_mouth", 1), changes(before, after), ATTRIBUTES)
    assert abs(row.success.rate - v.success.rate) <= 1 / v.success.n, (row.success, v.success)
    assert row.worst[0] == v.worst.attribute and abs(row.worst[1] - v.worst.rate) <= 1 / n, (row.worst, v.worst)
    assert abs(row.any_change.rate - v.effects.any_change.rate) <= 1 / n
