"""The data set registry, `DATASETS` (one `Dataset` entry per module, in `ganbench list`'s order), and the two ways in:
`load_dataset(spec)` decodes a split, `check_source(spec)` only finds it."""

from __future__ import annotations

from ganbench.data import celeba, cifar10, folder, mnist, stacked_mnist, synthetic
from ganbench.data.base import DataError, Dataset, DataSpec, ImageSet
from ganbench.data.splits import SPLITS, TRAIN
from ganbench.registry import Registry

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
