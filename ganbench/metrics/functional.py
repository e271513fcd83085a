"""The metric math: pure functions of Inception features or of their statistics. No I/O, no network, no state.

Shapes: features are (N, D) with D = 2048 for Inception pool3; a statistics pair is mu (D,) and sigma (D, D),
both float64. Convention for the asymmetric metrics (precision/recall): the first argument is the generated set,
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

import numpy as np
import scipy.linalg
import torch

# ---------------------------------------------------------------------------------------------------- FID


def feature_statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> mu (D,), sigma (D, D): the mean and the unbiased (N - 1) covariance, in float64.

    A tensor is reduced on its own device (a GPU makes the N x D x D product cheap); numpy arrays on the CPU.
    """
    if isinstance(features, torch.Tensor):
        x = features.detach().to(torch.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"statistics need a (N, D) array with N >= 2, got shape {tuple(x.shape)}")
        mu = x.mean(dim=0)
        xc = x - mu
        sigma = xc.T @ xc / (x.shape[0] - 1)
        return mu.cpu().numpy(), sigma.cpu().numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"statistics need a (N, D) array with N >= 2, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def fid_from_statistics(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                        method: str = "eigh", eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    method="eigh" (default): tr((S1 S2)^(1/2)) as the sum of the square roots of the eigenvalues of the symmetric
    S1^(1/2) S2 S1^(1/2). method="sqrtm": the classic scipy.linalg.sqrtm(S1 S2) procedure (slow; for checking).
    """
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs "
                         f"{sigma2.shape}")
    diff = mu1 - mu2
    if method == "eigh":
        tr_covmean = _trace_sqrt_product_eigh(sigma1, sigma2)
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
    x = _numpy64(features1)
    mu2, sigma2 = np.asarray(mu2, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    n, d = x.shape
    if n < 2 or d != mu2.size:
        raise ValueError(f"features {x.shape} do not match statistics of dimension {mu2.size} (need N >= 2)")
    if n > d:
        return fid_from_statistics(*feature_statistics(x), mu2, sigma2)
    mu1 = x.mean(axis=0)
    a = (x - mu1) / np.sqrt(n - 1)
    m = a @ sigma2 @ a.T
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.einsum("ij,ij->", a, a) + np.trace(sigma2) - 2.0 * tr_covmean)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    root = _psd_sqrt(sigma1)
    m = root @ sigma2 @ root
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product: offset both diagonals, as in the TTUR reference code
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        worst = np.max(np.abs(np.diagonal(covmean).imag))
        if worst > 1e-3:
            raise ValueError(f"matrix square root has a large imaginary component ({worst:.3g}); the statistics "
                             "are not valid covariances")
        covmean = covmean.real
    return float(np.trace(covmean))


# ---------------------------------------------------------------------------------------------------- KID
def kid_from_features(features1: torch.Tensor, features2: torch.Tensor, subset_size: int, subsets: int = 100,
                      seed: int = 2020) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std over `subsets` random subsets.

    Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, each subset drawn without
    replacement by numpy.random.RandomState(seed), exactly as torch-fidelity draws them (so the numbers match its
    kid_features_to_metric). Computed in float64 on the features' device. subset_size must not exceed either N.
    """
    f1, f2 = _torch64(features1), _torch64(features2.to(features1.device))
    n1, n2, d = f1.shape[0], f2.shape[0], f1.shape[1]
    if f2.shape[1] != d:
        raise ValueError(f"feature dimensions differ: {f1.shape} vs {f2.shape}")
    if not 2 <= subset_size <= min(n1, n2):
        raise ValueError(f"KID subset size {subset_size} must be between 2 and the smaller sample count "
                         f"({min(n1, n2)})")
    rng = np.random.RandomState(seed)
    idx = [(rng.choice(n1, subset_size, replace=False), rng.choice(n2, subset_size, replace=False))
           for _ in range(subsets)]

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


# ---------------------------------------------------------------------------------------------------- precision/recall
def precision_recall(gen: torch.Tensor, real: torch.Tensor, k: int = 3, block: int = 1024) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019), k-nearest-neighbour manifolds.

    Each set's manifold is the union of balls centred on its samples, with radius the distance to the sample's k-th
    nearest neighbour in its own set. precision = fraction of generated samples inside the real manifold;
    recall = fraction of real samples inside the generated manifold. Euclidean distances in float64, row blocks
    of `block` to bound memory. Which features (here: Inception pool3, not the paper's VGG16) is the caller's
    protocol.
    """
    g, r = _torch64(gen), _torch64(real.to(gen.device))
    if min(g.shape[0], r.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    r_gen, r_real = _knn_radius2(g, k, block), _knn_radius2(r, k, block)
    precision = _inside(g, r, r_real, block)
    recall = _inside(r, g, r_gen, block)
    return precision, recall


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a * a).sum(1, keepdim=True) + (b * b).sum(1)[None] - 2.0 * a @ b.T).clamp_(min=0.0)


def _knn_radius2(x: torch.Tensor, k: int, block: int) -> torch.Tensor:
    """Squared distance from each row to its k-th nearest other row (the row itself is the 0-th)."""
    out = []
    for start in range(0, x.shape[0], block):
        d2 = _sq_dist(x[start:start + block], x)
        rows = torch.arange(d2.shape[0], device=x.device)
        d2[rows, rows + start] = 0.0  # exact zero on the diagonal, whatever the round-off
        out.append(d2.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _inside(query: torch.Tensor, centres: torch.Tensor, radius2: torch.Tensor, block: int) -> float:
    hits = 0
    for start in range(0, query.shape[0], block):
        d2 = _sq_dist(query[start:start + block], centres)
        hits += int((d2 <= radius2[None]).any(dim=1).sum())
    return hits / query.shape[0]


# ---------------------------------------------------------------------------------------------------- Inception Score
def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 2020) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016) from classifier logits (N, 1008): mean and std over `splits`.

    Samples shuffled by numpy.random.RandomState(seed) first, as torch-fidelity does. Needs the classifier head,
    which the bundled weights do not have: callers report IS as unavailable then, never a number.
    """
    x = _torch64(logits).cpu()
    n = x.shape[0]
    if n < splits:
        raise ValueError(f"Inception Score with {splits} splits needs at least {splits} samples, got {n}")
    x = x[torch.as_tensor(np.random.RandomState(seed).permutation(n))]
    log_p = x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        chunk = log_p[i * n // splits:(i + 1) * n // splits]
        log_q = chunk.exp().mean(dim=0).log()
        scores.append(float((chunk.exp() * (chunk - log_q)).sum(dim=1).mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))


# ---------------------------------------------------------------------------------------------------- helpers
def _numpy64(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _torch64(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.from_numpy(np.asarray(x))
    if x.ndim != 2:
        raise ValueError(f"expected (N, D) features, got shape {tuple(x.shape)}")
    return x.detach().to(torch.float64)
