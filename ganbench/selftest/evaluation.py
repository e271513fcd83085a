"""The selftest's evaluation check: one evaluation per arm (Inception features of the built-in faces' test split as
generated images, its train split as the reference, then every registered metric that reads Inception features and
FID by the covariance route), on the CPU (reference) and on the device (checked), compared metric by metric at
EVAL_TOLERANCES. Why each tolerance is what it is: ganbench.selftest's docstring."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganbench.config import Config
from ganbench.device import statistics_device, synchronize
from ganbench.metrics import names

EVAL_SAMPLES = 200  # images per set in the evaluation check (generated and reference)
EVAL_BATCH = 100  # Inception batch size, as `ganbench run` evaluates
# feature sets: relative norm of the difference (fp32 convolutions without TF32 in another summation order, about
# 1e-6); FID, FID-infinity, KID and their parts: relative to the metric's own value (float64 statistics of
# features that differ by round-off); the shares: this many samples' worth (a sample across an edge).
EVAL_TOLERANCES = {"features": 1e-4, "relative": 1e-3, "samples": 2}
# FID by the covariance route (fid_from_statistics), which evaluations above 2048 samples take: checked beside the
# registered metrics (whose FID, at the selftest's few hundred samples, takes the sample-space route).
KEY_FID_COVARIANCE = f"{names.FID}_covariance"


@dataclass
class EvalArm:
    """One evaluation: where it ran, its features (on the CPU, for comparing), every metric and its speed."""

    device: str  # where the Inception features were computed
    statistics: str  # where the metric statistics were (ganbench.device.statistics_device)
    features: dict[str, torch.Tensor]  # "generated", "reference": (n, 2048) float32, on the CPU
    values: dict[str, float]  # every registered metric's result keys ('fid', 'kid_lo', ...)
    img_per_s: float  # Inception images per second (both sets)
    stats_seconds: float  # the metrics from the features


@dataclass(frozen=True)
class EvalAgreement:
    n: int
    checks_: tuple[tuple[str, float, float], ...]  # (what, difference, tolerance)

    def checks(self) -> list[tuple[str, float, float]]:
        return list(self.checks_)

    @property
    def ok(self) -> bool:
        return all(v <= tol for _, v, tol in self.checks_)


def eval_images(cfg: Config, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(generated, reference) uint8 (n, C, R, R) on the CPU: the built-in faces' test and train splits, the same
    pixels for both arms (a generator would add its own arithmetic to the comparison)."""
    from ganbench.data import DataSpec, load_dataset

    split = lambda s: (  # noqa: E731
        load_dataset(
            DataSpec(
                "synthetic",
                resolution=cfg.resolution,
                max_images=n,
                split=s,
            )
        ).images
    )
    return split("test"), split("train")


def _replay(images: torch.Tensor, device: torch.device) -> Callable[[int], torch.Tensor]:
    """sample(b) -> the next b of `images` as a generator returns them: float in [-1, 1] on `device`."""
    pos = [0]

    def sample(b: int) -> torch.Tensor:
        out = images[pos[0] : pos[0] + b].to(device).float() / 127.5 - 1
        pos[0] += b
        return out

    return sample


