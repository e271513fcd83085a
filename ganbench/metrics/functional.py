"""The metric math: pure functions of Inception features or of their statistics. No I/O, no network, no state.

Shapes: features are (N, D) with D = 2048 for Inception pool3; a statistics pair is mu (D,) and sigma (D, D),
both float64 numpy arrays.

Where: every statistic is computed in float64 with torch on the features' device when that device has float64
(the CPU; a CUDA GPU, so that a GPU run does not wait on its host for the O(N^2 D) kernels and the eigensolvers),
else on the CPU (Apple's MPS has no float64: features move to the CPU first, then widen). `torch64` is the one
place that decides (with ganbench.device.statistics_device); only c2st's L-BFGS (scipy) always runs on the CPU. Convention for the asymmetric metrics (precision/recall): the first argument is the generated set,
the second the real (reference) set, as in torch-fidelity.

FID (Heusel et al. 2017):  ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).
The only delicate term is tr((S1 S2)^(1/2)). S1 S2 is not symmetric, but it is similar to the symmetric positive
semi-definite S1^(1/2) S2 S1^(1/2), so its eigenvalues are real and >= 0 and the trace is the sum of their square
roots. We compute it that way (symmetric eigensolvers in float64, round-off negatives clipped to 0) rather than with
a general matrix square root, for two reasons measured on this project's 2-core machines:
  - scipy.linalg.sqrtm on a 2048 x 2048 product takes 14-28 s (and warns on the singular covariances that any
    N < 2048 sample gives); the symmetric route takes a few seconds, and the low-rank route below a fraction of one;
  - with N < 2048 the product has ~2048 - N exact zero eigenvalues that round-off turns into ~1e-13 noise whose
    square roots add ~1e-4 of spurious trace; the low-rank route never forms them.
The classic procedure (scipy.linalg.sqrtm, eps * I offset when the result is not finite, imaginary part checked)
is kept as method="sqrtm" and the tests check that all routes agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from ganbench.device import statistics_device

# ---------------------------------------------------------------------------------------------------- FID


def feature_statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> mu (D,), sigma (D, D): the mean and the unbiased (N - 1) covariance, in float64
    (numpy's np.cov formula, computed where `torch64` puts the features), returned as numpy arrays."""
    if np.ndim(features) != 2 or len(features) < 2:
        raise ValueError(f"statistics need a (N, D) array with N >= 2, got shape {tuple(np.shape(features))}")
    x = torch64(features)
    mu = x.mean(dim=0)
    centred = x - mu
    return mu.cpu().numpy(), (centred.T @ centred / (x.shape[0] - 1)).cpu().numpy()


