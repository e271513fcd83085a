"""The registry of GAN objectives.

An objective is a few pure functions of the discriminator's raw outputs (logits; the backbone has no Sigmoid):

    d_loss(real_logits, fake_logits) -> scalar   # minimised by D
    g_loss(fake_logits) -> scalar                # minimised by G
    penalty(D, real, fake) -> scalar | None      # optional, added to d_loss times `gp_weight`

Adding an objective is one small file in this folder that calls `register(Objective(...))`, plus an import below.
The training loop never knows which objective it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganbench.registry import Registry

Loss2 = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Loss1 = Callable[[torch.Tensor], torch.Tensor]
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


OBJECTIVES: Registry[Objective] = Registry("objective")


def register(objective: Objective) -> Objective:
    if not isinstance(objective, Objective):
        raise TypeError(f"expected an Objective, got {type(objective).__name__}")
    return OBJECTIVES.register(objective.name, objective)


def get(name: str) -> Objective:
    return OBJECTIVES[name]


# Registration happens on import; keep this list in the order users see it.
from ganbench.objectives import hinge, lsgan, minimax, nonsaturating, wgan_gp  # noqa: E402, F401