def run_eval_arm(
    device: torch.device, generated: torch.Tensor, reference: torch.Tensor, batch_size: int = EVAL_BATCH
) -> EvalArm:
    """Inception features of both sets on `device` (the generated ones through the evaluator's sampler path) and
    every registered metric from them, as an evaluation during a run there computes them."""
    from ganbench.metrics import inception
    from ganbench.metrics.evaluator import METRICS, MetricSettings, compute_metrics, kid_subset_size
    from ganbench.metrics.features import images_features, sampler_features
    from ganbench.metrics.functional import fid_from_statistics

    weights = inception.resolve_weights("")
    n = generated.shape[0]
    # one-time setup outside the clock: the weights, BatchNorm folding, the first CUDA and cuDNN calls
    images_features(reference[: max(2, min(batch_size, reference.shape[0]))], weights, device, batch_size)
    synchronize(device)
    t0 = time.perf_counter()
    ref = images_features(reference, weights, device, batch_size)
    gen, finite = sampler_features(_replay(generated, device), n, weights, device, batch_size)
    synchronize(device)
    t1 = time.perf_counter()
    if not finite:
        raise FloatingPointError(f"the replayed images came out non-finite on {device}")
    settings = MetricSettings(kid_subset_size(n, reference.shape[0]))
    values = compute_metrics(gen, ref, settings, tuple(METRICS.names()))
    where = statistics_device(gen.features.device)  # mean, covariance (above) and eigensolves (here) there
    values[KEY_FID_COVARIANCE] = fid_from_statistics(gen.mu, gen.sigma, ref.mu, ref.sigma, device=where)
    synchronize(device)
    t2 = time.perf_counter()
    return EvalArm(
        device.type,
        where.type,
        {"generated": gen.features.float().cpu(), "reference": ref.features.float().cpu()},
        values,
        (n + reference.shape[0]) / max(t1 - t0, 1e-9),
        t2 - t1,
    )


def compare_eval(checked: EvalArm, reference: EvalArm) -> EvalAgreement:
    """The checked arm's differences from the reference, against EVAL_TOLERANCES (see the module docstring)."""
    from ganbench.metrics.evaluator import METRICS

    tol = EVAL_TOLERANCES
    shares = {k for m in METRICS.names() for k in METRICS[m].shares}
    checks = []
    for k, want in reference.features.items():
        diff = (checked.features[k] - want).norm() / want.norm().clamp_min(1e-12)
        checks.append((f"features {k}", float(diff), tol["features"]))
    n = reference.features["generated"].shape[0]
    for key, want in reference.values.items():
        base, _, part = key.partition("_")
        if part == names.P:  # see the module docstring
            continue
        got = checked.values.get(key, math.nan)
        if key in shares:
            limit = tol["samples"] / n
            what = f"{key} (absolute)"
            diff = abs(got - want)
        else:
            scale = max(abs(want), abs(reference.values.get(base, want)), 1e-12)
            limit, what, diff = tol["relative"], key, abs(got - want) / scale
        if math.isnan(want) or math.isnan(got):  # FID-infinity below its 50 samples: NaN on both arms
            diff = 0.0 if math.isnan(want) and math.isnan(got) else math.inf
        checks.append((what, diff, limit))
    return EvalAgreement(n, tuple(checks))


def eval_report(checked: EvalArm, reference: EvalArm, agreement: EvalAgreement) -> str:
    """The evaluation part of what `ganbench selftest` prints."""
    n = agreement.n
    lines = [
        f"evaluation: {n} built-in faces (test split, as generated images) against {n} (train split), "
        "every registered metric",
        f"{'arm':<10} {'features':<9} {'statistics':<11} {'inception img/s':<16} statistics s",
    ]
    for name, arm in (("reference", reference), ("checked", checked)):
        lines.append(f"{name:<10} {arm.device:<9} {arm.statistics:<11} {arm.img_per_s:<16.1f} {arm.stats_seconds:.2f}")
    lines.append("agreement (features: relative norm; shares: absolute; other metrics: relative to their value):")
    lines += verdict_lines(
        agreement, "the device's evaluation agrees with the CPU's", "the device's evaluation disagrees with the CPU's"
    )
    return "\n".join(lines)


def verdict_lines(agreement, agrees: str, disagrees: str) -> list[str]:
    """One line per check (value, tolerance, ok or DISAGREES), then PASS or FAIL: how every selftest ends."""
    lines = [
        f"  {what:<22} {v:.2e}  (tolerance {tol:g})  {'ok' if v <= tol else 'DISAGREES'}"
        for what, v, tol in agreement.checks()
    ]
    return [*lines, f"PASS: {agrees}" if agreement.ok else f"FAIL: {disagrees}"]
