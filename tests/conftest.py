"""Shared test setup: an isolated cache for the whole session, and where the shared real data lives."""

import os
import tempfile
from pathlib import Path

import pytest
import torch

CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba"
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"  # torchvision's layout: MNIST/raw/


def pytest_configure(config):
    # Decoded data sets and reference statistics go to a fresh folder, never the user's ~/.cache.
    if "GANBENCH_CACHE" not in os.environ:
        os.environ["GANBENCH_CACHE"] = tempfile.mkdtemp(prefix="ganbench-test-cache-")
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")


@pytest.fixture
def celeba_root() -> Path:
    if not (CELEBA / "img_align_celeba").is_dir():
        pytest.skip(f"real CelebA images not present at {CELEBA} (shared data absent)")
    return CELEBA


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    if not (MNIST / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip(f"real MNIST files not present at {MNIST} (shared data absent)")
    return MNIST


@pytest.fixture(scope="module")
def images():
    """The tiny runs' training images: 256 built-in faces at 16x16, uint8 (N, C, H, W)."""
    from ganbench.data import DataSpec, load_dataset

    return load_dataset(DataSpec("synthetic", resolution=16, max_images=256)).images


@pytest.fixture(scope="module")
def one_thread():
    """Tiny networks gain nothing from threads, and on shared cores two threads can run 20x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
