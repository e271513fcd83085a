"""Two-sample metrics on Inception features beyond FID/KID/PR: density and coverage, and a classifier two-sample
test (C2ST). Pure functions of two feature matrices (N, D) (real, generated); which features (here Inception pool3,
2048-d) and how many samples are the caller's protocol and belong in the metric's name.

density, coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models", eq. 3-4).
Around each real feature r_i a ball of radius rad_i = distance to its k-th nearest other real feature; N reals,
M fakes f_j:

    density  = 1/(k M) * sum_j #{i : ||f_j - r_i|| <= rad_i}        # fidelity; about 1 when fakes ~ reals
    coverage = 1/N * #{i : some f_j has ||f_j - r_i|| <= rad_i}      # diversity; in [0, 1]

Only real balls are used, so a few outlying fakes cannot inflate them (the fault of precision/recall they fix).
For identical distributions and M = N, E[density] = 1 and E[coverage] ~ 1 - 1/2^k (0.97 at the paper's k = 5).

c2st (Lopez-Paz & Oquab 2017, "Revisiting Classifier Two-Sample Tests"): split each set in two (seeded), train a
classifier to tell real from generated on the first halves, report its accuracy on the held-out halves with an
exact (Clopper-Pearson) 95 % interval and the one-sided binomial p-value against chance. 0.5: the classifier
cannot tell the sets apart; 1.0: it always can. The classifier is L2-regularised logistic regression on features
standardised with the training split's mean and std, fitted by L-BFGS (scipy) from zero (a convex problem,
so the result does not depend on an initialisation), in float64 on the CPU. A linear probe on Inception features
is the choice here; a stronger classifier can only raise the accuracy, so read it as a lower bound on how
distinguishable the sets are. Both sets are cut to the smaller one's size so that chance is exactly 0.5.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize, special, stats

# the k-NN radii precision/recall use, and the one float64 conversion (where: functional's module docstring)
from ganbench.metrics.functional import knn_radius2, sq_dist, torch64, torch64_pair

KEY_DENSITY = "density"
KEY_COVERAGE = "coverage"
KEY_C2ST = "c2st"  # held-out accuracy
KEY_C2ST_LOW = "c2st_low"  # Clopper-Pearson 95 % interval
KEY_C2ST_HIGH = "c2st_high"
KEY_C2ST_P = "c2st_p"  # one-sided binomial p-value of accuracy > 0.5
KEY_C2ST_N = "c2st_n_test"  # held-out samples (real + generated)

C2ST_L2 = 1e-2  # ridge weight on the mean logistic loss, for standardised features
C2ST_TRAIN_FRACTION = 0.5


def density_coverage(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 5, block: int = 1024
) -> dict[str, float]:
    """{density, coverage} of `fake` (M, D) against `real` (N, D); see the module docstring. k-NN among reals."""
    r, f = torch64_pair(real, fake)
    if r.shape[0] <= k:
        raise ValueError(f"density/coverage with k={k} needs more than {k} real samples, got {r.shape[0]}")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature sizes differ: real {r.shape[1]}, generated {f.shape[1]}")
    radius2 = knn_radius2(r, k, block)  # (N,) squared radii
    inside_count = 0.0
    covered = torch.zeros(r.shape[0], dtype=torch.bool, device=r.device)
    for start in range(0, f.shape[0], block):
        inside = sq_dist(f[start : start + block], r) <= radius2[None]  # (block, N)
        inside_count += float(inside.sum())
        covered |= inside.any(dim=0)
    return {KEY_DENSITY: inside_count / (k * f.shape[0]), KEY_COVERAGE: float(covered.double().mean())}


def c2st(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    seed: int = 0,
    train_fraction: float = C2ST_TRAIN_FRACTION,
    l2: float = C2ST_L2,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Classifier two-sample test of `real` (N, D) against `fake` (M, D); see the module docstring.

    Returns {c2st: held-out accuracy, c2st_low, c2st_high: its Clopper-Pearson interval, c2st_p: p-value of
    accuracy > 0.5, c2st_n_test: held-out samples}.
    """
    r, f = torch64(real, "cpu"), torch64(fake, "cpu")  # scipy's L-BFGS: on the host
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature sizes differ: real {r.shape[1]}, generated {f.shape[1]}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"c2st train_fraction must be in (0, 1), got {train_fraction}")
    n = min(r.shape[0], f.shape[0])
    n_train = int(round(n * train_fraction))
    if n_train < 2 or n - n_train < 2:
        raise ValueError(f"c2st needs at least 2 training and 2 held-out samples per set, got {n} per set")
    g = torch.Generator().manual_seed(seed)
    r = r[torch.randperm(r.shape[0], generator=g)[:n]]
    f = f[torch.randperm(f.shape[0], generator=g)[:n]]
    x_train = torch.cat([r[:n_train], f[:n_train]])
    x_test = torch.cat([r[n_train:], f[n_train:]])
    y_train = torch.cat([torch.ones(n_train), torch.zeros(n_train)]).double()
    y_test = torch.cat([torch.ones(n - n_train), torch.zeros(n - n_train)]).double()

    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    w, b = _fit_logistic((x_train - mean) / std, y_train, l2)
    predicted = (((x_test - mean) / std) @ w + b > 0).double()
    correct = int((predicted == y_test).sum())
    n_test = int(y_test.numel())
    test = stats.binomtest(correct, n_test, 0.5, alternative="greater")
    ci = stats.binomtest(correct, n_test).proportion_ci(confidence_level=confidence, method="exact")
    return {
        KEY_C2ST: correct / n_test,
        KEY_C2ST_LOW: float(ci.low),
        KEY_C2ST_HIGH: float(ci.high),
        KEY_C2ST_P: float(test.pvalue),
        KEY_C2ST_N: n_test,
    }


def _fit_logistic(
    x: torch.Tensor, y: torch.Tensor, l2: float, max_iter: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """argmin_{w, b} mean(softplus(-s * (x w + b))) + l2/2 ||w||^2, s = 2y - 1; x (n, D) float64.

    scipy's L-BFGS-B with the analytic gradient (the loss is convex: from zero, one answer)."""
    xn, sign = x.numpy(), (2 * y - 1).numpy()
    n, d = xn.shape

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        margin = sign * (xn @ w + b)
        loss = np.logaddexp(0.0, -margin).mean() + 0.5 * l2 * w @ w
        coef = -sign * special.expit(-margin) / n  # d loss / d (x w + b)
        return float(loss), np.concatenate([xn.T @ coef + l2 * w, [coef.sum()]])

    fit = optimize.minimize(
        loss_and_grad, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "gtol": 1e-8}
    )
    if not np.isfinite(fit.x).all():
        raise FloatingPointError("c2st: the logistic regression did not converge to finite weights")
    return torch.from_numpy(fit.x[:d]), torch.tensor(float(fit.x[d]), dtype=torch.float64)
