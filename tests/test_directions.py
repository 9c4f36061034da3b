"""Direction fitters against planted ground truth, SeFa against an independent SVD, the file format.

Synthetic codes (latentedit.directions.synthetic_codes): non-zero mean, anisotropic covariance
(condition 100), planted unit directions, tags by noisy thresholds, pairs of opposite tags.
Measured cosines are in the assertions' comments (seeded, so they are exact for these seeds).
"""

import numpy as np
import pytest

from latentedit.directions import (METHODS, DirectionSet, LassoDirections, LinearDirections,
                                   PCADirections, SeFa, SVDDirections, SVMDirections,
                                   fit_directions, make_estimator, synthetic_codes)
from latentedit.directions.sefa import modulated_layers
from latentedit.directions.svm import select_extremes
from latentedit.errors import DirectionError, RunError, TagError


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """Threaded BLAS on a busy 2-core machine stalls for seconds at random; one thread is steady."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def cosines(directions, planted):
    return np.einsum("td,td->t", directions, planted)


def toward_gap(X, Y, directions):
    """Mean projection of each tag's samples minus the others' (> 0: points toward the tag)."""
    P = X.astype(np.float64) @ directions.T
    Y = Y.astype(bool)
    return np.array([P[Y[:, j], j].mean() - P[~Y[:, j], j].mean() for j in range(Y.shape[1])])


@pytest.fixture(scope="module")
def well_sampled():
    # 20,000 codes in 64-d (N/D ~ 300) and tag rates 10-30%: enough samples for cos >= 0.95.
    # At the thesis size (10,200 x 512, rates 3-30%) the same fitters reach only 0.6-0.9
    # (mean cos: linear 0.81, lasso 0.78, svm 0.88; benchmarks/bench_fitters.py prints them).
    return synthetic_codes(n=20000, dim=64, n_factors=4, rate_range=(0.1, 0.3), seed=1)


@pytest.fixture(scope="module")
def thesis_like():
    return synthetic_codes(n=4000, dim=128, n_factors=4, rate_range=(0.1, 0.3), seed=1)


# --- supervised recovery -------------------------------------------------------------------

@pytest.mark.parametrize("estimator, floor", [
    (LinearDirections(), 0.97),           # measured min 0.974, mean 0.988
    (LassoDirections(alpha=3e-4), 0.96),  # measured min 0.963; alpha=1e-3 shrinks to min 0.932
    (SVMDirections(), 0.97),              # C=0.01, all samples: measured min 0.981
])
def test_supervised_fitters_recover_planted_directions(well_sampled, estimator, floor):
    s = well_sampled
    est = estimator.fit(s["X"], s["Y"])
    assert est.directions_.shape == s["planted"].shape
    np.testing.assert_allclose(np.linalg.norm(est.directions_, axis=1), 1.0, atol=1e-12)
    assert cosines(est.directions_, s["planted"]).min() >= floor
    assert (toward_gap(s["X"], s["Y"], est.directions_) > 0).all()
    np.testing.assert_array_equal(est.n_positive_, s["Y"].sum(0))
    assert ((est.score_ > 0.9) & (est.score_ <= 1.0)).all()  # training AUC of the projection


def test_lasso_thesis_alpha_costs_accuracy(well_sampled):
    s = well_sampled
    est = LassoDirections(alpha=1e-3).fit(s["X"], s["Y"])
    c = cosines(est.directions_, s["planted"])
    assert 0.9 < c.min() < 0.95 and est.sparsity_.mean() > 0.1


def test_linear_one_solve_equals_per_tag_least_squares(thesis_like):
    from sklearn.linear_model import LinearRegression

    s = thesis_like
    est = LinearDirections(alpha=0.0).fit(s["X"], s["Y"])
    for j in (0, 5):
        ref = LinearRegression().fit(s["X"].astype(np.float64), s["Y"][:, j]).coef_
        np.testing.assert_allclose(est.coef_[j], ref, rtol=1e-6, atol=1e-8)


def test_lasso_shared_gram_equals_per_tag_sklearn(thesis_like):
    from sklearn.linear_model import Lasso

    s = thesis_like
    X, Y = s["X"][:2000], s["Y"][:2000, :3]
    est = LassoDirections(alpha=1e-3, n_jobs=2, tol=1e-7).fit(X, Y)
    for j in range(3):
        ref = Lasso(alpha=1e-3, tol=1e-7).fit(X, Y[:, j]).coef_
        np.testing.assert_allclose(est.coef_[j], ref, atol=1e-6)


def test_lasso_that_zeroes_a_tag_names_it(thesis_like):
    s = thesis_like
    with pytest.raises(DirectionError, match=r"^the lasso direction \(alpha=10\.0\) of f0_high \(and 7 more\) is zero; lower"):
        LassoDirections(alpha=10.0).fit(s["X"], s["Y"], tag_names=s["names"])


def test_tag_without_positives_is_an_error(thesis_like):
    Y = thesis_like["Y"].copy()
    Y[:, 1] = 0
    with pytest.raises(TagError, match="^no sample carries tag f0_low, so it has no direction"):
        LinearDirections().fit(thesis_like["X"], Y, tag_names=thesis_like["names"])


def test_svm_fraction_selects_top_and_bottom_by_score(thesis_like):
    s = thesis_like
    top, bottom = select_extremes(np.array([0.1, 0.9, 0.5, 0.2, 0.8]), 0.4)
    assert top.tolist() == [1, 4] and bottom.tolist() == [3, 0]
    est = SVMDirections(fraction=0.05).fit(s["X"], s["Y"][:, :2], scores=s["scores"][:, :2])
    assert est.n_train_.tolist() == [400, 400]
    assert (toward_gap(s["X"], s["Y"][:, :2], est.directions_) > 0).all()
    assert cosines(est.directions_, s["planted"][:2]).min() > 0.7  # measured 0.78, 0.78


# --- SVD: the thesis method, pinned down --------------------------------------------------

def test_svd_uncentred_vectors_are_the_mean_and_pairs_recover_the_direction(thesis_like):
    s = thesis_like
    X, Y, planted = s["X"], s["Y"], s["planted"]
    est = SVDDirections().fit(X, Y)
    single = cosines(est.directions_, planted)
    assert np.abs(single).max() < 0.25                      # measured |cos| 0.02-0.18
    mean = X.mean(0) / np.linalg.norm(X.mean(0))
    assert (np.abs(est.directions_ @ mean) > 0.99).all()    # they are the mean code
    high, low = est.characteristic_[0::2], est.characteristic_[1::2]
    assert (np.einsum("td,td->t", high, low) > 0.95).all()  # measured 0.98-0.99 (thesis: 0.98)
    assert (toward_gap(X, Y, est.directions_) > 0).all()

    paired = np.array([est.paired(2 * k, 2 * k + 1) for k in range(4)])
    paired_cos = cosines(paired, planted[0::2])
    assert paired_cos.min() > 0.55                          # measured 0.65-0.68 (thesis: 0.65)
    assert (paired_cos > np.abs(single[0::2]) + 0.4).all()
    class_means = np.array([X[Y[:, 2 * k] == 1].mean(0) - X[Y[:, 2 * k + 1] == 1].mean(0) for k in range(4)])
    class_means /= np.linalg.norm(class_means, axis=1, keepdims=True)
    np.testing.assert_allclose(paired_cos, cosines(class_means, planted[0::2]), atol=0.05)

    centred = SVDDirections(center=True).fit(X, Y)
    centred_cos = cosines(centred.directions_, planted)
    assert centred_cos.mean() > single.mean() + 0.3         # measured mean 0.47 vs 0.05
    assert centred_cos.max() < 0.7                          # only partly: 0.39-0.56
    assert (toward_gap(X, Y, centred.directions_) > 0).all()


def test_svd_vector_is_numpy_leading_singular_vector(thesis_like):
    s = thesis_like
    est = SVDDirections(n_jobs=2).fit(s["X"], s["Y"][:, :2])
    for j in range(2):
        ref = np.linalg.svd(s["X"][s["Y"][:, j] == 1].astype(np.float64), full_matrices=False)[2][0]
        assert abs(ref @ est.directions_[j]) > 1 - 1e-10


# --- rank-deficient codes: w on an 8-d manifold ---------------------------------------------

def _raw_normal_equations(w, Y):
    X1 = np.c_[w.astype(np.float64), np.ones(len(w))]
    coef = np.linalg.solve(X1.T @ X1, X1.T @ Y.astype(np.float64))[:-1].T
    return coef


def _z_tags(n, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 8))
    V = rng.standard_normal((3, 8))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    Y = (z @ V.T + 0.3 * rng.standard_normal((n, 3)) > 0.8).astype(np.uint8)
    return rng, z, V, Y


def test_linear_on_codes_in_an_8d_subspace():
    # w = A z + b stored as float32: exactly rank 8 up to rounding. Truth: the w-direction along
    # which <v, z> grows fastest within the subspace, A (A^T A)^-1 v.
    rng, z, V, Y = _z_tags(5000, seed=3)
    A = rng.standard_normal((256, 8)) / np.sqrt(8)
    w = (z @ A.T + 1.0 + 0.3 * rng.standard_normal(256)).astype(np.float32)
    truth = (A @ np.linalg.solve(A.T @ A, V.T)).T
    truth /= np.linalg.norm(truth, axis=1, keepdims=True)

    raw = _raw_normal_equations(w, Y)
    assert np.linalg.norm(raw, axis=1).min() > 1e4                       # measured 6e6-2e7
    assert np.abs(cosines(raw / np.linalg.norm(raw, axis=1, keepdims=True), truth)).max() < 0.01  # 3e-9-9e-9
    for est in (LinearDirections(), LinearDirections(alpha=0.0)):
        est.fit(w, Y)
        assert np.isfinite(est.coef_).all() and np.linalg.norm(est.coef_, axis=1).max() < 10
        assert cosines(est.directions_, truth).min() > 0.995             # measured 0.9991-0.9998


def test_linear_on_codes_on_a_curved_8d_manifold():
    # w = MLP(z): 5 leaky-ReLU layers (width 256) like GNR's mapping. Truth: the mean over
    # samples of the tangent-space gradient J (J^T J)^-1 v of <v, z> (J = dw/dz, by central
    # differences).
    rng, z, V, Y = _z_tags(5000, seed=4)
    layers = [(rng.standard_normal((256, 8 if i == 0 else 256)) / np.sqrt(8 if i == 0 else 256),
               1.0 + 0.1 * rng.standard_normal(256)) for i in range(5)]

    def mapping(x):
        for weight, bias in layers:
            x = x @ weight.T + bias
            x = np.where(x > 0, x, 0.2 * x)
        return x

    w = mapping(z).astype(np.float32)
    eps, z0 = 1e-6, z[:200]
    J = np.stack([(mapping(z0 + eps * e) - mapping(z0 - eps * e)) / (2 * eps) for e in np.eye(8)], axis=2)
    truth = np.mean([Jn @ np.linalg.solve(Jn.T @ Jn, V.T) for Jn in J], axis=0).T
    truth /= np.linalg.norm(truth, axis=1, keepdims=True)

    raw = _raw_normal_equations(w, Y)
    raw_cos = cosines(raw / np.linalg.norm(raw, axis=1, keepdims=True), truth)
    ridge = LinearDirections().fit(w, Y)
    pcr = LinearDirections(n_components=8).fit(w, Y)
    assert np.isfinite(pcr.coef_).all()
    # measured: raw 0.03-0.04, ridge(1e-3) 0.22-0.25, n_components=8 0.986-0.995
    # (lasso 1e-3: 0.20-0.25, svm: 0.58-0.71 on the same codes)
    assert raw_cos.max() < 0.1
    assert cosines(ridge.directions_, truth).max() < 0.4
    assert cosines(pcr.directions_, truth).min() > 0.97
    # every fit separates the tag about equally well (AUC ~0.97): the difference is where the
    # direction's norm goes, into the manifold's bends or along it
    assert abs(pcr.score_.mean() - ridge.score_.mean()) < 0.02


# --- SeFa ---------------------------------------------------------------------------------

def gnr_state_dict(channels, style_dim, n_res=1, seed=0):
    """Random tensors with GNR state-dict names: channels[0] at the content resolution, then one
    entry per upsampling level (like {16: 512, 32: 512, 64: 256, ...})."""
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(seed)
    sd = {"mapping.0.weight": torch.randn(style_dim, 8, generator=g)}

    def modulated(name, c_in):
        sd[f"{name}.conv.weight"] = torch.randn(1, 3, c_in, 1, 1, generator=g)
        sd[f"{name}.conv.modulation.weight"] = torch.randn(c_in, style_dim, generator=g)
        sd[f"{name}.conv.modulation.bias"] = torch.ones(c_in)

    for b in range(n_res):
        modulated(f"adain_bottleneck.{b}.conv1", channels[0])
        modulated(f"adain_bottleneck.{b}.conv2", channels[0])
    modulated("conv1", channels[0])
    modulated("to_rgb1", channels[0])
    for i, c in enumerate(channels[1:]):
        modulated(f"convs.{2 * i}", channels[i])
        modulated(f"convs.{2 * i + 1}", c)
        modulated(f"to_rgbs.{i}", c)
    return sd


def stacked(sd, keys):
    return np.concatenate([sd[k].double().numpy() for k in keys])


def test_sefa_release_layer_set_is_12_tensors_4416_rows():
    sd = gnr_state_dict([512, 512, 256, 128, 64], style_dim=512)
    est = SeFa(k=3).fit(generator=sd)
    assert len(est.layer_names_) == 12 and est.n_rows_ == 4416
    assert not any("to_rgbs" in k for k in est.layer_names_) and "to_rgb1.conv.modulation.weight" in est.layer_names_
    assert len(modulated_layers(sd)) == 16
    assert SeFa(layers="all", k=1).fit(generator=sd).n_rows_ == 4416 + 512 + 256 + 128 + 64


def test_sefa_equals_svd_of_stacked_weights():
    sd = gnr_state_dict([32, 32, 16], style_dim=24)
    est = SeFa(k=5).fit(generator=sd)
    A = stacked(sd, [k for k in sd if "modulation.weight" in k and "to_rgbs" not in k])
    _, s, vt = np.linalg.svd(A, full_matrices=False)
    np.testing.assert_allclose(np.abs(np.einsum("kd,kd->k", est.directions_, vt[:5])), 1.0, atol=1e-10)
    np.testing.assert_allclose(est.eigenvalues_, s[:5] ** 2, rtol=1e-10)
    assert (np.diff(est.eigenvalues_) <= 0).all()
    largest = est.directions_[np.arange(5), np.abs(est.directions_).argmax(1)]
    assert (largest > 0).all()
    assert est.names_ == [f"sefa_{i}" for i in range(5)]

    normalized = SeFa(k=5, normalize=True).fit(generator=sd)
    An = A / np.linalg.norm(A, axis=1, keepdims=True)
    vtn = np.linalg.svd(An, full_matrices=False)[2]
    np.testing.assert_allclose(np.abs(np.einsum("kd,kd->k", normalized.directions_, vtn[:5])), 1.0, atol=1e-10)
    assert np.abs(np.einsum("kd,kd->k", normalized.directions_, est.directions_)).min() < 0.999


def test_sefa_layer_ranges():
    sd = gnr_state_dict([32, 32, 16, 16, 8], style_dim=16)  # 5 levels: [0, 1], [2, 3], [4]
    layers = [k for k, _ in modulated_layers(sd)]
    assert layers[:4] == ["adain_bottleneck.0.conv1.conv.modulation.weight",
                          "adain_bottleneck.0.conv2.conv.modulation.weight",
                          "conv1.conv.modulation.weight", "to_rgb1.conv.modulation.weight"]
    assert layers[4:7] == ["convs.0.conv.modulation.weight", "convs.1.conv.modulation.weight",
                           "to_rgbs.0.conv.modulation.weight"]
    assert SeFa(layers="coarse", k=2).fit(generator=sd).layer_indices_ == list(range(0, 7))
    assert SeFa(layers="middle", k=2).fit(generator=sd).layer_indices_ == list(range(7, 13))
    assert SeFa(layers="fine", k=2).fit(generator=sd).layer_indices_ == [13, 14, 15]
    picked = SeFa(layers=[2, 0], k=2).fit(generator=sd)
    assert picked.layer_indices_ == [0, 2] and picked.n_rows_ == 64
    with pytest.raises(DirectionError, match=r"^SeFa layer indices must be within 0\.\.15, got \[16\]$"):
        SeFa(layers=[16]).fit(generator=sd)
    with pytest.raises(DirectionError, match="^unknown SeFa layer set 'upper'; use gnr, all"):
        SeFa(layers="upper").fit(generator=sd)
    with pytest.raises(DirectionError, match="^no style modulation weights found"):
        SeFa().fit(generator={"mapping.0.weight": sd["mapping.0.weight"]})


def test_sefa_on_a_generator_module():
    gnr = pytest.importorskip("latentedit.models.gnr")
    G = gnr.Generator(size=32, num_down=1, channels={4: 32, 8: 32, 16: 32, 32: 16})
    est = SeFa(k=4).fit(generator=G)
    keys = [k for k in G.state_dict() if "modulation" in k and "weight" in k and "to_rgbs" not in k]
    assert set(est.layer_names_) == set(keys) and len(keys) == len(est.layer_names_)
    vt = np.linalg.svd(stacked(G.state_dict(), keys), full_matrices=False)[2]
    np.testing.assert_allclose(np.abs(np.einsum("kd,kd->k", est.directions_, vt[:4])), 1.0, atol=1e-8)


# --- PCA -----------------------------------------------------------------------------------

def test_pca_matches_sklearn(thesis_like):
    from sklearn.decomposition import PCA

    X = thesis_like["X"]
    est = PCADirections(n_components=5).fit(X)
    ref = PCA(n_components=5, svd_solver="full").fit(X.astype(np.float64))
    np.testing.assert_allclose(np.abs(np.einsum("kd,kd->k", est.directions_, ref.components_)), 1.0, atol=1e-8)
    np.testing.assert_allclose(est.std_, np.sqrt(ref.explained_variance_), rtol=1e-8)
    assert est.names_ == ["pca_0", "pca_1", "pca_2", "pca_3", "pca_4"]


# --- DirectionSet file format -------------------------------------------------------------

def small_set(fingerprint="abcd0123abcd0123"):
    V = np.eye(3, 8, dtype=np.float32)
    return DirectionSet("lasso", "w", ["long_hair", "short_hair", "open_mouth"], V,
                        {"n_positive": np.array([120, 300, 77]), "score": np.array([0.9, 0.8, 0.7])},
                        fingerprint, {"estimator": {"alpha": 0.001}, "threshold": 0.5})


def test_direction_set_round_trip_is_byte_exact(tmp_path):
    ds = small_set()
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    ds.save(a)
    back = DirectionSet.load(a, generator_fingerprint="abcd0123abcd0123", dim=8)
    back.save(b)
    assert a.read_bytes() == b.read_bytes()
    assert back.names == ds.names and back.method == "lasso" and back.space == "w"
    np.testing.assert_array_equal(back.vectors, ds.vectors)
    np.testing.assert_array_equal(back.stats["n_positive"], [120, 300, 77])
    assert back.params == {"estimator": {"alpha": 0.001}, "threshold": 0.5}
    with np.load(a, allow_pickle=False) as f:
        assert int(f["format_version"]) == 1 and f["names"].dtype.kind == "U"
    sub = back.subset(["open_mouth", "long_hair"])
    assert sub.names == ["open_mouth", "long_hair"] and len(sub) == 2
    np.testing.assert_array_equal(sub.vector("open_mouth"), np.eye(3, 8)[2])
    np.testing.assert_array_equal(sub.stats["score"], [0.7, 0.9])


def test_direction_set_errors(tmp_path):
    path = tmp_path / "d.npz"
    small_set().save(path)
    with pytest.raises(DirectionError) as e:
        DirectionSet.load(path, generator_fingerprint="ef01ef01ef01ef01")
    assert str(e.value) == (f"directions in {path} were fitted for the gnr generator abcd0123abcd0123, this "
                            f"is the gnr generator ef01ef01ef01ef01; refit with latentedit fit-directions")
    with pytest.raises(DirectionError) as e:
        DirectionSet.load(path, dim=512)
    assert str(e.value) == (f"directions in {path} are 8-dimensional, the w space here is "
                            f"512-dimensional; refit with latentedit fit-directions")
    with pytest.raises(DirectionError) as e:
        DirectionSet.load(path).vector("long_hari")
    assert str(e.value) == "unknown tag 'long_hari'; did you mean long_hair, short_hair?"

    other = tmp_path / "codes.npz"
    np.savez(other, w=np.zeros((2, 3)))
    with pytest.raises(DirectionError) as e:
        DirectionSet.load(other)
    assert str(e.value) == f"{other} is not a latentedit direction file (no 'latentedit-directions' kind entry)"
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(DirectionError) as e:
        DirectionSet.load(text)
    assert str(e.value) == f"{text} is not a latentedit direction file (not an .npz archive)"
    with pytest.raises(DirectionError) as e:
        DirectionSet.load(tmp_path / "missing.npz")
    assert str(e.value) == f"no direction file at {tmp_path / 'missing.npz'}; fit one with latentedit fit-directions"
    with pytest.raises(ValueError, match="unit rows"):
        DirectionSet("linear", "w", ["a"], np.ones((1, 4)))


# --- fit_directions over a run ----------------------------------------------------------------

class FakeRun:
    """The store.Run methods fit_directions reads (tags thresholded at 0.5, no categories: a DeepDanbooru run)."""

    def __init__(self, s, extra_scores=None, extra_vocab=()):
        self.path = "runs/demo"
        self.fingerprint = "0123456789abcdef"
        self._s = s
        self._scores = s["scores"] if extra_scores is None else np.c_[s["scores"], extra_scores]
        self._vocab = list(s["names"]) + list(extra_vocab)

    def codes(self):
        n = len(self._s["X"])
        return {"id": np.arange(n), "input_id": np.arange(n) // 3,
                "z": self._s["X"][:, :8].copy(), "w": self._s["X"]}

    def tag_scores(self):
        return self._scores, self._vocab

    def tag_threshold(self):
        return 0.5

    def tag_labels(self, scores):
        return (scores >= 0.5).astype(np.uint8)

    def tag_categories(self):
        return None


@pytest.fixture(scope="module")
def run(thesis_like):
    n = len(thesis_like["X"])
    extra = np.zeros((n, 3), np.float32)
    extra[:, 0] = 0.9                     # rating:safe on everything
    extra[:5, 1] = 0.7                    # a rare tag: 5 of 4000
    return FakeRun(thesis_like, extra, ["rating:safe", "rare_tag", "never_tag"])


def test_fit_directions_builds_a_direction_set(run, thesis_like, tmp_path):
    ds = fit_directions(run, "linear")
    assert ds.names == thesis_like["names"] and ds.space == "w" and ds.generator_fingerprint == "0123456789abcdef"
    assert ds.params["min_count"] == 40 and ds.params["max_count"] == 3960 and ds.params["threshold"] == 0.5
    direct = LinearDirections().fit(thesis_like["X"], thesis_like["Y"])
    np.testing.assert_allclose(ds.vectors, direct.directions_, atol=1e-6)
    np.testing.assert_allclose(ds.stats["score"], direct.score_)
    assert cosines(ds.vectors.astype(np.float64), thesis_like["planted"]).min() > 0.8  # N/D = 31: 0.82-0.92
    ds.save(tmp_path / "linear-w.npz")
    assert DirectionSet.load(tmp_path / "linear-w.npz", generator_fingerprint=run.fingerprint, dim=128).names == ds.names

    svd = fit_directions(run, "svd", tags=["f0_high", "f0_low"])
    est = SVDDirections().fit(thesis_like["X"], thesis_like["Y"][:, :2])
    np.testing.assert_allclose(svd.paired("f0_high", "f0_low"), est.paired(0, 1), atol=1e-6)
    assert ds.params["dropped"] == {"rating:safe": "rating tag", "rare_tag": "in 5 samples (<= min 40)",
                                    "never_tag": "in 0 of 4000 samples (no direction can be fitted)"}
    np.testing.assert_allclose(ds.stats["std"], (thesis_like["X"].astype(np.float64) @ direct.directions_.T).std(0),
                               rtol=1e-5)
    table = ds.table(["f0_low"]).splitlines()
    assert table[0].split() == ["name", "n_positive", "score", "std"] and table[1].split()[:2] == [
        "f0_low", str(thesis_like["Y"][:, 1].sum())]
    pca = fit_directions(run, "pca", space="z", n_components=3)
    assert pca.names == ["pca_0", "pca_1", "pca_2"] and pca.dim == 8 and "std" in pca.stats
    svm = fit_directions(run, "svm", tags=["f1_high"], fraction=0.1)
    assert svm.params["estimator"]["fraction"] == 0.1 and svm.stats["n_positive"][0] == thesis_like["Y"][:, 2].sum()


def test_fit_directions_errors(run):
    with pytest.raises(TagError) as e:
        fit_directions(run, "linear", tags=["never_tag"])
    assert str(e.value) == ("no sample of run runs/demo has tag 'never_tag' (score >= 0.5); lower the "
                            "threshold or sample more")
    with pytest.raises(TagError) as e:
        fit_directions(run, "linear", tags=["rare_tag"])
    assert str(e.value) == ("tag 'rare_tag' was filtered out: in 5 samples (<= min 40); pass "
                            "min_count/max_count or include it to fit it anyway")
    with pytest.raises(TagError, match="^tag 'rating:safe' was filtered out: rating tag;"):
        fit_directions(run, "linear", tags=["rating:safe"])
    with pytest.raises(TagError, match=r"^unknown tag 'f0_hihg'; did you mean f0_high"):
        fit_directions(run, "linear", tags=["f0_hihg"])
    assert fit_directions(run, "linear", tags=["rare_tag"], include=["rare_tag"]).names == ["rare_tag"]
    with pytest.raises(DirectionError, match="^unknown method 'lineer'; did you mean linear"):
        fit_directions(run, "lineer")
    with pytest.raises(DirectionError, match="^method linear has no parameter 'alhpa'; its parameters: alpha, center"):
        make_estimator("linear", alhpa=1)
    with pytest.raises(DirectionError, match="^sefa directions come from the generator's weights; pass generator="):
        fit_directions(run, "sefa")
    empty = FakeRun({"X": np.zeros((0, 16), np.float32), "scores": np.zeros((0, 1), np.float32), "names": ["a"]})
    with pytest.raises(RunError, match="^run runs/demo has no samples; run latentedit sample first$"):
        fit_directions(empty, "linear")
    assert set(METHODS) == {"linear", "lasso", "svd", "svm", "sefa", "pca"}


def test_fit_directions_sefa_from_a_state_dict():
    sd = gnr_state_dict([32, 32, 16], style_dim=24)
    ds = fit_directions(None, "sefa", generator=sd, k=3)
    assert ds.names == ["sefa_0", "sefa_1", "sefa_2"] and ds.dim == 24 and ds.params["n_rows"] == 32 * 4 + 32 + 32 + 32 + 16
    assert (np.diff(ds.stats["eigenvalue"]) <= 0).all()
    assert ds.code_scale is None  # a bare state dict has no mapping to sample codes through


# --- scikit-learn estimators, one fit interface ---------------------------------------------

CLONE_CASES = [
    LinearDirections(),
    LinearDirections(alpha=0.0, center=False, n_components=8, rcond=1e-8),
    LassoDirections(alpha=3e-4, n_jobs=2, max_iter=50, tol=1e-6),
    SVDDirections(center=True, n_jobs=None),
    SVMDirections(fraction=0.05, C=1.0, dual=False, n_jobs=2, max_iter=10, tol=1e-3, random_state=None),
    SVMDirections(dual="auto", random_state=7),
    PCADirections(n_components=3),
    SeFa(layers=(0, 1, 2)),
    SeFa(layers=[2, 0], normalize=True, k=None),
    SeFa(layers="coarse", k=2),
]


def test_clone_cases_cover_every_method():
    assert {type(e) for e in CLONE_CASES} == set(METHODS.values())


@pytest.mark.parametrize("estimator", CLONE_CASES, ids=repr)
def test_every_fitter_clones_with_its_parameters_untouched(estimator):
    from sklearn.base import BaseEstimator, clone

    assert isinstance(estimator, BaseEstimator)
    params = estimator.get_params()
    for name, value in params.items():
        assert getattr(estimator, name) is value  # stored and returned untouched (tuples stay tuples)
    twin = clone(estimator)
    assert twin is not estimator and type(twin) is type(estimator)
    assert twin.get_params() == params
    assert {k: type(v) for k, v in twin.get_params().items()} == {k: type(v) for k, v in params.items()}
    first = next(iter(params))
    assert twin.set_params(**{first: params[first]}) is twin and twin.get_params() == params


def test_clone_of_sefa_with_a_layer_tuple():
    from sklearn.base import clone

    twin = clone(SeFa(layers=(0, 1, 2)))
    assert twin.layers == (0, 1, 2) and type(twin.layers) is tuple
    assert repr(twin) == "SeFa(layers=(0, 1, 2))"
    sd = gnr_state_dict([32, 32, 16], style_dim=24)
    np.testing.assert_array_equal(twin.fit(generator=sd).directions_, SeFa(layers=(0, 1, 2)).fit(generator=sd).directions_)
    assert twin.layer_indices_ == [0, 1, 2]


def test_one_fit_call_fits_every_method(thesis_like):
    """The same fit(X, Y, tag_names=, scores=, generator=) call works for all six fitters."""
    from sklearn.base import clone

    s = thesis_like
    sd = gnr_state_dict([32, 32, 16], style_dim=s["X"].shape[1])
    for method in METHODS:
        est = make_estimator(method)
        fresh = clone(est)
        assert est.fit(s["X"], s["Y"], tag_names=s["names"], scores=s["scores"], generator=sd) is est
        K = len(est.names_)
        assert est.directions_.shape == (K, s["X"].shape[1]) and est.score_.shape == (K,)
        np.testing.assert_allclose(np.linalg.norm(est.directions_, axis=1), 1.0, atol=1e-12)
        if est.requires_labels:
            assert est.names_ == s["names"]
        assert all(v.shape == (K,) for v in est.direction_stats().values())
        assert not hasattr(fresh, "directions_")  # clone copies parameters, not the fit
    with pytest.raises(ValueError, match="^this fitter is supervised: fit"):
        LinearDirections().fit(s["X"])
    with pytest.raises(DirectionError, match=r"^SeFa\.fit takes the generator as fit\(generator=G\)"):
        SeFa().fit(sd)


def test_fit_directions_has_no_branch_on_method_names():
    import inspect

    source = inspect.getsource(fit_directions)
    assert [m for m in METHODS if f'"{m}"' in source or f"'{m}'" in source] == []


def test_svm_is_reproducible():
    s = synthetic_codes(n=600, dim=32, n_factors=2, seed=3)
    a = SVMDirections().fit(s["X"], s["Y"]).directions_
    np.random.seed(123)  # liblinear's order would come from numpy's global state without random_state
    b = SVMDirections().fit(s["X"], s["Y"]).directions_
    assert a.tobytes() == b.tobytes()


# --- code scale -----------------------------------------------------------------------------

def test_every_fit_records_the_code_scale_of_its_codes(run, thesis_like, tmp_path):
    from latentedit.directions import code_scale

    X = thesis_like["X"].astype(np.float64)
    want = float(np.sqrt(X.var(axis=0).mean()))
    assert code_scale(X) == want
    sd = gnr_state_dict([32, 32, 16], style_dim=X.shape[1])
    for method in METHODS:
        ds = fit_directions(run, method, generator=sd)
        assert ds.code_scale == want, method
        path = ds.save(tmp_path / f"{method}.npz")
        assert DirectionSet.load(path).code_scale == want
    z = fit_directions(run, "pca", space="z", n_components=2)
    assert z.code_scale == code_scale(thesis_like["X"][:, :8])
    assert z.subset(["pca_1"]).code_scale == z.code_scale


def test_sets_saved_before_code_scale_load_with_none(tmp_path):
    ds = DirectionSet("linear", "w", ["a", "b"], np.eye(2, 4), {"score": np.ones(2)}, "fp", {"alpha": 1}, 0.7)
    path = ds.save(tmp_path / "new.npz")
    with np.load(path) as f:
        assert float(f["code_scale"]) == 0.7
        old = {k: f[k] for k in f.files if k != "code_scale"}
    np.savez(tmp_path / "old.npz", **old)
    loaded = DirectionSet.load(tmp_path / "old.npz")
    assert loaded.code_scale is None and loaded.params == {"alpha": 1} and loaded.names == ["a", "b"]
    nothing = DirectionSet("linear", "w", ["a"], np.eye(1, 4)).save(tmp_path / "none.npz")
    with np.load(nothing) as f:
        assert "code_scale" not in f.files


def test_sefa_from_a_generator_alone_samples_its_codes_for_the_scale():
    from conftest import tiny_generator

    from latentedit.directions import code_scale
    from latentedit.directions.label import sample_w

    G = tiny_generator()
    ds = fit_directions(None, "sefa", generator=G, k=2)
    assert ds.code_scale == code_scale(sample_w(G, 1000, 0).numpy()) and ds.code_scale > 0
    assert "std" not in ds.stats and "n_samples" not in ds.params


def test_named_directions_keep_the_code_scale():
    from latentedit.directions.label import named_directions

    ds = DirectionSet("sefa", "w", ["sefa_0", "sefa_1"], np.eye(2, 4), code_scale=0.7)
    named = named_directions(ds, [("sefa_0", [("long_hair", -0.4)]), ("sefa_1", [("open_mouth", 0.2)])],
                             ["long_hair"])
    assert named.code_scale == 0.7 and named.names == ["long_hair"]
    np.testing.assert_array_equal(named.vector("long_hair"), -np.eye(1, 4)[0])


# --- a real run: edits at default strength, files keyed by parameters -----------------------

@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A 24-sample run of the tiny generator with two opposite tags thresholded on a w direction."""
    from conftest import tiny_generator

    from latentedit.pipeline.sample import sample

    G = tiny_generator()
    run = sample(G, tmp_path_factory.mktemp("runs") / "tiny", n_inputs=8, styles_per_input=3,
                 progress=False).run
    u = np.random.default_rng(5).standard_normal(512)
    run.write_tag_vocab({"tags": ["t_high", "t_low"], "tagger": "synthetic", "source": "test"})
    for shard in run.shards():
        codes = run.shard_codes(shard)
        p = codes["w"].astype(np.float64) @ u
        p = p - np.median(run.codes()["w"].astype(np.float64) @ u)
        run.write_tag_shard(shard, codes["id"], np.c_[p > 0, p < 0].astype(np.float32))
    return run, G


