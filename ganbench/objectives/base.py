"""The objective type and its registry (`ganbench.objectives` re-exports both and imports every objective).

Each objective module imports `Objective` and `register` from here, not from the package, so the package's
`__init__` (which imports the objective modules to register them) and the modules do not import each other.
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
