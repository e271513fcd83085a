"""The evaluator the trainer calls: one Inception pass over the generated images, then every chosen metric against a
reference whose reference-only terms are computed once for the evaluator's life (reference.py).

Metrics by name live in registered.py, the protocol record in protocol.py (both re-exported here). Metric names
carry the protocol's sample count (`fid500`, `kid500`, `fidinf1000_lo`; the grammar is names.py).

Protocol (recorded in `Evaluator.protocol` and in `ganbench fid --json`):
  - features: torch-fidelity's FeatureExtractorInceptionV3 with the TF-2015-12-05 weights, pool3 (2048-d), fp32;
    input uint8, resized to 299 x 299 by TensorFlow-1.x-exact bilinear interpolation, then (x - 128) / 128;
  - generated images in [-1, 1] are quantised to uint8 as a PNG writer would, on the device, no file round trip;
  - every statistic is float64: on the GPU where its float64 runs at full rate (data-centre GPUs), else on the
    CPU (features leave an MPS device first: it has no float64; consumer GPUs run it at 1/32 to 1/64 of fp32);
    c2st's classifier always on the CPU (ganbench.device.statistics_device);
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
from typing import Any

import torch

from ganbench.data import ImageSet
from ganbench.device import statistics_device
from ganbench.metrics import inception, modes
from ganbench.metrics.features import FeatureSet, reference_features, sampler_features
from ganbench.metrics.protocol import RANK_BY, RANK_REASON, isc_note, metric_protocol  # noqa: F401  re-exported
from ganbench.metrics.reference import Reference
from ganbench.metrics.registered import (  # noqa: F401  re-exported: callers import the metric names from here
    DC_K,
    DEFAULT_METRICS,
    EXTENDED,
    FIDINF_MAX_SAMPLES,
    FIDINF_MIN_SAMPLES,
    FIDINF_REPLICATES,
    KEY_C2ST,
    KEY_C2ST_HI,
    KEY_C2ST_LO,
    KEY_C2ST_P,
    KEY_COVERAGE,
    KEY_DENSITY,
    KEY_FID,
    KEY_FIDINF,
    KEY_FIDINF_HI,
    KEY_FIDINF_LO,
    KEY_KID,
    KEY_KID_HI,
    KEY_KID_LO,
    KEY_KID_STD,
    KEY_PRECISION,
    KEY_RECALL,
    KID_MAX_SUBSET,
    KID_REPLICATES,
    KID_SUBSETS,
    METRICS,
    MIN_SAMPLES,
    PR_K,
    REPORTED,
    RNG_SEED,
    Metric,
    MetricSettings,
    compute_metrics,
    evaluator_keys,
    kid_subset_size,
    metric_keys,
    metric_name,
    metric_names,
    parse_metrics,
)

PROGRESS_SECONDS = 10.0  # at most this long between two progress lines on stderr during an evaluation


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
        self.reference = Reference.of(reference)  # its reference-only terms: made once, kept for every evaluation
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