def test_a_fitted_set_edits_at_default_strength_as_returned(real_run):
    from latentedit.directions import code_scale
    from latentedit.editing import EditSession, EditSpec
    from latentedit.editing.strengths import default_strengths

    run, G = real_run
    ds = fit_directions(run, "lasso", alpha=1e-4)
    assert ds.code_scale == code_scale(run.codes()["w"])
    a, b = (x * ds.code_scale for x in default_strengths("lasso"))
    delta = EditSession(G, ds).delta(EditSpec.paired("t_high", "t_low"))
    np.testing.assert_allclose(delta, a * ds.vector("t_high") - b * ds.vector("t_low"), rtol=1e-5, atol=1e-6)


def test_two_parameterisations_sit_side_by_side(real_run):
    from latentedit.directions import params_key
    from latentedit.pipeline.fit import ensure_directions

    run, _ = real_run
    default = run.directions_path("lasso", "w")
    other = run.directions_path("lasso", "w", params_key("lasso", {"alpha": 1e-4, "n_jobs": 2}, "w", run))
    assert default.name == "lasso-w.npz" and other.name == "lasso-w-alpha=0.0001.npz"
    assert run.directions_path("lasso", "w", params_key("lasso", {"alpha": 1e-3, "n_jobs": 2}, "w", run)) == default
    ds_default, path_default = ensure_directions(run, "lasso", progress=False)
    ds_other, path_other = ensure_directions(run, "lasso", alpha=1e-4, progress=False)
    assert (path_default, path_other) == (default, other)
    before = default.read_bytes()
    again, path_again = ensure_directions(run, "lasso", alpha=1e-4, progress=False)  # reused, not refitted
    assert path_again == other and default.read_bytes() == before
    for path, alpha in ((default, 1e-3), (other, 1e-4)):
        loaded = DirectionSet.load(path, generator_fingerprint=run.fingerprint)
        assert loaded.params["estimator"]["alpha"] == alpha and loaded.code_scale == ds_default.code_scale
    assert not np.array_equal(DirectionSet.load(default).vectors, DirectionSet.load(other).vectors)
    np.testing.assert_array_equal(again.vectors, ds_other.vectors)


