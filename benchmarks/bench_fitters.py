"""Time every direction fitter against the per-tag scikit-learn / numpy loop the thesis ran.

Synthetic, seeded codes shaped like the thesis's run: 10,200 codes x 512 dims, ~300 tags
(latentedit.directions.synthetic_codes: non-zero mean, condition-100 covariance, planted
directions, pairs of opposite tags). For each method it prints our time on all tags, the
per-tag loop's time, their ratio, and how well both recover the planted directions.

Per-tag loops are independent fits, so their cost is linear in the number of tags: they are
timed on the first --baseline-tags tags and scaled to all tags (printed as "est."). The SVM
fits are slow either way, so ours is timed on the same subset as the loop. Both sides run with
--blas-threads BLAS threads (default 1); ours adds --n-jobs threads over tags where it can.

    python benchmarks/bench_fitters.py                 # full size, a few minutes on 2 cores
    python benchmarks/bench_fitters.py --quick         # small smoke run
"""

import argparse
import warnings

import numpy as np

from latentedit.directions import (LassoDirections, LinearDirections, PCADirections, SeFa,
                                   SVDDirections, SVMDirections, synthetic_codes)


from timing import timed  # noqa: E402  (benchmarks/timing.py, beside this script)


def unit(V):
    V = np.atleast_2d(np.asarray(V, dtype=np.float64))
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def toward(V, X, Y):
    """Flip rows to point toward their tag (the baselines' raw sign is arbitrary for SVD)."""
    P = X @ V.T
    gap = np.array([P[Y[:, j] == 1, j].mean() - P[Y[:, j] == 0, j].mean() for j in range(Y.shape[1])])
    return V * np.where(gap < 0, -1.0, 1.0)[:, None]


def cos(A, B):
    return np.einsum("td,td->t", unit(A), unit(B))


def per_tag(fit_one, k):
    return np.array([fit_one(j) for j in range(k)])


class Report:
    def __init__(self):
        print(f"{'method':<22}{'ours s':>9}{'loop s':>13}{'ratio':>8}   {'cos ours':>9}{'cos loop':>9}{'agree':>8}  notes")

    def row(self, method, ours, loop, loop_estimated, cos_ours, cos_loop, agree, notes=""):
        loop_text = f"{loop:.2f}" + (" est." if loop_estimated else "")
        print(f"{method:<22}{ours:>9.2f}{loop_text:>13}{loop / ours:>7.1f}x   {cos_ours:>9.3f}{cos_loop:>9.3f}"
              f"{agree:>8.4f}  {notes}", flush=True)


def warm_up(X, Y):
    """Run every code path once on a little data: imports and BLAS thread pools start untimed."""
    from sklearn.linear_model import Lasso, LinearRegression
    from sklearn.svm import LinearSVC

    for est in (LinearDirections(), LassoDirections(n_jobs=2), SVDDirections(n_jobs=2), SVMDirections(n_jobs=2)):
        est.fit(X, Y)
    LinearRegression().fit(X, Y[:, 0])
    Lasso(alpha=1e-3).fit(X, Y[:, 0])
    LinearSVC(C=0.01).fit(X, Y[:, 0])
    M = np.cov(X.T.astype(np.float64))
    np.linalg.eigh(M), np.linalg.svd(X.astype(np.float64), full_matrices=False)


