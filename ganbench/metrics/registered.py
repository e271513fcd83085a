"""Metrics by name: the registry the evaluator, `ganbench fid` and the selftest compute from, and the result keys.

Each registered metric is a pure function of the generated FeatureSet, the `Reference` (the reference FeatureSet
with its reference-only terms, computed once: reference.py) and the settings; adding one is one function and one
`METRICS.register` line: its keys, summary, protocol and which of its keys are shares of samples all live in its
`Metric` entry, and the evaluator, the protocol and the selftest read them from there. Every metric is computed
from the same features: one Inception pass per evaluation, however many metrics. Metric names carry the
protocol's sample count (`fid500`, `kid500`, `fidinf1000_lo`; the grammar is names.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ganbench.device import statistics_device
from ganbench.metrics import functional as F
from ganbench.metrics import knn, modes, names, smallsample, twosample
from ganbench.metrics.features import FeatureSet
from ganbench.metrics.reference import Reference
from ganbench.registry import Registry

# Result keys (without the sample count); public so that callers never spell them by hand. A key is a metric name
# without its count ('kid_lo' -> 'kid500_lo'): names.py owns the grammar.
KEY_FID = names.FID
KEY_FIDINF = names.FIDINF
KEY_KID = names.KID
KEY_PRECISION = names.PRECISION
KEY_RECALL = names.RECALL
KEY_KID_STD, KEY_KID_LO, KEY_KID_HI = "kid_std", "kid_lo", "kid_hi"
KEY_FIDINF_LO, KEY_FIDINF_HI = "fidinf_lo", "fidinf_hi"
KEY_DENSITY, KEY_COVERAGE = names.DENSITY, names.COVERAGE
KEY_C2ST, KEY_C2ST_LO, KEY_C2ST_HI, KEY_C2ST_P = names.C2ST, "c2st_lo", "c2st_hi", "c2st_p"
REPORTED = (KEY_FID, KEY_KID, KEY_PRECISION, KEY_RECALL)  # the headline values, in this order (FID first)
# From FIDINF_MIN_SAMPLES generated images on, the evaluator also returns these (below it an extrapolation from
# subsets of fewer than 10 images, or a bootstrap of so few, would mean nothing).
EXTENDED = (KEY_FIDINF, KEY_FIDINF_LO, KEY_FIDINF_HI, KEY_KID_LO, KEY_KID_HI)
FIDINF_MIN_SAMPLES = 50
FIDINF_MAX_SAMPLES = 5000  # above it the N x N Gram route is too slow and too large: FID-infinity is reported NaN
FIDINF_REPLICATES = 10  # bootstrap refits: each costs 10 eigensolves of up to N x N (the se is uncertain by ~24%)
KID_REPLICATES = 200  # bootstrap replicates of KID: cheap (N^2 D once, then matrix-vector products)
KID_MAX_SUBSET = 1000  # torch-fidelity's default subset size, used whenever both sets have that many samples
KID_SUBSETS = 100
PR_K = 3
DC_K = 5  # Naeem et al. 2020's k
RNG_SEED = 2020  # torch-fidelity's seed for KID subsets and IS shuffling; also seeds the bootstraps
MIN_SAMPLES = 10  # below this no metric here means anything


@dataclass(frozen=True)
class MetricSettings:
    kid_subset_size: int
    kid_subsets: int = KID_SUBSETS
    pr_k: int = PR_K
    seed: int = RNG_SEED
    kid_replicates: int = KID_REPLICATES
    fidinf_replicates: int = FIDINF_REPLICATES


def kid_subset_size(n_generated: int, n_reference: int) -> int:
    return min(KID_MAX_SUBSET, n_generated, n_reference)


MetricFn = Callable[[FeatureSet, Reference, MetricSettings], dict[str, float]]


@dataclass(frozen=True)
class Metric:
    """A metric chosen by name (`--metrics fid,kid,c2st`): a pure function of the two feature sets returning its
    result keys (names without the count: 'kid', 'kid_lo'), and how those numbers are made."""

    name: str
    fn: MetricFn
    keys: tuple[str, ...]  # the result keys it returns, in display order
    summary: str
    protocol: dict[str, Any]  # recorded in every metric protocol under the metric's name (when not empty)
    shares: tuple[str, ...] = ()  # keys that are shares of samples (one sample across an edge moves them by 1/N)


METRICS: Registry[Metric] = Registry("metric")
DEFAULT_METRICS = ("fid", "fidinf", "kid", "pr")  # what a run computes unless told otherwise


def _where(gen: FeatureSet):
    """Where the statistics of this evaluation run (ganbench.device.statistics_device of the features)."""
    return statistics_device(gen.features.device)


def _fid(gen: FeatureSet, ref: Reference, s: MetricSettings) -> dict[str, float]:
    where = _where(gen)
    if len(gen) <= gen.features.shape[1] and len(gen) <= len(ref):  # exact and cheap in the generated sample space
        return {KEY_FID: F.fid_from_features(gen.features, ref.mu, ref.sigma64(where))}
    if len(ref) <= ref.features.shape[1]:  # the reference is the smaller set: its sample space
        return {KEY_FID: F.fid_from_features(ref.features64(where), gen.mu, gen.sigma)}
    fid = F.fid_from_statistics(gen.mu, gen.sigma, ref.mu, ref.sigma, device=where, sqrt_sigma2=ref.sqrt_sigma(where))
    return {KEY_FID: fid}


def _kid(gen: FeatureSet, ref: Reference, s: MetricSettings) -> dict[str, float]:
    where = _where(gen)
    term = ref.kid_term(s.kid_replicates, s.seed, where)
    est = smallsample.kid(gen.features, ref.features64(where), s.kid_replicates, s.seed, reference_term=term)
    return {KEY_KID: est.value, KEY_KID_STD: est.se, KEY_KID_LO: est.low, KEY_KID_HI: est.high}


def _fidinf(gen: FeatureSet, ref: Reference, s: MetricSettings) -> dict[str, float]:
    if min(len(gen), len(ref)) < FIDINF_MIN_SAMPLES or max(len(gen), len(ref)) > FIDINF_MAX_SAMPLES:
        return {KEY_FIDINF: math.nan, KEY_FIDINF_LO: math.nan, KEY_FIDINF_HI: math.nan}
    where = _where(gen)
    est, _ = smallsample.fid_infinity(
        gen.features, ref.features64(where), s.fidinf_replicates, s.seed, kyy=ref.gram(where)
    )
    return {KEY_FIDINF: est.value, KEY_FIDINF_LO: est.low, KEY_FIDINF_HI: est.high}


def _precision_recall(gen: FeatureSet, ref: Reference, s: MetricSettings) -> dict[str, float]:
    where = _where(gen)
    radius2 = ref.knn_radius2(s.pr_k, where)
    precision, recall = knn.precision_recall(gen.features, ref.features64(where), s.pr_k, real_radius2=radius2)
    return {KEY_PRECISION: precision, KEY_RECALL: recall}


def _density_coverage(gen: FeatureSet, ref: Reference, s: MetricSettings) -> dict[str, float]:
    where = _where(gen)
    return twosample.density_coverage(
        ref.features64(where), gen.features, DC_K, real_radius2=ref.knn_radius2(DC_K, where)
    )


def _c2st(gen: FeatureSet, ref: Reference, s: MetricSettings) -> dict[str, float]:
    out = twosample.c2st(ref.features64(torch.device("cpu")), gen.features, seed=s.seed)  # scipy: on the host
    return {
        KEY_C2ST: out[twosample.KEY_C2ST],
        KEY_C2ST_LO: out[twosample.KEY_C2ST_LOW],
        KEY_C2ST_HI: out[twosample.KEY_C2ST_HIGH],
        KEY_C2ST_P: out[twosample.KEY_C2ST_P],
    }


FID_PROTOCOL = {
    "statistics": "float64 mean and unbiased (N - 1) covariance",
    "trace_sqrt": "symmetric eigendecomposition (exact sample-space form when N <= 2048)",
}
METRICS.register(
    "fid", Metric("fid", _fid, (KEY_FID,), "Frechet Inception distance (biased upwards at small N)", FID_PROTOCOL)
)
METRICS.register(
    "fidinf",
    Metric(
        "fidinf",
        _fidinf,
        (KEY_FIDINF, KEY_FIDINF_LO, KEY_FIDINF_HI),
        "FID-infinity (Chong & Forsyth 2020), from 50 samples",
        {},
    ),
)
METRICS.register(
    "kid",
    Metric(
        "kid",
        _kid,
        (KEY_KID, KEY_KID_STD, KEY_KID_LO, KEY_KID_HI),
        "kernel Inception distance, unbiased; ranks variants",
        {},
    ),
)
METRICS.register(
    "pr",
    Metric(
        "pr",
        _precision_recall,
        (KEY_PRECISION, KEY_RECALL),
        "precision and recall, k-NN manifolds (k = 3) on Inception features",
        {},
        shares=(KEY_PRECISION, KEY_RECALL),
    ),
)
METRICS.register(
    "dc",
    Metric(
        "dc",
        _density_coverage,
        (KEY_DENSITY, KEY_COVERAGE),
        "density and coverage (Naeem et al. 2020), k = 5",
        {
            "method": "Naeem et al. 2020, eq. 3-4: k-NN balls around the reference features only",
            "k": DC_K,
            "features": "Inception pool3 2048-d (as precision/recall here)",
        },
        shares=(KEY_DENSITY, KEY_COVERAGE),
    ),
)
METRICS.register(
    "c2st",
    Metric(
        "c2st",
        _c2st,
        (KEY_C2ST, KEY_C2ST_LO, KEY_C2ST_HI, KEY_C2ST_P),
        "classifier two-sample test: held-out real-vs-generated accuracy (0.5 = indistinguishable)",
        {
            "method": "Lopez-Paz & Oquab 2017: L2-regularised logistic regression (weight "
            f"{twosample.C2ST_L2}) on standardised Inception pool3 features, L-BFGS, float64",
            "split": "both sets are cut to the smaller one's size and shuffled (seed "
            f"{RNG_SEED}); the first {twosample.C2ST_TRAIN_FRACTION:.0%} of each trains the classifier, the other "
            "half is held out: c2st<N> is the accuracy on those held-out real and generated features, so N "
            "generated images give N/2 + N/2 held-out samples",
            "interval": "c2st<N>_lo, _hi: exact (Clopper-Pearson) 95% binomial interval of the held-out accuracy",
            "p": "c2st<N>_p: one-sided binomial p-value of accuracy > 0.5",
            "reading": "a linear probe: a stronger classifier could only score higher, so it is a lower bound on how "
            "distinguishable the sets are",
        },
        shares=(KEY_C2ST, KEY_C2ST_LO, KEY_C2ST_HI),
    ),
)
METRICS.register(
    modes.METRIC,
    Metric(modes.METRIC, lambda gen, ref, s: {}, (), modes.SUMMARY, {"module": "ganbench.metrics.modes"}),
)  # no values from Inception features: ganbench.metrics.evaluator.build_evaluator wraps a ModeEvaluator around
# the other metrics, which counts modes on the images themselves


def metric_name(key: str, n: int) -> str:
    """('fid', 500) -> 'fid500'; ('kid_std', 500) -> 'kid500_std' (see names.py)."""
    base, _, part = key.partition("_")
    return names.name(base, n, part)


def metric_names(n: int) -> list[str]:
    """The headline names for n generated images: ['fid<n>', 'kid<n>', 'precision<n>', 'recall<n>']."""
    return [metric_name(k, n) for k in REPORTED]


def metric_keys(metrics: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The result keys the named metrics return, in display order (raises UnknownNameError for a bad name)."""
    return tuple(k for m in metrics for k in METRICS[m].keys)


