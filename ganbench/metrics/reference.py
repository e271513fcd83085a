"""The reference side of every comparison, with the terms that depend on it alone, each computed once.

An evaluator compares many generated sets (every curve point, the final evaluation at two sample counts, G and the
EMA of G) with one reference. Much of the statistics' work involves the reference alone: its k-NN radii
(precision/recall, density/coverage: M^2 D each), KID's within-reference kernel sums over the estimate and every
bootstrap replicate (2 M^2 D), the reference's Gram matrix (FID-infinity), the square root of its covariance (FID's
covariance route: a D x D eigensolve) and its features widened to float64 where the statistics run. At 2k generated
images against a 10k reference these are ~0.8e12 of an evaluation's ~1.1e12 float64 flops. `Reference` keeps each
the first time a metric asks for it, keyed by everything it depends on (the statistics device included), for as
long as the evaluator holds it; `computed` counts how often each was made (once per reference and key).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ganbench.metrics import knn, smallsample
from ganbench.metrics.features import FeatureSet
from ganbench.metrics.functional import psd_sqrt, torch64


@dataclass
class Reference(FeatureSet):
    """A FeatureSet (features, mu, sigma) plus its reference-only terms, made on first use and kept."""

    terms: dict[tuple, Any] = field(default_factory=dict, repr=False)
    computed: Counter = field(default_factory=Counter, repr=False)  # term name -> times made (once per key)

    @classmethod
    def of(cls, fs: FeatureSet) -> Reference:
        """`fs` itself when it already is a Reference (its terms kept), else a Reference sharing its tensors."""
        if isinstance(fs, Reference):
            return fs
        return cls(fs.features, fs.mu, fs.sigma, fs.logits, fs.info)

    def _term(self, name: str, key: tuple, make: Callable[[], Any]) -> Any:
        if (name, *key) not in self.terms:
            self.terms[(name, *key)] = make()
            self.computed[name] += 1
        return self.terms[(name, *key)]

    def features64(self, where: torch.device) -> torch.Tensor:
        """(M, D) float64 features on `where` (a statistics device): moved and widened once."""
        return self._term("features64", (str(where),), lambda: torch64(self.features, where))

    def sigma64(self, where: torch.device) -> torch.Tensor:
        """(D, D) float64 covariance on `where`."""
        return self._term("sigma64", (str(where),), lambda: torch.from_numpy(self.sigma).to(where))

    def sqrt_sigma(self, where: torch.device) -> torch.Tensor:
        """The covariance's PSD square root on `where` (FID's covariance route)."""
        return self._term("sqrt_sigma", (str(where),), lambda: psd_sqrt(self.sigma64(where)))

    def knn_radius2(self, k: int, where: torch.device) -> torch.Tensor:
        """(M,) squared distance of each reference sample to its k-th nearest other one."""
        return self._term("knn_radius2", (k, str(where)), lambda: knn.knn_radius2(self.features64(where), k))

    def kid_term(self, replicates: int, seed: int, where: torch.device) -> torch.Tensor:
        """KID's within-reference term for the estimate and each bootstrap replicate (smallsample.kid)."""
        return self._term(
            "kid_term",
            (replicates, seed, str(where)),
            lambda: smallsample.kid_reference_term(self.features64(where), replicates, seed),
        )

    def gram(self, where: torch.device) -> torch.Tensor:
        """(M, M) Y Y^T in float64 (FID-infinity)."""
        return self._term("gram", (str(where),), lambda: self.features64(where) @ self.features64(where).T)
