"""The reference side of every comparison, with the terms that depend on it alone, each computed once.

An evaluator compares many generated sets (every curve point, the final evaluation at two sample counts, G and the
EMA of G) with one reference. Much of the statistics' work involves the reference alone: its k-NN radii
(precision/recall, density/coverage: M^2 D each), KID's within-reference kernel sums over the estimate and every
bootstrap replicate (2 M^2 D), the reference's Gram matrix (FID-infinity), the square root of its covariance (FID's
covariance route: a D x D eigensolve) and its features widened to float64 where the statistics run. At 2k generated
images against a 10k reference these are ~0.8e12 of an evaluation's ~1.1e12 float64 flops. `Reference` keeps each
the first time a metric asks for it, keyed by everything it depends on (the statistics device included), for as
long as the evaluator holds it; `computed` counts how often each was made (once per reference and key).

The small ones (STORED: the k-NN radii, M numbers per k; KID's reference term, 1 + replicates numbers) are also
kept on disk beside the cached reference features (features.reference_features), so that another process (`ganbench
fid` again, a study's next worker or Ray trial) loads them: each file holds the SHA-256 of the features it was
made from and is used only for those same features (a features file rebuilt from other images or on another device
makes them afresh), and its name carries the statistics device's type (float64 round-off differs between devices).
The Gram matrix (M x M: 800 MB at 10k) and the covariance's square root stay in memory: made once per process.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.io import atomic_write_bytes
from ganbench.metrics import knn, smallsample
from ganbench.metrics.features import FeatureSet
from ganbench.metrics.functional import psd_sqrt, torch64

STORED = ("knn_radius2", "kid_term")  # the terms also kept on disk (module docstring)
TERMS_VERSION = 1  # in every stored term's file name: raise it when knn.knn_radius2 or kid_reference_term changes


@dataclass
class Reference(FeatureSet):
    """A FeatureSet (features, mu, sigma) plus its reference-only terms, made on first use and kept."""

    terms: dict[tuple, Any] = field(default_factory=dict, repr=False)
    computed: Counter = field(default_factory=Counter, repr=False)  # term name -> times made (once per key)
    loaded: Counter = field(default_factory=Counter, repr=False)  # term name -> times read from disk instead
    _sha256: str | None = field(default=None, repr=False)  # of the float32 features, once a stored term needs them

    @classmethod
    def of(cls, fs: FeatureSet) -> Reference:
        """`fs` itself when it already is a Reference (its terms kept), else a Reference sharing its tensors."""
        if isinstance(fs, Reference):
            return fs
        return cls(fs.features, fs.mu, fs.sigma, fs.logits, fs.info)

    def _term(self, name: str, key: tuple, where: torch.device, make: Callable[[], Any]) -> Any:
        full = (name, *key, str(where))
        if full not in self.terms:
            path = self._stored(name, key, where)
            value = self._load(path, where) if path is not None else None
            if value is None:
                value = make()
                self.computed[name] += 1
                if path is not None:
                    self._store(path, value)
            else:
                self.loaded[name] += 1
            self.terms[full] = value
        return self.terms[full]

    def _stored(self, name: str, key: tuple, where: torch.device) -> Path | None:
        """The file of a STORED term of a reference whose features are cached on disk (None: kept in memory only)."""
        cache = self.info.get("cache")
        if name not in STORED or not cache:
            return None
        parts = "-".join(str(k) for k in key)
        return Path(cache).with_suffix(".terms") / f"{name}-{parts}-{where.type}-v{TERMS_VERSION}.npz"

    def _features_sha256(self) -> str:
        """features.reference_features hashed them in host memory; else (a Reference made here) hashed now."""
        if self._sha256 is None:
            known = self.info.get("features_sha256")
            data = None if known else np.ascontiguousarray(self.features.detach().cpu().numpy())
            self._sha256 = str(known) if known else hashlib.sha256(data.data).hexdigest()
        return self._sha256

    def _load(self, path: Path, where: torch.device) -> torch.Tensor | None:
        """The stored term, on `where`, when the file was made from these very features; else None (remade)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["features_sha256"]) != self._features_sha256():
                    return None
                return torch.from_numpy(z["value"]).to(where)
        except Exception:  # absent, torn or foreign: remade, never trusted
            return None

    def _store(self, path: Path, value: torch.Tensor) -> None:
        buf = io.BytesIO()
        np.savez(buf, features_sha256=np.array(self._features_sha256()), value=value.detach().cpu().numpy())
        try:
            atomic_write_bytes(path, buf.getvalue())
        except OSError:  # a full disk or a read-only cache: the term is still kept in memory
            pass

    def features64(self, where: torch.device) -> torch.Tensor:
        """(M, D) float64 features on `where` (a statistics device): moved and widened once."""
        return self._term("features64", (), where, lambda: torch64(self.features, where))

    def sigma64(self, where: torch.device) -> torch.Tensor:
        """(D, D) float64 covariance on `where`."""
        return self._term("sigma64", (), where, lambda: torch.from_numpy(self.sigma).to(where))

    def sqrt_sigma(self, where: torch.device) -> torch.Tensor:
        """The covariance's PSD square root on `where` (FID's covariance route)."""
        return self._term("sqrt_sigma", (), where, lambda: psd_sqrt(self.sigma64(where)))

    def knn_radius2(self, k: int, where: torch.device) -> torch.Tensor:
        """(M,) squared distance of each reference sample to its k-th nearest other one."""
        return self._term("knn_radius2", (k,), where, lambda: knn.knn_radius2(self.features64(where), k))

    def kid_term(self, replicates: int, seed: int, where: torch.device) -> torch.Tensor:
        """KID's within-reference term for the estimate and each bootstrap replicate (smallsample.kid)."""
        return self._term(
            "kid_term",
            (replicates, seed),
            where,
            lambda: smallsample.kid_reference_term(self.features64(where), replicates, seed),
        )

    def gram(self, where: torch.device) -> torch.Tensor:
        """(M, M) Y Y^T in float64 (FID-infinity)."""
        return self._term("gram", (), where, lambda: self.features64(where) @ self.features64(where).T)
