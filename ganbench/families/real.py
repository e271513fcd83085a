"""The real-vs-real line: no model, its "samples" are real training images, drawn without replacement.

Evaluated like any run against the same reference (another split: for a held-out reference these images are never
the reference's own), it gives the score of a perfect model of the training data at that sample count and
reference set: the end of the scale, where the random baseline is its start. Seed k takes the k-th block of images
of one fixed permutation of the training split, so its seeds are disjoint sets of real images (an evaluation of N
images per seed: seeds 0 .. len(train) / N - 1). Nothing is built or trained.
"""

from __future__ import annotations

import torch

PERMUTATION_SEED = 2024  # one fixed shuffle of the training images for every seed: blocks of it are disjoint


def build(cfg, device: torch.device, settings) -> dict:
    """The training images (uint8, on the CPU), from the same loader and cache as training; nothing to train."""
    from ganbench.data import load_dataset, spec_from_config

    return {"images": load_dataset(spec_from_config(cfg)).images}


def compiled(cfg) -> tuple[str, ...]:
    return ()  # no network: `compile = true` compiles nothing (ganbench.device.resolve asks every family)


def generator(nets: dict) -> torch.Tensor:
    return nets["images"]


def sampler(cfg, images: torch.Tensor, device: torch.device, seed: int):
    """sample(n) -> the next n images of block `cfg.seed` (blocks of cfg.eval_samples images); each call of
    `sampler` starts the block again, as the trained families restart their noise. A seed whose block does not fit
    in the training split is an error that says which seeds do."""
    # With the reference taken from the training split itself (eval_split = train: its first eval_samples images),
    # those images are left out, so the line never compares a set with itself.
    skip = min(cfg.eval_samples, images.shape[0]) if cfg.eval_split == "train" else 0
    usable = images.shape[0] - skip
    order = skip + torch.randperm(usable, generator=torch.Generator().manual_seed(PERMUTATION_SEED))
    start = cfg.seed * cfg.eval_samples
    if start + cfg.eval_samples > usable:
        raise ValueError(
            f"the real-vs-real line's seed {cfg.seed} needs real images {start}..{start + cfg.eval_samples - 1}"
            f", but the training split has {usable} to draw from: use seeds below "
            f"{usable // max(cfg.eval_samples, 1)} or fewer eval_samples"
        )
    drawn = 0

    @torch.no_grad()
    def sample(n: int) -> torch.Tensor:
        """The block's images first; beyond it (only a grid or the collapse check asks for that many) the draw wraps
        around the shuffle, so an evaluation of up to eval_samples images is always the seed's own block."""
        nonlocal drawn
        index = order[(start + drawn + torch.arange(n)) % usable]
        drawn += n
        return images[index].to(device).float().div_(127.5).sub_(1)

    return sample


def step(loop) -> None:
    raise RuntimeError("the real-vs-real line has nothing to train")
