"""Shared test setup: an isolated cache for the whole session, and where the shared real data lives."""

import os
import tempfile
from pathlib import Path

import pytest

CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba"


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
