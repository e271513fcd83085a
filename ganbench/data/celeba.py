"""`celeba`: the official aligned-and-cropped release, `<root>/img_align_celeba/*.jpg` (the layout of the official
`img_align_celeba.zip`, and the one torchvision's `CelebA(root=...)` reads under its base folder).

Splits: from `list_eval_partition.txt` (in `<root>` or `<root>/Eval`) when present; without it, from the official
partition's id ranges when the files keep their CelebA names (the partition is contiguous in the ids); with
neither, only `train` (= all images) and `all`. Preprocessing: centre crop 160 (as in the large-scale GAN study,
Lucic et al. 2018; `--crop` changes it), then PIL bicubic resize.
"""

from __future__ import annotations

from pathlib import Path

from ganbench.data.base import DataError, Dataset, DataSpec, ImageSet, existing_dir
from ganbench.data.decode import load_files
from ganbench.data.splits import HELDOUT, SPLITS, TEST, TRAIN, VAL

DEFAULT_CROP = 160
# CelebA's official partition (list_eval_partition.txt) is contiguous in the image ids: these are its last ids of
# train (0) and val (1); the rest is test (2). Used when the partition file is absent but the files keep their ids.
LAST_TRAIN_ID, LAST_VAL_ID = 162_770, 182_637
_PARTS = {TRAIN: {"0"}, VAL: {"1"}, TEST: {"2"}, HELDOUT: {"1", "2"}}  # partition codes of each split


def official_part(image_id: int) -> str:
    return "0" if image_id <= LAST_TRAIN_ID else ("1" if image_id <= LAST_VAL_ID else "2")


def split_files(spec: DataSpec) -> tuple[list[Path], str]:
    """The split's files (sorted) and the split's note for the protocol; DataError when there are none."""
    root = existing_dir(spec.root, "celeba")
    img_dir = root / "img_align_celeba"
    if not img_dir.is_dir():
        if root.name == "img_align_celeba":
            img_dir, root = root, root.parent
        else:
            raise DataError(
                f"'{root}' has no img_align_celeba/ folder: pass the folder that holds it "
                "(the layout of the official img_align_celeba.zip)"
            )
    files = sorted(p for p in img_dir.iterdir() if p.suffix.lower() == ".jpg")
    if not files:
        raise DataError(f"no .jpg files in '{img_dir}'")
    partition = next(
        (p for p in (root / "list_eval_partition.txt", root / "Eval" / "list_eval_partition.txt") if p.is_file()), None
    )
    wanted = _PARTS.get(spec.split)
    if wanted is None:
        return files, "all"
    if partition is not None:
        part = dict(line.split()[:2] for line in partition.read_text().splitlines() if len(line.split()) >= 2)
        source = partition.name
    elif all(p.stem.isdigit() for p in files):
        part = {p.name: official_part(int(p.stem)) for p in files}
        source = "official CelebA id ranges; no list_eval_partition.txt"
    elif spec.split == TRAIN:
        return files, "all images (no list_eval_partition.txt and not CelebA file names)"
    else:
        raise DataError(
            f"split '{spec.split}' of '{img_dir}' needs list_eval_partition.txt or the original "
            "CelebA file names (000001.jpg ...): add the partition file, or use split 'all'"
        )
    files = [p for p in files if part.get(p.name) in wanted]
    if not files:
        raise DataError(f"no image of split '{spec.split}' ({source}) is present in '{img_dir}'")
    return files, f"{spec.split} (from {source})"


def load(spec: DataSpec) -> ImageSet:
    files, split_note = split_files(spec)
    return load_files(spec, files, spec.crop or DEFAULT_CROP, {"split": split_note})


def check(spec: DataSpec) -> None:
    split_files(spec)


DATASET = Dataset(
    "celeba",
    "the official aligned release: <root>/img_align_celeba/*.jpg, list_eval_partition.txt when present",
    load,
    SPLITS,
    check,
)
