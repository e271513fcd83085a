"""The registry of GAN objectives.

An objective is a few pure functions of the discriminator's raw outputs (logits; the backbone has no Sigmoid):

    d_loss(real_logits, fake_logits) -> scalar   # minimised by D
    g_loss(fake_logits) -> scalar                # minimised by G
    penalty(D, real, fake) -> scalar | None      # only `wgan-gp`: the penalty it was defined with (see below)

Penalties are an axis of their own (`ganbench.penalties`, the config's `penalty`, `penalty_weight`): the trainer
applies the config's penalty and never an objective's. `wgan-gp` stays registered as a shorthand: a config that
names it is read as objective `wasserstein` + penalty `gp` (`ganbench.config.migrate`), which is what it always
computed, so result directories written before keep their meaning.

Relativistic objectives (`rpgan`, `ragan`) judge a fake relative to reals, so their G loss needs D's outputs on
real images too. They set `needs_real_in_g = True` and take `g_loss(fake_logits, real_logits)`; everything else
keeps `g_loss(fake_logits)`. A trainer calls `objective.generator_loss(fake_logits, real_logits)`, which passes
the real logits only where they are needed, so the one-argument objectives are unchanged. (In G's step the real
logits carry no gradient to G; the trainer may compute them under `torch.no_grad()`.)

Adding an objective is one small file in this folder that calls `register(Objective(...))`, plus an import below.
The training loop never knows which objective it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganbench.registry import Registry

Loss2 = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Loss1 = Callable[..., torch.Tensor]  # g_loss(fake_logits), or g_loss(fake_logits, real_logits) if needs_real_in_g
Penalty = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Objective:
    name: str
    d_loss: Loss2
    g_loss: Loss1
    penalty: Penalty | None = None
    threshold: float | None = 0.0  # D's real/fake decision boundary on its outputs (None: batch midpoint)
    paper: str = ""
    summary: str = ""
    needs_real_in_g: bool = False  # relativistic: g_loss(fake_logits, real_logits)

    def generator_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """G's loss; `real_logits` (D on a batch of real images) is used only where `needs_real_in_g`."""
        if not self.needs_real_in_g:
            return self.g_loss(fake_logits)
        if real_logits is None:
            raise ValueError(f"objective '{self.name}' is relativistic: its G loss needs D's outputs on real images")
        return self.g_loss(fake_logits, real_logits)


OBJECTIVES: Registry[Objective] = Registry("objective")


def register(objective: Objective) -> Objective:
    if not isinstance(objective, Objective):
        raise TypeError(f"expected an Objective, got {type(objective).__name__}")
    return OBJECTIVES.register(objective.name, objective)


def get(name: str) -> Objective:
    return OBJECTIVES[name]


# Registration happens on import; keep this list in the order users see it.
from ganbench.objectives import (  # noqa: E402, F401
    hinge,
    lsgan,
    minimax,
    nonsaturating,
    ragan,
    rpgan,
    wasserstein,
    wgan_gp,
)
