"""`cifar10`: CIFAR-10 (Krizhevsky 2009), from torchvision's files under <root> or from the same images as class
folders, `<root>/{train,test}/<class>/*.png|jpg` (the layout of the common image-file copies). Which file format
was read is recorded: JPEG copies are not the original pixels, so their FIDs are close to, not equal to, published
CIFAR-10 FIDs. Splits: `ganbench.data.splits.VAL_RULE` (val held out of the official train split). Never
downloaded.
"""

from __future__ import annotations

from pathlib import Path

from ganbench.data import torchvision_files
from ganbench.data.base import DataError, Dataset, DataSpec, ImageSet, existing_dir
from ganbench.data.decode import IMAGE_SUFFIXES, load_files
from ganbench.data.splits import ALL, HELDOUT, SPLITS, TEST, TRAIN, VAL, VAL_RULE, held_out

_PARTS = {TRAIN: ("train",), VAL: ("train",), TEST: ("test",), HELDOUT: ("test",), ALL: ("train", "test")}


def _class_folders(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "test").is_dir()


def split_files(spec: DataSpec, root: Path) -> list[Path]:
    """Class folders under train/ and test/. Order: round robin over the classes (the first image of every class,
    then the second, ...), so the first N images, which the evaluator takes as its reference, hold every class
    equally."""
    files: list[Path] = []
    for part in _PARTS[spec.split]:
        classes = sorted(d for d in (root / part).iterdir() if d.is_dir())
        if not classes:
            raise DataError(f"'{root / part}' holds no class folders (expected {part}/<class>/*.png or .jpg)")
        per_class = [sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for d in classes]
        if part == "train" and spec.split in (TRAIN, VAL):
            keep_val = spec.split == VAL
            per_class = [[p for i, p in enumerate(fs) if held_out(i) == keep_val] for fs in per_class]
        longest = max((len(fs) for fs in per_class), default=0)
        files += [fs[i] for i in range(longest) for fs in per_class if i < len(fs)]
    if not files:
        raise DataError(f"no images of split '{spec.split}' under '{root}'")
    return files


def load(spec: DataSpec) -> ImageSet:
    root = existing_dir(spec.root, spec.name)
    if not _class_folders(root):
        return torchvision_files.load(spec)
    files = split_files(spec, root)
    suffixes = sorted({p.suffix.lower() for p in files})
    extra = {
        "split": f"{spec.split} ({VAL_RULE})",
        "layout": "class folders, round-robin order",
        "file_format": ", ".join(suffixes),
    }
    if ".jpg" in suffixes or ".jpeg" in suffixes:
        extra["note"] = "JPEG copies: FIDs are close to, not equal to, those of the original (lossless) images"
    return load_files(spec, files, spec.crop, extra)


def check(spec: DataSpec) -> None:
    root = existing_dir(spec.root, spec.name)
    if _class_folders(root):
        split_files(spec, root)
    else:
        torchvision_files.check(spec)


DATASET = Dataset(
    "cifar10",
    "torchvision's CIFAR-10 files, or train/ and test/ class folders, under <root> (never downloaded)",
    load,
    SPLITS,
    check,
)
