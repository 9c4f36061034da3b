"""FID / DFID / LPIPS: the Fréchet distance against closed forms, the real networks with local random
weights (a real forward of the real architectures), missing-file messages and labelled substitutes."""

import numpy as np
import pytest
import torch
from scipy.linalg import eigh

from latentedit.scoring import metrics as M



class FakeScorer:
    """Stands in for the re-scorer's features: a fixed random projection of the pixels."""

    def __init__(self, dim=6):
        self.P = np.random.default_rng(1).standard_normal((8 * 8 * 3, dim))

    def features(self, images):
        x = np.asarray(images, np.float64)[:, ::8, ::8].reshape(len(images), -1) / 255
        return (x @ self.P).astype(np.float32)


def _spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + d * np.eye(d) * 0.1


def _psd_sqrt(s):
    vals, vecs = eigh(s)
    return vecs @ np.diag(np.sqrt(np.clip(vals, 0, None))) @ vecs.T


# -- the Fréchet distance ----------------------------------------------------------------------
def test_frechet_distance_one_dimension():
    # N(1, 2^2) vs N(4, 3^2): (1-4)^2 + (2-3)^2 = 10
    assert M.frechet_distance([1.0], [[4.0]], [4.0], [[9.0]]) == pytest.approx(10.0, abs=1e-9)


def test_frechet_distance_diagonal_closed_form():
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # 5 + (1 + 0 + 4)
    assert expected == pytest.approx(10.0)
    assert M.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-9)


def test_frechet_distance_general_covariances():
    rng = np.random.default_rng(0)
    d = 7
    s1, s2 = _spd(rng, d), _spd(rng, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    r1 = _psd_sqrt(s1)
    cross = np.trace(_psd_sqrt(r1 @ s2 @ r1))  # Tr (S1 S2)^(1/2) = Tr (S1^1/2 S2 S1^1/2)^(1/2)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert M.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_singular_covariances_stay_finite():
    rng = np.random.default_rng(0)
    f1, f2 = rng.standard_normal((4, 10)), rng.standard_normal((4, 10))  # rank 3 covariances in 10-d
    value = M.frechet_distance(*M.feature_stats(f1), *M.feature_stats(f2))
    assert np.isfinite(value) and value > 0


def test_frechet_distance_from_few_samples_matches_the_moments_formula():
    rng = np.random.default_rng(0)
    for n1, n2, d in ((5, 7, 12), (9, 9, 4)):  # fewer samples than dimensions, and more
        f1, f2 = rng.standard_normal((n1, d)), rng.standard_normal((n2, d)) * 2 + 1
        expected = M.frechet_distance(*M.feature_stats(f1), *M.feature_stats(f2))
        assert M.frechet_distance_features(f1, f2) == pytest.approx(expected, rel=1e-6)


def test_feature_stats_are_the_sample_moments():
    f = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, sigma = M.feature_stats(f)
    np.testing.assert_allclose(mu, [2.0, 4.0])
    np.testing.assert_allclose(sigma, np.cov(f.T))


# -- missing files and substitutes ---------------------------------------------------------------
def test_missing_weights_name_the_file_and_where(hub):
    with pytest.raises(M.MissingWeightsError) as e:
        M.inception_space()
    assert str(e.value).startswith(f"missing file {M.INCEPTION_FILE} for FID: put it at {hub / M.INCEPTION_FILE}")
    with pytest.raises(M.MissingWeightsError, match=f"missing file {M.ALEXNET_FILE} for LPIPS: put it at"):
        M.LPIPSDistance()
    assert M.status() == {
        "FID": f"missing file {M.INCEPTION_FILE}: put it at {hub / M.INCEPTION_FILE}",
        "DFID": f"missing file {M.INCEPTION_FILE}: put it at {hub / M.INCEPTION_FILE}",
        "LPIPS": f"missing file {M.ALEXNET_FILE}: put it at {hub / M.ALEXNET_FILE}",
    }


def test_substitutes_are_labelled_and_never_standard(hub):
    space = M.fid_space(FakeScorer())
    assert (space.name, space.standard) == ("scorer-feature FD", False)
    assert "not comparable to published FID" in space.note and M.INCEPTION_FILE in space.note
    measure = M.diversity_measure(FakeScorer())
    assert (measure.name, measure.standard) == ("scorer-feature diversity", False)
    assert M.ALEXNET_FILE in measure.note

    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (12, 64, 64, 3), np.uint8)
    b = rng.integers(0, 255, (12, 64, 64, 3), np.uint8)
    r = M.fid(a, b, space)
    assert r.computed and not r.standard and r.metric == "scorer-feature FD" and r.value > 0
    assert M.fid(a, a, space).value == pytest.approx(0.0, abs=1e-6)
    d = M.dfid([a, b], b, space)
    assert d.metric == "scorer-feature DFD" and d.computed and not d.standard
    assert d.value == pytest.approx(np.mean(d.per_input)) and d.per_input[1] == pytest.approx(0.0, abs=1e-6)
    div = M.diversity([a[:3], np.stack([a[0]] * 3)], measure)
    assert div.per_input[1] == pytest.approx(0.0, abs=1e-9) and div.value == pytest.approx(div.per_input[0] / 2)


