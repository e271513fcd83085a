"""Sampling a generator: from the networks in memory (the training loop's grids and evaluations), or from a run
directory's checkpoint (`ganbench sample`, `ganbench fid RUN ...`).

Every sampler draws from the same noise sequence for a given seed (`EVAL_SEED` by default: the fixed evaluation
noise every variant and seed shares), so two runs' samples differ only by their generators. Images come back as
(n, C, H, W) in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from ganbench import families
from ganbench.checkpoint import load_nets, load_run_config
from ganbench.config import Config
from ganbench.diagnostics import EVAL_SEED
from ganbench.families.common import ema_generator

__all__ = ["EVAL_SEED", "Sampler", "load_sampler", "make_sampler", "sample_grid"]

Sampler = Callable[[int], torch.Tensor]  # n -> (n, C, H, W) in [-1, 1]


def make_sampler(cfg: Config, G: torch.nn.Module | None, device: torch.device, seed: int = EVAL_SEED) -> Sampler:
    """sample(n) -> n images; each call of make_sampler restarts the same noise sequence (see the family's)."""
    return families.get(cfg.family).impl.sampler(cfg, G, device, seed)


def load_sampler(
    run_dir: str | Path, device: torch.device | str = "cpu", seed: int = EVAL_SEED, ema: bool = False
) -> tuple[Config, Sampler]:
    """(config, sample) for a finished or running run directory: sample(n) -> (n, C, H, W) in [-1, 1].
    ema: draw from the EMA of G (a run with ema_half_life_kimg > 0) instead of G as trained."""
    device = torch.device(device)
    cfg = load_run_config(run_dir)
    nets = load_nets(cfg, run_dir, device)
    G = ema_generator(nets) if ema else families.get(cfg.family).impl.generator(nets)
    if G is None:
        raise ValueError(f"'{run_dir}' keeps no EMA of G (its ema_half_life_kimg is 0): sample without --ema")
    return cfg, make_sampler(cfg, G, device, seed)


def sample_grid(
    run_dir: str | Path,
    n: int,
    output: str | Path,
    device: torch.device | str = "cpu",
    seed: int = EVAL_SEED,
    ema: bool = False,
) -> Path:
    """Draw n samples from a run's generator (G as trained, or its EMA) into one square-ish grid PNG at `output`;
    returns its path. Raises ValueError for n < 1 or a run without what was asked for."""
    from torchvision.utils import save_image

    if n < 1:
        raise ValueError("-n must be at least 1")
    _, draw = load_sampler(run_dir, device, seed=seed, ema=ema)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_image(draw(n), output, nrow=max(1, int(math.ceil(math.sqrt(n)))), normalize=True, value_range=(-1, 1))
    return output
