"""Data sets, decoded and resized once, cached on disk as uint8 tensors (N, C, H, W).

Registered data sets (`ganbench list`):
  synthetic  built-in, procedurally drawn face-like images; deterministic, no files, no download
  celeba     the official aligned release: <root>/img_align_celeba/*.jpg, list_eval_partition.txt when present
  folder     any folder of images, recursive (jpg, jpeg, png, webp, bmp); grayscale and RGBA converted
  cifar10    torchvision's CIFAR-10 files under <root> (never downloaded)
  mnist      torchvision's MNIST files under <root> (never downloaded)

Preprocessing for files: centre crop to a `crop` x `crop` square (default: the short side; CelebA: 160, as in the
large-scale GAN study), then PIL bicubic resize (antialiased) to `resolution`. The cache key hashes the file list
(names, sizes, modification times), the preprocessing and the loader version, so a changed input is re-decoded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.faces import VERSION as FACES_VERSION
from ganbench.faces import draw_faces
from ganbench.io import atomic_write_bytes, cache_dir
from ganbench.registry import Registry

LOADER_VERSION = 1
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
CELEBA_DEFAULT_CROP = 160
SYNTHETIC_SIZE = 10_000  # images in the built-in data set's train split (and its test split)
SPLITS = ("train", "val", "test", "heldout", "all")  # heldout: every image not in train (val and test)
# CelebA's official partition (list_eval_partition.txt) is contiguous in the image ids: these are its last ids of
# train (0) and val (1); the rest is test (2). Used when the partition file is absent but the files keep their ids.
CELEBA_LAST_TRAIN_ID, CELEBA_LAST_VAL_ID = 162_770, 182_637


class DataError(ValueError):
    """Input data that cannot be used. The message names the file or folder and says what to do."""


@dataclass(frozen=True)
class DataSpec:
    name: str = "synthetic"
    root: str = ""
    resolution: int = 64
    channels: int = 3
    crop: int = 0
    max_images: int = 0
    split: str = "train"


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8 (N, C, H, W), values 0..255
    protocol: dict[str, Any] = field(default_factory=dict)  # how the images were made; recorded with every result

    def __len__(self) -> int:
        return self.images.shape[0]


DATASETS: Registry[Callable[[DataSpec], ImageSet]] = Registry("data set")


def load_dataset(spec: DataSpec) -> ImageSet:
    if spec.split not in SPLITS:
        raise DataError(f"unknown split '{spec.split}'. Valid choices: {', '.join(SPLITS)}.")
    return DATASETS[spec.name](spec)


def spec_from_config(cfg, split: str = "train") -> DataSpec:
    return DataSpec(cfg.dataset, cfg.data, cfg.resolution, cfg.channels, cfg.crop, cfg.max_images, split)


# ---------------------------------------------------------------------------------------------------- cache
def _cached(key_parts: dict[str, Any], build: Callable[[], ImageSet]) -> ImageSet:
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:20]
    path = cache_dir() / "datasets" / f"{key_parts['dataset']}-{key}.pt"
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            return ImageSet(blob["images"], json.loads(blob["protocol"]) | {"cache": str(path)})
        except Exception:  # a corrupt cache file is rebuilt, never trusted
            print(f"ganbench: cache file {path} is unreadable; rebuilding it", file=sys.stderr)
    result = build()
    result.protocol["key"] = key
    import io

    buf = io.BytesIO()
    torch.save({"images": result.images.contiguous(), "protocol": json.dumps(result.protocol)}, buf)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:  # a full disk or a read-only cache: this run goes on, the next one decodes again
        print(f"ganbench: could not write the data cache ({e}); continuing without it", file=sys.stderr)
        return result
    result.protocol["cache"] = str(path)
    return result


def _to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, C, H, W) uint8, C = 1 (ITU-R 601 luma) or 3."""
    if channels == 1:
        luma = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
        return np.round(luma)[:, None].clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------------------------------- synthetic
