"""Stacked MNIST mode counts: `modes<N>` (modes covered, of 1,000) and `mode_kl<N>` (KL divergence of the
generated mode histogram from the uniform one), chosen together as the metric `modes` (`--metrics kid,pr,modes`).

Protocol (recorded under "modes" in every evaluation's protocol):
  - N = MODE_SAMPLES = 26,000 generated images, one of the two counts the Stacked MNIST literature uses (25,600
    or 26,000). Why that many: a model that covers all 1,000 modes uniformly leaves a given mode empty with
    probability (1 - 1/1000)^N, about e^(-N/1000): at N = 26,000 that is 5e-12, so a perfect model counts 1,000
    and every missing mode is a dropped one (25,600 gives the same count to within 1e-8 modes; 26,000 is 26 per
    mode, and the real test split holds as many). A smaller N undercounts even a perfect model, about
    1000 (1 - e^(-N/1000)) modes: 993 at 5,000, 865 at 2,000, 393 at 500; and a perfect model's KL grows as its
    histogram gets noisier (about 999 / 2N: 0.019 at 26,000, 0.1 at 5,000).
  - each channel of each image (quantised to uint8 as a PNG writer would, resized to 32x32 where the resolution
    differs) is labelled by the project's digit classifier (`mode_classifier.py`, its record in the protocol); the
    mode is 100 * d_R + 10 * d_G + d_B. A mode is covered when at least one image has it (Metz et al. 2017;
    Srivastava et al. 2017; Lin et al. 2018). mode_kl = sum_m p_m log(1000 p_m), natural log, p the generated
    histogram (0 log 0 = 0): KL(generated || uniform), the direction that stays finite when modes are missing.
  - intervals (`_lo`, `_hi`): evaluation noise, by bootstrap over images (the N labels resampled with replacement,
    REPLICATES times, seeded): estimate +- 1.96 bootstrap standard errors, as for KID. (A resample covers fewer
    modes than the sample, so only the replicates' spread is used.) Seed-to-seed spread is the report's.
  - the same images as KID and precision/recall: the sampler's first `eval_samples` images go to the Inception
    metrics too, drawn in the same batches, so those metrics are exactly what a run without `modes` reports.
  - the real line: the same count on the first N images of the reference split (real Stacked MNIST test images),
    with the classifier's mode accuracy on them (true labels are known), in the protocol as "real".
Curve points: every evaluation (during training too) counts modes on all N images: classifying 78,000 digits
costs seconds, not the Inception pass's minutes.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ganbench.data.stacked_mnist import MODES, NAME, mode_label
from ganbench.io import atomic_write_bytes, cache_dir
from ganbench.metrics import names
from ganbench.metrics.inception import quantize
from ganbench.metrics.mode_classifier import ModeClassifier, classifier

METRIC = "modes"  # the name chosen in `--metrics`; it yields both bases below
MODE_SAMPLES = 26_000
SUMMARY = f"Stacked MNIST: modes covered (of 1,000) and KL to uniform, on {MODE_SAMPLES:,} images (digit classifier)"
REPLICATES = 200
SEED = 2020  # the evaluator's bootstrap seed
KEYS = ((names.MODES, ""), (names.MODES, names.LO), (names.MODES, names.HI))
KEYS += ((names.MODE_KL, ""), (names.MODE_KL, names.LO), (names.MODE_KL, names.HI))


def histogram(labels: np.ndarray) -> np.ndarray:
    """Mode labels (N,) in 0..999 -> counts (1000,)."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=MODES)


def covered(counts: np.ndarray) -> np.ndarray:
    """Modes with at least one image, of counts (..., 1000)."""
    return (np.asarray(counts) > 0).sum(-1)


def kl_to_uniform(counts: np.ndarray) -> np.ndarray:
    """KL(p || uniform over 1000 modes) in nats, p = counts / their sum, of counts (..., 1000)."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts / counts.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p * MODES), 0.0)
    return terms.sum(-1)


def mode_metrics(labels: np.ndarray, replicates: int = REPLICATES, seed: int = SEED) -> dict[tuple[str, str], float]:
    """{(base, part): value} of KEYS for the generated images' mode labels (N,)."""
    counts = histogram(labels)
    n = int(counts.sum())
    boot = np.random.default_rng(seed).multinomial(n, counts / n, size=replicates)
    out: dict[tuple[str, str], float] = {}
    for base, value, spread in (
        (names.MODES, float(covered(counts)), float(covered(boot).std(ddof=1))),
        (names.MODE_KL, float(kl_to_uniform(counts)), float(kl_to_uniform(boot).std(ddof=1))),
    ):
        out[(base, "")] = value
        out[(base, names.LO)] = max(value - 1.96 * spread, 0.0)
        out[(base, names.HI)] = min(value + 1.96 * spread, MODES) if base == names.MODES else value + 1.96 * spread
    return out


def named(values: dict[tuple[str, str], float], n: int) -> dict[str, float]:
    return {names.name(base, n, part): v for (base, part), v in values.items()}


def as_digit_input(x: torch.Tensor) -> torch.Tensor:
    """Generated images (B, 3, H, W) in [-1, 1] -> uint8 (B, 3, 32, 32) on the CPU, quantised as a PNG writer
    would (as the Inception path does), resized where H differs from 32 (bilinear, antialiased)."""
    u8 = quantize(x)
    if u8.shape[-1] != 32:
        resized = torch.nn.functional.interpolate(u8.float(), size=(32, 32), mode="bilinear", antialias=True)
        u8 = resized.round().clamp(0, 255).to(torch.uint8)
    return u8.cpu()


