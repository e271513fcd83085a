"""`stacked-mnist`: Stacked MNIST (Metz et al. 2017, Unrolled GANs; Srivastava et al. 2017, VEEGAN; Lin et al.
2018, PacGAN), from a folder holding torchvision's MNIST files (`<root>/MNIST/raw/`, never downloaded).

Each image stacks three MNIST digits as its R, G and B channels, drawn independently and uniformly (with
replacement) from the digits of the chosen split, so the data set has 1,000 modes; image i's mode label,
100 * d_R + 10 * d_G + d_B, is kept (`ImageSet.labels`) for evaluation (`ganbench.metrics.modes`).

  - splits: the digits of MNIST's splits (`ganbench.data.splits.VAL_RULE`): train = the official train split less
    every 10th digit of each class (54,004 digits), val = those digits (5,996; held out of train), test = the
    official test split (10,000). The stacked sets have SIZES images: train 60,000 (MNIST's own size), val 10,000,
    test 26,000, as many as the mode count's generated images (`ganbench.metrics.modes.MODE_SAMPLES`), so the real
    line counts modes on as many real test images as a model is counted on; `heldout` = test, `all` = the three.
  - stacking is seeded: image i of a split draws its three digits from numpy's default_rng([STACK_SEED, the
    split's code, i // CHUNK]) (chunks of CHUNK images), so image i is the same on every machine and a smaller set
    (`max_images`) is a prefix of a larger one. The seed and the rule are recorded in the data protocol.
  - 28x28 -> 32x32: each digit is zero-padded by 2 pixels on every side (MNIST's background is 0), exactly as
    LeNet-5 took MNIST at 32x32: no interpolation, strokes keep their pixels and the digit stays centred. Another
    resolution resizes the padded 32x32 image by PIL bicubic (recorded). Always 3 channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganbench.data import torchvision_files
from ganbench.data.base import DataError, Dataset, DataSpec, ImageSet, existing_dir
from ganbench.data.cache import LOADER_VERSION, cached
from ganbench.data.splits import ALL, HELDOUT, SPLITS, TEST, TRAIN, VAL, VAL_RULE

NAME = "stacked-mnist"
MODES = 1000
SIZES = {TRAIN: 60_000, VAL: 10_000, TEST: 26_000}
STACK_SEED = 2017  # Stacked MNIST's year (Metz et al.); any fixed number would do, this one is recorded
STACK_VERSION = 1  # raise when the stacking rule changes: part of the cache key and the protocol
CHUNK = 1000
PAD = 2  # 28 + 2 * 2 = 32
_SPLIT_CODE = {TRAIN: 0, VAL: 1, TEST: 2}
_PARTS = {TRAIN: (TRAIN,), VAL: (VAL,), TEST: (TEST,), HELDOUT: (TEST,), ALL: (TRAIN, VAL, TEST)}
STACK_RULE = (
    f"image i: three digits drawn independently and uniformly, with replacement, from the split's MNIST digits, "
    f"as R, G, B; numpy default_rng([{STACK_SEED}, split code (train 0, val 1, test 2), i // {CHUNK}]).integers"
    f"(0, digits, ({CHUNK}, 3)); mode label 100 * d_R + 10 * d_G + d_B"
)


def mode_label(digits: np.ndarray) -> np.ndarray:
    """(..., 3) digit classes (R, G, B) -> (...) mode labels 100 * d_R + 10 * d_G + d_B in 0..999."""
    digits = np.asarray(digits, dtype=np.int64)
    return digits[..., 0] * 100 + digits[..., 1] * 10 + digits[..., 2]


def stack_indices(split: str, n_digits: int, count: int) -> np.ndarray:
    """(count, 3) indices into the split's digits: the seeded draw of STACK_RULE."""
    chunks = [
        np.random.default_rng([STACK_SEED, _SPLIT_CODE[split], c]).integers(0, n_digits, (CHUNK, 3))
        for c in range((count + CHUNK - 1) // CHUNK)
    ]
    return np.concatenate(chunks)[:count] if chunks else np.zeros((0, 3), dtype=np.int64)


def pad_digits(digits: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 32, 32): zero padding, no interpolation."""
    return np.pad(digits, ((0, 0), (PAD, PAD), (PAD, PAD)))


def _stack(digits: np.ndarray, labels: np.ndarray, split: str, count: int, resolution: int):
    index = stack_indices(split, len(digits), count)
    padded = pad_digits(digits)
    images = padded[index]  # (count, 3, 32, 32): channel c is digit index[:, c]
    if resolution != padded.shape[-1]:
        from PIL import Image

        images = np.stack(
            [
                [np.asarray(Image.fromarray(ch).resize((resolution, resolution), Image.BICUBIC)) for ch in im]
                for im in images
            ]
        ).astype(np.uint8)
    return images, mode_label(labels[index])


def _source(spec: DataSpec) -> Path:
    if spec.channels != 3:
        raise DataError(f"{NAME} images are 3 channels (one digit per channel): set channels = 3, not {spec.channels}")
    return existing_dir(spec.root, NAME)


def load(spec: DataSpec) -> ImageSet:
    root = _source(spec)
    parts = _PARTS[spec.split]
    sources = {p: torchvision_files.open_split("mnist", root, p, where=NAME) for p in parts}  # the files are there

    def build() -> ImageSet:
        images, labels = [], []
        left = spec.max_images if spec.max_images > 0 else sum(SIZES[p] for p in parts)
        for p in parts:
            digits, digit_labels = sources[p]
            x, y = _stack(digits, digit_labels, p, min(SIZES[p], left), spec.resolution)
            images.append(x)
            labels.append(y)
            left -= len(x)
        protocol = {
            "dataset": NAME,
            "root": str(root.resolve()),
            "split": spec.split,
            "split_rule": f"digits of MNIST's split; {VAL_RULE}",
            "sizes": {p: SIZES[p] for p in parts},
            "digits": {p: len(sources[p][0]) for p in parts},
            "stacking": STACK_RULE,
            "stack_seed": STACK_SEED,
            "stack_version": STACK_VERSION,
            "modes": MODES,
            "resolution": spec.resolution,
            "channels": 3,
            "crop": None,
            "resize": f"each 28x28 digit zero-padded by {PAD} px to 32x32"
            + ("" if spec.resolution == 32 else f", then PIL bicubic to {spec.resolution}x{spec.resolution}"),
            "count": int(sum(len(x) for x in images)),
            "skipped": 0,
        }
        return ImageSet(torch.from_numpy(np.concatenate(images)), protocol, torch.from_numpy(np.concatenate(labels)))

    key = {
        "dataset": NAME,
        "v": LOADER_VERSION,
        "stack": [STACK_VERSION, STACK_SEED, CHUNK, SIZES],
        "val": VAL_RULE,
        "root": str(root.resolve()),
        "split": spec.split,
        "n": spec.max_images,
        "resolution": spec.resolution,
    }
    return cached(key, build)


def check(spec: DataSpec) -> None:
    root = _source(spec)
    for p in _PARTS[spec.split]:
        torchvision_files.open_split("mnist", root, p, where=NAME)


DATASET = Dataset(
    NAME,
    "three MNIST digits as R, G, B (1,000 modes, a mode label per image), from torchvision's MNIST files under <root>",
    load,
    SPLITS,
    check,
)