def test_params_key(run):
    from latentedit.directions import direction_file_name, params_key

    assert params_key("lasso") == params_key("lasso", {"alpha": 0.001, "n_jobs": 4, "include": []}) == ""
    assert params_key("lasso", {"tol": 1e-6, "alpha": 3e-4}) == "alpha=0.0003,tol=1e-06"
    assert params_key("svd", {"min_count": 5, "center": True}) == "center=true,min_count=5"
    assert params_key("sefa", {"layers": "coarse"}) == "layers=coarse"
    assert params_key("svm", {"fraction": 0.05, "random_state": None}) == "fraction=0.05,random_state=none"
    hashed = params_key("sefa", {"layers": (0, 1, 2)})
    assert len(hashed) == 11 and hashed[0] == "h" and int(hashed[1:], 16) >= 0
    assert params_key("sefa", {"layers": [0, 1, 2]}) == hashed != params_key("sefa", {"layers": (0, 1, 3)})
    assert params_key("svm", {"dual": "none"}).startswith("h")  # a word that reads like None is hashed
    assert params_key("lasso", {"include": ["blush"]}).startswith("h")
    # linear's w-space default depends on the run (n_components = its latent_dim)
    run.manifest = {"generator": {"config": {"latent_dim": 8}}}
    try:
        assert params_key("linear", {"n_components": 8}, "w", run) == ""
        assert params_key("linear", {"n_components": None}, "w", run) == "n_components=none"
        assert params_key("linear", {"n_components": 8}, "z", run) == "n_components=8"
    finally:
        del run.manifest
    assert direction_file_name("svd", "z") == "svd-z.npz"
    assert direction_file_name("lasso", "w", {"alpha": 3e-4}) == "lasso-w-alpha=0.0003.npz"
    with pytest.raises(DirectionError, match="^method lasso has no parameter 'alhpa'"):
        params_key("lasso", {"alhpa": 1})
    with pytest.raises(DirectionError, match="^unknown method 'lineer'"):
        direction_file_name("lineer", "w", {"alpha": 1})