class ModeEvaluator:
    """evaluator(sample, n=None, also=()) -> the Inception evaluator's metrics of the first n images (when any
    Inception metric is chosen) and `modes<N>`, `mode_kl<N>` with their intervals of all N = MODE_SAMPLES images.
    The images are drawn once, in the Inception evaluator's batch size, and its metrics are computed on a replay of
    the first n, so they are the numbers a run without `modes` gets."""

    def __init__(self, inner, model: ModeClassifier, n_modes: int, batch_size: int, protocol: dict[str, Any]):
        self.inner = inner  # the Inception metrics' Evaluator, or None
        self.model = model
        self.n_modes = n_modes
        self.batch_size = batch_size
        self.n_samples = inner.n_samples if inner is not None else n_modes
        self.protocol = protocol
        self.names = (inner.names if inner is not None else []) + list(named(dict.fromkeys(KEYS), n_modes))

    def __call__(
        self, sample: Callable[[int], torch.Tensor], n: int | None = None, also: tuple[int, ...] = ()
    ) -> dict[str, float]:
        keep = (n or self.n_samples) if self.inner is not None else 0
        kept, labels, finite, drawn = [], [], True, 0
        t0 = time.perf_counter()
        while drawn < max(self.n_modes, keep):
            x = sample(min(self.batch_size, max(self.n_modes, keep) - drawn))
            if drawn < keep:
                kept.append(x[: keep - drawn])
            if drawn < self.n_modes:
                part = x[: self.n_modes - drawn]
                finite = finite and bool(torch.isfinite(part).all())
                labels.append(mode_label(self.model.digits(as_digit_input(part)).numpy()))
            drawn += len(x)
        if finite:
            result = named(mode_metrics(np.concatenate(labels)), self.n_modes)
        else:
            result = {k: math.nan for k in named(dict.fromkeys(KEYS), self.n_modes)}
        print(f"ganbench: modes of {self.n_modes} images in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if self.inner is None:
            return result
        replay = torch.cat(kept)
        pos = 0

        def again(b: int) -> torch.Tensor:
            nonlocal pos
            pos += b
            return replay[pos - b : pos]

        return self.inner(again, n=n, also=also) | result


def real_line(reference, model: ModeClassifier, n: int) -> dict[str, Any]:
    """The mode count of the first n reference images (real Stacked MNIST), and the classifier's accuracy on their
    true mode labels; cached under the images' and the weights' hashes."""
    count = min(n, len(reference))
    key = hashlib.sha256(
        json.dumps([reference.content_sha256(count), model.info.get("weights_sha256"), REPLICATES, SEED]).encode()
    ).hexdigest()[:20]
    path = cache_dir() / "modes" / f"real-{key}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass
    predicted = mode_label(model.digits(reference.images[:count]).numpy())
    values = mode_metrics(predicted)
    out = {
        "images": count,
        "split": reference.protocol.get("split"),
        "modes": values[(names.MODES, "")],
        "mode_kl": values[(names.MODE_KL, "")],
        "interval": {f"{b}_{p}": v for (b, p), v in values.items() if p},
    }
    if reference.labels is not None:
        truth = reference.labels[:count].numpy()
        out["mode_accuracy"] = float((predicted == truth).mean())
        out["true_modes"] = int(covered(histogram(truth)))
        out["true_mode_kl"] = float(kl_to_uniform(histogram(truth)))
    atomic_write_bytes(path, json.dumps(out).encode())
    return out


def build(reference, inner, batch_size: int) -> ModeEvaluator:
    """build_evaluator's path when `modes` is chosen: the mode classifier around `inner`, the Inception evaluator of
    the other chosen metrics (None when there are none). `reference` must be a Stacked MNIST split: its root names
    the MNIST files the classifier trains on, its first MODE_SAMPLES images give the real line."""
    if reference.protocol.get("dataset") != NAME:
        raise ValueError(
            f"metric '{METRIC}' counts Stacked MNIST's modes: use --dataset {NAME} "
            f"(this run's data set is {reference.protocol.get('dataset')!r})"
        )
    model = classifier(reference.protocol["root"])
    mode_names = [names.name(b, MODE_SAMPLES, p) for b, p in KEYS]
    record = {
        "n_generated": MODE_SAMPLES,
        "metrics": mode_names,
        "classifier": model.info,
        "mode": "100 * d_R + 10 * d_G + d_B of the classifier's digit per channel; covered: at least one image",
        "kl": "KL(generated histogram || uniform over 1000 modes), natural log",
        "intervals": f"bootstrap over images, {REPLICATES} replicates (seed {SEED}): estimate +- 1.96 se",
        "images": "the same sampler stream as the Inception metrics: their first n images are the first n here",
        "real": real_line(reference, model, MODE_SAMPLES),
    }
    if inner is not None:
        protocol = inner.protocol | {"metrics": inner.protocol["metrics"] + mode_names, "modes": record}
    else:
        protocol = {
            "metrics": mode_names,
            "rank_by": None,
            "n_generated": MODE_SAMPLES,
            "reference": {k: v for k, v in reference.protocol.items() if k != "cache"},
            "reference_sha256": reference.content_sha256(min(MODE_SAMPLES, len(reference))),
            "modes": record,
        }
    return ModeEvaluator(inner, model, MODE_SAMPLES, batch_size, protocol)