def evaluator_keys(n: int, metrics: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The result keys an Evaluator of `metrics` (default: DEFAULT_METRICS) returns for n generated images:
    REPORTED, then EXTENDED from FIDINF_MIN_SAMPLES on, then those of any other metric, each only where its metric
    was chosen."""
    chosen = set(metric_keys(metrics or DEFAULT_METRICS))
    order = REPORTED + (EXTENDED if n >= FIDINF_MIN_SAMPLES else ())
    order += metric_keys([m for m in METRICS.names() if m not in DEFAULT_METRICS])  # kid_std stays out, as before
    return tuple(k for k in order if k in chosen)


def parse_metrics(text: str) -> tuple[str, ...]:
    """'fid,kid' -> ('fid', 'kid'): registered names, each once; ValueError naming the valid ones otherwise."""
    chosen = tuple(dict.fromkeys(t.strip() for t in str(text).split(",") if t.strip()))
    if not chosen:
        raise ValueError(f"no metrics named: choose from {', '.join(METRICS.names())}")
    for m in chosen:
        METRICS[m]  # unknown: the valid names and a did-you-mean
    return chosen


def compute_metrics(
    gen: FeatureSet, ref: FeatureSet, settings: MetricSettings, metrics: tuple[str, ...] = DEFAULT_METRICS
) -> dict[str, float]:
    """The named metrics (default: DEFAULT_METRICS), keyed by result key without the count ('fid', 'kid_std').
    ref: a Reference keeps its reference-only terms for the next call; a plain FeatureSet makes them afresh."""
    if min(len(gen), len(ref)) < MIN_SAMPLES:
        raise ValueError(f"metrics need at least {MIN_SAMPLES} images per set, got {len(gen)} and {len(ref)}")
    ref = Reference.of(ref)
    out: dict[str, float] = {}
    for name in metrics:
        out.update(METRICS[name].fn(gen, ref, settings))
    return out
