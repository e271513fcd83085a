"""Density/coverage and the classifier two-sample test: hand-computed values, same-distribution draws near their
expectations (two-sided), disjoint or obviously different sets at the other end."""

import pytest
import torch

from ganbench.metrics.twosample import (
    KEY_C2ST,
    KEY_C2ST_HIGH,
    KEY_C2ST_LOW,
    KEY_C2ST_N,
    KEY_C2ST_P,
    KEY_COVERAGE,
    KEY_DENSITY,
    c2st,
    density_coverage,
)


def gauss(seed: int, n: int, d: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_density_coverage_by_hand():
    # 1-D, k = 1: radii 0 -> 1, 1 -> 1, 3 -> 2. Fake 0.5 lies in the balls of 0 and 1, 0.9 in those of 0 and 1
    # (|0.9 - 3| = 2.1 > 2), 10 in none: density = 4 / (1 * 3); reals 0 and 1 are covered, 3 is not.
    real = torch.tensor([[0.0], [1.0], [3.0]])
    fake = torch.tensor([[0.5], [0.9], [10.0]])
    out = density_coverage(real, fake, k=1)
    assert out[KEY_DENSITY] == pytest.approx(4 / 3) and out[KEY_COVERAGE] == pytest.approx(2 / 3)
    out = density_coverage(real, torch.tensor([[2.5]]), k=1)  # only 3's ball (|2.5 - 1| = 1.5 > 1)
    assert out[KEY_DENSITY] == pytest.approx(1.0) and out[KEY_COVERAGE] == pytest.approx(1 / 3)


def test_density_coverage_same_distribution_near_expectation():
    # E[density] = 1 and E[coverage] = 1 - C(N-1, k) / C(N-1+M, k) = 0.969 for N = M = 1000, k = 5.
    out = density_coverage(gauss(0, 1000, 8), gauss(1, 1000, 8), k=5)
    assert 0.85 < out[KEY_DENSITY] < 1.15
    assert 0.94 < out[KEY_COVERAGE] < 0.99


def test_density_coverage_disjoint_and_collapsed():
    real = gauss(0, 500, 8)
    out = density_coverage(real, gauss(1, 500, 8, shift=50.0))
    assert out[KEY_DENSITY] == 0.0 and out[KEY_COVERAGE] == 0.0
    # a collapsed generator: every fake at one real point -> high density there, almost no coverage
    out = density_coverage(real, real[:1].repeat(500, 1))
    assert out[KEY_COVERAGE] < 0.05 and out[KEY_DENSITY] > 0.2
    with pytest.raises(ValueError, match="more than 5"):
        density_coverage(real[:5], real)


def test_c2st_same_distribution_is_chance():
    out = c2st(gauss(0, 500, 2048), gauss(1, 500, 2048), seed=0)
    assert 0.4 <= out[KEY_C2ST] <= 0.6
    assert out[KEY_C2ST_LOW] <= 0.5 <= out[KEY_C2ST_HIGH]
    assert out[KEY_C2ST_P] > 0.01 and out[KEY_C2ST_N] == 500


def test_c2st_obvious_difference_is_one():
    out = c2st(gauss(0, 500, 2048), gauss(1, 500, 2048, shift=0.5), seed=0)
    assert out[KEY_C2ST] == 1.0 and out[KEY_C2ST_LOW] > 0.98 and out[KEY_C2ST_HIGH] == 1.0
    assert out[KEY_C2ST_P] < 1e-100


def test_c2st_reaches_the_bayes_accuracy_of_a_known_shift():
    # Unit Gaussians 2 apart along one axis: the best possible accuracy is Phi(1) = 0.841.
    real, fake = gauss(0, 1000, 4), gauss(1, 1000, 4)
    fake[:, 0] += 2.0
    out = c2st(real, fake, seed=0)
    assert 0.80 < out[KEY_C2ST] < 0.87
    assert out[KEY_C2ST_LOW] < 0.841  # a fitted classifier cannot beat Bayes (beyond sampling noise)


def test_c2st_is_seeded_and_cuts_to_equal_sizes():
    a, b = gauss(0, 300, 16), gauss(1, 200, 16, shift=0.2)
    first, again = c2st(a, b, seed=3), c2st(a, b, seed=3)
    assert first == again and first[KEY_C2ST_N] == 200
    with pytest.raises(ValueError, match="feature sizes differ"):
        c2st(a, b[:, :8])
    with pytest.raises(ValueError, match="at least 2"):
        c2st(a[:3], b[:3])
