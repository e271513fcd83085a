"""Data sets: one module per data set, each a `Dataset(name, summary, load, splits, check)` entry of `DATASETS`
(`ganbench list` prints their summaries). Every loader returns the images of one split, decoded and resized once,
as uint8 (N, C, H, W), with the protocol that made them; inside the package images become (B, C, H, W) floats in
[-1, 1] only when they reach a model.

  synthetic.py        the built-in faces (drawn by faces.py): deterministic, no files
  celeba.py           CelebA's aligned release, its official partition
  cifar10.py          CIFAR-10, torchvision's files or class folders
  mnist.py            MNIST, torchvision's files
  stacked_mnist.py    Stacked MNIST: three MNIST digits as R, G, B, 1,000 modes, a mode label per image
  folder.py           any folder of images, split by a hash of each file's path
  datasets.py         DATASETS, load_dataset, check_source
  splits.py           the split names, and the val rule shared by the sets with an official train/test only
  decode.py           image files -> arrays (the decoders allowed, the checks, crop and resize)
  cache.py            the decode cache, keyed by everything the pixels depend on
  torchvision_files.py  torchvision's CIFAR-10 and MNIST files, never downloaded

Adding a data set is one module with a `DATASET` entry and one line in datasets.py. The names below resolve on
first use (PEP 562), so that `ganbench.data.splits` (the split names the config checks against) can be imported
without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from ganbench.data.splits import SPLITS

_EXPORTS = {
    "ganbench.data.base": (
        "DATA_OPTION",
        "DataError",
        "DataSpec",
        "Dataset",
        "ImageSet",
        "MissingFolder",
        "pixels_sha256",
    ),
    "ganbench.data.decode": ("IMAGE_SUFFIXES",),
    "ganbench.data.datasets": ("DATASETS", "check_source", "load_dataset", "spec_from_config"),
}
_WHERE = {name: module for module, exported in _EXPORTS.items() for name in exported}
__all__ = [
    "DATASETS",
    "DATA_OPTION",
    "IMAGE_SUFFIXES",
    "SPLITS",
    "DataError",
    "DataSpec",
    "Dataset",
    "ImageSet",
    "MissingFolder",
    "check_source",
    "load_dataset",
    "pixels_sha256",
    "spec_from_config",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'ganbench.data' has no attribute '{name}'")
    return getattr(importlib.import_module(_WHERE[name]), name)
