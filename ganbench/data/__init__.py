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
  splits.py           the split names, and the val rule shared by the sets with an official train/test only
  decode.py           image files -> arrays (the decoders allowed, the checks, crop and resize)
  cache.py            the decode cache, keyed by everything the pixels depend on
  torchvision_files.py  torchvision's CIFAR-10 and MNIST files, never downloaded

Adding a data set is one module with a `DATASET` entry and one line below.
"""

from __future__ import annotations

from ganbench.data import celeba, cifar10, folder, mnist, stacked_mnist, synthetic
from ganbench.data.base import DataError, Dataset, DataSpec, ImageSet, pixels_sha256
from ganbench.data.decode import IMAGE_SUFFIXES
from ganbench.data.splits import SPLITS, TRAIN
from ganbench.registry import Registry

__all__ = [
    "DATASETS",
    "IMAGE_SUFFIXES",
    "SPLITS",
    "DataError",
    "DataSpec",
    "Dataset",
    "ImageSet",
    "check_source",
    "load_dataset",
    "pixels_sha256",
    "spec_from_config",
]

DATASETS: Registry[Dataset] = Registry("data set")
for _module in (synthetic, celeba, folder, cifar10, mnist, stacked_mnist):
    DATASETS.register(_module.DATASET.name, _module.DATASET)


def _entry(spec: DataSpec) -> Dataset:
    """The registered entry, after checking the split (unknown data set: UnknownNameError with the valid names)."""
    entry = DATASETS[spec.name]
    if spec.split not in SPLITS:
        raise DataError(f"unknown split '{spec.split}'. Valid choices: {', '.join(SPLITS)}.")
    if spec.split not in entry.splits:
        raise DataError(f"the {spec.name} data set has no split '{spec.split}': use {', '.join(entry.splits)}")
    return entry


def load_dataset(spec: DataSpec) -> ImageSet:
    return _entry(spec).load(spec)


def check_source(spec: DataSpec) -> None:
    """Whether `spec`'s images can be loaded, without decoding any: the data set is registered, the split is one
    it has, the folder or files are there and the split holds images. Raises DataError with one line saying what
    to do; costs a folder listing (or opening torchvision's files), so a run, sweep or study calls it once per
    distinct data set and split before its first trial starts."""
    try:
        entry = _entry(spec)
    except KeyError as e:  # UnknownNameError: one line with the valid names
        raise DataError(str(e)) from None
    entry.check(spec)


def spec_from_config(cfg, split: str = TRAIN) -> DataSpec:
    return DataSpec(cfg.dataset, cfg.data, cfg.resolution, cfg.channels, cfg.crop, cfg.max_images, split)
