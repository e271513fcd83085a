"""What a run shows about itself besides its losses: sample grids and sample diversity (collapse). Memory and
the device's name are `ganbench.device`'s."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

import torch

from ganbench.io import write_grid_png

EVAL_SEED = 20_240_601  # fixed noise for sample grids and evaluation: the same for every variant and seed
GRID = 64  # images in a sample grid
COLLAPSE_SAMPLES = 256  # generated (and real) images behind the end-of-run diversity measure
COLLAPSE_RATIO = 0.1  # generated diversity below this fraction of the real images' is flagged as collapse


def diversity(x: torch.Tensor) -> torch.Tensor:
    """Mean pairwise L2 distance between the images of x (B, C, H, W), B >= 2, per sqrt(pixel): 0 when all are
    identical. A scalar tensor on x's device."""
    flat = x.flatten(1).float()
    n = flat.shape[0]
    return torch.cdist(flat, flat).sum() / (n * (n - 1)) / math.sqrt(flat.shape[1])


def collapse_report(generated: torch.Tensor, real_diversity: float) -> dict[str, Any]:
    """Sample diversity relative to the real images'; `collapsed` when below COLLAPSE_RATIO."""
    value = diversity(generated).item()
    ratio = value / real_diversity if real_diversity > 0 else None
    return {
        "diversity": value,
        "real_diversity": real_diversity,
        "ratio": ratio,
        "threshold": COLLAPSE_RATIO,
        "collapsed": ratio is not None and ratio < COLLAPSE_RATIO,
        "samples": generated.shape[0],
    }


def real_diversity(images: torch.Tensor, device: torch.device) -> float:
    """Diversity of a fixed subset of the real images (its own RNG: the training streams are not touched)."""
    pick = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(EVAL_SEED))[:COLLAPSE_SAMPLES]
    return diversity(images[pick].to(device).float().div(127.5).sub(1)).item() if len(pick) >= 2 else 0.0


def save_grid(images: torch.Tensor, path: Path) -> None:
    """(B, C, H, W) in [-1, 1] -> a PNG grid, quantised as torchvision's save_image would."""
    write_grid_png(
        (images.detach().float().clamp(-1, 1) + 1).mul(127.5).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu(), path
    )


def summary_device_name(device: torch.device) -> str:
    """The name summary.json records: the GPU's, or the CPU's architecture and core count. (Kept as it was so
    result files stay identical; `ganbench.device.device_name` gives the CPU's model name instead.)"""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
