"""Crash-safe result files: atomic writes (temporary file + rename) and append-only JSONL.

A reader of a JSONL file tolerates a torn last line (a process killed mid-write), so nothing already written is
ever lost or made unreadable. A full disk raises `DiskFull` (an OSError) with a message that says what to do; the
file being written keeps its previous content.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


class DiskFull(OSError):
    """No space left (or over quota) while writing a result file; the file keeps its previous content."""

    def __str__(self) -> str:
        return (
            f"no space left on the disk while writing {self.filename}: free some space (or write elsewhere "
            "with --out / $GANBENCH_CACHE), then re-run the same command; finished runs are kept and "
            "interrupted ones resume from their last checkpoint"
        )


_FULL = (errno.ENOSPC, errno.EDQUOT)
_UMASK = os.umask(0)
os.umask(_UMASK)  # read once, at import (os.umask can only be read by setting it)


def cache_dir() -> Path:
    """Where decoded data sets and reference statistics are cached: $GANBENCH_CACHE or ~/.cache/ganbench."""
    root = os.environ.get("GANBENCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ganbench")
    path = Path(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(
            f"cannot create the cache folder {path} ({e.strerror}): set GANBENCH_CACHE to a writable folder"
        ) from None
    return path


def first_link(folder: str | os.PathLike) -> Path | None:
    """The first symbolic link inside `folder` (never following one), or None. A shared results folder can hold
    links (a run's metrics.jsonl or its report.html pointing at a file of the reader's); a command that writes
    into such a folder refuses it rather than write outside the folder it was given."""
    for parent, dirs, files in os.walk(folder):  # os.walk does not descend into linked folders: it lists them
        for name in sorted(dirs + files):
            if (path := Path(parent) / name).is_symlink():
                return path
    return None


def jsonable(obj: Any) -> Any:
    """NaN -> null and infinities -> "inf"/"-inf" (JSON has neither); paths and tuples made plain."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path` (atomic on POSIX): a reader
    sees the old content or the new, never a mix; a crash or a full disk leaves the old content and no temporary.
    durable=False skips the fsync: still atomic for a killed process, but a power cut may leave an empty file
    (fine for sample grids, not for checkpoints)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)  # mkstemp makes 0600; results are as readable as other files
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(e, OSError) and e.errno in _FULL:
            raise DiskFull(e.errno, e.strerror, str(path)) from None
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_grid_png(images, path: str | os.PathLike, nrow: int = 8, pad: int = 2) -> None:
    """uint8 images (N, C, H, W), C = 1 or 3 (numpy or CPU tensor) -> one PNG, written atomically: nrow images a
    row with black padding, torchvision's make_grid layout (no torchvision import: it costs seconds)."""
    import numpy as np
    from PIL import Image

    images = np.asarray(images)
    n, c, h, w = images.shape
    if c == 1:
        images = np.repeat(images, 3, axis=1)  # grayscale saved as RGB, as make_grid does
    pad = 0 if n == 1 else pad
    cols, rows = min(nrow, n), -(-n // nrow)
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), np.uint8)
    for i, im in enumerate(images):
        y, x = (i // nrow) * (h + pad) + pad, (i % nrow) * (w + pad) + pad
        grid[y : y + h, x : x + w] = im.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="png")
    atomic_write_bytes(path, buf.getvalue(), durable=False)


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one record as one line. A torn line left by an earlier crash is terminated first; a full disk
    raises DiskFull and leaves the file as it was."""
    path = Path(path)
    data = (json.dumps(jsonable(record), separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # close a torn last line so this record stays readable
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as e:
            if e.errno not in _FULL:
                raise
            try:
                os.ftruncate(fd, size)  # drop the partial record
            except OSError:
                pass  # a reader skips a torn line anyway
            raise DiskFull(e.errno, e.strerror, str(path)) from None
    finally:
        os.close(fd)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete records; a torn or corrupt line (from a crash mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for raw in path.read_bytes().splitlines():
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(rec, dict):
            records.append(rec)
    return records
