"""An exponential moving average (EMA) of G's weights, the generator most modern GANs evaluate (Karras et al.,
2018/2020; Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training").

The decay is set as a half-life in thousands of real images shown (kimg), the budget unit of ganbench, as in
StyleGAN2-ADA (`ema_kimg`, `ema_rampup`): after each G step that ends at `nimg` images shown,

    half_life = min(half_life_kimg * 1000, rampup * nimg_before)      # images; the warm-up (rampup = 0: none)
    beta      = 0.5 ** ((nimg - nimg_before) / half_life)              # 0 while half_life is 0
    ema       = beta * ema + (1 - beta) * G                            # every parameter
    buffers   = G's buffers, copied                                   # BatchNorm running statistics

where nimg_before is the count at the previous update (0 at the first, so the first update copies G). Because the
step is measured in images shown, not G steps, the half-life means the same whatever n_critic and batch size are:
with n_critic = 5 a G step moves nimg by 5 B. The warm-up keeps the average from remembering the random
initialisation: early on the half-life is 5 % of the images shown so far (rampup 0.05), until that reaches
`half_life_kimg`. StyleGAN2-ADA's defaults are 10 kimg and 0.05; short CPU runs want a shorter half-life.

The copy is made with `copy.deepcopy` (make it before any `G.compile()`), has requires_grad off, and keeps the
train/eval mode G had; whoever samples from it sets the mode as for G.
"""

from __future__ import annotations

import copy
from typing import Any

import torch


class EMA:
    """An averaged copy of G, `self.G`, updated with `update(G, nimg)` after each G step."""

    def __init__(self, G: torch.nn.Module, half_life_kimg: float = 10.0, rampup: float = 0.05) -> None:
        if not half_life_kimg > 0:
            raise ValueError(f"EMA half-life must be a positive number of kimg, got {half_life_kimg}")
        if not rampup >= 0:
            raise ValueError(f"EMA ramp-up must be >= 0 (0 = no warm-up), got {rampup}")
        self.half_life_kimg = float(half_life_kimg)
        self.rampup = float(rampup)
        self.nimg = 0  # images shown at the last update
        self.G = copy.deepcopy(G).requires_grad_(False)

    def beta(self, nimg: int) -> float:
        """The decay an update at `nimg` images shown would use (see the module docstring)."""
        if nimg < self.nimg:
            raise ValueError(f"EMA update at {nimg} images shown, but the last one was at {self.nimg}")
        half_life = self.half_life_kimg * 1000
        if self.rampup > 0:
            half_life = min(half_life, self.rampup * self.nimg)
        return 0.5 ** ((nimg - self.nimg) / half_life) if half_life > 0 else 0.0

    @torch.no_grad()
    def update(self, G: torch.nn.Module, nimg: int) -> None:
        """Fold G's current weights in; `nimg` = real images shown so far, after this G step."""
        beta = self.beta(nimg)
        for p_ema, p in zip(self.G.parameters(), G.parameters(), strict=True):
            p_ema.lerp_(p.detach().to(p_ema.dtype), 1.0 - beta)
        for b_ema, b in zip(self.G.buffers(), G.buffers(), strict=True):
            b_ema.copy_(b)
        self.nimg = int(nimg)

    def state_dict(self) -> dict[str, Any]:
        return {
            "G": self.G.state_dict(),
            "nimg": self.nimg,
            "half_life_kimg": self.half_life_kimg,
            "rampup": self.rampup,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = (state["half_life_kimg"], state["rampup"])
        if saved != (self.half_life_kimg, self.rampup):
            raise ValueError(
                f"checkpoint's EMA has half-life {saved[0]} kimg, ramp-up {saved[1]}; this run asks "
                f"for {self.half_life_kimg} kimg, {self.rampup}: resume with the same EMA settings"
            )
        self.G.load_state_dict(state["G"])
        self.nimg = int(state["nimg"])
