"""Standard FID, KID and precision/recall, fully offline, each number carrying its protocol.

Pipeline, one stage per module: images -> Inception features (inception.py: weights, torch-fidelity's extractor)
-> statistics and the reference cache (features.py) -> pure metric functions (functional.py) -> named metrics and
the trainer's evaluator (evaluator.py). `ganbench fid A B` lives in cli.py.
"""

from ganbench.metrics.evaluator import (
    KEY_FID,
    KEY_KID,
    KEY_KID_STD,
    KEY_PRECISION,
    KEY_RECALL,
    METRICS,
    REPORTED,
    Evaluator,
    MetricSettings,
    build_evaluator,
    compute_metrics,
    kid_subset_size,
    metric_name,
    metric_names,
)
from ganbench.metrics.features import FeatureSet, images_features, reference_features
from ganbench.metrics.inception import (
    WEIGHTS_ENV,
    InceptionWeights,
    InceptionWeightsError,
    inception_weights_info,
    quantize,
    resolve_weights,
)

__all__ = [
    "KEY_FID", "KEY_KID", "KEY_KID_STD", "KEY_PRECISION", "KEY_RECALL", "METRICS", "REPORTED", "WEIGHTS_ENV",
    "Evaluator", "FeatureSet", "InceptionWeights", "InceptionWeightsError", "MetricSettings", "build_evaluator",
    "compute_metrics", "images_features", "inception_weights_info", "kid_subset_size", "metric_name",
    "metric_names", "quantize", "reference_features", "resolve_weights",
]