def test_too_few_samples_are_marked_not_computed_and_partials_kept(hub):
    space = M.fid_space(FakeScorer())
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (12, 64, 64, 3), np.uint8)
    r = M.fid(a[:4], a, space)
    assert not r.computed and r.value is None
    assert r.note.startswith("scorer-feature FD needs at least 10 images per set, got 4 and 12; not computed")
    d = M.dfid([a, a[:3]], a, space)
    assert d.computed and d.per_input[1] is None and d.note.startswith("partial: 1 of 2 inputs had enough images")
    nothing = M.dfid([a[:3]], a, space)
    assert not nothing.computed and nothing.note.startswith("scorer-feature DFD not computed")
    div = M.diversity([a[:1]], M.diversity_measure(FakeScorer()))
    assert not div.computed and "needs at least 2 outputs per input" in div.note
    assert div.to_dict()["value"] is None


# -- the real networks with random local weights -------------------------------------------------
def test_real_lpips_turns_on_with_the_alexnet_file(hub):
    from torchvision.models import alexnet

    torch.manual_seed(0)
    torch.save(alexnet(weights=None).state_dict(), hub / M.ALEXNET_FILE)
    measure = M.diversity_measure(FakeScorer())
    assert isinstance(measure, M.LPIPSDistance) and measure.standard and measure.name == "LPIPS diversity"
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (3, 64, 64, 3), np.uint8)
    x = torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1
    direct = measure.model(x[[0, 0, 1]], x[[1, 2, 2]]).mean().item()  # lpips's own forward, same pairs
    assert measure.pairwise_mean(a) == pytest.approx(direct, rel=1e-6) and direct > 0
    assert measure.pairwise_mean(np.stack([a[0]] * 2)) == pytest.approx(0.0, abs=1e-7)
    result = M.diversity([a], measure)
    assert result.computed and result.standard and result.metric == "LPIPS diversity"


def test_wrong_alexnet_file_is_a_clear_error(hub):
    torch.save({"not": torch.zeros(1)}, hub / M.ALEXNET_FILE)
    with pytest.raises(M.CheckpointError, match="is not torchvision's AlexNet state dict"):
        M.LPIPSDistance()


def test_real_fid_turns_on_with_the_inception_file(hub):
    torch.manual_seed(0)
    net = M.fid_inception_network()
    state = net.state_dict()
    for k, v in state.items():  # random weights that keep activations at a sane scale
        if k.endswith("weight") and v.ndim == 4:
            state[k] = torch.randn_like(v) * (2.0 / v[0].numel()) ** 0.5
    torch.save(state, hub / M.INCEPTION_FILE)
    space = M.fid_space(FakeScorer())
    assert (space.name, space.standard) == ("FID", True)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (2, 48, 48, 3), np.uint8)
    b = np.clip(a.astype(int) + 60, 0, 255).astype(np.uint8)
    feats = space.features(np.concatenate([a, b]))
    assert feats.shape == (4, 2048) and np.isfinite(feats).all() and feats.std() > 0
    r = M.fid(a, feats[2:], space, min_samples=2)
    assert r.computed and r.standard and r.metric == "FID" and r.value > 0
    assert r.value == pytest.approx(M.frechet_distance_features(feats[:2], feats[2:]), rel=1e-5)
    assert "rank-deficient" in r.note


# -- augmentations -------------------------------------------------------------------------------
def test_augment_is_seeded_and_varied():
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
    a, b = M.augment(img, 5, seed=3), M.augment(img, 5, seed=3)
    assert a.shape == (5, 32, 32, 3) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, M.augment(img, 5, seed=4))
    assert len({x.tobytes() for x in a}) == 5
