"""The decode cache: a data set's split, decoded and resized once, stored as a uint8 tensor under
cache_dir()/datasets/<dataset>-<key>.pt. The key hashes everything the pixels depend on (each loader lists its
parts: the file list's fingerprint, the preprocessing, the split rule, the loader version), so a changed input is
decoded again; a corrupt file is rebuilt, never trusted; a cache that cannot be written only costs a re-decode.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Callable
from typing import Any

import torch

from ganbench.data.base import ImageSet
from ganbench.io import atomic_write_bytes, cache_dir

LOADER_VERSION = 1  # part of every key: raising it re-decodes every cached set


def cached(key_parts: dict[str, Any], build: Callable[[], ImageSet]) -> ImageSet:
    """The cached ImageSet for `key_parts` (which must name the 'dataset'), else build() once and store it. The
    stored protocol gains 'key'; the returned one also 'cache' (where the copy lives). The content hash of the
    images is stored beside them (sets cached before it existed compute it on first use)."""
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:20]
    path = cache_dir() / "datasets" / f"{key_parts['dataset']}-{key}.pt"
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            protocol = json.loads(blob["protocol"]) | {"cache": str(path)}
            return ImageSet(blob["images"], protocol, blob.get("labels"), blob.get("sha256", ""))
        except Exception:  # a corrupt cache file is rebuilt, never trusted
            print(f"ganbench: cache file {path} is unreadable; rebuilding it", file=sys.stderr)
    result = build()
    result.protocol["key"] = key
    blob = {"images": result.images.contiguous(), "protocol": json.dumps(result.protocol)}
    blob["sha256"] = result.content_sha256()
    if result.labels is not None:
        blob["labels"] = result.labels.contiguous()
    buf = io.BytesIO()
    torch.save(blob, buf)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:  # a full disk or a read-only cache: this run goes on, the next one decodes again
        print(f"ganbench: could not write the data cache ({e}); continuing without it", file=sys.stderr)
        return result
    result.protocol["cache"] = str(path)
    return result
