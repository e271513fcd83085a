"""The random baseline: i.i.d. uniform pixel noise in [-1, 1]. Nothing is built or trained."""

from __future__ import annotations

import torch


def build(cfg, device: torch.device, settings) -> dict:
    return {}


def compiled(cfg) -> tuple[str, ...]:
    return ()  # nothing to compile


def generator(nets: dict) -> None:
    return None


def sampler(cfg, G, device: torch.device, seed: int):
    """Its pixel noise is seeded by the run's seed too, so its seeds are independent draws, not copies."""
    gen = torch.Generator(device).manual_seed(seed + cfg.seed)

    @torch.no_grad()
    def sample(n: int) -> torch.Tensor:
        return torch.rand(n, cfg.channels, cfg.resolution, cfg.resolution, device=device, generator=gen) * 2 - 1

    return sample


def step(loop) -> None:
    raise RuntimeError("the random baseline has nothing to train")
