"""Standard FID, FID-infinity, KID and precision/recall, fully offline, each number carrying its protocol.

Pipeline, one stage per module: images -> Inception features (inception.py: weights, torch-fidelity's extractor)
-> statistics and the reference cache (features.py) -> pure metric functions (functional.py: FID, torch-fidelity's
KID, IS; smallsample.py: FID-infinity and KID with bootstrap intervals; knn.py: precision/recall; twosample.py:
density/coverage, c2st) -> the reference's own terms, computed once (reference.py) -> metrics by name
(registered.py) and their protocol record (protocol.py) -> the trainer's evaluator (evaluator.py). compare.py
compares any two image sources (data sets, folders, runs: the library of `ganbench fid A B`); the metric-name
grammar (`fid500`, `kid500_lo`) in names.py.
"""

from __future__ import annotations

import importlib
from typing import Any

# Exports resolve on first use (PEP 562), so that `ganbench.metrics.names` (the metric-name grammar the report
# reads result files with) can be imported without importing torch.
_EXPORTS = {
    "ganbench.metrics.evaluator": (
        "KEY_FID",
        "KEY_FIDINF",
        "KEY_KID",
        "KEY_KID_STD",
        "KEY_PRECISION",
        "KEY_RECALL",
        "METRICS",
        "RANK_BY",
        "REPORTED",
        "Evaluator",
        "MetricSettings",
        "build_evaluator",
        "compute_metrics",
        "evaluator_keys",
        "kid_subset_size",
        "metric_name",
        "metric_names",
    ),
    "ganbench.metrics.features": ("FeatureSet", "images_features", "reference_features"),
    "ganbench.metrics.inception": (
        "WEIGHTS_ENV",
        "InceptionWeights",
        "InceptionWeightsError",
        "inception_weights_info",
        "quantize",
        "resolve_weights",
    ),
}
_WHERE = {name: module for module, exported in _EXPORTS.items() for name in exported}
__all__ = sorted(_WHERE) + ["names"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'ganbench.metrics' has no attribute '{name}'")
    return getattr(importlib.import_module(_WHERE[name]), name)
