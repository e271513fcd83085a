"""Estimates for the sample counts a CPU affords: FID-infinity and KID over whole sets, each with a bootstrap
interval for evaluation noise.

FID's bias grows as N shrinks (two disjoint sets of 500 real 32x32 CelebA images score fid500 = 36), so two
estimates whose bias does not depend on N sit beside it. Everything here is float64, where `functional.torch64`
says; the random draws are numpy's (the same subsets and resamples wherever it runs).

Host synchronisations (issue 31): on a GPU, every index set, eigensolve (cuSOLVER reads back a convergence flag),
boolean mask and scalar read stalls the host. FID-infinity used to pay four per subset FID (550 at N = 200); now
its index sets go to the device in one copy, the subsets of one size share one batched eigensolve, and the FIDs
are read once. The reference's own terms (KID's reference kernel sums, the reference Gram matrix) are arguments,
so an evaluator computes them once per reference (`metrics.reference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ganbench.metrics.functional import torch64, torch64_pair

Z95 = 1.959963984540054  # two-sided 95% normal quantile
FIDINF_POINTS = 10  # FIDs fitted per FID-infinity estimate
FIDINF_MIN_FRACTION = 0.2  # smallest subset, as a share of each set: N/5 .. N (1/N spans a factor of 5)
BATCH_BYTES = 2**28  # at most this much float64 per batched eigensolve of same-sized subsets (256 MiB)
REFERENCE_STREAM = 1  # KID's bootstrap resamples the reference from numpy's stream (seed, this): no N in it


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


# ---------------------------------------------------------------------------------------------------- FID-infinity
def fid_subsets(kxx: torch.Tensor, kyy: torch.Tensor, kxy: torch.Tensor, s: np.ndarray, t: np.ndarray) -> float:
    """FID between rows s of X and rows t of Y (repeats allowed), from Gram matrices X X^T, Y Y^T, X Y^T only
    (float64 tensors, see `grams`), computed where they are.

    Exact, never forms a D x D matrix: with A, B the centred rows scaled by 1/sqrt(n-1), 1/sqrt(m-1),
    tr((S1 S2)^(1/2)) is the sum of the singular values of A B^T, the double-centred block kxy[s, t] scaled.
    """
    return float(subset_fids(kxx, kyy, kxy, [(np.asarray(s), np.asarray(t))])[0])


def subset_fids(
    kxx: torch.Tensor, kyy: torch.Tensor, kxy: torch.Tensor, pairs: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """fid_subsets of every (s, t) in `pairs`, computed where the Grams are and read back once: all index sets go
    to the device in one copy, and the pairs of one size share a batched eigensolve (chunked to BATCH_BYTES)."""
    flat = np.concatenate([np.concatenate([s, t]) for s, t in pairs]).astype(np.int64)
    on_device = torch.as_tensor(flat, device=kxx.device)  # the one host-to-device copy
    cuts = np.cumsum([0] + [len(s) + len(t) for s, t in pairs])
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (s, t) in enumerate(pairs):
        groups.setdefault((len(s), len(t)), []).append(i)
    order, parts = [], []
    for (n, m), members in groups.items():
        chunk = max(1, BATCH_BYTES // (8 * 4 * max(n, m) ** 2))
        for c in range(0, len(members), chunk):
            part = members[c : c + chunk]
            rows = torch.stack([on_device[cuts[i] : cuts[i + 1]] for i in part])
            parts.append(_fids_of_size(kxx, kyy, kxy, rows[:, :n], rows[:, n:]))
            order += part
    out = np.empty(len(pairs))
    out[order] = torch.cat(parts).cpu().numpy()  # the one host read, put back in the pairs' order on the host
    return out


def _fids_of_size(kxx: torch.Tensor, kyy: torch.Tensor, kxy: torch.Tensor, s: torch.Tensor, t: torch.Tensor):
    """(b,) FIDs of b subsets of one size: s (b, n) rows of X, t (b, m) rows of Y."""
    n, m = s.shape[1], t.shape[1]
    gx, gy, c = kxx[s[:, :, None], s[:, None, :]], kyy[t[:, :, None], t[:, None, :]], kxy[s[:, :, None], t[:, None, :]]
    mxx, myy, mxy = gx.mean(dim=(1, 2)), gy.mean(dim=(1, 2)), c.mean(dim=(1, 2))
    trace1 = (gx.diagonal(dim1=1, dim2=2).sum(1) - n * mxx) / (n - 1)  # sum ||x_i - mean||^2 / (n - 1)
    trace2 = (gy.diagonal(dim1=1, dim2=2).sum(1) - m * myy) / (m - 1)
    centred = c - c.mean(dim=2, keepdim=True) - c.mean(dim=1, keepdim=True) + mxy[:, None, None]
    square = centred @ centred.mT if n <= m else centred.mT @ centred  # its eigenvalues: the squared singular values
    eig = torch.linalg.eigvalsh((square + square.mT) / 2)  # 2-3x faster than an SVD here; one call per batch
    # Rank <= min(n, m, D) - 1: the other eigenvalues are round-off (~1e-16 of the largest) whose square roots
    # would add spurious trace; drop everything below 1e-12 of the largest (its square root: 1e-6 of the top one).
    # A mask by multiplication, not by indexing: boolean indexing would read the kept count back to the host.
    keep = eig > 1e-12 * eig.amax(dim=1, keepdim=True).clamp(min=0.0)
    tr_covmean = torch.where(keep, eig, 0.0).sqrt().sum(1) / math.sqrt((n - 1) * (m - 1))
    return mxx + myy - 2.0 * mxy + trace1 + trace2 - 2.0 * tr_covmean


def grams(
    gen: np.ndarray | torch.Tensor, ref: np.ndarray | torch.Tensor, kyy: torch.Tensor | None = None
) -> tuple[torch.Tensor, ...]:
    """X X^T, Y Y^T, X Y^T in float64, where `torch64` puts the generated features; kyy: Y Y^T when the caller
    keeps it (a reference-only term)."""
    x, y = torch64_pair(gen, ref)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature shapes do not match: {tuple(x.shape)} vs {tuple(y.shape)}")
    return x @ x.T, (y @ y.T if kyy is None else kyy.to(x.device)), x @ y.T


def _fit_rows(rng: np.random.Generator, rows_x: np.ndarray, rows_y: np.ndarray, points: int) -> list:
    """The (s, t) subsets of one FID-infinity fit: `points` shares of each set, drawn without replacement."""
    big_n, big_m = len(rows_x), len(rows_y)
    pairs = []
    for share in np.linspace(FIDINF_MIN_FRACTION, 1.0, points):
        n, m = max(2, round(share * big_n)), max(2, round(share * big_m))
        pairs.append((rows_x[rng.permutation(big_n)[:n]], rows_y[rng.permutation(big_m)[:m]]))
    return pairs


def _intercept(pairs: list, fids: np.ndarray) -> tuple[float, list[tuple[int, float]]]:
    fit = [(len(s), float(f)) for (s, _), f in zip(pairs, fids, strict=True)]
    inv_n = np.array([1.0 / n for n, _ in fit])
    if np.ptp(inv_n) == 0:
        raise ValueError(f"FID-infinity needs subsets of different sizes; {max(n for n, _ in fit)} samples are too few")
    _, intercept = np.polyfit(inv_n, np.array([f for _, f in fit]), 1)
    return float(intercept), fit


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
    pairs = _fit_rows(rng, rows_x, rows_y, points)
    return _intercept(pairs, subset_fids(kxx, kyy, kxy, pairs))


def fid_infinity(
    gen: np.ndarray | torch.Tensor,
    ref: np.ndarray | torch.Tensor,
    replicates: int = 20,
    seed: int = 2020,
    points: int = FIDINF_POINTS,
    kyy: torch.Tensor | None = None,
) -> tuple[Estimate, list[tuple[int, float]]]:
    """FID-infinity of generated features (N, D) against reference features (M, D), with a bootstrap interval.

    Each replicate resamples both sets with replacement and refits. Costs O(N^2 D) once for the Gram matrices and
    `points` eigensolves of at most N x M per fit, so it is meant for N, M of a few thousand (the CPU protocol).
    All fits' subsets are drawn first (in the order the fits draw them one by one), computed together and read
    back once. kyy: the reference's Gram matrix, when the caller keeps it.
    """
    kxx, kyy, kxy = grams(gen, ref, kyy)
    rng = np.random.default_rng(seed)
    n, m = kxx.shape[0], kyy.shape[0]
    fits = [_fit_rows(rng, np.arange(n), np.arange(m), points)]
    for _ in range(replicates):
        rows_x, rows_y = rng.integers(0, n, n), rng.integers(0, m, m)
        fits.append(_fit_rows(rng, rows_x, rows_y, points))
    fids = subset_fids(kxx, kyy, kxy, [p for fit in fits for p in fit])  # one host read for every fit
    (value, fit), *reps = (_intercept(f, fids[i * points : (i + 1) * points]) for i, f in enumerate(fits))
    return Estimate.from_replicates(value, np.array([r for r, _ in reps])), fit


# ---------------------------------------------------------------------------------------------------- KID
def _kernel_sums(a: torch.Tensor, b: torch.Tensor, wa: torch.Tensor, wb: torch.Tensor, block: int) -> torch.Tensor:
    """sum_ij wa[r, i] wb[r, j] k(a_i, b_j) for every row r of the weights, kernel rows made in blocks."""
    d = a.shape[1]
    out = torch.zeros(wa.shape[0], dtype=torch.float64, device=a.device)
    for start in range(0, a.shape[0], block):
        k = (a[start : start + block] @ b.T / d + 1.0) ** 3
        out += (wa[:, start : start + block] * (k @ wb.T).T).sum(1)
    return out


def _resample_weights(k: int, replicates: int, rng: np.random.Generator, device: torch.device) -> torch.Tensor:
    """Row 0: every sample once (the estimate); rows 1..: multiplicities of a bootstrap resample."""
    w = np.vstack([np.ones(k), rng.multinomial(k, np.full(k, 1.0 / k), size=replicates)]).astype(np.float64)
    return torch.from_numpy(w).to(device)


def _self_term(x: torch.Tensor, w: torch.Tensor, block: int) -> torch.Tensor:
    """The within-set mean kernel of each weighting, the pairs of a sample with a copy of itself dropped."""
    n, d = x.shape
    diag = ((x * x).sum(1) / d + 1.0) ** 3
    return (_kernel_sums(x, x, w, w, block) - (w**2) @ diag) / (n * n - (w**2).sum(1))


def kid_reference_term(
    ref: np.ndarray | torch.Tensor, replicates: int = 200, seed: int = 2020, block: int = 1024, device=None
) -> torch.Tensor:
    """(1 + replicates,) float64: the reference's own within-set term of `kid` for the estimate and each bootstrap
    replicate. It depends on the reference alone (its resamples come from a stream of their own), so an evaluator
    computes it once per reference and passes it to `kid` (2 M^2 D flops: most of KID's cost when M >> N)."""
    y = torch64(ref, device)
    rng = np.random.default_rng((seed, REFERENCE_STREAM))
    return _self_term(y, _resample_weights(y.shape[0], replicates, rng, y.device), block)


def kid(
    gen: np.ndarray | torch.Tensor,
    ref: np.ndarray | torch.Tensor,
    replicates: int = 200,
    seed: int = 2020,
    block: int = 1024,
    reference_term: torch.Tensor | None = None,
) -> Estimate:
    """KID over all samples, with a bootstrap interval over samples.

    The value is the unbiased MMD^2 U-statistic of the whole sets with torch-fidelity's kernel
    k(x, y) = (x.y / D + 1)^3; it is the exact average over every pair of subsets of any one size, which
    torch-fidelity estimates from 100 random subsets. A bootstrap replicate resamples both sets with replacement
    (the generated set from numpy's stream `seed`, the reference from (seed, REFERENCE_STREAM)) and drops the pairs
    of an image with a copy of itself (as the U-statistic drops i = j), so each replicate is itself an
    unbiased-form estimate. Kernel rows are made in blocks: memory O(block * max(N, M)). reference_term:
    kid_reference_term(ref, replicates, seed, block), when the caller keeps it.
    """
    x, y = torch64_pair(gen, ref)
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    if y.shape[1] != d or min(n, m) < 2:
        raise ValueError(f"KID needs two (N, D) sets with N >= 2 and one D, got {tuple(x.shape)} and {tuple(y.shape)}")
    wx = _resample_weights(n, replicates, np.random.default_rng(seed), x.device)
    wy = _resample_weights(m, replicates, np.random.default_rng((seed, REFERENCE_STREAM)), x.device)
    yy = _self_term(y, wy, block) if reference_term is None else reference_term.to(x.device)
    xy = _kernel_sums(x, y, wx, wy, block) / (n * m)
    mmd = (_self_term(x, wx, block) + yy - 2.0 * xy).cpu().numpy()  # one host read: 1 + replicates numbers
    return Estimate.from_replicates(float(mmd[0]), mmd[1:])
