"""The metric math: pure functions of Inception features or of their statistics. No I/O, no network, no state.

Shapes: features are (N, D) with D = 2048 for Inception pool3; a statistics pair is mu (D,) and sigma (D, D),
both float64 numpy arrays.

Where: every statistic is computed in float64 with torch on the features' device when that device runs float64 at
full rate (the CPU; a data-centre GPU, so that a GPU run does not wait on its host for the O(N^2 D) kernels and the
eigensolvers), else on the CPU (Apple's MPS has no float64; consumer and inference GPUs run it at 1/32 to 1/64 of
fp32): features move to the CPU first, then widen. `torch64` is the one place that decides (with
ganbench.device.statistics_device); only c2st's L-BFGS (scipy) always runs on the CPU. Convention for the
asymmetric metrics (precision/recall): the first argument is the generated set, the second the real (reference)
set, as in torch-fidelity. Beside this module: FID-infinity and KID over whole sets with their bootstrap intervals
(smallsample.py), the k-NN manifolds (knn.py), the reference-only terms kept per reference (reference.py).

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
    sqrt_sigma2: torch.Tensor | None = None,
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    method="eigh" (default): tr((S1 S2)^(1/2)) as the sum of the square roots of the eigenvalues of the symmetric
    S2^(1/2) S1 S2^(1/2), computed where `device`'s statistics run (see the module docstring). S2 is the reference
    side: its square root (`psd_sqrt(sigma2)`, a D x D eigensolve) can be passed in by a caller that keeps it.
    method="sqrtm": the classic scipy.linalg.sqrtm(S1 S2) procedure on the CPU (slow; for checking).
    """
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    diff = mu1 - mu2
    if method == "eigh":
        where = statistics_device(torch.device(device))
        root = psd_sqrt(torch.from_numpy(sigma2).to(where)) if sqrt_sigma2 is None else sqrt_sigma2.to(where)
        tr_covmean = _trace_sqrt_product_eigh(torch.from_numpy(sigma1).to(where), root)
    elif method == "sqrtm":
        tr_covmean = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    else:
        raise ValueError(f"unknown FID method '{method}': use 'eigh' or 'sqrtm'")
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid_from_features(
    features1: np.ndarray | torch.Tensor, mu2: np.ndarray | torch.Tensor, sigma2: np.ndarray | torch.Tensor
) -> float:
    """FID between a sample's raw features (N, D) and the statistics (mu2, sigma2) of another set.

    Equal to fid_from_statistics(*feature_statistics(features1), mu2, sigma2). When N <= D it is computed exactly
    in the N-dimensional sample space: with A = (X - mean) / sqrt(N - 1), S1 = A^T A and the non-zero eigenvalues
    of S2 S1 are those of the N x N symmetric A S2 A^T. Cheap (N D^2 flops, no D x D eigensolver) and free of the
    spurious round-off eigenvalues of a rank-deficient S1.
    """
    x = torch64(features1)
    n, d = x.shape
    if n < 2 or d != mu2.shape[0]:
        raise ValueError(f"features {tuple(x.shape)} do not match statistics of dimension {mu2.shape[0]} (need N >= 2)")
    if n > d:
        host = (a.cpu().numpy() if isinstance(a, torch.Tensor) else a for a in (mu2, sigma2))
        return fid_from_statistics(*feature_statistics(x), *host, device=x.device)
    mu2, sigma2 = (_on(a, x.device) for a in (mu2, sigma2))
    mu1 = x.mean(dim=0)
    a = (x - mu1) / math.sqrt(n - 1)
    m = a @ sigma2 @ a.T
    eig = torch.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = eig.clamp(min=0.0).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + (a * a).sum() + sigma2.trace() - 2.0 * tr_covmean)


def psd_sqrt(sigma: torch.Tensor) -> torch.Tensor:
    """The symmetric positive semi-definite square root of a covariance (float64 tensor), negatives clipped."""
    w, v = torch.linalg.eigh((sigma + sigma.T) / 2)
    return (v * w.clamp(min=0.0).sqrt()) @ v.T


def _trace_sqrt_product_eigh(sigma1: torch.Tensor, root2: torch.Tensor) -> float:
    """tr((S1 S2)^(1/2)) from S1 and the square root of S2."""
    m = root2 @ sigma1 @ root2
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
    on_device = torch.as_tensor(np.array(idx), device=f1.device)  # (subsets, 2, m): one host-to-device copy
    for s in range(subsets):
        t1, t2 = on_device[s, 0], on_device[s, 1]
        if full:
            kxx, kyy, kxy = k11[t1][:, t1], k22[t2][:, t2], k12[t1][:, t2]
        else:
            x, y = f1[t1], f2[t2]
            kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
        off_diag = (kxx.sum() - kxx.diagonal().sum()) + (kyy.sum() - kyy.diagonal().sum())
        mmds[s] = off_diag / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m)
    mmds = mmds.cpu().numpy()
    return float(mmds.mean()), float(mmds.std())


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
def _on(a: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """A statistic (numpy or a float64 tensor) as a float64 tensor on `device`; no copy when it is there."""
    return a.to(device) if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a, dtype=np.float64)).to(device)


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
