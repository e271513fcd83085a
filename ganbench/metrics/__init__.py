"""Standard FID, KID and precision/recall, fully offline, each number carrying its protocol.

Pipeline, one stage per module: images -> Inception features (inception.py: weights, torch-fidelity's extractor)
-> statistics and the reference cache (features.py) -> pure metric functions (functional.py) -> named metrics and
the trainer's evaluator (evaluator.py). `ganbench fid A B` lives in cli.py.
"""

from ganbench.metrics import names
from ganbench.metrics.evaluator import (
    KEY_FID,
    KEY_FIDINF,
    KEY_KID,
    KEY_KID_STD,
    KEY_PRECISION,
    KEY_RECALL,
    METRICS,
    RANK_BY,
    REPORTED,
    Evaluator,
    MetricSettings,
    build_evaluator,
    compute_metrics,
    evaluator_keys,
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
    "KEY_FID", "KEY_FIDINF", "KEY_KID", "RANK_BY", "KEY_KID_STD", "KEY_PRECISION", "KEY_RECALL", "METRICS", "REPORTED", "WEIGHTS_ENV",
    "Evaluator", "FeatureSet", "InceptionWeights", "InceptionWeightsError", "MetricSettings", "build_evaluator",
    "compute_metrics", "evaluator_keys", "images_features", "inception_weights_info", "kid_subset_size", "metric_name",
    "metric_names", "names", "quantize", "reference_features", "resolve_weights",
]