def _load_synthetic(spec: DataSpec) -> ImageSet:
    if spec.split not in ("train", "test", "heldout", "all"):
        raise DataError("the synthetic data set has splits 'train' and 'test' (independent draws; 'heldout' = test)")
    spec = replace(spec, split="test") if spec.split == "heldout" else spec
    count = SYNTHETIC_SIZE if spec.max_images <= 0 else min(spec.max_images, SYNTHETIC_SIZE)
    split_seed = {"train": 0, "all": 0, "test": 1}[spec.split]

    def build() -> ImageSet:
        chunk = 500

        def draw(start: int) -> np.ndarray:  # chunks seeded by index: a smaller set is a prefix of a larger one
            rng = np.random.default_rng([LOADER_VERSION, split_seed, start // chunk])
            return draw_faces(chunk, spec.resolution, rng)

        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # numpy releases the GIL
            arr = np.concatenate(list(pool.map(draw, range(0, count, chunk))))[:count]
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
        return ImageSet(torch.from_numpy(_to_channels(arr, spec.channels)), protocol)

    parts = {
        "dataset": "synthetic",
        "v": LOADER_VERSION,
        "faces": FACES_VERSION,
        "split": split_seed,
        "count": count,
        "resolution": spec.resolution,
        "channels": spec.channels,
    }
    return _cached(parts, build)


# ---------------------------------------------------------------------------------------------------- image files
# Only these decoders are ever run on a data set's files, whatever a file's first bytes claim to be (a ".jpg" that is
# really a PostScript file must not reach Ghostscript). GIF: scraped ".jpg" files are sometimes GIFs.
DECODERS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
_OPEN_LOCK = threading.Lock()  # warnings.catch_warnings is process-wide, not per thread


def _max_pixels() -> int:
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)  # PIL's default decompression-bomb limit


def _decode(path: Path, crop: int, resolution: int) -> np.ndarray:
    """One file -> (R, R, 3) uint8. Raises DataError naming the file on anything unreadable: empty, truncated,
    not an image, or enormous (more pixels than PIL's decompression-bomb limit: checked on the header, before
    any pixel is decoded)."""
    from PIL import Image

    try:
        with _OPEN_LOCK, warnings.catch_warnings():  # reads the header only: cheap to serialise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with a clear message
            im = Image.open(path, formats=DECODERS)
        with im:
            w, h = im.size
            if w * h > _max_pixels():
                raise DataError(
                    f"{path}: enormous image ({w} x {h} pixels, more than {_max_pixels():,}); downscale it or remove it"
                )
            im.load()  # force a full decode: a truncated file fails here, not later
            if im.mode in ("RGBA", "LA", "P") and ("transparency" in im.info or im.mode != "P"):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))  # composite transparency on white
                im = Image.alpha_composite(bg, im)
            im = im.convert("RGB")
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: enormous image ({e}); downscale it or remove it") from None
    except MemoryError:
        raise DataError(f"{path}: too large to decode in memory") from None
    except FileNotFoundError:
        raise DataError(f"{path}: disappeared while the data set was being read") from None
    except Exception as e:  # PIL's decoders raise many types on malformed input (OSError, SyntaxError, EOFError, ...)
        raise DataError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    w, h = im.size
    if w < 1 or h < 1:
        raise DataError(f"{path}: empty image")
    side = min(w, h) if crop <= 0 else min(crop, w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


def _decode_files(files: list[Path], crop: int, resolution: int, where: str) -> tuple[np.ndarray, list[str]]:
    """Decode in threads (PIL releases the GIL). Unreadable files are skipped and returned by name."""
    from tqdm import tqdm

    def one(p: Path):
        try:
            return _decode(p, crop, resolution), None
        except DataError as e:
            return None, str(e)

    workers = min(8, os.cpu_count() or 1)
    out, skipped = [], []
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(one, files, chunksize=32)
        for arr, err in tqdm(
            results, total=len(files), desc=f"decoding {where}", file=sys.stderr, disable=len(files) < 500, leave=False
        ):
            if err is None:
                out.append(arr)
            else:
                skipped.append(err)
    if not out:
        first = "; ".join(skipped[:3])
        raise DataError(f"none of the {len(files)} files in {where} could be decoded ({first})")
    if len(skipped) > len(files) // 2:
        raise DataError(
            f"{len(skipped)} of {len(files)} files in {where} could not be decoded, for example: "
            f"{skipped[0]}. Check that the folder holds images."
        )
    if skipped:
        print(
            f"ganbench: skipped {len(skipped)} unreadable file(s) of {len(files)} in {where}, for example {skipped[0]}",
            file=sys.stderr,
        )
    return np.stack(out), skipped


def _file_fingerprint(files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        try:
            st = p.stat()
        except FileNotFoundError:
            raise DataError(
                f"{p} disappeared while the data set was being listed: check that nothing is moving "
                "or deleting files in the data folder, then re-run"
            ) from None
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _image_files(spec: DataSpec, files: list[Path], crop: int, extra: dict[str, Any]) -> ImageSet:
    if spec.max_images > 0:
        files = files[: spec.max_images]
    where = spec.root

    def build() -> ImageSet:
        arr, skipped = _decode_files(files, crop, spec.resolution, where)
        protocol = {
            "dataset": spec.name,
            "root": str(Path(spec.root).resolve()),
            "split": spec.split,
            "resolution": spec.resolution,
            "channels": spec.channels,
            "crop": crop if crop > 0 else "short side",
            "resize": "centre crop, then PIL bicubic",
            "count": int(arr.shape[0]),
            "files": len(files),
            "skipped": len(skipped),
            "skipped_examples": skipped[:5],
        } | extra
        return ImageSet(torch.from_numpy(_to_channels(arr, spec.channels)), protocol)

    parts = {
        "dataset": spec.name,
        "v": LOADER_VERSION,
        "files": _file_fingerprint(files),
        "n": len(files),
        "crop": crop,
        "resolution": spec.resolution,
        "channels": spec.channels,
        "split": spec.split,
    }
    return _cached(parts, build)


def _existing_dir(root: str, name: str) -> Path:
    if not root:
        raise DataError(f"the {name} data set needs a folder: pass --data PATH")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"data folder '{root}' does not exist (or is not a folder): check --data")
    return path


def _load_folder(spec: DataSpec) -> ImageSet:
    root = _existing_dir(spec.root, "folder")
    if spec.split not in ("train", "all"):
        raise DataError("a plain image folder has no splits: use split 'train' (all images)")
    try:
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    except OSError as e:
        raise DataError(f"data folder '{root}' cannot be listed ({e}): check that it is still there") from None
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under '{root}'")
    return _image_files(spec, files, spec.crop, {})


def _load_celeba(spec: DataSpec) -> ImageSet:
    root = _existing_dir(spec.root, "celeba")
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
    wanted = {"train": {"0"}, "val": {"1"}, "test": {"2"}, "heldout": {"1", "2"}}.get(spec.split)
    if wanted is not None:
        if partition is not None:
            part = dict(line.split()[:2] for line in partition.read_text().splitlines() if len(line.split()) >= 2)
            source = partition.name
        elif all(p.stem.isdigit() for p in files):
            part = {p.name: _celeba_official_part(int(p.stem)) for p in files}
            source = "official CelebA id ranges; no list_eval_partition.txt"
        elif spec.split == "train":
            part, source = None, None
        else:
            raise DataError(
                f"split '{spec.split}' of '{img_dir}' needs list_eval_partition.txt or the original "
                "CelebA file names (000001.jpg ...): add the partition file, or use split 'all'"
            )
        if part is not None:
            files = [p for p in files if part.get(p.name) in wanted]
            if not files:
                raise DataError(f"no image of split '{spec.split}' ({source}) is present in '{img_dir}'")
            split_note = f"{spec.split} (from {source})"
        else:
            split_note = "all images (no list_eval_partition.txt and not CelebA file names)"
    else:
        split_note = "all"
    crop = spec.crop or CELEBA_DEFAULT_CROP
    return _image_files(spec, files, crop, {"split": split_note})


def _celeba_official_part(image_id: int) -> str:
    return "0" if image_id <= CELEBA_LAST_TRAIN_ID else ("1" if image_id <= CELEBA_LAST_VAL_ID else "2")


# CIFAR-10 and MNIST have an official train and test split only. A selection split that no model trains on is
# held out of the official train split: every VAL_EVERY-th image of each class (500 per class for CIFAR-10), so
# `train` is the official train split without them, `val` those images, `test` (= `heldout`) the official test
# split, `all` train + val + test.
VAL_EVERY = 10


def _held_out(index: int) -> bool:
    """Whether the index-th image of a class (in the source's order) belongs to `val`, not `train`."""
    return index % VAL_EVERY == VAL_EVERY - 1


VAL_RULE = (
    f"val: every {VAL_EVERY}th image of each class of the official train split (index % {VAL_EVERY} = "
    f"{VAL_EVERY - 1} in the source's order), held out of train; test: the official test split"
)


def _load_cifar10(spec: DataSpec) -> ImageSet:
    """torchvision's CIFAR-10 files, or the same images as class folders: <root>/{train,test}/<class>/*.png|jpg
    (the layout of the common image-file copies; which file format was used is recorded: JPEG copies are not the
    original pixels, so their FIDs are close to, not equal to, published CIFAR-10 FIDs)."""
    root = _existing_dir(spec.root, spec.name)
    if (root / "train").is_dir() and (root / "test").is_dir():
        return _load_class_folders(spec, root)
    return _load_torchvision(spec)


def _load_class_folders(spec: DataSpec, root: Path) -> ImageSet:
    """Class folders under train/ and test/. Order: round robin over the classes (the first image of every class,
    then the second, ...), so the first N images, which the evaluator takes as its reference, hold every class
    equally."""
    if spec.split not in SPLITS:
        raise DataError(f"unknown split '{spec.split}'. Valid choices: {', '.join(SPLITS)}.")
    parts = {"train": ("train",), "val": ("train",), "test": ("test",), "heldout": ("test",), "all": ("train", "test")}[
        spec.split
    ]
    files: list[Path] = []
    for part in parts:
        classes = sorted(d for d in (root / part).iterdir() if d.is_dir())
        if not classes:
            raise DataError(f"'{root / part}' holds no class folders (expected {part}/<class>/*.png or .jpg)")
        per_class = [sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for d in classes]
        if part == "train" and spec.split in ("train", "val"):
            keep_val = spec.split == "val"
            per_class = [[p for i, p in enumerate(fs) if _held_out(i) == keep_val] for fs in per_class]
        longest = max((len(fs) for fs in per_class), default=0)
        files += [fs[i] for i in range(longest) for fs in per_class if i < len(fs)]
    if not files:
        raise DataError(f"no images of split '{spec.split}' under '{root}'")
    suffixes = sorted({p.suffix.lower() for p in files})
    extra = {
        "split": f"{spec.split} ({VAL_RULE})",
        "layout": "class folders, round-robin order",
        "file_format": ", ".join(suffixes),
    }
    if ".jpg" in suffixes or ".jpeg" in suffixes:
        extra["note"] = "JPEG copies: FIDs are close to, not equal to, those of the original (lossless) images"
    return _image_files(spec, files, spec.crop, extra)


def _load_torchvision(spec: DataSpec) -> ImageSet:
    root = _existing_dir(spec.root, spec.name)
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "mnist": torchvision.datasets.MNIST}[spec.name]
    if spec.split not in ("train", "val", "test", "heldout"):
        raise DataError(
            f"{spec.name} has splits 'train', 'val' (held out of the official train split) and "
            "'test' ('heldout' = test)"
        )
    spec = replace(spec, split="test") if spec.split == "heldout" else spec
    try:
        ds = cls(str(root), train=spec.split in ("train", "val"), download=False)
    except RuntimeError as e:
        raise DataError(
            f"{spec.name} files not found under '{root}' ({e}). ganbench never downloads: place "
            f"torchvision's {spec.name} files there first."
        ) from None

    def build() -> ImageSet:
        from PIL import Image

        data = ds.data if isinstance(ds.data, np.ndarray) else ds.data.numpy()
        if spec.split in ("train", "val"):  # the held-out val images, counted per class in file order
            labels = np.asarray(ds.targets)
            seen: dict[int, int] = {}
            index = np.empty(len(labels), dtype=np.int64)
            for i, y in enumerate(labels.tolist()):
                index[i] = seen.get(y, 0)
                seen[y] = index[i] + 1
            data = data[np.array([_held_out(int(i)) == (spec.split == "val") for i in index])]
        if spec.max_images > 0:
            data = data[: spec.max_images]
        out = []
        for a in data:
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
        return ImageSet(torch.from_numpy(_to_channels(np.stack(out), spec.channels)), protocol)

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
    return _cached(parts, build)


DATASETS.register("synthetic", _load_synthetic)
DATASETS.register("celeba", _load_celeba)
DATASETS.register("folder", _load_folder)
DATASETS.register("cifar10", _load_cifar10)
DATASETS.register("mnist", _load_torchvision)
