"""Image files to uint8 arrays: the only decoders ever run, the checks on every file, the preprocessing (centre
crop to a `crop` x `crop` square, default the short side, then PIL bicubic resize, antialiased, to `resolution`),
decoding in threads, and `load_files`, which turns a data set's file list into a cached ImageSet."""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.data.base import DataError, DataSpec, ImageSet, to_channels
from ganbench.data.cache import LOADER_VERSION, cached

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


# Only these decoders are ever run on a data set's files, whatever a file's first bytes claim to be (a ".jpg" that is
# really a PostScript file must not reach Ghostscript). GIF: scraped ".jpg" files are sometimes GIFs.
DECODERS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
_OPEN_LOCK = threading.Lock()  # warnings.catch_warnings is process-wide, not per thread


def max_pixels() -> int:
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)  # PIL's default decompression-bomb limit


def decode_image(path: Path, crop: int, resolution: int) -> np.ndarray:
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
            if w * h > max_pixels():
                raise DataError(
                    f"{path}: enormous image ({w} x {h} pixels, more than {max_pixels():,}); downscale it or remove it"
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


def decode_files(files: list[Path], crop: int, resolution: int, where: str) -> tuple[np.ndarray, list[str]]:
    """Decode in threads (PIL releases the GIL). Unreadable files are skipped and returned by name."""
    from tqdm import tqdm

    def one(p: Path):
        try:
            return decode_image(p, crop, resolution), None
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


def files_fingerprint(files: list[Path]) -> str:
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


def load_files(
    spec: DataSpec, files: list[Path], crop: int, extra: dict[str, Any], key: dict[str, Any] | None = None
) -> ImageSet:
    """The first `spec.max_images` (0: all) of `files`, decoded, as a cached ImageSet. `extra` is added to the
    protocol; `key` to the cache key (what else the file list depends on, such as a split rule)."""
    if spec.max_images > 0:
        files = files[: spec.max_images]
    where = spec.root

    def build() -> ImageSet:
        arr, skipped = decode_files(files, crop, spec.resolution, where)
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
        return ImageSet(torch.from_numpy(to_channels(arr, spec.channels)), protocol)

    parts = {
        "dataset": spec.name,
        "v": LOADER_VERSION,
        "files": files_fingerprint(files),
        "n": len(files),
        "crop": crop,
        "resolution": spec.resolution,
        "channels": spec.channels,
        "split": spec.split,
    } | (key or {})
    return cached(parts, build)
