"""torchvision's CIFAR-10 and MNIST files under a folder, read without downloading (`download=False` always), with
the val split held out of the official train split by `ganbench.data.splits.VAL_RULE`. Used by `cifar10` (when
the folder holds torchvision's files rather than class folders), `mnist` and `stacked-mnist`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ganbench.data.base import DataError, DataSpec, ImageSet, existing_dir, to_channels
from ganbench.data.cache import LOADER_VERSION, cached
from ganbench.data.splits import HELDOUT, TEST, TRAIN, VAL, VAL_RULE, held_out

SPLITS = (TRAIN, VAL, TEST, HELDOUT)  # no 'all': the official train and test files are read one at a time


def _dataset_class(name: str):
    import torchvision

    return {"cifar10": torchvision.datasets.CIFAR10, "mnist": torchvision.datasets.MNIST}[name]


def open_split(name: str, root: Path, split: str, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of one split of torchvision's `name` files ('cifar10' or 'mnist') under `root`: uint8
    (N, H, W) or (N, H, W, 3) in the files' order, int64 (N,). `where` names the data set in messages."""
    where = where or name
    if split not in SPLITS:
        raise DataError(
            f"{where} has splits 'train', 'val' (held out of the official train split) and 'test' ('heldout' = test)"
        )
    split = TEST if split == HELDOUT else split
    try:
        ds = _dataset_class(name)(str(root), train=split in (TRAIN, VAL), download=False)
    except RuntimeError as e:
        raise DataError(
            f"{where} files not found under '{root}' ({e}). ganbench never downloads: place "
            f"torchvision's {name} files there first."
        ) from None
    data = ds.data if isinstance(ds.data, np.ndarray) else ds.data.numpy()
    labels = np.asarray(ds.targets, dtype=np.int64)
    if split in (TRAIN, VAL):  # the held-out val images, counted per class in file order
        seen: dict[int, int] = {}
        index = np.empty(len(labels), dtype=np.int64)
        for i, y in enumerate(labels.tolist()):
            index[i] = seen.get(y, 0)
            seen[y] = index[i] + 1
        keep = np.array([held_out(int(i)) == (split == VAL) for i in index])
        data, labels = data[keep], labels[keep]
    return data, labels


def check(spec: DataSpec) -> None:
    open_split(spec.name, existing_dir(spec.root, spec.name), spec.split)


def load(spec: DataSpec) -> ImageSet:
    """One split as images: converted to RGB (MNIST's grey digits repeated), PIL bicubic resize to the resolution
    when it differs (MNIST: 28 -> 32 at resolution 32), then `channels`."""
    root = existing_dir(spec.root, spec.name)
    data, _ = open_split(spec.name, root, spec.split)  # the files must be there, cached or not
    spec = replace(spec, split=TEST) if spec.split == HELDOUT else spec

    def build() -> ImageSet:
        from PIL import Image

        out = []
        for a in data[: spec.max_images] if spec.max_images > 0 else data:
            im = Image.fromarray(a).convert("RGB")
            if im.size != (spec.resolution, spec.resolution):
                im = im.resize((spec.resolution, spec.resolution), Image.BICUBIC)
            out.append(np.asarray(im))
        protocol = {
            "dataset": spec.name,
            "root": str(root.resolve()),
            "split": spec.split,
            "resolution": spec.resolution,
            "channels": spec.channels,
            "crop": None,
            "resize": "PIL bicubic",
            "count": len(out),
            "skipped": 0,
            "split_rule": VAL_RULE,
        }
        return ImageSet(torch.from_numpy(to_channels(np.stack(out), spec.channels)), protocol)

    parts = {
        "dataset": spec.name,
        "v": LOADER_VERSION,
        "val": VAL_RULE,
        "root": str(root.resolve()),
        "split": spec.split,
        "n": spec.max_images,
        "resolution": spec.resolution,
        "channels": spec.channels,
    }
    return cached(parts, build)
