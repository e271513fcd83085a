"""Features of a set of images, and the reference-statistics cache.

A `FeatureSet` is one side of a comparison: its raw Inception pool3 features (N, 2048) float32, plus mu and sigma
in float64. Reference sets are computed once and cached on disk at cache_dir()/refstats/<name>-<key>.npz, written
atomically; the key hashes everything the numbers depend on: the data set's protocol (data set, root, split, crop,
resize, resolution, channels, file fingerprint), the image count, a SHA-256 of the pixels themselves (so an
in-memory subset can never collide with another), the weights' SHA-256, the extractor and torch-fidelity's version.
The reference-only terms kept beside such a file (its `.terms` folder) belong to reference.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ganbench.io import atomic_write_bytes, cache_dir
from ganbench.metrics import inception
from ganbench.metrics.functional import feature_statistics

REFSTATS_VERSION = 1
_VOLATILE_PROTOCOL_KEYS = ("cache",)  # where a copy lives, not what it holds


@dataclass
class FeatureSet:
    features: torch.Tensor  # (N, 2048) float32, on the device that computed them (or CPU when loaded)
    mu: np.ndarray  # (2048,) float64
    sigma: np.ndarray  # (2048, 2048) float64
    logits: torch.Tensor | None = None  # (N, 1008) classifier logits, only with weights that have the head
    info: dict[str, Any] = field(default_factory=dict)  # where it came from: count, cache file, reuse

    def __len__(self) -> int:
        return self.features.shape[0]

    @classmethod
    def from_features(
        cls, features: torch.Tensor, logits: torch.Tensor | None = None, info: dict[str, Any] | None = None
    ) -> FeatureSet:
        mu, sigma = feature_statistics(features)
        return cls(features, mu, sigma, logits, dict(info or {}))


def images_features(
    images: torch.Tensor,
    weights: inception.InceptionWeights,
    device: torch.device,
    batch_size: int = 100,
    progress: bool = False,
    logits: bool = False,
    desc: str = "Inception features",
) -> FeatureSet:
    """uint8 images (N, C, H, W), C = 1 or 3 -> FeatureSet (no caching)."""
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype}")
    extractor = inception.build_extractor(weights, device, logits=logits)
    out = inception.extract(
        extractor, inception.image_batches(images, batch_size), device, images.shape[0], progress, desc
    )
    return FeatureSet.from_features(out[inception.FEATURE_LAYER], out.get(inception.LOGITS_LAYER))


def sampler_features(
    sample: Callable[[int], torch.Tensor],
    n: int,
    weights: inception.InceptionWeights,
    device: torch.device,
    batch_size: int = 100,
    progress: bool = False,
    logits: bool = False,
) -> tuple[FeatureSet, bool]:
    """Features of n images drawn from sample(b) (float (b, C, H, W) in [-1, 1]), and whether all were finite
    (read on the host once, after the last batch)."""
    finite = inception.AllFinite()
    extractor = inception.build_extractor(weights, device, logits=logits)
    batches = inception.sample_batches(sample, n, batch_size, finite)
    out = inception.extract(extractor, batches, device, n, progress, desc="generated features")
    all_finite = bool(finite)
    return FeatureSet.from_features(out[inception.FEATURE_LAYER], out.get(inception.LOGITS_LAYER)), all_finite


def refstats_key(protocol: dict[str, Any], images: torch.Tensor, weights: inception.InceptionWeights) -> str:
    import torch_fidelity

    pixels = hashlib.sha256(np.ascontiguousarray(images.numpy()).data).hexdigest()
    parts = {
        "v": REFSTATS_VERSION,
        "protocol": {k: v for k, v in protocol.items() if k not in _VOLATILE_PROTOCOL_KEYS},
        "count": int(images.shape[0]),
        "shape": list(images.shape),
        "pixels_sha256": pixels,
        "weights_sha256": weights.sha256,
        "extractor": inception.EXTRACTOR_NAME,
        "layer": inception.FEATURE_LAYER,
        "torch_fidelity": torch_fidelity.__version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def reference_features(
    images: torch.Tensor,
    protocol: dict[str, Any],
    weights: inception.InceptionWeights,
    device: torch.device,
    batch_size: int = 100,
    progress: bool = False,
    desc: str = "reference features",
) -> FeatureSet:
    """FeatureSet of `images` (uint8 (N, C, H, W), all of them), from the on-disk cache when present."""
    key = refstats_key(protocol, images, weights)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{protocol.get('dataset', 'images')}-n{images.shape[0]}")
    path = cache_dir() / "refstats" / f"{name}-{key[:20]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    features = z["features"]
                    info = {"count": int(features.shape[0]), "cache": str(path), "reused": True}
                    return FeatureSet(torch.from_numpy(features), z["mu"], z["sigma"], None, info | _content(features))
        except Exception:  # a corrupt or foreign file is rebuilt, never trusted
            pass
        print(f"ganbench: reference statistics {path} unreadable; recomputing", file=sys.stderr)
    fs = images_features(images, weights, device, batch_size, progress, desc=desc)
    features = fs.features.cpu().numpy()
    buf = io.BytesIO()
    np.savez(buf, key=np.array(key), mu=fs.mu, sigma=fs.sigma, features=features)
    atomic_write_bytes(path, buf.getvalue())
    fs.info = {"count": len(fs), "cache": str(path), "reused": False} | _content(features)
    return fs


def _content(features: np.ndarray) -> dict[str, str]:
    """The SHA-256 of cached reference features as they are in host memory (float32): what the reference-only
    terms kept beside them were made from (reference.Reference; hashed here, before they move to a GPU)."""
    return {"features_sha256": hashlib.sha256(np.ascontiguousarray(features).data).hexdigest()}