def fid_from_statistics(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    method: str = "eigh",
    eps: float = 1e-6,
    device: torch.device | str = "cpu",
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    method="eigh" (default): tr((S1 S2)^(1/2)) as the sum of the square roots of the eigenvalues of the symmetric
    S1^(1/2) S2 S1^(1/2), computed on `device` where it has float64 (see the module docstring). method="sqrtm":
    the classic scipy.linalg.sqrtm(S1 S2) procedure on the CPU (slow; for checking).
    """
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    diff = mu1 - mu2
    if method == "eigh":
        where = statistics_device(torch.device(device))
        tr_covmean = _trace_sqrt_product_eigh(*(torch.from_numpy(a).to(where) for a in (sigma1, sigma2)))
    elif method == "sqrtm":
        tr_covmean = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    else:
        raise ValueError(f"unknown FID method '{method}': use 'eigh' or 'sqrtm'")
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid_from_features(features1: np.ndarray | torch.Tensor, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """FID between a sample's raw features (N, D) and the statistics (mu2, sigma2) of another set.

    Equal to fid_from_statistics(*feature_statistics(features1), mu2, sigma2). When N <= D it is computed exactly
    in the N-dimensional sample space: with A = (X - mean) / sqrt(N - 1), S1 = A^T A and the non-zero eigenvalues
    of S2 S1 are those of the N x N symmetric A S2 A^T. Cheap (N D^2 flops, no D x D eigensolver) and free of the
    spurious round-off eigenvalues of a rank-deficient S1.
    """
    x = torch64(features1)
    n, d = x.shape
    if n < 2 or d != np.size(mu2):
        raise ValueError(f"features {tuple(x.shape)} do not match statistics of dimension {np.size(mu2)} (need N >= 2)")
    if n > d:
        return fid_from_statistics(*feature_statistics(x), mu2, sigma2, device=x.device)
    mu2, sigma2 = (torch.as_tensor(np.asarray(a, dtype=np.float64), device=x.device) for a in (mu2, sigma2))
    mu1 = x.mean(dim=0)
    a = (x - mu1) / math.sqrt(n - 1)
    m = a @ sigma2 @ a.T
    eig = torch.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = eig.clamp(min=0.0).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + (a * a).sum() + sigma2.trace() - 2.0 * tr_covmean)


def _psd_sqrt(sigma: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh((sigma + sigma.T) / 2)
    return (v * w.clamp(min=0.0).sqrt()) @ v.T


def _trace_sqrt_product_eigh(sigma1: torch.Tensor, sigma2: torch.Tensor) -> float:
    root = _psd_sqrt(sigma1)
    m = root @ sigma2 @ root
    eig = torch.linalg.eigvalsh((m + m.T) / 2)
    return float(eig.clamp(min=0.0).sqrt().sum())


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product: offset both diagonals, as in the TTUR reference code
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        worst = np.max(np.abs(np.diagonal(covmean).imag))
        if worst > 1e-3:
            raise ValueError(
                f"matrix square root has a large imaginary component ({worst:.3g}); the statistics "
                "are not valid covariances"
            )
        covmean = covmean.real
    return float(np.trace(covmean))


# ---------------------------------------------------------------------------------------------------- KID
def kid_from_features(
    features1: torch.Tensor, features2: torch.Tensor, subset_size: int, subsets: int = 100, seed: int = 2020
) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std over `subsets` random subsets.

    Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, each subset drawn without
    replacement by numpy.random.RandomState(seed), exactly as torch-fidelity draws them (so the numbers match its
    kid_features_to_metric). Computed in float64 (see the module docstring). subset_size must not exceed either N. When
    subset_size equals both sample counts every subset is the whole set and the std is 0: use `kid_bootstrap` for
    an interval.
    """
    f1, f2 = torch64_pair(features1, features2)
    n1, n2, d = f1.shape[0], f2.shape[0], f1.shape[1]
    if f2.shape[1] != d:
        raise ValueError(f"feature dimensions differ: {f1.shape} vs {f2.shape}")
    if not 2 <= subset_size <= min(n1, n2):
        raise ValueError(
            f"KID subset size {subset_size} must be between 2 and the smaller sample count ({min(n1, n2)})"
        )
    rng = np.random.RandomState(seed)
    idx = [
        (rng.choice(n1, subset_size, replace=False), rng.choice(n2, subset_size, replace=False)) for _ in range(subsets)
    ]

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b.T / d + 1.0) ** 3

    # Small sets: one kernel matrix per pair of sets, then index it (cheaper than `subsets` x 3 products).
    full = n1 + n2 <= 4000
    if full:
        k11, k22, k12 = kernel(f1, f1), kernel(f2, f2), kernel(f1, f2)
    m = subset_size
    mmds = torch.empty(subsets, dtype=torch.float64, device=f1.device)
    for s, (i1, i2) in enumerate(idx):
        t1, t2 = torch.as_tensor(i1, device=f1.device), torch.as_tensor(i2, device=f1.device)
        if full:
            kxx, kyy, kxy = k11[t1][:, t1], k22[t2][:, t2], k12[t1][:, t2]
        else:
            x, y = f1[t1], f2[t2]
            kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
        off_diag = (kxx.sum() - kxx.diagonal().sum()) + (kyy.sum() - kyy.diagonal().sum())
        mmds[s] = off_diag / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m)
    mmds = mmds.cpu().numpy()
    return float(mmds.mean()), float(mmds.std())


