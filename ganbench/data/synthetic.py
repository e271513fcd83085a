"""`synthetic`: the built-in data set, procedurally drawn faces (`ganbench.data.faces`), so that `ganbench run`
works offline with nothing downloaded. Deterministic: image i of a split is the same on every machine, and a
smaller set is a prefix of a larger one. Train and test are independent draws (`heldout` = test, `all` = train)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import torch

from ganbench.data.base import Dataset, DataSpec, ImageSet, to_channels
from ganbench.data.cache import LOADER_VERSION, cached
from ganbench.data.faces import VERSION as FACES_VERSION
from ganbench.data.faces import draw_faces
from ganbench.data.splits import ALL, HELDOUT, TEST, TRAIN

SIZE = 10_000  # images in the built-in data set's train split (and its test split)
CHUNK = 500  # images drawn per seeded chunk


def load(spec: DataSpec) -> ImageSet:
    spec = replace(spec, split=TEST) if spec.split == HELDOUT else spec
    count = SIZE if spec.max_images <= 0 else min(spec.max_images, SIZE)
    split_seed = {TRAIN: 0, ALL: 0, TEST: 1}[spec.split]

    def build() -> ImageSet:
        def draw(start: int) -> np.ndarray:  # chunks seeded by index: a smaller set is a prefix of a larger one
            rng = np.random.default_rng([LOADER_VERSION, split_seed, start // CHUNK])
            return draw_faces(CHUNK, spec.resolution, rng)

        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # numpy releases the GIL
            arr = np.concatenate(list(pool.map(draw, range(0, count, CHUNK))))[:count]
        protocol = {
            "dataset": "synthetic",
            "split": spec.split,
            "resolution": spec.resolution,
            "channels": spec.channels,
            "crop": None,
            "resize": "drawn at resolution",
            "count": count,
            "skipped": 0,
            "generator": f"ganbench synthetic faces v{LOADER_VERSION}.{FACES_VERSION}, split seed {split_seed}",
        }
        return ImageSet(torch.from_numpy(to_channels(arr, spec.channels)), protocol)

    parts = {
        "dataset": "synthetic",
        "v": LOADER_VERSION,
        "faces": FACES_VERSION,
        "split": split_seed,
        "count": count,
        "resolution": spec.resolution,
        "channels": spec.channels,
    }
    return cached(parts, build)


DATASET = Dataset(
    "synthetic",
    "built-in, procedurally drawn face-like images; deterministic, no files, no download",
    load,
    (TRAIN, TEST, HELDOUT, ALL),
)