def release_state_dict(rng, style_dim=512):
    """Random tensors in the released generator's modulation layout (spec/gnr-state-dict.txt)."""
    rows = {"adain_bottleneck.0.conv1": 512, "adain_bottleneck.0.conv2": 512, "conv1": 512, "to_rgb1": 512}
    rows.update({f"convs.{i}": c for i, c in enumerate([512, 512, 512, 256, 256, 128, 128, 64])})
    rows.update({f"to_rgbs.{i}": c for i, c in enumerate([512, 256, 128, 64])})
    return {f"{name}.conv.modulation.weight": rng.standard_normal((c, style_dim)) for name, c in rows.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10200)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--baseline-tags", type=int, default=30)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for both sides (0: library default). Default 1: on a shared 2-core "
                             "machine threaded BLAS stalls for seconds at random, which swamps the comparison")
    parser.add_argument("--quick", action="store_true", help="2,000 x 128 codes, 40 tags")
    args = parser.parse_args()
    if args.quick:
        args.n, args.dim, args.tags, args.baseline_tags = 2000, 128, 40, 8

    from sklearn.decomposition import PCA
    from sklearn.linear_model import Lasso, LinearRegression
    from sklearn.svm import LinearSVC

    warnings.simplefilter("ignore")
    s = synthetic_codes(n=args.n, dim=args.dim, n_factors=args.tags // 2, seed=args.seed)
    X, Y, planted = s["X"], s["Y"], s["planted"]
    X64 = X.astype(np.float64)
    T, K = Y.shape[1], min(args.baseline_tags, Y.shape[1])
    print(f"{args.n} codes x {args.dim} dims, {T} tags (rates {Y.mean(0).min():.3f}-{Y.mean(0).max():.3f}); "
          f"loops timed on {K} tags and scaled x{T / K:.1f}; n_jobs={args.n_jobs}")
    print("cos = mean cosine with the planted directions; agree = min cosine between ours and the loop's "
          "vectors on the timed tags")
    warm_up(X[:500], Y[:500, :4])
    import os

    from threadpoolctl import threadpool_info, threadpool_limits

    if args.blas_threads:
        threadpool_limits(limits=args.blas_threads)

    blas = [f"{p['internal_api']} x{p['num_threads']}" for p in threadpool_info()]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; BLAS {', '.join(blas)}")
    report = Report()

    # linear: one eigen-solve for all tags vs LinearRegression per tag
    t_ours, ours = timed(lambda: LinearDirections().fit(X, Y))
    t_loop, loop = timed(lambda: per_tag(lambda j: LinearRegression().fit(X, Y[:, j]).coef_, K))
    report.row("linear (alpha 1e-3)", t_ours, t_loop * T / K, True, cos(ours.directions_, planted).mean(),
               cos(loop, planted[:K]).mean(), cos(ours.directions_[:K], loop).min())
    t_multi, multi = timed(lambda: LinearRegression().fit(X, Y).coef_)
    report.row("  LinearRegression(Y)", t_ours, t_multi, False, cos(ours.directions_, planted).mean(),
               cos(multi, planted).mean(), cos(ours.directions_, multi).min(), "sklearn multi-output, one lstsq")

    # lasso: shared Gram + threads vs Lasso per tag
    t_ours, ours = timed(lambda: LassoDirections(alpha=1e-3, n_jobs=args.n_jobs).fit(X, Y))
    t_loop, loop = timed(lambda: per_tag(lambda j: Lasso(alpha=1e-3).fit(X, Y[:, j]).coef_, K))
    report.row("lasso (alpha 1e-3)", t_ours, t_loop * T / K, True, cos(ours.directions_, planted).mean(),
               cos(loop, planted[:K]).mean(), cos(ours.directions_[:K], loop).min(),
               f"{ours.sparsity_.mean():.0%} zero coefficients")

    # svd: Lanczos leading vector vs full numpy SVD per tag (the thesis)
    t_ours, ours = timed(lambda: SVDDirections(n_jobs=args.n_jobs).fit(X, Y))
    t_loop, loop = timed(lambda: per_tag(lambda j: np.linalg.svd(X64[Y[:, j] == 1], full_matrices=False)[2][0], K))
    loop = toward(unit(loop), X64, Y[:, :K])
    pairs = np.array([ours.paired(2 * k, 2 * k + 1) for k in range(T // 2)])
    report.row("svd (uncentred)", t_ours, t_loop * T / K, True, cos(ours.directions_, planted).mean(),
               cos(loop, planted[:K]).mean(), cos(ours.directions_[:K], loop).min(),
               f"paired high-low: cos {cos(pairs, planted[0::2]).mean():.3f}")
    t_c, centred = timed(lambda: SVDDirections(center=True, n_jobs=args.n_jobs).fit(X, Y))
    print(f"{'  svd center=True':<22}{t_c:>9.2f}{'':>13}{'':>8}   {cos(centred.directions_, planted).mean():>9.3f}",
          flush=True)

    # svm: same subset of tags both ways (each LinearSVC on all samples takes seconds)
    t_ours, ours = timed(lambda: SVMDirections(C=0.01, n_jobs=args.n_jobs).fit(X, Y[:, :K]))
    t_loop, loop = timed(lambda: per_tag(lambda j: LinearSVC(C=0.01).fit(X, Y[:, j]).coef_[0], K))
    report.row(f"svm (C 0.01, {K} tags)", t_ours, t_loop, False, cos(ours.directions_, planted[:K]).mean(),
               cos(loop, planted[:K]).mean(), cos(ours.directions_, loop).min(), "all samples")
    t_frac, frac = timed(lambda: SVMDirections(fraction=0.02, C=0.01, n_jobs=args.n_jobs).fit(
        X, Y, scores=s["scores"]))
    report.row("svm fraction 0.02", t_frac, t_loop * T / K, True, cos(frac.directions_, planted).mean(),
               cos(loop, planted[:K]).mean(), np.nan, "top/bottom 2% by score vs loop on all samples")

    # sefa: eigh of A^T A vs numpy SVD of the stacked weights (GNR notebook), release shapes
    sd = release_state_dict(np.random.default_rng(args.seed), style_dim=512)
    t_ours, ours = timed(lambda: SeFa(k=10).fit(generator=sd), repeat=3)
    stacked = [sd[k] for k in sd if "to_rgbs" not in k]
    t_loop, vt = timed(lambda: np.linalg.svd(np.concatenate(stacked), full_matrices=False)[2][:10], repeat=3)
    agree = np.abs(cos(ours.directions_, vt)).min()
    report.row("sefa (4416 x 512)", t_ours, t_loop, False, np.nan, np.nan, agree, "vs numpy SVD, up to sign")

    # pca: covariance eigh vs sklearn PCA
    t_ours, ours = timed(lambda: PCADirections(n_components=10).fit(X), repeat=3)
    t_loop, ref = timed(lambda: PCA(n_components=10, svd_solver="full").fit(X64).components_, repeat=3)
    report.row("pca (10 components)", t_ours, t_loop, False, np.nan, np.nan, np.abs(cos(ours.directions_, ref)).min(),
               "vs sklearn PCA(svd_solver='full'), up to sign")


if __name__ == "__main__":
    main()