# ---------------------------------------------------------------------------------------------------- small samples
# FID's bias grows as N shrinks (two disjoint sets of 500 real 32x32 CelebA images score fid500 = 36), so at the
# sample counts a CPU affords two estimates whose bias does not depend on N sit beside it: FID-infinity and KID,
# each with an interval for evaluation noise (bootstrap over samples). Everything here is float64, where
# `torch64` says; the random draws are numpy's (the same subsets and resamples wherever it runs).
Z95 = 1.959963984540054  # two-sided 95% normal quantile
FIDINF_POINTS = 10  # FIDs fitted per FID-infinity estimate
FIDINF_MIN_FRACTION = 0.2  # smallest subset, as a share of each set: N/5 .. N (1/N spans a factor of 5)


@dataclass(frozen=True)
class Estimate:
    """A statistic, its bootstrap standard error over samples and the 95% interval value +- 1.96 se.

    The interval is centred on the estimate, not on the bootstrap replicates: a bootstrap resample duplicates
    images, which shifts small-sample FIDs, so only the replicates' spread is used. nan when not computed.
    """

    value: float
    se: float
    low: float
    high: float
    replicates: int

    @classmethod
    def from_replicates(cls, value: float, replicates: np.ndarray) -> Estimate:
        reps = np.asarray(replicates, dtype=np.float64)
        reps = reps[np.isfinite(reps)]
        if len(reps) < 2:
            return cls(float(value), math.nan, math.nan, math.nan, len(reps))
        se = float(reps.std(ddof=1))
        return cls(float(value), se, float(value) - Z95 * se, float(value) + Z95 * se, len(reps))


def fid_subsets(kxx: torch.Tensor, kyy: torch.Tensor, kxy: torch.Tensor, s: np.ndarray, t: np.ndarray) -> float:
    """FID between rows s of X and rows t of Y (repeats allowed), from Gram matrices X X^T, Y Y^T, X Y^T only
    (float64 tensors, see `grams`), computed where they are.

    Exact, never forms a D x D matrix: with A, B the centred rows scaled by 1/sqrt(n-1), 1/sqrt(m-1),
    tr((S1 S2)^(1/2)) is the sum of the singular values of A B^T, the double-centred block kxy[s, t] scaled.
    """
    s, t = (torch.as_tensor(np.asarray(i), device=kxx.device) for i in (s, t))
    gx, gy, c = kxx[s][:, s], kyy[t][:, t], kxy[s][:, t]
    n, m = len(s), len(t)
    mxx, myy, mxy = gx.mean(), gy.mean(), c.mean()
    trace1 = (gx.trace() - n * mxx) / (n - 1)  # sum ||x_i - mean||^2 / (n - 1)
    trace2 = (gy.trace() - m * myy) / (m - 1)
    centred = c - c.mean(dim=1, keepdim=True) - c.mean(dim=0, keepdim=True) + mxy
    square = centred @ centred.T if n <= m else centred.T @ centred  # its eigenvalues: the squared singular values
    eig = torch.linalg.eigvalsh((square + square.T) / 2)  # 2-3x faster than an SVD here
    # Rank <= min(n, m, D) - 1: the other eigenvalues are round-off (~1e-16 of the largest) whose square roots
    # would add spurious trace; drop everything below 1e-12 of the largest (its square root: 1e-6 of the top one).
    eig = eig[eig > 1e-12 * eig.max().clamp(min=0.0)]
    tr_covmean = eig.sqrt().sum() / math.sqrt((n - 1) * (m - 1))
    return float(mxx + myy - 2.0 * mxy + trace1 + trace2 - 2.0 * tr_covmean)


def grams(gen: np.ndarray | torch.Tensor, ref: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, ...]:
    """X X^T, Y Y^T, X Y^T in float64, where `torch64` puts the generated features."""
    x, y = torch64_pair(gen, ref)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature shapes do not match: {tuple(x.shape)} vs {tuple(y.shape)}")
    return x @ x.T, y @ y.T, x @ y.T


