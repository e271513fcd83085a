"""`folder`: any folder of images, searched recursively (jpg, jpeg, png, webp, bmp); grayscale and RGBA converted
(transparency composited on white), centre crop to the short side (or `crop`), then PIL bicubic resize.

Splits, so that `ganbench study` runs on a user's own images: each file goes to train, val or test by a hash of
its path relative to the folder (`split_of`), in the declared FRACTIONS. The rule looks at nothing but the file's
own relative path, so adding or removing other files never moves a file to another split, and the same folder
splits the same way on every machine; renaming or moving a file inside the folder may move it. `heldout` is val
and test, `all` every image (what `train` meant before folders had splits). Within a split the order is the sorted
paths. The fractions and the rule are recorded in the data protocol.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ganbench.data.base import DataError, Dataset, DataSpec, ImageSet, existing_dir
from ganbench.data.decode import IMAGE_SUFFIXES, load_files
from ganbench.data.splits import ALL, HELDOUT, SPLITS, TEST, TRAIN, VAL

FRACTIONS = ((TRAIN, 0.8), (VAL, 0.1), (TEST, 0.1))  # declared shares of the images, in this order on [0, 1)
_MEMBERS = {TRAIN: {TRAIN}, VAL: {VAL}, TEST: {TEST}, HELDOUT: {VAL, TEST}, ALL: {TRAIN, VAL, TEST}}
SPLIT_RULE = (
    "by path: u = the first 8 bytes of SHA-256(the file's path relative to the folder, '/'-separated, UTF-8) "
    "read as a big-endian fraction of 2^64; "
    + ", ".join(f"{name} {share:g}" for name, share in FRACTIONS)
    + " of [0, 1) in that order; adding files never moves an existing one"
)


def split_of(relative: str) -> str:
    """The split of the file at `relative` (a '/'-separated path inside the folder): train, val or test."""
    u = int.from_bytes(hashlib.sha256(relative.encode("utf-8")).digest()[:8], "big") / 2**64
    edge = 0.0
    for name, share in FRACTIONS:
        edge += share
        if u < edge:
            return name
    return FRACTIONS[-1][0]  # u within rounding of 1


def split_files(spec: DataSpec) -> list[Path]:
    """The split's image files, sorted; DataError when the folder is missing or the split has none."""
    root = existing_dir(spec.root, "folder")
    try:
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    except OSError as e:
        raise DataError(f"data folder '{root}' cannot be listed ({e}): check that it is still there") from None
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under '{root}'")
    members = _MEMBERS[spec.split]
    chosen = [p for p in files if split_of(p.relative_to(root).as_posix()) in members]
    if not chosen:
        shares = ", ".join(f"{name} {share:g}" for name, share in FRACTIONS)
        raise DataError(
            f"none of the {len(files)} images under '{root}' falls in split '{spec.split}' (split by a hash of "
            f"each path: {shares}): add images, or use split 'all'"
        )
    return chosen


def load(spec: DataSpec) -> ImageSet:
    extra = {"split_rule": SPLIT_RULE, "split_fractions": dict(FRACTIONS)}
    return load_files(spec, split_files(spec), spec.crop, extra, key={"split_rule": SPLIT_RULE})


def check(spec: DataSpec) -> None:
    split_files(spec)


DATASET = Dataset(
    "folder",
    "any folder of images, recursive (jpg, jpeg, png, webp, bmp); splits by a hash of each path (train 0.8, "
    "val 0.1, test 0.1)",
    load,
    SPLITS,
    check,
)
