"""`mnist`: MNIST (LeCun et al. 1998) from torchvision's files under <root> (`<root>/MNIST/raw/`, never
downloaded), as RGB images (the grey digit in all three channels, or `channels = 1`) resized by PIL bicubic to the
resolution. Splits: `ganbench.data.splits.VAL_RULE` (val held out of the official train split, test the official
test split)."""

from __future__ import annotations

from ganbench.data import torchvision_files
from ganbench.data.base import Dataset

DATASET = Dataset(
    "mnist",
    "torchvision's MNIST files under <root> (never downloaded)",
    torchvision_files.load,
    torchvision_files.SPLITS,
    torchvision_files.check,
)