def fid_infinity_fit(
    kxx: torch.Tensor,
    kyy: torch.Tensor,
    kxy: torch.Tensor,
    rng: np.random.Generator,
    rows_x: np.ndarray | None = None,
    rows_y: np.ndarray | None = None,
    points: int = FIDINF_POINTS,
) -> tuple[float, list[tuple[int, float]]]:
    """FID-infinity (Chong & Forsyth 2020) of the sets rows_x of X and rows_y of Y (default: all rows).

    FID is computed on `points` random subsets (without replacement) holding the same share of each set, from
    FIDINF_MIN_FRACTION to all of it; FID = a + b / n is fitted by least squares in 1/n (n the generated count:
    both sets shrink together, so the bias of both is linear in it) and a, the value at 1/n = 0, is returned with
    the (n, FID) points.
    """
    rows_x = np.arange(kxx.shape[0]) if rows_x is None else rows_x
    rows_y = np.arange(kyy.shape[0]) if rows_y is None else rows_y
    big_n, big_m = len(rows_x), len(rows_y)
    fit = []
    for share in np.linspace(FIDINF_MIN_FRACTION, 1.0, points):
        n, m = max(2, round(share * big_n)), max(2, round(share * big_m))
        s, t = rows_x[rng.permutation(big_n)[:n]], rows_y[rng.permutation(big_m)[:m]]
        fit.append((n, fid_subsets(kxx, kyy, kxy, s, t)))
    inv_n = np.array([1.0 / n for n, _ in fit])
    if np.ptp(inv_n) == 0:
        raise ValueError(f"FID-infinity needs subsets of different sizes; {big_n} samples are too few")
    _, intercept = np.polyfit(inv_n, np.array([f for _, f in fit]), 1)
    return float(intercept), fit


def fid_infinity(
    gen: np.ndarray | torch.Tensor,
    ref: np.ndarray | torch.Tensor,
    replicates: int = 20,
    seed: int = 2020,
    points: int = FIDINF_POINTS,
) -> tuple[Estimate, list[tuple[int, float]]]:
    """FID-infinity of generated features (N, D) against reference features (M, D), with a bootstrap interval.

    Each replicate resamples both sets with replacement and refits. Costs O(N^2 D) once for the Gram matrices and
    `points` SVDs of at most N x M per fit, so it is meant for N, M of a few thousand (the CPU protocol).
    """
    kxx, kyy, kxy = grams(gen, ref)
    rng = np.random.default_rng(seed)
    value, fit = fid_infinity_fit(kxx, kyy, kxy, rng, points=points)
    n, m = kxx.shape[0], kyy.shape[0]
    reps = [
        fid_infinity_fit(kxx, kyy, kxy, rng, rng.integers(0, n, n), rng.integers(0, m, m), points)[0]
        for _ in range(replicates)
    ]
    return Estimate.from_replicates(value, np.array(reps)), fit


