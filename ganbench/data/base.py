"""The types every data set module shares: what a run asks for (`DataSpec`), what a loader returns (`ImageSet`),
a registry entry (`Dataset`) and the one error type (`DataError`; `MissingFolder` for a folder not given or not
there)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch


class DataError(ValueError):
    """Input data that cannot be used. The message names the file or folder and says what to do."""


DATA_OPTION = "--data"  # where `ganbench run` takes a data folder from (a sweep or study: its file, or --set)


class MissingFolder(DataError):
    """A data set's folder not given, or not there. The one line names where its path came from (`origin`: the
    option, or the key of a sweep or study file), so the reader knows what to fix; a sweep or study re-raises it
    with its own origin (`at`)."""

    def __init__(self, root: str, name: str, origin: str = DATA_OPTION) -> None:
        self.root, self.name, self.origin = root, name, origin
        if not root:
            give = "pass --data PATH" if origin == DATA_OPTION else f"set {origin}"
            super().__init__(f"the {name} data set needs a folder: {give}")
        else:
            super().__init__(f"data folder '{root}' does not exist (or is not a folder): check {origin}")

    def at(self, origin: str) -> MissingFolder:
        return MissingFolder(self.root, self.name, origin)

    def __reduce__(self):  # pickled as its fields (a Ray worker's error crosses processes)
        return MissingFolder, (self.root, self.name, self.origin)


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
    labels: torch.Tensor | None = None  # int64 (N,): a label per image where the data set has one (stacked-mnist)
    sha256: str = ""  # content hash of `images` (see `content_sha256`); "" until first asked for

    def __len__(self) -> int:
        return self.images.shape[0]

    def content_sha256(self, count: int | None = None) -> str:
        """SHA-256 of the decoded images' bytes, uint8 in (N, C, H, W) C order, of the first `count` images (all by
        default): what a metric was computed against, whatever file, cache or decoder produced it. The whole set's
        hash is kept (and stored in the data cache), so asking again costs nothing."""
        if count is not None and count < len(self):
            return pixels_sha256(self.images[:count])
        if not self.sha256:
            self.sha256 = pixels_sha256(self.images)
        return self.sha256


def pixels_sha256(images: torch.Tensor) -> str:
    return hashlib.sha256(np.ascontiguousarray(images.cpu().numpy()).data).hexdigest()


@dataclass(frozen=True)
class Dataset:
    """A registered data set: `load(spec)` decodes (or draws) the images of one split; `check(spec)` finds the
    source without decoding anything (a missing folder or an empty split raises DataError in a second, before
    any trial starts)."""

    name: str
    summary: str  # one line for `ganbench list`
    load: Callable[[DataSpec], ImageSet]
    splits: tuple[str, ...]  # the split names it answers (`ganbench.data.splits`)
    check: Callable[[DataSpec], None] = lambda spec: None


def existing_dir(root: str, name: str) -> Path:
    if not root:
        raise MissingFolder(root, name)
    path = Path(root).expanduser()
    if not path.is_dir():
        raise MissingFolder(root, name)
    return path


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, C, H, W) uint8, C = 1 (ITU-R 601 luma) or 3."""
    if channels == 1:
        luma = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
        return np.round(luma)[:, None].clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