def kid(
    gen: np.ndarray | torch.Tensor,
    ref: np.ndarray | torch.Tensor,
    replicates: int = 200,
    seed: int = 2020,
    block: int = 1024,
) -> Estimate:
    """KID over all samples, with a bootstrap interval over samples.

    The value is the unbiased MMD^2 U-statistic of the whole sets with torch-fidelity's kernel
    k(x, y) = (x.y / D + 1)^3; it is the exact average over every pair of subsets of any one size, which
    torch-fidelity estimates from 100 random subsets. A bootstrap replicate resamples both sets with replacement
    and drops the pairs of an image with a copy of itself (as the U-statistic drops i = j), so each replicate is
    itself an unbiased-form estimate. Kernel rows are made in blocks: memory O(block * max(N, M)).
    """
    x, y = torch64_pair(gen, ref)
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    if y.shape[1] != d or min(n, m) < 2:
        raise ValueError(f"KID needs two (N, D) sets with N >= 2 and one D, got {tuple(x.shape)} and {tuple(y.shape)}")
    rng = np.random.default_rng(seed)
    # Row 0: every sample once (the estimate); rows 1..: multiplicities of a bootstrap resample.
    wx, wy = (
        torch.from_numpy(
            np.vstack([np.ones(k), rng.multinomial(k, np.full(k, 1.0 / k), size=replicates)]).astype(np.float64)
        ).to(x.device)
        for k in (n, m)
    )

    def weighted_sum(a: torch.Tensor, b: torch.Tensor, wa: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(wa.shape[0], dtype=torch.float64, device=a.device)
        for start in range(0, a.shape[0], block):
            k = (a[start : start + block] @ b.T / d + 1.0) ** 3
            out += (wa[:, start : start + block] * (k @ wb.T).T).sum(1)
        return out

    kxx_diag, kyy_diag = ((x * x).sum(1) / d + 1.0) ** 3, ((y * y).sum(1) / d + 1.0) ** 3
    xx = (weighted_sum(x, x, wx, wx) - (wx**2) @ kxx_diag) / (n * n - (wx**2).sum(1))
    yy = (weighted_sum(y, y, wy, wy) - (wy**2) @ kyy_diag) / (m * m - (wy**2).sum(1))
    xy = weighted_sum(x, y, wx, wy) / (n * m)
    mmd = (xx + yy - 2.0 * xy).cpu().numpy()  # one host read: 1 + replicates numbers
    return Estimate.from_replicates(float(mmd[0]), mmd[1:])


# ---------------------------------------------------------------------------------------------------- precision/recall
def precision_recall(gen: torch.Tensor, real: torch.Tensor, k: int = 3, block: int = 1024) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019), k-nearest-neighbour manifolds.

    Each set's manifold is the union of balls centred on its samples, with radius the distance to the sample's k-th
    nearest neighbour in its own set. precision = fraction of generated samples inside the real manifold;
    recall = fraction of real samples inside the generated manifold. Euclidean distances in float64 (see the
    module docstring), row blocks of `block` to bound memory. Which features (here: Inception pool3, not the paper's VGG16) is the caller's
    protocol.
    """
    g, r = torch64_pair(gen, real)
    if min(g.shape[0], r.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    r_gen, r_real = knn_radius2(g, k, block), knn_radius2(r, k, block)
    precision = _inside(g, r, r_real, block)
    recall = _inside(r, g, r_gen, block)
    return precision, recall


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a * a).sum(1, keepdim=True) + (b * b).sum(1)[None] - 2.0 * a @ b.T).clamp_(min=0.0)


def knn_radius2(x: torch.Tensor, k: int, block: int) -> torch.Tensor:
    """Squared distance from each row to its k-th nearest other row (the row itself is the 0-th)."""
    out = []
    for start in range(0, x.shape[0], block):
        d2 = sq_dist(x[start : start + block], x)
        rows = torch.arange(d2.shape[0], device=x.device)
        d2[rows, rows + start] = 0.0  # exact zero on the diagonal, whatever the round-off
        out.append(d2.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _inside(query: torch.Tensor, centres: torch.Tensor, radius2: torch.Tensor, block: int) -> float:
    hits = 0
    for start in range(0, query.shape[0], block):
        d2 = sq_dist(query[start : start + block], centres)
        hits += int((d2 <= radius2[None]).any(dim=1).sum())
    return hits / query.shape[0]


# ---------------------------------------------------------------------------------------------------- Inception Score
def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 2020) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016) from classifier logits (N, 1008): mean and std over `splits`.

    Samples shuffled by numpy.random.RandomState(seed) first, as torch-fidelity does. Needs the classifier head,
    which the bundled weights do not have: callers report IS as unavailable then, never a number.
    """
    x = torch64(logits)
    n = x.shape[0]
    if n < splits:
        raise ValueError(f"Inception Score with {splits} splits needs at least {splits} samples, got {n}")
    x = x[torch.as_tensor(np.random.RandomState(seed).permutation(n), device=x.device)]
    log_p = x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        chunk = log_p[i * n // splits : (i + 1) * n // splits]
        log_q = chunk.exp().mean(dim=0).log()
        scores.append(float((chunk.exp() * (chunk - log_q)).sum(dim=1).mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))


# ---------------------------------------------------------------------------------------------------- helpers
def torch64(x: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """(N, D) float64 tensor on `device`, by default where the statistics of x run: its own device when that has
    float64 (CPU, CUDA), else the CPU (ganbench.device.statistics_device). Moved before the cast: MPS has no
    float64, so widening there would fail."""
    if not isinstance(x, torch.Tensor):
        x = torch.from_numpy(np.asarray(x))
    if x.ndim != 2:
        raise ValueError(f"expected (N, D) features, got shape {tuple(x.shape)}")
    where = torch.device(device) if device is not None else statistics_device(x.device)
    return x.detach().to(where).to(torch.float64)


def torch64_pair(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets as `torch64` puts the first (the generated one), so the two meet on one device."""
    first = torch64(a)
    return first, torch64(b, first.device)
